"""QGIS round trip of the grid layer: export, re-import unchanged / edited / stale / broken."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import LineString, MultiPolygon, Polygon, box
from sqlalchemy import Connection, Engine, text

from loaders import planner_files as pf
from loaders.sample import ORIGIN
from onemap.access import cli_actor
from onemap.settings import Settings
from planning import service as planning
from store.runtime import build_runtime
from tests.helpers import fresh_demo_database, sibling_database

pytestmark = pytest.mark.db

VILLAGE = "620981900001001"  # 西城南社区: grids …001 …003, 0.02° × 0.04° side by side
G1, G2, G3 = (f"{VILLAGE}{i:03d}" for i in (1, 2, 3))
X0, Y0 = ORIGIN
FORMATS = ("geojson", "gpkg", "shp")


@pytest.fixture()
def planner_db(db_url: str) -> Iterator[Engine]:
    """A fresh sample database next to the test database (imports commit)."""
    engine = fresh_demo_database(sibling_database(db_url, "files"), "sample")
    yield engine
    engine.dispose()


def _export(db, tmp_path: Path, fmt: str, within: str | None = None) -> Path:
    paths = pf.export_layer(db, tmp_path / f"grids.{pf.FORMATS[fmt].lstrip('.')}", fmt,
                            within=within)
    return paths[0]


def _read(path: Path) -> gpd.GeoDataFrame:
    """The file as QGIS would open it (original column names)."""
    return pyogrio.read_dataframe(path)


def _write(frame: gpd.GeoDataFrame, path: Path) -> Path:
    path.unlink(missing_ok=True)
    kwargs = {"encoding": "UTF-8"} if path.suffix == ".shp" else {}
    pyogrio.write_dataframe(frame, path, **kwargs)
    return path


def _current(db, code: str) -> dict:
    return dict(db.execute(text(
        "SELECT id, code, name, version, ST_AsText(geom) AS wkt FROM unit "
        "WHERE code = :c AND valid_to IS NULL"), {"c": code}).mappings().one())


# --- export + unchanged re-import --------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_unchanged_round_trip_gives_no_proposals(conn: Connection, tmp_path: Path,
                                                 fmt: str) -> None:
    path = _export(conn, tmp_path, fmt)
    frame = pf.read_layer(path)
    assert len(frame) == 12
    assert list(frame.columns[:6]) == ["row", "id", "code", "name", "parent_code", "version"]
    assert set(frame["parent_code"]) == {f"620981900{t:03d}{v:03d}" for t in (1, 2)
                                         for v in (1, 2)}
    assert frame.crs.to_epsg() == 4326
    assert pf.proposals_from_layer(conn, frame) == []


def test_shapefile_has_utf8_cpg_short_names_and_keeps_chinese(conn: Connection,
                                                              tmp_path: Path) -> None:
    paths = pf.export_layer(conn, tmp_path / "grids.shp", "shp")
    assert {p.suffix for p in paths} == {".shp", ".shx", ".dbf", ".prj", ".cpg"}
    assert (tmp_path / "grids.cpg").read_text().strip().upper() in ("UTF-8", "UTF8")
    raw = _read(tmp_path / "grids.shp")
    assert max(len(c) for c in raw.columns if c != "geometry") <= 10
    assert "parent_cod" in raw.columns
    frame = pf.read_layer(tmp_path / "grids.shp")
    names = dict(conn.execute(text("SELECT code, name FROM unit WHERE level = 3 "
                                   "AND valid_to IS NULL")).all())
    assert dict(zip(frame["code"], frame["name"], strict=True)) == names
    assert frame.set_index("code").loc[G1, "name"] == "西城南社区第1网格"


def test_export_within_a_village_and_refusals(conn: Connection, tmp_path: Path) -> None:
    path = _export(conn, tmp_path, "geojson", within=VILLAGE)
    assert sorted(_read(path)["code"]) == [G1, G2, G3]
    town = _export(conn, tmp_path / "t", "gpkg", within="620981900002")
    assert len(_read(town)) == 6
    with pytest.raises(pf.LoadError, match="grid"):
        pf.export_layer(conn, tmp_path / "x.geojson", within=G1)
    with pytest.raises(pf.LoadError, match="no current unit"):
        pf.export_layer(conn, tmp_path / "x.geojson", within="nope")
    with pytest.raises(pf.LoadError, match="suffix"):
        pf.export_layer(conn, tmp_path / "x.txt")
    # the suffix follows the format
    assert pf.export_layer(conn, tmp_path / "plain", "gpkg", within=VILLAGE)[0].suffix == ".gpkg"


def test_other_crs_is_reprojected_and_said(conn: Connection, tmp_path: Path) -> None:
    path = _export(conn, tmp_path, "gpkg", within=VILLAGE)
    frame = _read(path).to_crs(3857)
    moved = _write(frame, tmp_path / "mercator.gpkg")
    read = pf.read_layer(moved)
    assert read.crs.to_epsg() == 4326
    assert any("reprojected" in n for n in read.attrs["notes"])
    assert read.total_bounds == pytest.approx([X0, Y0, X0 + 0.06, Y0 + 0.04], abs=1e-9)


# --- edits ---------------------------------------------------------------------------------
def _move_shared_edge(frame: gpd.GeoDataFrame, x: float) -> gpd.GeoDataFrame:
    """Move the edge between grids 1 and 2 (x = X0 + 0.02) in both rows."""
    frame = frame.copy()
    rows = frame.set_index("code").index
    frame.loc[rows == G1, "geometry"] = MultiPolygon([box(X0, Y0, x, Y0 + 0.04)])
    frame.loc[rows == G2, "geometry"] = MultiPolygon([box(x, Y0, X0 + 0.04, Y0 + 0.04)])
    return frame


@pytest.mark.parametrize("fmt", FORMATS)
def test_moved_shared_edge_validates_and_saves_new_versions(planner_db: Engine, tmp_path: Path,
                                                            fmt: str) -> None:
    from store.planning import plan_context

    with planner_db.connect() as db:
        path = _export(db, tmp_path, fmt)
        before = {c: _current(db, c) for c in (G1, G2, G3)}
    edited = _write(_move_shared_edge(_read(path), X0 + 0.025), path)
    frame = pf.read_layer(edited)
    with planner_db.connect() as db:
        proposals = pf.proposals_from_layer(db, frame)
        assert len(proposals) == 1
        proposal = proposals[0]
        assert proposal.kind == "import"
        assert proposal.parent_id == plan_context(db, proposal.parent_id).parent_id
        assert set(proposal.removed) == {before[G1]["id"], before[G2]["id"]}
        assert proposal.versions == {before[G1]["id"]: 1, before[G2]["id"]: 1}
        assert {u.code for u in proposal.added} == {G1, G2}
        added = {u.code: u for u in proposal.added}
        assert set(added[G1].replaces) == {before[G1]["id"], before[G2]["id"]}  # it grew
        assert added[G2].replaces == (before[G2]["id"],)

    outcome = planning.import_file(_rt(planner_db), edited, actor="test")
    assert outcome.ok, planning.describe(outcome)
    assert outcome.saved
    with planner_db.connect() as db:
        after = {c: _current(db, c) for c in (G1, G2, G3)}
        assert after[G1]["version"] == after[G2]["version"] == 2
        assert after[G3] == before[G3]
        assert after[G1]["id"] != before[G1]["id"]
        # importing the same file again: nothing to do
        assert pf.proposals_from_layer(db, pf.read_layer(edited)) == []
        x1 = db.execute(text("SELECT ST_XMax(geom) FROM unit WHERE code = :c AND valid_to IS "
                             "NULL"), {"c": G1}).scalar()
        assert x1 == pytest.approx(X0 + 0.025, abs=1e-12)


def test_merging_two_rows_retires_one_grid(planner_db: Engine, tmp_path: Path) -> None:
    with planner_db.connect() as db:
        path = _export(db, tmp_path, "gpkg", within=VILLAGE)
        old = {c: _current(db, c) for c in (G1, G2)}
    raw = _read(path)
    raw.loc[raw["code"] == G1, "geometry"] = MultiPolygon([box(X0, Y0, X0 + 0.04, Y0 + 0.04)])
    raw = raw[raw["code"] != G2]
    edited = _write(raw, tmp_path / "merged.gpkg")
    with planner_db.connect() as db:
        [proposal] = pf.proposals_from_layer(db, pf.read_layer(edited))
    assert set(proposal.removed) == {old[G1]["id"], old[G2]["id"]}
    assert [u.code for u in proposal.added] == [G1]
    assert set(proposal.added[0].replaces) == {old[G1]["id"], old[G2]["id"]}
    outcome = planning.import_file(_rt(planner_db), edited, actor="test")
    assert outcome.ok and outcome.saved, planning.describe(outcome)
    assert [u.status for u in outcome.parts[0].impact.units if u.code == G2] == ["retired"]
    with planner_db.connect() as db:
        assert db.execute(text("SELECT count(*) FROM unit WHERE code = :c AND valid_to IS NULL"),
                          {"c": G2}).scalar() == 0
        assert _current(db, G1)["version"] == 2


def test_scope_rule_missing_parents_are_not_retired(planner_db: Engine, tmp_path: Path) -> None:
    """Rows of only one village: the other villages' grids are not in the file and stay."""
    with planner_db.connect() as db:
        path = _export(db, tmp_path, "geojson")
    raw = _read(path)
    raw = raw[raw["parent_code"] == VILLAGE]
    raw.loc[raw["code"] == G3, "name"] = "西城南社区第三网格"
    edited = _write(raw, tmp_path / "one.geojson")
    with planner_db.connect() as db:
        [proposal] = pf.proposals_from_layer(db, pf.read_layer(edited))
        assert [u.code for u in proposal.added] == [G3]
        assert proposal.removed == (_current(db, G3)["id"],)
        assert proposal.added[0].name == "西城南社区第三网格"


