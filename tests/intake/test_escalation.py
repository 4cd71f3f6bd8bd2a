"""The escalation job: overdue cases go one level up once per missed deadline, the county is
marked and never moved, and two runs at once never escalate a case twice.

Other tests share this database, so every assertion looks only at the incidents made here."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text

from geo.deadlines import DeadlineRules
from geo.levels import COUNTY, GRID, TOWN, VILLAGE
from intake import service
from store.runtime import build_runtime
from tests.intake.conftest import OUTSIDE, headers, lattice, new_report

pytestmark = pytest.mark.db



_points = lattice(97.06, 97.12, 40.29, 40.33)  # this file: the north village of town 2


def report(**overrides: Any) -> dict[str, Any]:
    x, y = next(_points)
    overrides.setdefault("location", {"lon": x, "lat": y})
    overrides.setdefault("category", "market")  # medium risk: 3 days
    return new_report(**overrides)


def create_many(client, keys, engine: Engine, n: int, **overrides: Any) -> list[int]:
    r = client.post("/api/v1/reports:batch", json={"items": [report(**overrides)
                                                             for _ in range(n)]},
                    headers=headers(keys["operator"]))
    assert r.status_code == 200
    results = r.get_json()["results"]
    assert [x["status"] for x in results] == [201] * n, results
    ids = [x["id"] for x in results]
    # the job ignores near-duplicates; these are made apart, but make sure
    with engine.begin() as conn:
        conn.execute(text("UPDATE incident SET duplicate_of = NULL WHERE id = ANY(:ids)"),
                     {"ids": ids})
    return ids


def make_overdue(engine: Engine, ids: list[int], hours: float = 1.0) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE incident SET due_at = now() - make_interval(secs => :s) "
                          "WHERE id = ANY(:ids)"), {"ids": ids, "s": hours * 3600})


def state(engine: Engine, ids: list[int]) -> dict[int, dict[str, Any]]:
    with engine.connect() as conn:
        return {r["id"]: dict(r) for r in conn.execute(text(
            "SELECT id, status, handling_level, due_at, overdue, missed_due_at, closed_at "
            "FROM incident WHERE id = ANY(:ids)"), {"ids": ids}).mappings()}


def job_events(engine: Engine, ids: list[int]) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(
            "SELECT incident_id, at, actor, action, from_status, to_status, note "
            "FROM incident_event WHERE incident_id = ANY(:ids) AND action <> 'receive' "
            "ORDER BY at, id"), {"ids": ids}).mappings()]


def run(engine: Engine, settings, **kw: Any) -> service.EscalationRun:
    return service.escalate_overdue(build_runtime(settings, engine=engine), **kw)


# -- one case ---------------------------------------------------------------------------------

def test_overdue_grid_case_goes_to_the_village_once(client, keys, api_engine, api_settings
                                                    ) -> None:
    [iid] = create_many(client, keys, api_engine, 1)
    run(api_engine, api_settings)  # nothing of ours is overdue yet
    assert job_events(api_engine, [iid]) == []
    make_overdue(api_engine, [iid])
    missed = state(api_engine, [iid])[iid]["due_at"]
    result = run(api_engine, api_settings)
    assert result.escalated >= 1 and not result.skipped
    after = state(api_engine, [iid])[iid]
    assert after["status"] == "escalated"
    assert after["handling_level"] == VILLAGE
    assert after["overdue"] is True
    assert after["missed_due_at"] == missed
    assert after["due_at"] > datetime.now(UTC)
    [event] = job_events(api_engine, [iid])
    assert event["action"] == "escalate" and event["actor"] == service.SYSTEM_ACTOR == "系统"
    assert (event["from_status"], event["to_status"]) == ("received", "escalated")
    assert "村（社区）" in event["note"]
    rules = DeadlineRules(timezone=api_settings.timezone)
    assert after["due_at"] == rules.due(event["at"], VILLAGE, "medium")

    # again: nothing to do until the new deadline passes
    run(api_engine, api_settings)
    assert len(job_events(api_engine, [iid])) == 1
    assert state(api_engine, [iid])[iid] == after

    # the village misses it too: up to the town, then the county
    make_overdue(api_engine, [iid])
    run(api_engine, api_settings)
    s = state(api_engine, [iid])[iid]
    assert s["handling_level"] == TOWN and s["status"] == "escalated"
    make_overdue(api_engine, [iid])
    run(api_engine, api_settings)
    s = state(api_engine, [iid])[iid]
    assert s["handling_level"] == COUNTY
    assert [e["action"] for e in job_events(api_engine, [iid])] == ["escalate"] * 3

    # at the county it is marked once, never moved
    make_overdue(api_engine, [iid])
    missed = state(api_engine, [iid])[iid]["due_at"]
    run(api_engine, api_settings)
    run(api_engine, api_settings)
    s = state(api_engine, [iid])[iid]
    assert s["handling_level"] == COUNTY and s["status"] == "escalated"
    assert s["missed_due_at"] == missed and s["due_at"] == missed
    assert [e["action"] for e in job_events(api_engine, [iid])] == ["escalate"] * 3 + ["overdue"]


def test_county_case_is_marked_once_and_never_escalated(client, keys, api_engine, api_settings
                                                        ) -> None:
    [iid] = create_many(client, keys, api_engine, 1)
    with api_engine.begin() as conn:
        conn.execute(text("UPDATE incident SET handling_level = 0 WHERE id = :i"), {"i": iid})
    make_overdue(api_engine, [iid])
    due = state(api_engine, [iid])[iid]["due_at"]
    for _ in range(3):
        run(api_engine, api_settings)
    s = state(api_engine, [iid])[iid]
    assert s["handling_level"] == COUNTY and s["status"] == "received"
    assert s["overdue"] is True and s["missed_due_at"] == due and s["due_at"] == due
    [event] = job_events(api_engine, [iid])
    assert event["action"] == "overdue" and event["actor"] == "系统"
    assert event["from_status"] == event["to_status"] == "received"
    assert "终点站" in event["note"]


def test_finished_unlocated_and_duplicate_cases_are_ignored(client, keys, api_engine,
                                                            api_settings) -> None:
    op = headers(keys["operator"])
    resolved, closed, open_ = create_many(client, keys, api_engine, 3)
    for iid, steps in ((resolved, ("dispatch", "accept", "resolve")),
                       (closed, ("dispatch", "accept", "resolve", "close"))):
        for action in steps:
            r = client.post(f"/api/v1/incidents/{iid}/actions",
                            json={"action": action, "note": "已处理"}, headers=op)
            assert r.status_code == 200, r.get_json()
    lost = client.post("/api/v1/reports", json=report(location={"lon": OUTSIDE[0],
                                                                "lat": OUTSIDE[1]}),
                       headers=op).get_json()
    assert lost["status"] == "unlocated"
    first = client.post("/api/v1/reports", json=report(category="environment"),
                        headers=op).get_json()
    loc = {"lon": first["location"]["lon"] + 0.0001, "lat": first["location"]["lat"]}
    dup = client.post("/api/v1/reports", json=report(category="environment", location=loc),
                      headers=op).get_json()
    assert dup["duplicate_of"] == first["id"]
    ids = [resolved, closed, open_, lost["id"], first["id"], dup["id"]]
    make_overdue(api_engine, ids)
    before = state(api_engine, ids)
    run(api_engine, api_settings)
    after = state(api_engine, ids)
    escalated = {e["incident_id"] for e in job_events(api_engine, ids)
                 if e["actor"] == "系统"}
    assert escalated == {open_, first["id"]}
    for iid in (resolved, closed, lost["id"], dup["id"]):
        assert after[iid] == before[iid], iid


# -- two runs at once -------------------------------------------------------------------------

@pytest.mark.slow
def test_two_runs_at_once_escalate_each_case_once(client, keys, api_engine, api_settings
                                                  ) -> None:
    ids = create_many(client, keys, api_engine, 200)
    make_overdue(api_engine, ids)
    barrier = threading.Barrier(2)
    results: list[service.EscalationRun] = []
    errors: list[BaseException] = []

    def job() -> None:
        try:
            barrier.wait(timeout=30)
            results.append(run(api_engine, api_settings, exclusive=False, batch=20))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(results) == 2 and not any(r.skipped for r in results)
    per_case = Counter(e["incident_id"] for e in job_events(api_engine, ids))
    assert set(per_case) == set(ids)
    assert set(per_case.values()) == {1}
    assert sum(r.escalated for r in results) >= len(ids)
    s = state(api_engine, ids)
    assert {v["handling_level"] for v in s.values()} == {VILLAGE}
    assert all(v["status"] == "escalated" and v["overdue"] for v in s.values())


def test_exclusive_run_skips_while_another_holds_the_lock(client, keys, api_engine,
                                                          api_settings) -> None:
    ids = create_many(client, keys, api_engine, 3)
    make_overdue(api_engine, ids)
    with api_engine.connect() as holder:
        assert holder.execute(text("SELECT pg_try_advisory_lock(:k)"),
                              {"k": service.JOB_LOCK}).scalar()
        try:
            result = run(api_engine, api_settings, exclusive=True)
            assert result.skipped is True
            assert result.escalated == 0
            assert "another escalation run" in str(result)
            assert job_events(api_engine, ids) == []
        finally:
            holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": service.JOB_LOCK})
            holder.commit()
    result = run(api_engine, api_settings, exclusive=True)
    assert not result.skipped
    assert Counter(e["incident_id"] for e in job_events(api_engine, ids)) == {i: 1 for i in ids}
    # and the lock was given back: a third run is not skipped either
    assert not run(api_engine, api_settings, exclusive=True).skipped


def test_two_exclusive_runs_at_once_escalate_each_case_once(client, keys, api_engine,
                                                            api_settings) -> None:
    ids = create_many(client, keys, api_engine, 30)
    make_overdue(api_engine, ids)
    barrier = threading.Barrier(2)
    results: list[service.EscalationRun] = []

    def job() -> None:
        barrier.wait(timeout=30)
        results.append(run(api_engine, api_settings, exclusive=True, batch=5))

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 2
    per_case = Counter(e["incident_id"] for e in job_events(api_engine, ids))
    assert per_case == {i: 1 for i in ids}


def test_grid_case_in_a_blank_village_is_marked_not_moved(client, keys, api_engine,
                                                          api_settings) -> None:
    # A grid case whose village is unknown (blank area) cannot be handed up: marked only.
    [iid] = create_many(client, keys, api_engine, 1)
    with api_engine.begin() as conn:
        conn.execute(text("UPDATE incident SET village_id = NULL WHERE id = :i"), {"i": iid})
    make_overdue(api_engine, [iid])
    run(api_engine, api_settings)
    run(api_engine, api_settings)
    s = state(api_engine, [iid])[iid]
    assert s["handling_level"] == GRID and s["overdue"] is True
    assert [e["action"] for e in job_events(api_engine, [iid])] == ["overdue"]


def test_blank_village_note_does_not_claim_the_top_level(client, keys, api_engine,
                                                         api_settings) -> None:
    [iid] = create_many(client, keys, api_engine, 1)
    with api_engine.begin() as conn:
        conn.execute(text("UPDATE incident SET village_id = NULL WHERE id = :i"), {"i": iid})
    make_overdue(api_engine, [iid])
    run(api_engine, api_settings)
    [event] = job_events(api_engine, [iid])
    assert "终点站" not in event["note"]
