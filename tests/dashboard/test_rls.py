"""The database's own wall (#15): row-level security on the tables of cases and people, for
the application's role; and the audit trail that cannot be edited unnoticed."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from accounts.audit import audit
from onemap.access import SYSTEM, Actor
from store import audit as db_audit
from store import scope
from store.engine import get_engine
from store.runtime import build_runtime

pytestmark = pytest.mark.db
TABLES = ("incident", "incident_event", "household", "household_person", "grid_worker",
          "camera")


def _counts(conn) -> dict[str, int]:
    return {t: conn.scalar(text(f"SELECT count(*) FROM {t}")) for t in TABLES}


def test_the_app_role_without_a_scope_sees_nothing(wall_engine, wall_db_url) -> None:
    with wall_engine.connect() as conn:  # the owner: every row
        everything = _counts(conn)
    assert all(n > 0 for n in everything.values()), everything
    app_engine = get_engine(wall_db_url, "onemap_app")
    with app_engine.connect() as conn:  # no acting() block: nothing set, no row
        assert conn.scalar(text("SELECT current_user")) == "onemap_app"
        assert _counts(conn) == dict.fromkeys(TABLES, 0)
    with scope.acting(SYSTEM), app_engine.connect() as conn:
        assert _counts(conn) == everything
    # A raw connection as the role, setting nothing: the same empty answer.
    raw = create_engine(wall_db_url)
    with raw.connect() as conn:
        conn.execute(text("SET ROLE onemap_app"))
        assert _counts(conn) == dict.fromkeys(TABLES, 0)
        conn.execute(text("SELECT set_config('onemap.scope', 'all', false)"))
        assert _counts(conn) == everything
    raw.dispose()


def test_a_town_scope_gives_the_towns_rows(wall_engine, wall_db_url) -> None:
    with wall_engine.connect() as conn:
        town = conn.scalar(text("SELECT town_id FROM incident GROUP BY town_id "
                                "ORDER BY count(*) DESC LIMIT 1"))
        want = conn.scalar(text("SELECT count(*) FROM incident WHERE town_id = :t"),
                           {"t": town})
        households = conn.scalar(text("""
            SELECT count(*) FROM household h JOIN unit g ON g.id = h.grid_id
            JOIN unit v ON v.id = g.parent_id WHERE v.parent_id = :t"""), {"t": town})
    actor = Actor(kind="user", id=1, name="镇", role="commander", units=frozenset({town}),
                  unlocated=False)
    with scope.acting(actor), get_engine(wall_db_url, "onemap_app").connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM incident")) == want
        assert conn.scalar(text("SELECT count(*) FROM household")) == households
        assert conn.scalar(text("SELECT count(*) FROM incident WHERE town_id <> :t"),
                           {"t": town}) == 0
        # Writing a case into another town is refused by the policy's WITH CHECK.
        other = conn.scalar(text("SELECT id FROM unit WHERE level = 1 AND id <> :t LIMIT 1"),
                            {"t": town})
        with pytest.raises(DBAPIError, match="row-level security"):
            conn.execute(text("INSERT INTO incident (source, external_id, category, town_id) "
                              "VALUES ('other', 'RLS-1', 'other', :o)"), {"o": other})


def test_the_audit_trail_is_append_only_and_chained(wall_engine, wall_db_url, settings
                                                    ) -> None:
    rt = build_runtime(settings.with_(database_url=wall_db_url), engine=wall_engine)
    for i in range(3):
        audit(rt.acting_as(SYSTEM), "test.chain", object_type="test", object_id=i)
    assert db_audit.verify(wall_engine)["first_broken"] is None
    app_engine = get_engine(wall_db_url, "onemap_app")
    for sql in ("UPDATE audit_log SET result = 'ok'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError), app_engine.begin() as conn:
            conn.execute(text(sql))
    with pytest.raises(DBAPIError, match="append-only"), wall_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE action = 'test.chain'"))  # owner too


def test_tampering_by_a_superuser_is_found(wall_engine, wall_db_url, settings) -> None:
    rt = build_runtime(settings.with_(database_url=wall_db_url), engine=wall_engine)
    audit(rt.acting_as(SYSTEM), "test.tamper", object_type="test", object_id="x")
    with wall_engine.begin() as conn:
        target = conn.scalar(text("SELECT max(id) FROM audit_log WHERE action = "
                                  "'test.tamper'"))
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        conn.execute(text("UPDATE audit_log SET result = 'denied' WHERE id = :i"),
                     {"i": target})
        conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
    try:
        found = db_audit.verify(wall_engine)
        assert found["first_broken"] == target and "changed" in found["reason"]
        cli = subprocess.run([sys.executable, "-m", "cli", "audit", "verify"],
                             env={**__import__("os").environ, "DATABASE_URL": wall_db_url},
                             capture_output=True, text=True, timeout=120)
        assert cli.returncode == 1 and f"row {target}" in cli.stderr
    finally:
        with wall_engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
            conn.execute(text("UPDATE audit_log SET result = 'ok' WHERE id = :i"),
                         {"i": target})
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
    assert db_audit.verify(wall_engine)["first_broken"] is None


@pytest.mark.parametrize("level", [0, 1])
def test_the_scope_as_an_indexed_condition_gives_the_policys_answer(wall_engine, wall_db_url,
                                                                    level) -> None:
    """The data layer repeats a scope with a known home level as ``<level column> = ANY``
    (plus the unplaced cases when in view): for the owner, who has no row-level security, it
    alone narrows to the same answer the policy gives the app role without it."""
    from datetime import UTC, datetime, timedelta

    from store import wall as db_wall
    from store.measures import Period

    with wall_engine.connect() as conn:
        unit = conn.scalar(text(f"SELECT {('county_id', 'town_id')[level]} FROM incident "
                                "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"))
    end = datetime.now(UTC) + timedelta(days=1)
    period = Period(end - timedelta(days=400), end)
    app_engine = get_engine(wall_db_url, "onemap_app")
    answers = {}
    for home_level in (None, level):
        actor = Actor(kind="user", id=1, name="t", role="commander", units=frozenset({unit}),
                      unlocated=level == 0, home_level=home_level)
        for name, engine in (("app", app_engine), ("owner", wall_engine)):
            with scope.acting(actor):
                answers[name, home_level] = (
                    db_wall.kpis(engine, period, tz="Asia/Shanghai"),
                    [r["id"] for r in db_wall.overdue_incidents(engine, limit=500)])
    policy = answers["app", None]
    assert policy[0]["received"] > 0 and policy[1]
    assert answers["app", level] == policy  # the condition changes no answer…
    assert answers["owner", level] == policy  # …and alone scopes like the policy
    if level == 1:  # (the demo has one county: its scope is every row)
        assert answers["owner", None][0]["received"] > policy[0]["received"]


def test_the_scope_condition_holds_the_unplaced_cases_only_when_they_are_in_view() -> None:
    from store.measures import _scope_sql

    town = Actor(kind="user", id=1, name="t", role="commander", units=frozenset({5, 9}),
                 unlocated=False, home_level=1)
    with scope.acting(town):
        assert _scope_sql() == ("i.town_id = ANY(:scope_unit_ids)", {"scope_unit_ids": [5, 9]})
    with scope.acting(Actor(**{**town.__dict__, "unlocated": True, "home_level": 0})):
        where, _ = _scope_sql("x")
    assert where.startswith("(x.county_id = ANY") and "x.grid_id IS NULL" in where
    for nobody in (SYSTEM, Actor(**{**town.__dict__, "home_level": None}), None):
        with scope.acting(nobody):
            assert _scope_sql() == ("TRUE", {})
