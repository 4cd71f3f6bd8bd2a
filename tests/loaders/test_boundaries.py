"""Boundary loads: GBK shapefile in Gauss-Krüger, datums, parents, overlaps, idempotence."""

from __future__ import annotations

from pathlib import Path

import pytest
from shapely.geometry import box
from sqlalchemy import Connection, Engine, text

from geo.crs import gk_crs
from loaders.importers import core
from loaders.importers.boundaries import parse_level
from loaders.importers.encoding import dbf_encoding
from loaders.importers.options import LoadError, LoadOptions
from tests.loaders.files import TQ_ORIGIN, to_gcj02, tq_units, write_gbk_shapefile

pytestmark = pytest.mark.db

TQ_SQL = ("SELECT u.code, u.name, u.level, p.code AS parent, ST_XMin(u.geom) AS x0, "
          "ST_YMin(u.geom) AS y0, ST_XMax(u.geom) AS x1, ST_YMax(u.geom) AS y1, u.area_m2 "
          "FROM unit u LEFT JOIN unit p ON p.id = u.parent_id "
          "WHERE u.code LIKE 'TQ%' AND u.valid_to IS NULL ORDER BY u.code")


def test_gbk_shapefile_in_gauss_kruger_keeps_names_and_positions(conn: Connection,
                                                                 tmp_path: Path) -> None:
    path = write_gbk_shapefile(tmp_path / "shp", tq_units())
    assert not list((tmp_path / "shp").glob("*.cpg"))
    assert "Gauss" in (tmp_path / "shp" / "grids.prj").read_text()
    assert dbf_encoding(path) == "gb18030"
    report = core.run("boundaries", path, LoadOptions(), db=conn)
    assert (report.inserted, report.rejected) == (5, 0), report.summary()
    assert any("gb18030" in n for n in report.notes)
    rows = conn.execute(text(TQ_SQL)).mappings().all()
    assert [r["name"] for r in rows] == ["测试旗", "乌兰镇", "巴音嘎查", "巴音嘎查第一网格",
                                         "巴音嘎查第二网格（东片）"]
    assert [r["level"] for r in rows] == [0, 1, 2, 3, 3]
    assert [r["parent"] for r in rows] == [None, "TQ01", "TQ01001", "TQ01001001",
                                           "TQ01001001"]
    x, y = TQ_ORIGIN
    grid2 = rows[4]
    assert (grid2["x0"], grid2["y0"], grid2["x1"], grid2["y1"]) == pytest.approx(
        (x + 0.05, y, x + 0.1, y + 0.08), abs=1e-7)  # < 1 cm after the GK round trip
    assert rows[0]["area_m2"] == pytest.approx(rows[3]["area_m2"] + rows[4]["area_m2"],
                                               rel=1e-6)
    assert 7.0e7 < rows[0]["area_m2"] < 8.0e7  # 0.1° × 0.08° at 40°N ≈ 75.6 km²


def test_reloading_boundaries_updates_instead_of_duplicating(conn: Connection,
                                                             tmp_path: Path) -> None:
    units = tq_units()
    path = tmp_path / "tq.geojson"
    units.to_file(path, driver="GeoJSON", engine="pyogrio")
    assert core.run("boundaries", path, LoadOptions(), db=conn).inserted == 5
    again = core.run("boundaries", path, LoadOptions(), db=conn)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 5)
    x, y = TQ_ORIGIN
    units.loc[4, "网格名称"] = "东片网格"
    units.loc[3, "geometry"] = box(x, y, x + 0.06, y + 0.08)
    units.loc[4, "geometry"] = box(x + 0.06, y, x + 0.1, y + 0.08)
    units.to_file(path, driver="GeoJSON", engine="pyogrio")
    third = core.run("boundaries", path, LoadOptions(), db=conn)
    assert (third.inserted, third.updated, third.unchanged) == (0, 2, 3)
    assert conn.execute(text("SELECT count(*) FROM unit WHERE code LIKE 'TQ%'")).scalar() == 5
    assert conn.execute(text("SELECT name FROM unit WHERE code = 'TQ01001001002'")).scalar() \
        == "东片网格"


def test_gcj02_boundaries_are_corrected(conn: Connection, tmp_path: Path) -> None:
    path = tmp_path / "amap.gpkg"
    to_gcj02(tq_units()).to_file(path, driver="GPKG", engine="pyogrio")
    report = core.run("boundaries", path, LoadOptions(datum="gcj02"), db=conn)
    assert report.inserted == 5
    x0 = conn.execute(text("SELECT ST_XMin(geom) FROM unit WHERE code = 'TQ01'")).scalar()
    assert x0 == pytest.approx(TQ_ORIGIN[0], abs=1e-6)


