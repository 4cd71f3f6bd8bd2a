"""Coverage checks: overlaps, gaps, slivers, children outside their parent, invalid shapes."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

from geo.coverage import check_coverage, check_hierarchy, repair_invalid
from geo.errors import GeometryError
from geo.testing import make_units
from tests.geo.units_fixture import make_hand_units, ubox

GEOD = pyproj.Geod(ellps="WGS84")


def geodesic_area(g) -> float:
    return abs(GEOD.geometry_area_perimeter(g)[0])


def layer(*geoms, ids=None) -> gpd.GeoDataFrame:
    ids = ids or list(range(1, len(geoms) + 1))
    return gpd.GeoDataFrame({"id": ids}, geometry=list(geoms), crs=4326)


def test_clean_tiling_is_ok() -> None:
    rep = check_coverage(layer(ubox(0, 0, 1, 1), ubox(1, 0, 2, 1)), ubox(0, 0, 2, 1))
    assert rep.ok and rep.problems == [] and rep.checked == 2
    assert "no problems" in rep.summary()


def test_overlap_pair_and_area() -> None:
    rep = check_coverage(layer(ubox(0, 0, 1, 1), ubox(0.8, 0, 2, 1)), ubox(0, 0, 2, 1))
    (p,) = rep.of_kind("overlap")
    assert p.severity == "error" and p.unit_ids == (1, 2)
    assert p.area_m2 == pytest.approx(geodesic_area(ubox(0.8, 0, 1, 1)), rel=1e-3)
    assert p.geometry.equals(ubox(0.8, 0, 1, 1))
    assert not rep.ok and "overlap" in rep.summary()


def test_gap_inside_parent_is_located() -> None:
    rep = check_coverage(layer(ubox(0, 0, 1, 1), ubox(1.5, 0, 2, 1)), ubox(0, 0, 2, 1), parent_id=7)
    (g,) = rep.of_kind("gap")
    assert g.severity == "warning" and rep.ok  # blank areas are allowed by default
    assert g.area_m2 == pytest.approx(geodesic_area(ubox(1, 0, 1.5, 1)), rel=1e-3)
    assert set(g.unit_ids) == {1, 2} and "7" in g.message
    strict = check_coverage(
        layer(ubox(0, 0, 1, 1), ubox(1.5, 0, 2, 1)), ubox(0, 0, 2, 1), gap_severity="error"
    )
    assert not strict.ok


def test_gaps_without_parent_are_enclosed_holes() -> None:
    ring = ubox(0, 0, 3, 3).difference(ubox(1, 1, 2, 2))
    parts = [ring.intersection(ubox(0, 0, 3, 1.5)), ring.intersection(ubox(0, 1.5, 3, 3))]
    rep = check_coverage(layer(*parts))
    (g,) = rep.of_kind("gap")
    assert g.geometry.equals(ubox(1, 1, 2, 2))


def test_small_pieces_are_slivers_not_overlaps() -> None:
    # 0.0001 u ≈ 0.0085 m wide overlap along a 111 m edge: ≈ 0.95 m²
    rep = check_coverage(layer(ubox(0, 0, 1, 1), ubox(0.9999, 0, 2, 1)), sliver_m2=5.0)
    assert rep.of_kind("overlap") == []
    (s,) = rep.of_kind("sliver")
    assert s.severity == "warning" and 0.5 < s.area_m2 < 5.0
    rep = check_coverage(layer(ubox(0, 0, 1, 1), ubox(0.9999, 0, 2, 1)), sliver_m2=0.1)
    assert len(rep.of_kind("overlap")) == 1


def test_tiny_units_are_slivers() -> None:
    rep = check_coverage(layer(ubox(0, 0, 1, 1), ubox(1, 0, 1.00001, 0.00001)), sliver_m2=1.0)
    assert [p.unit_ids for p in rep.of_kind("sliver")] == [(2,)]


def test_children_crossing_the_parent_boundary() -> None:
    rep = check_coverage(layer(ubox(0, 0, 1, 1), ubox(1, 0, 2.5, 1)), ubox(0, 0, 2, 1), parent_id=9)
    (o,) = rep.of_kind("outside_parent")
    assert o.unit_ids == (2,) and o.severity == "error"
    assert o.area_m2 == pytest.approx(geodesic_area(ubox(2, 0, 2.5, 1)), rel=1e-3)
    assert o.geometry.equals(ubox(2, 0, 2.5, 1))


def test_invalid_geometry_is_reported_at_its_location_and_repairable() -> None:
    bowtie = shapely.Polygon([(116.4, 39.9), (116.402, 39.902), (116.402, 39.9), (116.4, 39.902)])
    rep = check_coverage(layer(ubox(10, 10, 11, 11), bowtie))
    (p,) = rep.of_kind("invalid")
    assert p.unit_ids == (2,) and "repair_invalid" in p.message
    assert p.geometry.distance(shapely.Point(116.401, 39.901)) < 1e-9
    fixed = repair_invalid(bowtie)
    assert fixed.is_valid and fixed.geom_type == "MultiPolygon"
    assert fixed.area == pytest.approx(2 * 0.5 * 0.002 * 0.001)
    with pytest.raises(GeometryError):
        repair_invalid(shapely.Polygon([(0, 0), (1, 1), (2, 2), (0, 0)]))


def test_report_exports_for_the_map() -> None:
    rep = check_coverage(layer(ubox(0, 0, 1, 1), ubox(0.8, 0, 2.5, 1)), ubox(0, 0, 2, 1.5))
    gdf = rep.to_geodataframe()
    assert set(gdf["kind"]) == {"overlap", "gap", "outside_parent"}
    assert gdf.crs.to_epsg() == 4326 and gdf.geometry.notna().all()
    fc = rep.to_geojson()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == len(rep.problems)
    json.dumps(fc)
    text = rep.summary(limit=1)
    assert text.splitlines()[0].startswith("Coverage: 2 error(s), 1 warning(s)")
    assert "more" in text


def test_hand_hierarchy_reports_its_blank_areas() -> None:
    rep = check_hierarchy(make_hand_units())
    kinds = sorted(p.kind for p in rep.problems)
    assert kinds == ["gap", "gap"]  # the hole around g6 and the space between g7's parts
    assert rep.ok


def test_generated_hierarchy_gaps_add_up_to_the_dropped_grids() -> None:
    full = make_units(200, seed=11)
    dropped = make_units(200, seed=11, drop_grids=0.05)
    rep = check_hierarchy(dropped)
    gone = set(full["code"]) - set(dropped["code"])
    lost = full[full["code"].isin(gone)].geometry.values
    gap_area = sum(p.area_m2 for p in rep.of_kind("gap"))
    assert gap_area == pytest.approx(sum(geodesic_area(g) for g in lost), rel=1e-2)
    assert rep.errors == []
    assert check_hierarchy(full).problems == []


def test_hierarchy_finds_a_grid_leaving_its_community() -> None:
    units = make_hand_units()
    units.loc[units["id"] == 1001, "geometry"] = ubox(0, -0.5, 1, 1)  # also leaves the county
    rep = check_hierarchy(units)
    out = rep.of_kind("outside_parent")
    assert [p.unit_ids for p in out] == [(1001,)]
    assert out[0].area_m2 == pytest.approx(geodesic_area(ubox(0, -0.5, 1, 0)), rel=1e-3)


def test_hierarchy_reports_invalid_units() -> None:
    units = make_hand_units()
    bowtie = shapely.Polygon([(116.4, 39.9), (116.401, 39.901), (116.401, 39.9), (116.4, 39.901)])
    units.loc[units["id"] == 1003, "geometry"] = bowtie
    rep = check_hierarchy(units)
    assert [p.unit_ids for p in rep.of_kind("invalid")] == [(1003,)]
    assert not rep.ok
    assert np.isfinite([p.area_m2 for p in rep.problems]).all()


@pytest.mark.parametrize(("width_deg", "reported"), [(1e-7, True), (1e-12, False)])
def test_a_real_thin_gap_is_reported_but_floating_point_dust_is_not(width_deg, reported):
    """A 1 cm strip between neighbours is a real gap; a 1e-12° one is overlay noise."""
    import geopandas as gpd
    from shapely.geometry import box

    from geo.coverage import check_coverage

    parent = box(100.0, 30.0, 101.0, 31.0)
    children = gpd.GeoDataFrame(
        {"id": [1, 2]},
        geometry=[box(100.0, 30.0, 100.5, 31.0), box(100.5 + width_deg, 30.0, 101.0, 31.0)],
        crs="EPSG:4326",
    )
    report = check_coverage(children, parent)
    found = report.of_kind("gap") + report.of_kind("sliver")
    assert bool(found) is reported, report.summary()