def test_new_grid_in_a_blank_area_gets_its_parent(planner_db: Engine, tmp_path: Path) -> None:
    with planner_db.connect() as db:
        path = _export(db, tmp_path, "geojson", within=VILLAGE)
    raw = _read(path)
    # grid 3 shrinks; a new grid (no parent_code, no version) takes the freed strip
    raw.loc[raw["code"] == G3, "geometry"] = MultiPolygon(
        [box(X0 + 0.04, Y0, X0 + 0.05, Y0 + 0.04)])
    new = gpd.GeoDataFrame({"id": [None], "code": [f"{VILLAGE}004"], "name": ["新网格"],
                            "parent_code": [None], "version": [None], "households": [0]},
                           geometry=[MultiPolygon([box(X0 + 0.05, Y0, X0 + 0.06, Y0 + 0.04)])],
                           crs=4326)
    edited = _write(gpd.GeoDataFrame(pd.concat([raw, new], ignore_index=True), crs=4326),
                    tmp_path / "new.geojson")
    with planner_db.connect() as db:
        [proposal] = pf.proposals_from_layer(db, pf.read_layer(edited))
        village_id = db.execute(text("SELECT id FROM unit WHERE code = :c"),
                                {"c": VILLAGE}).scalar()
    assert proposal.parent_id == village_id
    assert sorted(u.code for u in proposal.added) == [G3, f"{VILLAGE}004"]
    outcome = planning.import_file(_rt(planner_db), edited, actor="test")
    assert outcome.ok and outcome.saved, planning.describe(outcome)
    with planner_db.connect() as db:
        assert _current(db, f"{VILLAGE}004")["version"] == 1


