"""The synthetic generator shared by tests and the benchmark."""

from __future__ import annotations

import numpy as np
import shapely

from geo.testing import make_points, make_units
from geo.units import read_hierarchy


def test_generated_units_are_a_clean_deterministic_hierarchy() -> None:
    a = make_units(400, seed=3)
    b = make_units(400, seed=3)
    assert all(x.equals_exact(y, 0) for x, y in zip(a.geometry, b.geometry, strict=True))
    assert list(a["code"]) == list(b["code"])
    h = read_hierarchy(a)
    assert h.n_levels == 4
    for level in range(4):  # a unit has an ancestor at every level above it, none below
        rows = h.ancestors[h.levels == level]
        assert (rows[:, : level + 1] >= 0).all() and (rows[:, level + 1 :] == -1).all()
    grids = np.asarray(a.geometry[a["level"] == 3].values)
    assert len(grids) == 400
    assert shapely.coverage_is_valid(grids) and shapely.is_valid(grids).all()
    nv = shapely.get_num_coordinates(grids)
    assert np.median(nv) > 40 and np.percentile(nv, 99) <= 300
    # every level is the exact union of the level below
    county = a.geometry[a["level"] == 0].iloc[0]
    assert shapely.coverage_union_all(grids).equals(county)
    assert a["code"].is_unique and a["id"].is_unique


def test_points_are_clustered_with_the_requested_share_outside() -> None:
    units = make_units(100, seed=4)
    x, y = make_points(units, 10_000, seed=5, outside_fraction=0.02)
    county = units.geometry[units["level"] == 0].iloc[0]
    inside = shapely.intersects_xy(county, x, y)
    assert (~inside).sum() == 200
    x2, y2 = make_points(units, 10_000, seed=5, outside_fraction=0.02)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
