"""One intake policy for every door: a file of incidents gets the same due times and the same
near-duplicate marking as the same reports sent through the service (what the API calls)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from intake import service
from intake.schema import parse_report
from loaders.importers import core
from loaders.importers.options import LoadOptions
from onemap.access import cli_actor
from onemap.settings import Settings
from store import bulk
from store.runtime import build_runtime
from tests.helpers import fresh_demo_database, sibling_database

pytestmark = pytest.mark.db

TZ = ZoneInfo("Asia/Shanghai")
# Sample county grids are 0.02° wide from lon 97.00; these points lie inside grids, apart.
PLACES = [(97.005, 40.255), (97.045, 40.265), (97.085, 40.305), (97.105, 40.315)]
# Before the National Day holiday (10-01..10-07 2026) and on a Friday: working days matter.
TIMES = ["2026-09-30 16:00:00", "2026-10-09 09:30:00", "2026-09-25 18:00:00",
         "2026-10-03 11:00:00"]
CATEGORIES = [("环境卫生", "sanitation"), ("治安", "public_order"), ("矛盾纠纷", "dispute"),
              ("基础设施", "infrastructure")]


@pytest.fixture(scope="module")
def engine(db_url: str) -> Engine:
    engine = fresh_demo_database(sibling_database(db_url, "filepolicy"))
    yield engine
    engine.dispose()


def _settings(settings: Settings, engine: Engine) -> Settings:
    return settings.with_(database_url=engine.url.render_as_string(hide_password=False),
                          working_days=True, level_deadline_days=(("3", 1), ("2", 3),
                                                                  ("1", 5), ("0", 7)))


def _file(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "12345.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _due(engine: Engine, source: str, external_ids: list[str]) -> dict[str, datetime]:
    with engine.connect() as conn:
        return {r.external_id: r.due_at for r in conn.execute(text(
            "SELECT external_id, due_at FROM incident WHERE source = :s "
            "AND external_id = ANY(:ids)"), {"s": source, "ids": external_ids})}


def test_file_and_api_give_the_same_due_times_with_working_days(engine, settings, tmp_path):
    rt = build_runtime(_settings(settings, engine), engine=engine)
    rows, api_ids = [], []
    for i, ((lon, lat), when, (zh, code)) in enumerate(zip(PLACES, TIMES, CATEGORIES,
                                                           strict=True)):
        received = datetime.fromisoformat(when).replace(tzinfo=TZ)
        report = parse_report({"source": "hotline_12345", "external_id": f"API-DUE-{i}",
                               "category": code, "description": "对照：同一报告经接口提交",
                               "location": {"lon": lon, "lat": lat}})
        service.submit(rt.acting_as(cli_actor("test")), report, received_at=received)
        api_ids.append(f"API-DUE-{i}")
        rows.append({"工单编号": f"FILE-DUE-{i}", "受理时间": when, "诉求内容": "对照：文件导入",
                     "事件类型": zh, "经度": lon, "纬度": lat})
    core.run("incidents", _file(tmp_path, rows), LoadOptions(source="12345"), db=engine,
             policy=rt.policy)
    api = _due(engine, "hotline_12345", api_ids)
    filed = _due(engine, "hotline_12345", [f"FILE-DUE-{i}" for i in range(len(rows))])
    assert len(api) == len(filed) == len(rows)
    for i in range(len(rows)):
        assert filed[f"FILE-DUE-{i}"] == api[f"API-DUE-{i}"], TIMES[i]
    # and working days really changed something: the 09-30 case is not due on 10-01 16:00
    assert api["API-DUE-0"].astimezone(TZ).date().isoformat() == "2026-10-08"


@pytest.mark.parametrize("fetch", ["probes", "one scan"])
def test_a_near_duplicate_in_a_file_is_marked_like_one_sent_to_the_api(engine, settings,
                                                                        tmp_path, fetch,
                                                                        monkeypatch):
    # stored candidates are fetched by GiST probes for small loads, in one scan for large ones
    if fetch == "one scan":
        monkeypatch.setattr(bulk, "SMALL_LOAD", 0)
    tag = "S" if fetch == "one scan" else ""
    rt = build_runtime(_settings(settings, engine), engine=engine, actor=cli_actor("test"))
    lon, lat = 97.065, 40.275
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=TZ) + pd.Timedelta(days=10 if tag else 0)

    def api(i: int, dx: float, hours: float) -> dict:
        report = parse_report({"source": "citizen_app", "external_id": f"API-DUP{tag}-{i}",
                               "category": "sanitation", "description": "垃圾堆放",
                               "location": {"lon": lon + dx, "lat": lat}})
        return service.submit(rt, report, received_at=t0 + pd.Timedelta(hours=hours)).incident

    first = api(0, 0.0, 0)
    second = api(1, 0.0002, 2)   # ~17 m away, 2 h later: a near-duplicate
    third = api(2, 0.0004, 20)   # a duplicate of the duplicate points at the first
    assert second["duplicate_of"] == first["id"] == third["duplicate_of"]

    # the same three reports, one day later, in a file; plus one near the API's first case
    rows = [{"工单编号": f"FILE-DUP{tag}-{i}", "受理时间": (t0 + pd.Timedelta(days=3, hours=h)
                                                   ).strftime("%Y-%m-%d %H:%M:%S"),
             "诉求内容": "垃圾堆放", "事件类型": "环境卫生", "经度": lon + dx, "纬度": lat}
            for i, (dx, h) in enumerate([(0.0, 0), (0.0002, 2), (0.0004, 20)])]
    rows.append({"工单编号": f"FILE-DUP{tag}-9", "受理时间": (t0 + pd.Timedelta(hours=5)).strftime(
        "%Y-%m-%d %H:%M:%S"), "诉求内容": "垃圾堆放", "事件类型": "环境卫生",
        "经度": lon + 0.0001, "纬度": lat})
    report = core.run("incidents", _file(tmp_path, rows), LoadOptions(source="随手拍"),
                      db=engine, policy=rt.policy)
    assert any("near-duplicate" in note for note in report.notes)
    with engine.connect() as conn:
        got = {r.external_id: (r.id, r.duplicate_of, r.note) for r in conn.execute(text("""
            SELECT i.external_id, i.id, i.duplicate_of, e.note FROM incident i
            JOIN incident_event e ON e.incident_id = i.id AND e.action IN ('import', 'receive')
            WHERE i.source = 'citizen_app' AND i.external_id LIKE :pattern"""),
            {"pattern": f"%-DUP{tag}-%"})}
    file_first = got[f"FILE-DUP{tag}-0"][0]
    assert got[f"FILE-DUP{tag}-0"][1] is None
    assert got[f"FILE-DUP{tag}-1"][1] == file_first == got[f"FILE-DUP{tag}-2"][1]
    assert got[f"FILE-DUP{tag}-9"][1] == first["id"]  # linked to the case stored before the file
    # the history says so in the same words as over the API
    api_note = got[f"API-DUP{tag}-1"][2]
    assert api_note == rt.policy.duplicate_note(first["id"])
    assert got[f"FILE-DUP{tag}-1"][2] == rt.policy.duplicate_note(file_first)
    assert got[f"FILE-DUP{tag}-0"][2] is None