def test_stale_file_conflicts_and_writes_nothing(planner_db: Engine, tmp_path: Path) -> None:
    from store.planning import PlanConflict

    with planner_db.connect() as db:
        path = _export(db, tmp_path, "gpkg")
    first = _write(_move_shared_edge(_read(path), X0 + 0.025), tmp_path / "first.gpkg")
    assert planning.import_file(_rt(planner_db), first, actor="planner A").saved
    count = _count_units(planner_db)
    # planner B edited the old export: grid 1 (and 2) still at version 1 in that file
    second = _write(_move_shared_edge(_read(path), X0 + 0.015), tmp_path / "second.gpkg")
    with pytest.raises(PlanConflict) as err:
        planning.import_file(_rt(planner_db), second, actor="planner B")
    assert G1 in str(err.value)
    assert _count_units(planner_db) == count
    with planner_db.connect() as db:
        assert _current(db, G1)["version"] == 2


def _count_units(engine: Engine) -> int:
    with engine.connect() as db:
        return db.execute(text("SELECT count(*) FROM unit")).scalar()


def test_overlap_is_refused_by_validation(planner_db: Engine, tmp_path: Path) -> None:
    with planner_db.connect() as db:
        path = _export(db, tmp_path, "geojson", within=VILLAGE)
    raw = _read(path)
    raw.loc[raw["code"] == G1, "geometry"] = MultiPolygon([box(X0, Y0, X0 + 0.03, Y0 + 0.04)])
    edited = _write(raw, tmp_path / "overlap.geojson")
    count = _count_units(planner_db)
    outcome = planning.import_file(_rt(planner_db), edited, actor="test")
    assert not outcome.ok and not outcome.saved
    assert "overlap" in planning.describe(outcome)
    assert _count_units(planner_db) == count