def test_overlaps_are_refused_unless_allowed(db_engine: Engine, conn: Connection,
                                             tmp_path: Path) -> None:
    units = tq_units()
    x, y = TQ_ORIGIN
    units.loc[3, "geometry"] = box(x, y, x + 0.07, y + 0.08)  # overlaps grid 2 by 0.02°
    path = tmp_path / "overlap.geojson"
    units.to_file(path, driver="GeoJSON", engine="pyogrio")
    with db_engine.connect() as c:
        before = c.execute(text("SELECT count(*) FROM unit")).scalar()
    with pytest.raises(LoadError, match="overlap") as err:
        core.run("boundaries", path, LoadOptions(), db=db_engine)
    assert "TQ01001001001" in err.value.user_msg and "--allow-overlaps" in err.value.user_msg
    with db_engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM unit")).scalar() == before
    report = core.run("boundaries", path, LoadOptions(allow_overlaps=True), db=conn)
    assert report.inserted == 5
    assert any("overlap" in n for n in report.notes)


def test_parents_from_names_prefixes_and_positions(conn: Connection, tmp_path: Path) -> None:
    import geopandas as gpd

    x, y = 97.0, 40.25  # inside the sample's grid 620981900001001001 (0.02° × 0.04°)
    grids = gpd.GeoDataFrame({
        "编码": ["NEWA", "620981900001001001X", "NEWC"],
        "名称": ["甲", "乙", "丙"],
        "所属社区": ["西城南社区", None, None],
    }, geometry=[box(x, y, x + 0.001, y + 0.001), box(x + 0.002, y, x + 0.003, y + 0.001),
                 box(x + 0.004, y, x + 0.005, y + 0.001)], crs=4326)
    path = tmp_path / "sub.geojson"
    grids.to_file(path, driver="GeoJSON", engine="pyogrio")
    report = core.run("boundaries", path, LoadOptions(level=3, allow_overlaps=True), db=conn)
    assert (report.inserted, report.rejected) == (3, 0), report.summary()
    parents = dict(conn.execute(text(
        "SELECT u.code, p.code FROM unit u JOIN unit p ON p.id = u.parent_id "
        "WHERE u.code IN ('NEWA', '620981900001001001X', 'NEWC')")).all())
    assert parents == {"NEWA": "620981900001001",  # by name (西城南社区)
                       "620981900001001001X": "620981900001001",  # by code prefix
                       "NEWC": "620981900001001"}  # by position


def test_projected_file_without_crs_is_refused(conn: Connection, tmp_path: Path) -> None:
    folder = tmp_path / "noprj"
    path = write_gbk_shapefile(folder, tq_units())
    (folder / "grids.prj").unlink()
    with pytest.raises(LoadError, match="--crs"):
        core.run("boundaries", path, LoadOptions(), db=conn)
    crs = gk_crs(TQ_ORIGIN[0] + 0.05).to_string()  # EPSG:4542, CM 99°E
    report = core.run("boundaries", path, LoadOptions(crs=crs, dry_run=True), db=conn)
    assert report.inserted == 5


def test_kml_with_level_option(conn: Connection, tmp_path: Path) -> None:
    units = tq_units().rename(columns={"网格编码": "code", "网格名称": "Name"})
    path = tmp_path / "tq.kml"
    units.to_file(path, driver="KML", engine="pyogrio")
    report = core.run("boundaries", path, LoadOptions(mapping={"level": "层级"}), db=conn)
    assert report.inserted == 5, report.summary()
    assert conn.execute(text("SELECT name FROM unit WHERE code = 'TQ01001'")).scalar() == "乌兰镇"


def test_bad_features_are_rejected_with_reasons(conn: Connection, tmp_path: Path) -> None:
    units = tq_units()
    units.loc[4, "上级编码"] = "NOPE"
    units.loc[2, "层级"] = "外星"
    path = tmp_path / "bad.geojson"
    units.to_file(path, driver="GeoJSON", engine="pyogrio")
    report = core.run("boundaries", path, LoadOptions(dry_run=True), db=conn)
    reasons = {(r.row, r.reason) for r in report.rejects}
    assert (5, "unknown parent code") in reasons
    assert any(row == 3 and "unknown level" in reason for row, reason in reasons)


@pytest.mark.parametrize(("value", "level"), [
    ("0", 0), ("县", 0), ("乡镇", 1), ("街道", 1), ("社区", 2), ("村", 2), ("网格", 3),
    ("社区网格", 3), ("grid", 3), ("外星", None), (None, None)])
def test_level_words(value: object, level: int | None) -> None:
    assert parse_level(value) == level


