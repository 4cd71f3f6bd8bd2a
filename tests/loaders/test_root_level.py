"""A province layer says what OneMap will call its levels (#17): level 0 of many units, or
named as a province or a city above counties, gets a warning naming each level; with
``--root-level`` the user says what the top is; a county layer loads without a word."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box
from sqlalchemy import Connection, text

from loaders.importers import core
from loaders.importers.options import LoadOptions

pytestmark = pytest.mark.db


def layer(path: Path, top: str, middle: tuple[str, str], x0: float = 100.0) -> Path:
    """Three levels: ``top`` (level 0), two units below it, one unit under each of those."""
    a, b = box(x0, 30.0, x0 + 0.1, 30.1), box(x0 + 0.1, 30.0, x0 + 0.2, 30.1)
    gdf = gpd.GeoDataFrame({
        "code": ["PX", "PX01", "PX02", "PX0101", "PX0201"],
        "name": [top, middle[0], middle[1], "甲镇", "乙镇"],
        "level": [0, 1, 1, 2, 2],
        "parent_code": [None, "PX", "PX", "PX01", "PX02"]},
        geometry=[box(x0, 30.0, x0 + 0.2, 30.1), a, b, a, b], crs=4326)
    gdf.to_file(path, driver="GeoJSON")
    return path


def test_a_province_layer_is_named_level_by_level(conn: Connection, tmp_path: Path) -> None:
    path = layer(tmp_path / "province.geojson", "测试省", ("甲市", "乙市"))
    report = core.run("boundaries", path, LoadOptions(dry_run=True), db=conn)
    warning = next(n for n in report.notes if n.startswith("WARNING"))
    assert "a province" in warning and "测试省" in warning
    assert "level 0 → 县(市/区/旗)" in warning and "level 1 → 乡镇(街道)" in warning
    assert "--root-level" in warning and "ONEMAP_LEVEL_NAMES" in warning


def test_a_city_above_counties_and_the_root_level_option(conn: Connection,
                                                         tmp_path: Path) -> None:
    path = layer(tmp_path / "city.geojson", "测试市", ("甲县", "乙区"), x0=101.0)
    report = core.run("boundaries", path, LoadOptions(dry_run=True), db=conn)
    assert any(n.startswith("WARNING") and "a city above counties" in n for n in report.notes)
    said = core.run("boundaries", path, LoadOptions(dry_run=True, root_level="市"), db=conn)
    assert not any(n.startswith("WARNING") for n in said.notes)
    assert any(n.startswith("--root-level 市") and "ONEMAP_LEVEL_NAMES" in n
               for n in said.notes)


def test_a_county_level_city_is_a_county(conn: Connection, tmp_path: Path) -> None:
    """玉门市 is a city that is a county: its level 1 are towns, so no warning."""
    path = layer(tmp_path / "county.geojson", "测试市", ("甲镇", "乙乡"), x0=102.0)
    report = core.run("boundaries", path, LoadOptions(dry_run=True), db=conn)
    assert not any(n.startswith("WARNING") for n in report.notes), report.notes


def test_repair_on_load(conn: Connection, tmp_path: Path) -> None:
    """`onemap load boundaries --repair`: a messy grid layer that is refused as drawn (its
    grids overlap) loads repaired, a valid coverage, with every change listed."""
    import numpy as np
    import shapely

    from geo.testing import make_units
    from loaders.importers.options import LoadError
    from tests.geo.test_coverage_repair import messy_layer

    units = make_units(60, seed=3, center=(95.0, 35.0), county_code="990101")
    _, messy = messy_layer(seed=3)
    # the same layer moved to this test's place (make_units draws it at its center)
    src = make_units(60, seed=3)
    dx = units.total_bounds[0] - src.total_bounds[0]
    dy = units.total_bounds[1] - src.total_bounds[1]
    grids = units.level == 3
    units.loc[grids, "geometry"] = [shapely.transform(g, lambda c: c + [dx, dy]) for g in messy]
    code_of = dict(zip(units["id"], units["code"], strict=True))
    units["parent_code"] = [code_of.get(p) for p in units["parent_id"]]
    path = tmp_path / "messy.geojson"
    units[["code", "level", "parent_code", "geometry"]].to_file(path, driver="GeoJSON")
    with pytest.raises(LoadError, match="overlap"):
        core.run("boundaries", path, LoadOptions(), db=conn)
    report = core.run("boundaries", path, LoadOptions(repair=True, tolerance_m=1.0), db=conn)
    assert report.inserted == len(units), report.summary()
    kinds = {r["kind"] for r in report.repairs}
    assert {"snapped", "overlap_taken", "overlap_clipped", "gap_filled"} <= kinds
    assert any(n.startswith("--repair (tolerance 1 m)") for n in report.notes)
    assert (tmp_path / "messy.geojson.repairs.csv").exists()
    stored = conn.execute(text(
        "SELECT ST_AsBinary(geom) FROM unit WHERE level = 3 AND code LIKE '990101%' "
        "AND valid_to IS NULL")).scalars().all()
    assert shapely.coverage_is_valid(np.array(shapely.from_wkb(stored), dtype=object))
