"""The desk (#16): each role's queues hold the cases that wait for it (compared with SQL),
actions and bulk actions go through the workflow with history and audit rows, photos are
added from the panel, and a department sees only its department's cases."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from sqlalchemy import text

from dashboard import desk_callbacks as dc
from dashboard.app import create_app
from tests.helpers import acting

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def app(settings, wall_engine, wall_db_url, tmp_path_factory):
    return create_app(settings.with_(database_url=wall_db_url, escalate_every_s=0,
                                     media_dir=str(tmp_path_factory.mktemp("media"))))


@pytest.fixture(scope="module")
def village(app, wall_engine, settings, wall_db_url) -> dict:
    """A village with three fresh cases escalated to it from one of its grids (village
    level), one of them dispatched."""
    from intake import service
    from intake.schema import ActionIn, parse_report
    from onemap.access import cli_actor
    from store.runtime import build_runtime

    with wall_engine.connect() as conn:
        row = conn.execute(text("""
            SELECT v.id, v.code, ST_X(ST_PointOnSurface(g.geom)) AS x,
                   ST_Y(ST_PointOnSurface(g.geom)) AS y
            FROM unit v JOIN unit g ON g.parent_id = v.id
            WHERE v.level = 2 AND v.valid_to IS NULL AND g.valid_to IS NULL
            ORDER BY v.code DESC, g.code LIMIT 1""")).one()
    rt = build_runtime(settings.with_(database_url=wall_db_url), engine=wall_engine,
                       actor=cli_actor("test"))
    ids = []
    for k, category in enumerate(("environment", "safety_hazard", "dispute")):
        report = parse_report({"source": "grid_app", "external_id": f"DESK-{k}",
                               "category": category, "description": f"工作台测试 {k}",
                               "location": {"lon": row.x + k * 1e-3, "lat": row.y}})
        case = service.submit(rt, report).incident["id"]
        service.act(rt, case, ActionIn(action="escalate", note="村里处理"))
        ids.append(case)
    service.act(rt, ids[0], ActionIn(action="dispatch"))
    return {"id": row.id, "code": row.code, "cases": ids}


def _ids(listing) -> set[int]:
    rows = listing.children[1].children
    return {int(r.children[0].id["index"]) for r in rows}


def test_a_village_desk_lists_its_village_level_cases(app, village, wall_engine) -> None:
    with wall_engine.connect() as conn:
        want = {r[0] for r in conn.execute(text("""
            SELECT id FROM incident WHERE village_id = :v AND handling_level = 2
              AND duplicate_of IS NULL AND status IN ('received', 'dispatched', 'escalated',
                  'returned', 'reopened')"""), {"v": village["id"]})}
    with acting(app, "handler", village["code"]):
        options, listing = dc._refresh(0, "to_accept", None, None, None, None, "zh")
    assert set(village["cases"]) <= want and len(want) <= 50
    assert _ids(listing) == want  # exactly the village's cases waiting at village level
    label = next(o["label"] for o in options if o["value"] == "to_accept")
    assert label == f"待签收 ({len(want):,})"


def test_acting_from_the_desk_leaves_history_and_audit(app, village, wall_engine) -> None:
    case = village["cases"][0]  # dispatched to the village desk
    with acting(app, "handler", village["code"]) as actor:
        panel = dc._detail(case, None, "zh")
        actions = next(c for c in panel if getattr(c, "className", "") == "om-actions")
        buttons = [c.id["action"] for c in actions.children]
        assert "accept" in buttons
        from dash._callback_context import context_value
        from dash._utils import AttributeDict

        context_value.set(AttributeDict(triggered_inputs=[{
            "prop_id": '{"action":"accept","type":"d-act"}.n_clicks', "value": 1}]))
        done = dc._act([1], case, "已签收，马上处理", None, None, "zh")
        assert done["message"].startswith("已执行")
        png = io.BytesIO()
        Image.new("RGB", (64, 48), (200, 10, 10)).save(png, "PNG")
        uploaded = dc._upload("data:image/png;base64," + base64.b64encode(png.getvalue())
                              .decode(), case, "zh")
        assert uploaded["message"] == "照片已上传"
    with wall_engine.connect() as conn:
        status = conn.scalar(text("SELECT status FROM incident WHERE id = :i"), {"i": case})
        events = [r[0] for r in conn.execute(text(
            "SELECT action FROM incident_event WHERE incident_id = :i ORDER BY at, id"),
            {"i": case})]
        audited = [r[0] for r in conn.execute(text(
            "SELECT action FROM audit_log WHERE object_id = :i AND actor = :a"),
            {"i": str(case), "a": actor.label})]
    assert status == "accepted" and events[-2:] == ["accept", "photo"]
    assert audited == ["incident.act", "photo.add"]


def test_a_department_sees_only_its_cases(app, village, wall_engine, settings,
                                          wall_db_url) -> None:
    """A case dispatched to the busiest department is on its desk; nothing of another
    department is (the demo's own waiting cases depend on the day the data was made)."""
    from intake import service
    from intake.schema import ActionIn, parse_report
    from onemap.access import cli_actor
    from store.runtime import build_runtime

    with wall_engine.connect() as conn:
        dept, code = conn.execute(text("""
            SELECT d.id, d.code FROM incident i JOIN department d ON d.id = i.department_id
            GROUP BY d.id, d.code ORDER BY count(*) DESC, d.code LIMIT 1""")).one()
        x, y = conn.execute(text("""
            SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM unit
            WHERE parent_id = :v AND valid_to IS NULL ORDER BY code LIMIT 1"""),
                            {"v": village["id"]}).one()
        other = conn.scalar(text("SELECT code FROM department WHERE id <> :d ORDER BY code "
                                 "LIMIT 1"), {"d": dept})
    rt = build_runtime(settings.with_(database_url=wall_db_url), engine=wall_engine,
                       actor=cli_actor("test"))
    cases = {}
    for k, (to, category) in enumerate(((code, "cityscape"), (other, "market"))):
        # categories no other case of this module has, so neither merges as a duplicate
        report = parse_report({"source": "grid_app", "external_id": f"DESK-DEPT-{k}",
                               "category": category, "description": "部门工作台测试",
                               "location": {"lon": x + k * 1e-3, "lat": y}})
        cases[to] = service.submit(rt, report).incident["id"]
        service.act(rt, cases[to], ActionIn(action="dispatch", department=to))
    with wall_engine.connect() as conn:
        total = conn.scalar(text("SELECT count(*) FROM incident WHERE department_id = :d "
                                 "AND duplicate_of IS NULL AND status = 'dispatched'"),
                            {"d": dept})
    with acting(app, "department", department=code):
        options, listing = dc._refresh(0, "to_accept", None, None, None, None, "zh")
        from dashboard.callbacks import runtime
        from store import desk as db_desk

        rows = db_desk.queue(runtime().engine, "to_accept", *_window(), limit=200)
    assert cases[code] in {r["id"] for r in rows}
    assert cases[other] not in {r["id"] for r in rows}  # another department's case
    assert {r["id"] for r in rows} <= _dept_ids(wall_engine, dept)
    label = next(o["label"] for o in options if o["value"] == "to_accept")
    assert label.startswith("待签收") and int(label.split("(")[1].rstrip(")").replace(",", "")) \
        >= total


def _window():
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    return now, now + timedelta(hours=24)


def _dept_ids(engine, dept: int) -> set[int]:
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(text(
            "SELECT id FROM incident WHERE department_id = :d"), {"d": dept})}