def test_dry_run_previews_households_without_saving(planner_db: Engine, tmp_path: Path) -> None:
    with planner_db.begin() as db:
        g2 = _current(db, G2)["id"]
        db.execute(text("INSERT INTO household (geom, address, size, grid_id) VALUES "
                        "(ST_SetSRID(ST_MakePoint(:x, :y), 4326), '示例地址1号', 3, :g)"),
                   {"x": X0 + 0.022, "y": Y0 + 0.02, "g": g2})
        path = _export(db, tmp_path, "shp", within=VILLAGE)
    assert list(_read(path).set_index("code").loc[[G1, G2], "households"]) == [0, 1]
    edited = _write(_move_shared_edge(_read(path), X0 + 0.025), path)
    count = _count_units(planner_db)
    outcome = planning.import_file(_rt(planner_db), edited, actor="test", dry_run=True)
    assert outcome.ok and not outcome.saved
    units = {u.code: u for u in outcome.parts[0].impact.units}
    assert (units[G1].before["households"], units[G1].after["households"]) == (0, 1)
    assert (units[G2].before["households"], units[G2].after["households"]) == (1, 0)
    assert "DRY RUN" in planning.describe(outcome)
    assert _count_units(planner_db) == count


# --- broken files ------------------------------------------------------------------------------
def test_missing_column_names_it(conn: Connection, tmp_path: Path) -> None:
    raw = _read(_export(conn, tmp_path, "geojson")).drop(columns=["version"])
    bad = _write(raw, tmp_path / "nov.geojson")
    with pytest.raises(pf.PlanFileError, match=r"nov.geojson has no column version"):
        pf.read_layer(bad)


def test_wrong_geometry_type_names_the_row(conn: Connection, tmp_path: Path) -> None:
    raw = _read(_export(conn, tmp_path, "geojson"))
    raw["geometry"] = raw.geometry.astype(object)
    raw.loc[1, "geometry"] = LineString([(X0, Y0), (X0 + 0.01, Y0 + 0.01)])
    bad = _write(gpd.GeoDataFrame(raw, geometry="geometry", crs=4326), tmp_path / "line.geojson")
    with pytest.raises(pf.PlanFileError) as err:
        pf.read_layer(bad)
    assert "line.geojson: row 2, geometry: expected Polygon or MultiPolygon, got LineString" \
        in str(err.value)
    assert [(p.row, p.field) for p in err.value.problems] == [(2, "geometry")]


