"""POST /api/v1/incidents/{id}/actions: the closed loop over HTTP, one event per action,
refusals that change nothing, reporter keys, locating an unlocated case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from geo.deadlines import DeadlineRules
from geo.workflow import COUNTY, GRID, VILLAGE
from tests.intake.conftest import INSIDE, OUTSIDE, headers, lattice, new_report

pytestmark = pytest.mark.db



_points = lattice(97.06, 97.12, 40.25, 40.29)  # this file: the south village of town 2


def create(client, keys, **overrides: Any) -> dict[str, Any]:
    x, y = next(_points)
    overrides.setdefault("location", {"lon": x, "lat": y})
    body = new_report(**overrides)
    r = client.post("/api/v1/reports", json=body, headers=headers(keys["operator"]))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def act(client, key: str, incident_id: int, **body: Any):
    return client.post(f"/api/v1/incidents/{incident_id}/actions", json=body,
                       headers=headers(key))


def events(engine: Engine, incident_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(
            "SELECT actor, action, from_status, to_status, note, at FROM incident_event "
            "WHERE incident_id = :i ORDER BY at, id"), {"i": incident_id}).mappings()]


def row(engine: Engine, incident_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT * FROM incident WHERE id = :i"),
                                 {"i": incident_id}).mappings().one())


def checked(client, keys, engine: Engine, incident_id: int, action: str, *,
            key: str = "operator", **body: Any) -> dict[str, Any]:
    """Apply an action that must succeed: 200 and exactly one new event saying so."""
    before = events(engine, incident_id)
    r = act(client, keys[key], incident_id, action=action, **body)
    assert r.status_code == 200, r.get_json()
    after = events(engine, incident_id)
    assert len(after) == len(before) + 1
    event = after[-1]
    out = r.get_json()
    assert event["action"] == action
    assert event["to_status"] == out["status"]
    assert event["from_status"] == before[-1]["to_status"]
    assert event["actor"] == body.get("actor", {"operator": "指挥中心", "hotline": "12345热线",
                                                 "citizen": "随手拍"}[key])
    assert out["events"][-1]["action"] == action
    return out


def refused(client, keys, engine: Engine, incident_id: int, action: str, status: int, *,
            key: str = "operator", **body: Any) -> dict[str, Any]:
    """Apply an action that must be refused with ``status``, changing nothing."""
    before_events = events(engine, incident_id)
    before = row(engine, incident_id)
    r = act(client, keys[key], incident_id, action=action, **body)
    assert r.status_code == status, r.get_json()
    assert events(engine, incident_id) == before_events
    after = row(engine, incident_id)
    assert after == before
    return r.get_json()


# -- the closed loop --------------------------------------------------------------------------

def test_full_loop(client, keys, api_engine) -> None:
    inc = create(client, keys)
    iid = inc["id"]
    out = checked(client, keys, api_engine, iid, "dispatch")
    assert out["status"] == "dispatched"
    note = events(api_engine, iid)[-1]["note"]
    assert note.startswith("双派单")
    assert "城市管理综合执法局" in note  # the department of sanitation
    assert inc["grid_worker"]["name"] in note  # and the grid worker who supervises
    assert out["department"]["code"] == "chengguan"
    assert out["grid_worker"]["id"] == inc["grid_worker"]["id"]
    assert checked(client, keys, api_engine, iid, "accept", actor="李四",
                   note="已签收")["status"] == "accepted"
    assert events(api_engine, iid)[-1]["note"] == "已签收"
    assert checked(client, keys, api_engine, iid, "start")["status"] == "in_progress"
    before = datetime.now(UTC)
    out = checked(client, keys, api_engine, iid, "resolve", note="已清运")
    assert out["status"] == "resolved"
    closed = datetime.fromisoformat(out["closed_at"])
    assert before - timedelta(seconds=1) <= closed <= datetime.now(UTC)
    out = checked(client, keys, api_engine, iid, "rate", rating=5)
    assert out["status"] == "rated" and out["rating"] == 5
    assert events(api_engine, iid)[-1]["note"].startswith("评价：5")
    out = checked(client, keys, api_engine, iid, "close")
    assert out["status"] == "closed" and out["allowed_actions"] == []
    assert datetime.fromisoformat(out["closed_at"]) == closed  # the 办结 time stays
    history = [e["action"] for e in events(api_engine, iid)]
    assert history == ["receive", "dispatch", "accept", "start", "resolve", "rate", "close"]


def test_dispatch_to_a_named_department(client, keys, api_engine) -> None:
    inc = create(client, keys)
    out = checked(client, keys, api_engine, inc["id"], "dispatch", department="zhujian",
                  note="涉及路面")
    assert out["department"]["code"] == "zhujian"
    note = events(api_engine, inc["id"])[-1]["note"]
    assert "住房和城乡建设局" in note and note.endswith("涉及路面")


def test_dispatch_to_an_unknown_department_is_refused(client, keys, api_engine) -> None:
    inc = create(client, keys)
    body = refused(client, keys, api_engine, inc["id"], "dispatch", 422, department="nasa")
    assert "department" in [f["field"] for f in body["error"]["fields"]]


def test_escalate_raises_level_and_recomputes_due(client, keys, api_engine, api_settings
                                                 ) -> None:
    inc = create(client, keys)
    iid = inc["id"]
    assert inc["handling_level"] == GRID
    checked(client, keys, api_engine, iid, "dispatch")
    before = datetime.now(UTC)
    out = checked(client, keys, api_engine, iid, "escalate", note="网格无法处置")
    after = datetime.now(UTC)
    assert out["status"] == "escalated"
    assert out["handling_level"] == VILLAGE and out["handling_unit"] == "village"
    rules = DeadlineRules(timezone=api_settings.timezone)
    due = datetime.fromisoformat(out["due_at"])
    assert rules.due(before, VILLAGE, "low") <= due <= rules.due(after, VILLAGE, "low")
    assert due > datetime.fromisoformat(inc["due_at"])
    assert row(api_engine, iid)["handling_level"] == VILLAGE


def test_return_needs_a_note_and_lowers_the_level(client, keys, api_engine, api_settings
                                                  ) -> None:
    inc = create(client, keys)
    iid = inc["id"]
    checked(client, keys, api_engine, iid, "escalate")
    body = refused(client, keys, api_engine, iid, "return", 409)
    assert "note" in body["error"]["message"]
    refused(client, keys, api_engine, iid, "return", 409, note="   ")
    before = datetime.now(UTC)
    out = checked(client, keys, api_engine, iid, "return", note="属网格事务")
    assert out["status"] == "returned" and out["handling_level"] == GRID
    rules = DeadlineRules(timezone=api_settings.timezone)
    assert datetime.fromisoformat(out["due_at"]) in (rules.due(before, GRID, "low"),
                                                     rules.due(datetime.now(UTC), GRID, "low"))
    # at grid level there is nowhere lower to return to
    checked(client, keys, api_engine, iid, "dispatch")
    refused(client, keys, api_engine, iid, "return", 409, note="再退")


def test_escalate_at_county_is_refused(client, keys, api_engine) -> None:
    inc = create(client, keys)
    with api_engine.begin() as conn:
        conn.execute(text("UPDATE incident SET handling_level = :l WHERE id = :i"),
                     {"l": COUNTY, "i": inc["id"]})
    body = refused(client, keys, api_engine, inc["id"], "escalate", 409)
    assert "county" in body["error"]["message"]


def test_reopen_after_a_poor_rating(client, keys, api_engine) -> None:
    inc = create(client, keys)
    iid = inc["id"]
    for action in ("dispatch", "accept", "resolve"):
        checked(client, keys, api_engine, iid, action)
    refused(client, keys, api_engine, iid, "reopen", 409)  # not rated yet
    checked(client, keys, api_engine, iid, "rate", rating=1, note="没人来")
    out = checked(client, keys, api_engine, iid, "reopen", note="群众不满意，重办")
    assert out["status"] == "reopened"
    assert out["closed_at"] is None and out["rating"] is None
    assert datetime.fromisoformat(out["due_at"]) > datetime.now(UTC)
    assert "dispatch" in out["allowed_actions"]
    checked(client, keys, api_engine, iid, "dispatch")


def test_reopen_after_a_good_rating_is_refused(client, keys, api_engine) -> None:
    inc = create(client, keys)
    iid = inc["id"]
    for action in ("dispatch", "accept", "resolve"):
        checked(client, keys, api_engine, iid, action)
    checked(client, keys, api_engine, iid, "rate", rating=4)
    body = refused(client, keys, api_engine, iid, "reopen", 409)
    assert "poor rating" in body["error"]["message"]


def test_close_from_resolved_needs_a_note(client, keys, api_engine) -> None:
    inc = create(client, keys)
    iid = inc["id"]
    for action in ("dispatch", "accept", "resolve"):
        checked(client, keys, api_engine, iid, action)
    refused(client, keys, api_engine, iid, "close", 409)
    assert checked(client, keys, api_engine, iid, "close",
                   note="群众未评价")["status"] == "closed"


@pytest.mark.parametrize(("action", "extra"), [
    ("accept", {}), ("start", {}), ("resolve", {}), ("rate", {"rating": 5}), ("close", {}),
    ("reopen", {}), ("locate", {"location": {"lon": 97.07, "lat": 40.26}}),
])
def test_illegal_action_is_409_and_changes_nothing(client, keys, api_engine, action: str,
                                                   extra: dict[str, Any]) -> None:
    inc = create(client, keys)
    body = refused(client, keys, api_engine, inc["id"], action, 409, **extra)
    assert body["error"]["code"] == "illegal_transition"
    assert action in body["error"]["message"] and "received" in body["error"]["message"]
    assert row(api_engine, inc["id"])["status"] == "received"


def test_closed_case_refuses_everything(client, keys, api_engine) -> None:
    inc = create(client, keys)
    iid = inc["id"]
    for action in ("dispatch", "accept", "resolve"):
        checked(client, keys, api_engine, iid, action)
    checked(client, keys, api_engine, iid, "close", note="电话回访无人接听")
    for action in ("dispatch", "escalate", "accept", "start", "resolve", "close"):
        refused(client, keys, api_engine, iid, action, 409, note="x")
    refused(client, keys, api_engine, iid, "rate", 409, rating=3)


@pytest.mark.parametrize(("body", "field"), [
    ({"action": "fly"}, "action"),
    ({}, "action"),
    ({"action": "rate", "rating": 0}, "rating"),
    ({"action": "rate", "rating": 6}, "rating"),
    ({"action": "rate", "rating": 2.5}, "rating"),
    ({"action": "dispatch", "note": "<script>x</script>"}, "note"),
    ({"action": "dispatch", "actor": "<b>x</b>"}, "actor"),
    ({"action": "dispatch", "urgent": True}, "urgent"),
])
def test_bad_action_bodies_are_422(client, keys, api_engine, body: dict[str, Any], field: str
                                   ) -> None:
    inc = create(client, keys)
    before = events(api_engine, inc["id"])
    r = client.post(f"/api/v1/incidents/{inc['id']}/actions", json=body,
                    headers=headers(keys["operator"]))
    assert r.status_code == 422, r.get_json()
    assert field in [f["field"] for f in r.get_json()["error"]["fields"]]
    assert events(api_engine, inc["id"]) == before


def test_rating_true_is_refused(client, keys, api_engine) -> None:
    inc = create(client, keys)
    iid = inc["id"]
    for action in ("dispatch", "accept", "resolve"):
        checked(client, keys, api_engine, iid, action)
    r = act(client, keys["operator"], iid, action="rate", rating=True)
    assert r.status_code == 422


# -- keys -------------------------------------------------------------------------------------

def test_reporter_key_may_only_rate_its_own_channel(client, keys, api_engine) -> None:
    hot = create(client, keys)  # a hotline_12345 case
    cit = create(client, keys, source="citizen_app")
    for iid in (hot["id"], cit["id"]):
        for action in ("dispatch", "accept", "resolve"):
            checked(client, keys, api_engine, iid, action)
    # a reporter key cannot handle cases, even its own channel's
    refused(client, keys, api_engine, cit["id"], "close", 403, key="citizen", note="x")
    # nor rate another channel's case
    body = refused(client, keys, api_engine, hot["id"], "rate", 403, key="citizen", rating=5)
    assert body["error"]["code"] == "forbidden"
    out = checked(client, keys, api_engine, cit["id"], "rate", key="citizen", rating=2)
    assert out["rating"] == 2
    assert checked(client, keys, api_engine, hot["id"], "rate", key="hotline",
                   rating=5)["status"] == "rated"


def test_reporter_key_cannot_dispatch(client, keys, api_engine) -> None:
    inc = create(client, keys)
    refused(client, keys, api_engine, inc["id"], "dispatch", 403, key="hotline")


def test_no_key_and_wrong_key(client, keys, api_engine) -> None:
    inc = create(client, keys)
    before = events(api_engine, inc["id"])
    r = client.post(f"/api/v1/incidents/{inc['id']}/actions", json={"action": "dispatch"})
    assert r.status_code == 401
    r = client.post(f"/api/v1/incidents/{inc['id']}/actions", json={"action": "dispatch"},
                    headers=headers("om_nope"))
    assert r.status_code == 403
    assert events(api_engine, inc["id"]) == before


def test_unknown_incident_is_404(client, keys) -> None:
    r = act(client, keys["operator"], 987654321, action="dispatch")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"


# -- locating ---------------------------------------------------------------------------------

def test_locate_an_unlocated_incident(client, keys, api_engine, api_settings) -> None:
    inc = create(client, keys, location={"lon": OUTSIDE[0], "lat": OUTSIDE[1]})
    iid = inc["id"]
    assert inc["status"] == "unlocated"
    refused(client, keys, api_engine, iid, "dispatch", 409)
    body = refused(client, keys, api_engine, iid, "locate", 422)  # no location given
    assert "location" in [f["field"] for f in body["error"]["fields"]]
    refused(client, keys, api_engine, iid, "locate", 422,
            location={"lon": OUTSIDE[0], "lat": OUTSIDE[1]})  # still outside
    before = datetime.now(UTC)
    out = checked(client, keys, api_engine, iid, "locate",
                  location={"lon": INSIDE[0], "lat": INSIDE[1]}, note="电话核实位置")
    assert out["status"] == "received"
    assert out["units"]["grid"]["code"] == "620981900001001001"
    assert out["units"]["county"]["code"] == "620981900"
    assert out["handling_level"] == GRID
    assert out["location"]["reason"] == "manual"
    assert out["location"]["lon"] == pytest.approx(INSIDE[0])
    assert out["grid_worker"] is not None
    rules = DeadlineRules(timezone=api_settings.timezone)
    assert datetime.fromisoformat(out["due_at"]) in (rules.due(before, GRID, "low"),
                                                     rules.due(datetime.now(UTC), GRID, "low"))
    assert "dispatch" in out["allowed_actions"]
    checked(client, keys, api_engine, iid, "dispatch")


def test_the_first_dispatch_and_acceptance_are_kept_on_the_case(client, keys,
                                                                 api_engine) -> None:
    """incident.dispatched_at / accepted_at (what the measures read) are the first such
    events of the history, also after an escalation dispatches and accepts it again."""
    iid = create(client, keys)["id"]
    checked(client, keys, api_engine, iid, "dispatch")
    checked(client, keys, api_engine, iid, "accept")
    checked(client, keys, api_engine, iid, "escalate")
    checked(client, keys, api_engine, iid, "dispatch")
    checked(client, keys, api_engine, iid, "accept")
    with api_engine.connect() as conn:
        kept = conn.execute(text("SELECT dispatched_at, accepted_at FROM incident "
                                 "WHERE id = :i"), {"i": iid}).one()
        first = conn.execute(text("""
            SELECT min(at) FILTER (WHERE action = 'dispatch'),
                   min(at) FILTER (WHERE action = 'accept'),
                   max(at) FILTER (WHERE action = 'accept')
            FROM incident_event WHERE incident_id = :i"""), {"i": iid}).one()
    assert (kept.dispatched_at, kept.accepted_at) == (first[0], first[1])
    assert first[2] > first[1]  # accepted twice; the first one is kept

