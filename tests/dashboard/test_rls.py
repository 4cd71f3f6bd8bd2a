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
