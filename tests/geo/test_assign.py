"""Assignment engine on a hand-built jurisdiction: one case per reason code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from geo.assign import REASONS, AssignmentEngine
from geo.errors import CoordinateError, DatumError, GeometryError, HierarchyError
from tests.geo.units_fixture import lonlat, make_hand_units, ubox

GEOD = pyproj.Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def engine() -> AssignmentEngine:
    return AssignmentEngine.build(make_hand_units())


# (x, y) in local units, reason, grid id, unit ids per level
CASES = [
    ((0.5, 0.5), "inside", 1001, [1, 10, 100, 1001]),
    ((1.0, 0.5), "edge", 1002, [1, 10, 100, 1002]),  # g1|g2: g2 has the lower code
    ((1.0, 1.0), "edge", 1004, [1, 10, 100, 1004]),  # vertex of g1..g4: g4 lowest code
    ((2.0, 0.5), "edge", 1002, [1, 10, 100, 1002]),  # g2|g5 across streets
    ((2.0, 1.0), "edge", 1004, [1, 10, 100, 1004]),  # vertex of g2, g4, g5
    ((3.0, 1.0), "inside", 1006, [1, 20, 200, 1006]),  # island grid in g5's hole
    ((2.5, 1.0), "inside", 1005, [1, 20, 200, 1005]),  # on the hole's ring: only g5
    ((2.6, 0.6), "gap", -1, [1, 20, 200, -1]),  # in the hole, not in g6
    ((1.75, 2.5), "inside", 1007, [1, 10, 101, 1007]),  # second part of a multipolygon
    ((0.5, 2.5), "inside", 1007, [1, 10, 101, 1007]),  # on the first part's edge
    ((1.0, 2.5), "gap", -1, [1, 10, 101, -1]),  # between the parts
    ((0.0, 0.5), "inside", 1001, [1, 10, 100, 1001]),  # on the jurisdiction's boundary
    ((4.3, 1.0), "snapped", 1005, [1, 20, 200, 1005]),  # ~26 m east of g5
    ((-0.1, 0.5), "snapped", 1001, [1, 10, 100, 1001]),  # ~8.5 m west of g1
    ((10.0, 10.0), "outside", -1, [-1, -1, -1, -1]),
]


@pytest.mark.parametrize(("xy", "reason", "grid", "ids"), CASES)
def test_each_reason(engine, xy, reason, grid, ids) -> None:
    lon, lat = lonlat([xy[0]], [xy[1]])
    res = engine.assign(lon, lat)
    assert res.reason[0] == reason
    assert res.grid_id[0] == grid
    assert res.unit_ids[0].tolist() == ids


def test_all_cases_in_one_vectorised_call(engine) -> None:
    xy = np.array([c[0] for c in CASES])
    res = engine.assign(*lonlat(xy[:, 0], xy[:, 1]))
    assert res.reason.tolist() == [c[1] for c in CASES]
    assert res.grid_id.tolist() == [c[2] for c in CASES]
    assert res.unit_ids.tolist() == [c[3] for c in CASES]
    assert res.counts()["edge"] == 4 and sum(res.counts().values()) == len(CASES)


def test_distances_are_metres_to_the_nearest_grid(engine) -> None:
    lon, lat = lonlat([4.3, -0.1, 10.0, 2.6, 0.5], [1.0, 0.5, 10.0, 0.6, 0.5])
    res = engine.assign(lon, lat)
    c_lon, c_lat = lonlat([4.0, 0.0, 4.0], [1.0, 0.5, 3.0])
    expected = GEOD.inv(lon[:3], lat[:3], c_lon, c_lat)[2]
    np.testing.assert_allclose(res.distance_m[:3], expected, rtol=2e-3)
    assert 20 < res.distance_m[0] < 30
    # gap point: nearest is the hole's ring 0.1 u to the west (a u of longitude is shorter)
    ring_lon, ring_lat = lonlat([2.5], [0.6])
    assert res.distance_m[3] == pytest.approx(
        GEOD.inv(lon[3], lat[3], ring_lon[0], ring_lat[0])[2], rel=2e-3
    )
    assert res.nearest_grid_id[3] == 1005
    assert res.distance_m[4] == 0.0 and res.nearest_grid_id[4] == 1001


def test_snap_tolerance_is_honoured(engine) -> None:
    lon, lat = lonlat([4.3], [1.0])  # ~25.6 m away
    assert engine.assign(lon, lat, snap_m=None).reason[0] == "outside"
    assert engine.assign(lon, lat, snap_m=10).reason[0] == "outside"
    assert engine.assign(lon, lat, snap_m=30).reason[0] == "snapped"
    far = engine.assign(lon, lat, snap_m=None)
    assert far.grid_id[0] == -1 and far.nearest_grid_id[0] == 1005


def test_same_answer_whatever_the_row_order() -> None:
    units = make_hand_units()
    xy = np.array([c[0] for c in CASES])
    a = AssignmentEngine.build(units).assign(*lonlat(xy[:, 0], xy[:, 1]))
    b = AssignmentEngine.build(units.iloc[::-1]).assign(*lonlat(xy[:, 0], xy[:, 1]))
    assert a.grid_id.tolist() == b.grid_id.tolist()
    assert a.reason.tolist() == b.reason.tolist()


def test_frames_and_explanations(engine) -> None:
    xy = np.array([c[0] for c in CASES])
    lon, lat = lonlat(xy[:, 0], xy[:, 1])
    res = engine.assign(lon, lat)
    df = res.to_frame()
    assert list(df.columns) == [
        "grid_id",
        "level_0_id",
        "level_1_id",
        "level_2_id",
        "level_3_id",
        "reason",
        "distance_m",
        "nearest_grid_id",
    ]
    assert list(df["reason"].cat.categories) == list(REASONS)
    gdf = res.to_geodataframe(lon, lat)
    assert gdf.crs.to_epsg() == 4326 and len(gdf) == len(CASES)
    assert "lowest code" in engine.explain(res, 1)
    assert "blank area" in engine.explain(res, 7)
    assert "snapped" in engine.explain(res, 12)
    assert "outside" in engine.explain(res, len(CASES) - 1)


def test_empty_input(engine) -> None:
    res = engine.assign(np.array([]), np.array([]))
    assert len(res) == 0 and res.unit_ids.shape == (0, 4)


def test_missing_coordinates_are_named(engine) -> None:
    with pytest.raises(CoordinateError, match="row 1"):
        engine.assign([116.4, np.nan], [39.9, 39.9])


def test_grids_leaving_their_parent_are_reported() -> None:
    units = make_hand_units()
    units.loc[units["id"] == 1001, "geometry"] = ubox(-0.2, 0, 1, 1)
    eng = AssignmentEngine.build(units)
    out = eng.leaving_parent
    row = out[out["id"] == 1001]
    assert len(row) == 1 and row["parent_id"].iloc[0] == 100
    expected = abs(GEOD.geometry_area_perimeter(ubox(-0.2, 0, 0, 1))[0])
    assert row["outside_m2"].iloc[0] == pytest.approx(expected, rel=1e-2)
    assert set(out["id"]) == {1001}
    # ancestors still follow parent_id for a point in the part outside the parent
    res = eng.assign(*lonlat([-0.1], [0.5]))
    assert res.reason[0] == "inside" and res.unit_ids[0].tolist() == [1, 10, 100, 1001]
    assert AssignmentEngine.build(make_hand_units()).leaving_parent.empty
    assert len(eng.find_leaving_parent(1e9)) == 0


def test_single_level_layer() -> None:
    units = make_hand_units()
    grids = units[units["level"] == 3].copy()
    grids["level"] = 0
    grids["parent_id"] = pd.array([None] * len(grids), dtype="Int64")
    eng = AssignmentEngine.build(grids)
    res = eng.assign(*lonlat([0.5, 2.6, 10.0], [0.5, 0.6, 10.0]), snap_m=None)
    assert res.reason.tolist() == ["inside", "outside", "outside"]  # no upper level: no gaps
    assert res.unit_ids.shape == (3, 1)


def _broken(change) -> object:
    units = make_hand_units()
    return change(units)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda u: u.drop(columns="code"), GeometryError, "code"),
        (lambda u: u.assign(id=[1] * len(u)), HierarchyError, "Duplicate"),
        (lambda u: u.assign(parent_id=u["parent_id"].replace(100, 999)), HierarchyError, "999"),
        (lambda u: u.to_crs(3857), DatumError, "3857"),
        (lambda u: u.assign(level=u["level"] + 1), HierarchyError, "start at 0"),
    ],
)
def test_bad_layers_are_rejected_with_actionable_errors(change, error, match) -> None:
    with pytest.raises(error, match=match):
        AssignmentEngine.build(_broken(change))


def test_invalid_geometry_names_the_unit() -> None:
    units = make_hand_units()
    bowtie = shapely.Polygon([(116.4, 39.9), (116.401, 39.901), (116.401, 39.9), (116.4, 39.901)])
    units.loc[units["id"] == 1003, "geometry"] = bowtie
    with pytest.raises(GeometryError, match="1003.*repair_invalid"):
        AssignmentEngine.build(units)


def test_assign_points_fixes_swaps_and_datums(engine) -> None:
    from geo.assign import assign_points
    from geo.crs import from_wgs84

    lon, lat = lonlat([0.5, 3.0], [0.5, 1.0])
    glon, glat = from_wgs84(lon, lat, "gcj02")  # as an Amap / WeChat client would send them
    raw_lon = np.array([glon[0], glat[1]])  # second row arrives as (lat, lon)
    raw_lat = np.array([glat[0], glon[1]])
    res, checked = assign_points(engine, raw_lon, raw_lat, datum="gcj02")
    assert res.grid_id.tolist() == [1001, 1006]
    assert checked.swapped.tolist() == [False, True]
    np.testing.assert_allclose(checked.lon, lon, atol=1e-8)
    # without the datum conversion the GCJ-02 offset (hundreds of metres) moves the points
    raw = engine.assign(glon, glat)
    assert raw.grid_id.tolist() != [1001, 1006]
    with pytest.raises(CoordinateError, match="row 0"):
        assign_points(engine, [2.35], [48.85])
