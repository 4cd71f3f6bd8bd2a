"""The compiled first pass (#17): serial and parallel give the same answers, every kind of
point (inside, on a grid edge, in a gap, near, far, beyond the raster) comes out as the
exact polygon tests say, and a missing coordinate is counted, not read."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo import kernel
from geo.assign import AssignmentEngine
from geo.testing import make_units


@pytest.fixture(scope="module")
def gappy():
    """400 grids with 15 of them removed (gaps inside the top level), and 60,000 points over
    twice the layer's extent: enough for the parallel path by default."""
    units = make_units(400, seed=11)
    grids = units.index[units["level"] == units["level"].max()]
    dropped = set(np.random.default_rng(3).choice(grids, 15, replace=False).tolist())
    units = units.drop(index=list(dropped)).reset_index(drop=True)
    x0, y0, x1, y1 = units.total_bounds
    rng = np.random.default_rng(7)
    n = max(60_000, kernel.PARALLEL_FROM + 1)
    x = rng.uniform(x0 - (x1 - x0) / 2, x1 + (x1 - x0) / 2, n)
    y = rng.uniform(y0 - (y1 - y0) / 2, y1 + (y1 - y0) / 2, n)
    return units, AssignmentEngine.build(units), x, y


def _classify(engine: AssignmentEngine, x, y, snap_m, parallel: bool) -> dict:
    top = engine.levels[0]
    return kernel.classify(x, y, engine.lookup, engine._first_raster(snap_m or 50.0),
                           len(top.ids), top.ids, engine._grid_ancestors, engine.grids.ids,
                           snap_m, parallel=parallel)


@pytest.mark.parametrize("snap_m", [None, 50.0, 300.0])
def test_parallel_equals_serial(gappy, snap_m) -> None:
    _, engine, x, y = gappy
    a = _classify(engine, x, y, snap_m, parallel=False)
    b = _classify(engine, x, y, snap_m, parallel=True)
    for key in ("grid_id", "unit_ids", "reason", "grid_codes", kernel.GRID, kernel.TOP,
                kernel.TOP_NEAR, kernel.IN_TOP, kernel.NEAR):
        assert np.array_equal(a[key], b[key]), key
    kinds = {k: len(a[k]) for k in (kernel.GRID, kernel.IN_TOP, kernel.NEAR)}
    assert kinds[kernel.GRID] > 0 and kinds[kernel.IN_TOP] > 0
    assert (kinds[kernel.NEAR] > 0) == (snap_m is not None)


def test_every_kind_agrees_with_the_exact_tests(gappy) -> None:
    units, engine, x, y = gappy
    res = engine.assign(x, y, snap_m=None)
    grids = units[units["level"] == units["level"].max()]
    top = units[units["level"] == 0]
    pts = shapely.points(x, y)
    gi = np.full(len(x), -1, dtype=np.int64)
    pi, gj = shapely.STRtree(grids.geometry.values).query(pts, predicate="intersects")
    order = np.lexsort((grids["id"].to_numpy()[gj], grids["code"].to_numpy()[gj], pi))
    pi, gj = pi[order], gj[order]
    first = np.r_[True, pi[1:] != pi[:-1]]
    gi[pi[first]] = grids["id"].to_numpy()[gj[first]]  # lowest code wins ties
    assert np.array_equal(res.grid_id, gi)
    in_top = np.zeros(len(x), dtype=bool)
    in_top[shapely.STRtree(top.geometry.values).query(pts, predicate="intersects")[0]] = True
    reason = res.reason
    assert set(np.unique(reason)) == {"inside", "gap", "outside"}
    assert np.array_equal(reason == "gap", (gi < 0) & in_top)
    assert np.array_equal(reason == "outside", ~in_top)
    beyond = (x < units.total_bounds[0] - 0.01) | (x > units.total_bounds[2] + 0.01)
    assert beyond.sum() > 1000 and (reason[beyond] == "outside").all()


def test_missing_coordinates_are_counted_not_read(gappy) -> None:
    _, engine, x, y = gappy
    x = x[:100].copy()
    x[[3, 50]] = np.nan
    y2 = y[:100].copy()
    y2[7] = np.inf
    for parallel in (False, True):
        assert _classify(engine, x, y2, 50.0, parallel)["bad"] == 3
