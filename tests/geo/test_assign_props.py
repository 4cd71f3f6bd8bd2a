"""The engine against a brute-force exact reference, on generated and adversarial layers."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.assign import AssignmentEngine
from geo.testing import make_points, make_units

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference(units: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray):
    """Brute force: every grid that covers each point; winner = lowest (code, id)."""
    grids = units[units["level"] == units["level"].max()]
    geoms = np.asarray(grids.geometry.values)
    pi, gi = shapely.STRtree(geoms).query(shapely.points(x, y), predicate="intersects")
    hits = np.bincount(pi, minlength=len(x))
    df = pd.DataFrame(
        {"p": pi, "code": grids["code"].to_numpy()[gi], "id": grids["id"].to_numpy()[gi]}
    )
    df = df.sort_values(["p", "code", "id"]).drop_duplicates("p")
    win = np.full(len(x), -1, dtype=np.int64)
    win[df["p"].to_numpy()] = df["id"].to_numpy()
    top = shapely.union_all(units.geometry[units["level"] == 0].values)
    in_top = shapely.intersects_xy(top, x, y)
    reason = np.where(
        hits >= 2, "edge", np.where(hits == 1, "inside", np.where(in_top, "gap", "outside"))
    )
    return win, reason


def check_against_reference(units, x, y, **build) -> None:
    res = AssignmentEngine.build(units, **build).assign(x, y, snap_m=None)
    win, reason = reference(units, x, y)
    bad = np.flatnonzero((res.grid_id != win) | (res.reason != reason))
    assert len(bad) == 0, (
        f"{len(bad)} mismatches, e.g. point {bad[0]}: engine {res.grid_id[bad[0]]}/"
        f"{res.reason[bad[0]]}, reference {win[bad[0]]}/{reason[bad[0]]}"
    )


def test_generated_layer_matches_reference_including_vertices() -> None:
    units = make_units(300, seed=5, drop_grids=0.03)
    x, y = make_points(units, 30_000, seed=6, outside_fraction=0.05)
    verts = shapely.get_coordinates(units.geometry[units["level"] == 3].values)[::3]
    x, y = np.r_[x, verts[:, 0]], np.r_[y, verts[:, 1]]
    check_against_reference(units, x, y)
    res = AssignmentEngine.build(units).assign(verts[:, 0], verts[:, 1])
    assert (res.reason == "edge").mean() > 0.5  # most vertices are shared
    assert set(np.unique(res.reason)) >= {"edge", "inside"}


@pytest.mark.parametrize("cell_m", [0.5, 3.0, 40.0, 5000.0])
def test_any_raster_resolution_gives_the_same_answers(cell_m: float) -> None:
    units = make_units(60, seed=7, drop_grids=0.05)
    x, y = make_points(units, 5_000, seed=8, outside_fraction=0.1)
    verts = shapely.get_coordinates(units.geometry[units["level"] == 3].values)[::5]
    check_against_reference(
        units, np.r_[x, verts[:, 0]], np.r_[y, verts[:, 1]], cell_m=cell_m, max_cells=2_000_000
    )


def test_overlapping_grids_fall_back_to_exact_tests() -> None:
    boxes = [
        shapely.box(116.4, 39.9, 116.42, 39.92),
        shapely.box(116.41, 39.91, 116.43, 39.93),
        shapely.box(116.405, 39.905, 116.415, 39.915),
    ]
    units = gpd.GeoDataFrame(
        {
            "id": [3, 2, 1],
            "code": ["b", "a", "c"],
            "level": [0, 0, 0],
            "parent_id": pd.array([None] * 3, dtype="Int64"),
        },
        geometry=boxes,
        crs=4326,
    )
    rng = np.random.default_rng(0)
    x, y = rng.uniform(116.395, 116.435, 20_000), rng.uniform(39.895, 39.935, 20_000)
    check_against_reference(units, x, y)
    check_against_reference(units, x, y, cell_m=50.0)


def _spaced(values: list[float]) -> bool:
    """Cuts at least 1e-6 apart: closer ones collapse to one coordinate once scaled to degrees
    (116.3 + v · 0.02) and leave a zero-width, invalid tile."""
    values = sorted(values)
    return all(b - a > 1e-6 for a, b in zip(values, values[1:], strict=False))


@st.composite
def rect_tiling(draw):
    """Columns cut at random x, each column cut at its own random ys: a rectilinear tiling."""
    nx = draw(st.integers(1, 5))
    xs = sorted(
        draw(st.lists(st.floats(0.01, 0.99), min_size=nx - 1, max_size=nx - 1, unique=True)
             .filter(_spaced))
    )
    xs = [0.0, *xs, 1.0]
    rows, cuts = [], {}
    for i in range(nx):
        ny = draw(st.integers(1, 5))
        ys = sorted(
            draw(st.lists(st.floats(0.01, 0.99), min_size=ny - 1, max_size=ny - 1, unique=True)
                 .filter(_spaced))
        )
        ys = [0.0, *ys, 1.0]
        cuts[i] = ys
        for j in range(ny):
            rows.append((xs[i], ys[j], xs[i + 1], ys[j + 1]))
    codes = draw(st.permutations([f"{k:03d}" for k in range(len(rows))]))
    return xs, cuts, rows, codes


def _to_lonlat(v, axis):
    return (116.3 + np.asarray(v) * 0.02) if axis == 0 else (39.8 + np.asarray(v) * 0.02)


@SETTINGS
@given(
    rect_tiling(),
    st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=60),
    st.integers(0, 2**31),
)
def test_every_point_of_a_tiling_gets_exactly_one_grid(tiling, pts, seed) -> None:
    xs, cuts, rows, codes = tiling
    geoms = [
        shapely.box(_to_lonlat(a, 0), _to_lonlat(b, 1), _to_lonlat(c, 0), _to_lonlat(d, 1))
        for a, b, c, d in rows
    ]
    units = gpd.GeoDataFrame(
        {"id": np.arange(len(rows)) + 10, "code": list(codes), "level": 1, "parent_id": 1},
        geometry=geoms,
        crs=4326,
    )
    county = gpd.GeoDataFrame(
        {"id": [1], "code": ["0"], "level": [0], "parent_id": [None]},
        geometry=[shapely.box(116.3, 39.8, 116.32, 39.82)],
        crs=4326,
    )
    units = pd.concat([county, units], ignore_index=True)
    units["parent_id"] = units["parent_id"].astype("Int64")
    # hypothesis points, plus points exactly on cut lines and at tile corners
    rng = np.random.default_rng(seed)
    px = [p[0] for p in pts] + [xs[rng.integers(len(xs))] for _ in range(20)]
    py = [p[1] for p in pts] + [float(rng.uniform()) for _ in range(20)]
    for a, b, c, d in rows[:10]:
        px += [a, c, (a + c) / 2]
        py += [b, d, b]
    x, y = _to_lonlat(px, 0), _to_lonlat(py, 1)
    res = AssignmentEngine.build(units).assign(x, y, snap_m=None)
    assert (res.grid_id >= 0).all(), "a point of the tiling got no grid"
    assert set(np.unique(res.reason)) <= {"inside", "edge"}
    assert (res.unit_ids[:, 0] == 1).all()
    check_against_reference(units, x, y)


@SETTINGS
@given(st.integers(20, 120), st.integers(0, 10_000))
def test_generated_tilings_assign_every_inside_point_once(n: int, seed: int) -> None:
    units = make_units(n, seed=seed)
    x, y = make_points(units, 2_000, seed=seed, outside_fraction=0.0)
    res = AssignmentEngine.build(units).assign(x, y)
    assert (res.grid_id >= 0).all()
    assert (res.unit_ids >= 0).all()
    # ancestors follow the hierarchy: each grid's row is the same wherever the point is
    by_grid = pd.DataFrame(res.unit_ids).groupby(res.grid_id).nunique()
    assert (by_grid.to_numpy() == 1).all()