def test_countdown_reads_like_a_clock() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert dc.countdown(now + timedelta(hours=5), now, "zh") == "剩余 5小时"
    assert dc.countdown(now - timedelta(days=2), now, "zh") == "超期 2天"
    assert dc.countdown(now + timedelta(minutes=20), now, "en") == "20 min left"


def test_urge_and_supervise_come_from_above(app, village, wall_engine) -> None:
    from intake import service
    from intake.schema import ActionIn, ReportError

    case = village["cases"][1]
    with acting(app, "grid_worker") as _:
        from dashboard.callbacks import runtime

        with pytest.raises(ReportError) as refused:
            service.act(runtime(), case, ActionIn(action="urge", note="快点"))
        assert refused.value.status in (403, 404)  # not from above (or not in view)
    with acting(app, "commander"):
        from dashboard.callbacks import runtime

        rt = runtime()
        service.act(rt, case, ActionIn(action="urge", note="群众反复来电，今天内处理"))
        service.act(rt, case, ActionIn(action="supervise", note="县里督办", days=2))
    with acting(app, "handler", village["code"]):
        panel = dc._detail(case, None, "zh")
        assert "今天内处理" in str(panel[0]) or "县里督办" in str(panel[0])
        options, listing = dc._refresh(0, "supervised", None, None, None, None, "zh")
        assert case in _ids(listing)
    with wall_engine.connect() as conn:
        urged, due, status = conn.execute(text(
            "SELECT urged_count, supervised_due, status FROM incident WHERE id = :i"),
            {"i": case}).one()
        events = [r[0] for r in conn.execute(text(
            "SELECT action FROM incident_event WHERE incident_id = :i ORDER BY at, id"),
            {"i": case})]
    assert urged == 1 and due is not None and status == "escalated"  # the state is unchanged
    assert events[-2:] == ["urge", "supervise"]