def test_invalid_geometry_duplicates_and_bad_version(conn: Connection, tmp_path: Path) -> None:
    raw = _read(_export(conn, tmp_path, "gpkg"))
    bowtie = Polygon([(X0, Y0), (X0 + 0.01, Y0 + 0.01), (X0 + 0.01, Y0), (X0, Y0 + 0.01)])
    raw.loc[0, "geometry"] = MultiPolygon([bowtie])
    raw.loc[3, "code"] = raw.loc[2, "code"]
    raw["version"] = raw["version"].astype(object)
    raw.loc[4, "version"] = "v2"
    raw.loc[5, "name"] = ""
    bad = _write(raw, tmp_path / "bad.gpkg")
    with pytest.raises(pf.PlanFileError) as err:
        pf.read_layer(bad)
    found = {(p.row, p.field) for p in err.value.problems}
    assert found == {(1, "geometry"), (4, "code"), (5, "version"), (6, "name")}
    message = str(err.value)
    assert "bad.gpkg: row 1, geometry: invalid (Self-intersection" in message
    assert "row 4, code: duplicate code, also in row 3" in message
    assert "row 5, version: not a whole number ('v2')" in message


def test_malformed_json_says_where(tmp_path: Path) -> None:
    bad = tmp_path / "broken.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [\n {"type": }\n]}')
    with pytest.raises(pf.PlanFileError, match=r"broken.geojson is not valid JSON: line 2"):
        pf.read_layer(bad)


def test_shapefile_without_prj_is_refused(conn: Connection, tmp_path: Path) -> None:
    path = _export(conn, tmp_path, "shp")
    path.with_suffix(".prj").unlink()
    with pytest.raises(pf.PlanFileError, match=r"no coordinate reference system.*\.prj"):
        pf.read_layer(path)


def test_moving_a_grid_to_another_village_is_a_row_error(conn: Connection,
                                                         tmp_path: Path) -> None:
    raw = _read(_export(conn, tmp_path, "shp"))
    row = int((raw["code"] == G1).to_numpy().nonzero()[0][0])
    raw.loc[row, "parent_cod"] = "620981900001002"
    bad = _write(raw, tmp_path / "moved.shp")
    with pytest.raises(pf.PlanFileError) as err:
        pf.proposals_from_layer(conn, pf.read_layer(bad))
    assert [(p.row, p.field) for p in err.value.problems] == [(row + 1, "parent_code")]
    assert "moving grids between villages is not supported" in str(err.value)


def test_code_of_a_village_is_not_a_grid(conn: Connection, tmp_path: Path) -> None:
    raw = _read(_export(conn, tmp_path, "geojson", within=VILLAGE))
    raw.loc[0, "code"] = VILLAGE
    bad = _write(raw, tmp_path / "village.geojson")
    with pytest.raises(pf.PlanFileError, match="not a grid"):
        pf.proposals_from_layer(conn, pf.read_layer(bad))


def test_same_geometry_tolerates_file_noise() -> None:
    a = MultiPolygon([box(X0, Y0, X0 + 0.02, Y0 + 0.04)])
    reversed_ring = Polygon(list(a.geoms[0].exterior.coords)[::-1])
    assert pf.same_geometry(a, reversed_ring)
    assert pf.same_geometry(a, box(X0, Y0, X0 + 0.02 + 1e-12, Y0 + 0.04))
    extra = Polygon([(X0, Y0), (X0 + 0.01, Y0), (X0 + 0.02, Y0), (X0 + 0.02, Y0 + 0.04),
                     (X0, Y0 + 0.04)])
    assert pf.same_geometry(a, extra)
    assert not pf.same_geometry(a, box(X0, Y0, X0 + 0.02 + 1e-7, Y0 + 0.04))


def test_local_time_is_a_local_day() -> None:
    start = planning.local_time("2024-03-01", "Asia/Shanghai")
    assert start.isoformat() == "2024-03-01T00:00:00+08:00"
    end = planning.local_time("2024-03-01", "Asia/Shanghai", end_of_day=True)
    assert end.isoformat() == "2024-03-01T23:59:59.999999+08:00"
    assert planning.local_time(None, "Asia/Shanghai") is None
    with pytest.raises(pf.LoadError, match="not a date"):
        planning.local_time("March", "Asia/Shanghai")


def _rt(engine):
    """The runtime context the planning service works in (default settings, this database)."""
    return build_runtime(Settings(), engine=engine, actor=cli_actor("test"))
