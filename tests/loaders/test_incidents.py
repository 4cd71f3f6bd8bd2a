"""Incident loads: bad rows reported exactly, idempotent re-loads, one transaction, dry runs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Connection, Engine, text

from loaders.importers import core
from loaders.importers.options import LoadError, LoadOptions
from store import bulk
from tests.loaders.files import incidents_frame

pytestmark = pytest.mark.db


def _count(db: Connection, sql: str) -> int:
    return int(db.execute(text(sql)).scalar())


def _count_engine(engine: Engine, sql: str) -> int:
    with engine.connect() as c:
        return _count(c, sql)


def _spoil(frame: pd.DataFrame) -> dict[int, tuple[str, str]]:
    """Ten bad rows of every kind; {file row number: (field, reason)}."""
    bad = {
        17: ("经度", ""), 150: ("纬度", "abc"), 999: ("经度", "200"),
        2000: ("经度", "10"), 3001: ("受理时间", "2026-13-40"), 4002: ("受理时间", "2026-02-30"),
        5003: ("受理时间", "昨天下午"), 6004: ("工单编号", ""), 7005: ("事件类型", ""),
        8006: ("纬度", "40°75'"),
    }
    for i, (col, value) in bad.items():
        frame.loc[i, col] = value
    return {i + 2: (col, value) for i, (col, value) in bad.items()}


def test_ten_bad_rows_among_ten_thousand(conn: Connection, tmp_path: Path) -> None:
    frame = incidents_frame(10_000, seed=1)
    bad = _spoil(frame)
    path = tmp_path / "12345导出.csv"
    frame.to_csv(path, index=False, encoding="gbk")
    before = _count(conn, "SELECT count(*) FROM incident")
    report = core.run("incidents", path, LoadOptions(source="12345"), db=conn)
    assert report.rows == 10_000
    assert report.inserted == 9_990 and report.rejected == 10
    assert sorted({r.row for r in report.rejects}) == sorted(bad)
    for r in report.rejects:
        assert r.field.startswith(bad[r.row][0]) or bad[r.row][0] in r.field
    assert _count(conn, "SELECT count(*) FROM incident") == before + 9_990
    assert sum(report.reasons.values()) == 9_990
    assert report.reasons["inside"] + report.reasons["edge"] == 9_990
    assert _count(conn, "SELECT count(*) FROM incident WHERE source = 'hotline_12345' AND "
                        "external_id LIKE 'GD%' AND grid_id IS NOT NULL AND town_id IS NOT NULL "
                        "AND county_id IS NOT NULL AND village_id IS NOT NULL") == 9_990
    assert _count(conn, "SELECT count(*) FROM incident_event e JOIN incident i "
                        "ON i.id = e.incident_id WHERE e.actor = 'import:12345导出.csv' "
                        "AND e.action = 'import' AND e.to_status = 'received'") == 9_990
    # the rejects file holds exactly those rows, with their original cells
    with open(report.rejects_path, encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(int(r["_row"]) for r in rows) == sorted(bad)
    assert {r["工单编号"] for r in rows if r["_row"] == "3003"} == {"GD0003001"}
    assert "date" in next(r["_reason"] for r in rows if r["_row"] == "3003")


def test_reloading_is_idempotent_and_updates_changed_rows(conn: Connection,
                                                          tmp_path: Path) -> None:
    frame = incidents_frame(500, seed=2, prefix="RL")
    path = tmp_path / "a.csv"
    frame.to_csv(path, index=False)
    first = core.run("incidents", path, LoadOptions(source="grid_app"), db=conn)
    n = _count(conn, "SELECT count(*) FROM incident")
    events = _count(conn, "SELECT count(*) FROM incident_event")
    again = core.run("incidents", path, LoadOptions(source="grid_app"), db=conn)
    assert (first.inserted, again.inserted, again.updated, again.unchanged) == (500, 0, 0, 500)
    assert _count(conn, "SELECT count(*) FROM incident") == n
    assert _count(conn, "SELECT count(*) FROM incident_event") == events
    frame.loc[:9, "诉求内容"] = "已更新的诉求"
    frame.to_csv(path, index=False)
    third = core.run("incidents", path, LoadOptions(source="grid_app"), db=conn)
    assert (third.inserted, third.updated, third.unchanged) == (0, 10, 490)
    assert _count(conn, "SELECT count(*) FROM incident WHERE description = '已更新的诉求'") == 10


def test_a_failed_load_leaves_no_trace(db_engine: Engine, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "fail.csv"
    incidents_frame(300, seed=3, prefix="FAIL").to_csv(path, index=False)
    before = _count_engine(db_engine, "SELECT count(*) FROM incident")
    real = bulk.upsert_incidents

    def merge_then_fail(conn, staging, actor, **kw):  # noqa: ANN001, ANN003, ANN202
        real(conn, staging, actor, **kw)  # rows are written … then the load fails
        raise LoadError("simulated failure after the merge")

    monkeypatch.setattr(bulk, "upsert_incidents", merge_then_fail)
    with pytest.raises(LoadError, match="simulated"):
        core.run("incidents", path, LoadOptions(), db=db_engine)
    assert _count_engine(db_engine, "SELECT count(*) FROM incident") == before
    assert _count_engine(db_engine, "SELECT count(*) FROM incident WHERE "
                                    "external_id LIKE 'FAIL%'") == 0
    assert not (tmp_path / "fail.rejects.csv").exists()


def test_dry_run_reports_but_writes_nothing(db_engine: Engine, tmp_path: Path) -> None:
    frame = incidents_frame(200, seed=4, prefix="DRY")
    frame.loc[5, "经度"] = "abc"
    path = tmp_path / "dry.csv"
    frame.to_csv(path, index=False)
    report = core.run("incidents", path, LoadOptions(dry_run=True), db=db_engine)
    assert report.dry_run and report.inserted == 199 and report.rejected == 1
    assert "DRY RUN" in report.summary()
    assert _count_engine(db_engine, "SELECT count(*) FROM incident WHERE "
                                    "external_id LIKE 'DRY%'") == 0
    assert report.rejects_path is None and not (tmp_path / "dry.rejects.csv").exists()


def test_xlsx_with_dms_gcj02_status_and_sources(conn: Connection, tmp_path: Path) -> None:
    import pyogrio

    from geo.crs import wgs84_to_gcj02

    gx, gy = wgs84_to_gcj02(np.array([97.01, 97.05, 97.1]), np.array([40.26, 40.3, 40.32]))

    def dms(v: float, hemi: str) -> str:
        d = int(v)
        m = int((v - d) * 60)
        s = ((v - d) * 60 - m) * 60
        return f"{d}°{m}'{s:.4f}\"{hemi}"

    frame = pd.DataFrame({
        "事件编号": ["X1", "X2", "X3"],
        "来源": ["网格员", "随手拍", "110"],
        "事件类型": ["矛盾纠纷-邻里纠纷", "垃圾堆放", "消防"],
        "办理状态": ["已办结", "办理中", "已受理"],
        "受理时间": ["2026-03-01 09:00", "2026年3月2日 10时30分", "2026/3/3 8:00:00"],
        "满意度": ["满意", "", "3"],
        "经度": [dms(x, "E") for x in gx],
        "纬度": [dms(y, "N") for y in gy],
    })
    path = tmp_path / "事件.xlsx"
    pyogrio.write_dataframe(frame, path, driver="XLSX", layer="事件")
    report = core.run("incidents", path, LoadOptions(datum="gcj02"), db=conn)
    assert report.rejected == 0 and report.inserted == 3, report.summary()
    rows = conn.execute(text(
        "SELECT external_id, source, category, subcategory, status, rating, severity, "
        "ST_X(geom) AS x, ST_Y(geom) AS y, received_at FROM incident "
        "WHERE external_id IN ('X1', 'X2', 'X3') ORDER BY external_id")).mappings().all()
    assert [r["source"] for r in rows] == ["grid_app", "citizen_app", "police_110"]
    assert [r["category"] for r in rows] == ["dispute", "sanitation", "fire"]
    assert [r["subcategory"] for r in rows] == ["邻里纠纷", "垃圾堆放", None]
    assert [r["status"] for r in rows] == ["closed", "in_progress", "received"]
    assert [r["rating"] for r in rows] == [5, None, 3]
    assert [r["severity"] for r in rows] == ["medium", "low", "high"]
    assert [round(r["x"], 5) for r in rows] == [97.01, 97.05, 97.1]
    assert [round(r["y"], 5) for r in rows] == [40.26, 40.3, 40.32]
    assert rows[1]["received_at"] == pd.Timestamp("2026-03-02 10:30", tz="Asia/Shanghai")


def test_unlocated_incidents_are_rejected_unless_allowed(conn: Connection,
                                                         tmp_path: Path) -> None:
    frame = incidents_frame(3, seed=5, prefix="UL")
    frame.loc[1, ["经度", "纬度"]] = ""
    path = tmp_path / "ul.csv"
    frame.to_csv(path, index=False)
    strict = core.run("incidents", path, LoadOptions(dry_run=True), db=conn)
    assert strict.rejected == 1 and strict.rejects[0].reason == "missing coordinate"
    lenient = core.run("incidents", path, LoadOptions(allow_unlocated=True), db=conn)
    assert lenient.rejected == 0 and lenient.inserted == 3
    row = conn.execute(text("SELECT geom, status, location_reason FROM incident "
                            "WHERE external_id = 'UL0000001'")).one()
    assert row == (None, "unlocated", None)


def test_reload_without_receipt_times_is_unchanged(conn: Connection, tmp_path: Path) -> None:
    path = tmp_path / "notime.csv"
    incidents_frame(20, seed=6, prefix="NT").drop(columns=["受理时间"]).to_csv(path, index=False)
    first = core.run("incidents", path, LoadOptions(), db=conn)
    # Both loads share one transaction, where now() stands still: age the stored receipt times
    # as if time had passed, so a re-load that stamped now() again would count as an update.
    conn.execute(text("UPDATE incident SET received_at = received_at - interval '1 hour' "
                      "WHERE external_id LIKE 'NT%'"))
    again = core.run("incidents", path, LoadOptions(), db=conn)
    assert (first.inserted, again.unchanged) == (20, 20)


def test_missing_required_column_is_refused(conn: Connection, tmp_path: Path) -> None:
    path = tmp_path / "nocode.csv"
    incidents_frame(3).drop(columns=["工单编号"]).to_csv(path, index=False)
    with pytest.raises(LoadError, match="No column for external_id"):
        core.run("incidents", path, LoadOptions(), db=conn)


def test_title_rows_above_the_header_are_skipped(conn: Connection, tmp_path: Path) -> None:
    import pyogrio

    frame = incidents_frame(5, seed=10, prefix="TT")
    frame.loc[2, "经度"] = "x"
    csv_path = tmp_path / "titled.csv"
    csv_path.write_text("12345热线工单导出（2026年3月）\n" + frame.to_csv(index=False),
                        encoding="utf-8")
    report = core.run("incidents", csv_path, LoadOptions(dry_run=True), db=conn)
    assert (report.inserted, [r.row for r in report.rejects]) == (4, [5]), report.summary()
    # XLSX: the title becomes GDAL's header, the real header is the first data row
    titled = pd.concat([pd.DataFrame([frame.columns], columns=frame.columns), frame])
    titled.columns = ["12345热线工单导出"] + [f"c{i}" for i in range(1, len(frame.columns))]
    xlsx = tmp_path / "titled.xlsx"
    pyogrio.write_dataframe(titled, xlsx, driver="XLSX")
    report = core.run("incidents", xlsx, LoadOptions(dry_run=True), db=conn)
    assert (report.inserted, [r.row for r in report.rejects]) == (4, [5]), report.summary()


def test_reload_keeps_the_workflow_state_the_app_has_moved_on(conn: Connection,
                                                              tmp_path: Path) -> None:
    """A re-loaded export updates the content, but not the handling the app has done since."""
    frame = incidents_frame(5, seed=8, prefix="WF")
    frame["办理状态"] = "已受理"
    path = tmp_path / "wf.csv"
    frame.to_csv(path, index=False)
    core.run("incidents", path, LoadOptions(source="grid_app"), db=conn)
    ids = [r[0] for r in conn.execute(text(
        "SELECT id FROM incident WHERE external_id LIKE 'WF%' ORDER BY external_id"))]
    acted = ids[0]  # the app dispatches this one (what intake.service.act writes)
    conn.execute(text("UPDATE incident SET status = 'dispatched' WHERE id = :i"), {"i": acted})
    conn.execute(text("INSERT INTO incident_event (incident_id, actor, action, from_status, "
                      "to_status) VALUES (:i, '指挥中心', 'dispatch', 'received', 'dispatched')"),
                 {"i": acted})
    frame["办理状态"] = "已办结"
    frame["诉求内容"] = "更新后的诉求"
    frame.to_csv(path, index=False)
    again = core.run("incidents", path, LoadOptions(source="grid_app"), db=conn)
    assert again.updated == 5
    rows = dict(conn.execute(text(
        "SELECT id, status FROM incident WHERE external_id LIKE 'WF%'")).all())
    assert rows[acted] == "dispatched"  # the app's state wins
    assert all(rows[i] == "closed" for i in ids[1:])  # untouched ones follow the file
    assert _count(conn, "SELECT count(*) FROM incident WHERE external_id LIKE 'WF%' "
                        "AND description = '更新后的诉求'") == 5


def test_reload_keeps_units_frozen_unless_the_location_changed(conn: Connection,
                                                               tmp_path: Path) -> None:
    """A grid redraw (the planner's 'reassign') is not undone by re-loading the same file,
    and is not "handling": the file's status still applies.  A moved location re-assigns."""
    frame = incidents_frame(3, seed=9, prefix="RG")
    frame["办理状态"] = "已受理"
    path = tmp_path / "rg.csv"
    frame.to_csv(path, index=False)
    core.run("incidents", path, LoadOptions(source="grid_app"), db=conn)
    rows = conn.execute(text("SELECT id, grid_id FROM incident WHERE external_id LIKE 'RG%' "
                             "ORDER BY external_id")).all()
    (kept, grid), (moved, _grid) = rows[0], rows[1]
    other = conn.execute(text("SELECT id FROM unit WHERE level = (SELECT max(level) FROM unit) "
                              "AND id <> :g ORDER BY id LIMIT 1"), {"g": grid}).scalar()
    for iid in (kept, moved):  # what planning.service.save writes for a redraw
        conn.execute(text("UPDATE incident SET grid_id = :o WHERE id = :i"),
                     {"o": other, "i": iid})
        conn.execute(text("INSERT INTO incident_event (incident_id, actor, action, note) "
                          "VALUES (:i, 'planner', 'reassign', 'redrawn')"), {"i": iid})
    frame["办理状态"] = "已办结"
    frame.loc[1, "经度"] = frame.loc[0, "经度"]  # the second case moves to the first's
    frame.loc[1, "纬度"] = frame.loc[0, "纬度"]
    frame.to_csv(path, index=False)
    core.run("incidents", path, LoadOptions(source="grid_app"), db=conn)
    after = {r[0]: (r[1], r[2]) for r in conn.execute(text(
        "SELECT id, grid_id, status FROM incident WHERE external_id LIKE 'RG%'"))}
    assert after[kept] == (other, "closed")  # same place: the redrawn grid stays
    assert after[moved][0] == grid  # moved: placed again, in the first case's grid