def test_dispatch_with_lead_and_supporting_departments(app, village, wall_engine) -> None:
    """双派单 with 协办: the lead acts; a supporting department sees the case (its desk, a
    guessed id) but may not act on it; a third department does not see it at all."""
    from dash._callback_context import context_value
    from dash._utils import AttributeDict

    from dashboard.callbacks import runtime
    from intake import service
    from intake.schema import ActionIn, ReportError
    from store import incidents as db_incidents

    case = village["cases"][2]
    with wall_engine.connect() as conn:
        codes = [r[0] for r in conn.execute(text(
            "SELECT DISTINCT code FROM department ORDER BY code LIMIT 3"))]
    lead, support, third = codes
    with acting(app, "handler", village["code"]):
        context_value.set(AttributeDict(triggered_inputs=[{
            "prop_id": '{"action":"dispatch","type":"d-act"}.n_clicks', "value": 1}]))
        done = dc._act([1], case, None, lead, [support], "zh")
        assert done["message"].startswith("已执行"), done
        panel = dc._detail(case, None, "zh")
        shown = next(c for c in panel if getattr(c, "id", None) == "d-departments")
        assert "主办" in shown.children and "协办" in shown.children
    with wall_engine.connect() as conn:
        note = conn.scalar(text("SELECT note FROM incident_event WHERE incident_id = :i "
                                "AND action = 'dispatch' ORDER BY id DESC LIMIT 1"), {"i": case})
    assert "主办" in note and "协办" in note
    with acting(app, "department", department=support):
        rt = runtime()
        with rt.engine.connect() as conn:
            row = db_incidents.get_incident(conn, case)
        assert row is not None  # the supporting department sees it…
        assert "accept" not in dc.desk_service.actions_for(rt, row)
        with pytest.raises(ReportError) as refused:  # …but the lead acts
            service.act(rt, case, ActionIn(action="accept"))
        assert refused.value.status == 403
    with acting(app, "department", department=third):
        rt = runtime()
        with rt.engine.connect() as conn:
            assert db_incidents.get_incident(conn, case) is None
    with acting(app, "department", department=lead):
        rt = runtime()
        assert service.act(rt, case, ActionIn(action="accept"))["status"] == "accepted"
