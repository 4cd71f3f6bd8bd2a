"""The monthly tallies (migration 0020, store.tally): the report's numbers read from them equal
the numbers read from the cases — on the split-grid world of test_monthly (a redrawn grid, a
late import with the old id, located cases on no unit, duplicates) and after the workflow
changes cases (closing, rating, duplicates, a new category, supervision running late,
escalations, a deleted case); compaction and a rebuild change no number; another zone or a
scoped reader reads the cases, except a desk's sums over its home units; row-level security
keeps the other tallies from scoped desks."""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd
import pytest
from sqlalchemy import Connection, text

from onemap.access import Actor
from store import monthly, monthly_totals, scope, tally
from tests.store.test_monthly import MONTHS, TZ, sh, world  # noqa: F401  (the fixture)

pytestmark = pytest.mark.db

ALL_MONTHS = (*MONTHS, "2025-11")


def _numbers(conn: Connection, ids: dict[str, int], towns: bool = True) -> dict:
    """Every number of the report, for each month, level and narrowing (the whole county
    and, with ``towns``, one town)."""
    county, town = ids["620981900"], ids["620981900001"]
    out: dict = {}
    for month in ALL_MONTHS:
        for within in (None, (0, county), *([(1, town)] if towns else [])):
            for level in (0, 1, 2, 3):
                if within is not None and level < within[0]:
                    continue
                out[month, within, level, "measures"] = monthly.month_measures(
                    conn, level, month, TZ, within=within)
                out[month, within, level, "tops"] = monthly.top_categories(
                    conn, level, month, TZ, within=within)
            out[month, within, "counts"] = monthly.grid_counts(conn, month, TZ, within=within)
            out[month, within, "headline"] = monthly_totals.headline(conn, month, TZ,
                                                                     within=within)
            out[month, within, "trend"] = monthly_totals.trend(conn, month, TZ, months=4,
                                                               within=within)
            out[month, within, "top"] = monthly_totals.top_categories_total(
                conn, month, TZ, within=within)
    return out


def _same(a: object, b: object) -> bool:
    if isinstance(a, pd.DataFrame):
        try:
            pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=1e-9)
        except AssertionError:
            return False
        return True
    if isinstance(a, pd.Series):
        return a.equals(b)
    if isinstance(a, dict) and "received" in a:
        return a.keys() == b.keys() and all(
            (isinstance(v, float) and math.isnan(v) and math.isnan(b[k]))
            or (isinstance(v, float) and math.isclose(v, b[k], rel_tol=1e-9)) or v == b[k]
            for k, v in a.items())
    return a == b


def _both(conn: Connection, ids: dict[str, int], monkeypatch,
          towns: bool = True) -> tuple[dict, dict]:
    assert tally.usable(conn, TZ)  # the owner's connection reads the tallies
    kept = _numbers(conn, ids, towns)
    with monkeypatch.context() as m:
        m.setattr(tally, "usable", lambda *_args: False)
        cases = _numbers(conn, ids, towns)
    return kept, cases


def _differences(kept: dict, cases: dict) -> list:
    return [key for key in cases if not _same(cases[key], kept[key])]


def _sums(conn: Connection) -> list[tuple]:
    """The tallies summed per key (what every reader sees), without the zero groups."""
    names = ", ".join(f"sum({n})" for n in (*tally.SUM_NAMES, "escalations"))
    nonzero = " OR ".join(f"sum({n}) <> 0" for n in (*tally.SUM_NAMES, "escalations"))
    return [tuple(r) for r in conn.execute(text(f"""
        SELECT month, lvl, unit_id, category, {names} FROM incident_tally
        GROUP BY 1, 2, 3, 4 HAVING {nonzero} ORDER BY 1, 2, 3, 4"""))]


def test_the_tallies_give_the_numbers_the_cases_give(conn, world, monkeypatch):  # noqa: F811
    kept, cases = _both(conn, world["ids"], monkeypatch)
    assert _differences(kept, cases) == []
    october = cases["2025-10", None, 3, "measures"]
    assert october["received"].sum() > 0
    # the located case on no unit counts under the west grid only through its point, which
    # the tallies cannot know: the numbers include it, so the cases were read for it
    assert october.loc[world["west"], "received"] == 3


def test_workflow_changes_keep_the_tallies_right(conn, world, monkeypatch):  # noqa: F811
    inc = world["incidents"]
    conn.execute(text("UPDATE incident SET closed_at = :t, status = 'closed', handling_level "
                      "= 2, due_at = :d WHERE id = :i"),
                 {"t": sh(10, 9), "d": sh(10, 12), "i": inc["oct-w2"]})
    conn.execute(text("UPDATE incident SET rating = 4, urged_count = 2 WHERE id = ANY(:i)"),
                 {"i": [inc["oct-e"], inc["aug-w1"]]})
    conn.execute(text("UPDATE incident SET duplicate_of = :d WHERE id = :i"),
                 {"d": inc["oct-e"], "i": inc["oct-first"]})
    conn.execute(text("UPDATE incident SET category = 'safety' WHERE id = :i"),
                 {"i": inc["sep-w"]})
    # supervision: one still open past its deadline (moves with the clock), one closed late
    conn.execute(text("UPDATE incident SET supervised_due = :s WHERE id = :i"),
                 {"s": sh(10, 5), "i": inc["sep-e-open"]})
    conn.execute(text("UPDATE incident SET supervised_due = :s WHERE id = :i"),
                 {"s": sh(8, 1), "i": inc["aug-112"]})
    for label, at in (("sep-w", sh(9, 3)), ("sep-w", sh(10, 2)), ("oct-old-id", sh(10, 8)),
                      ("oct-first", sh(10, 2))):
        conn.execute(text("INSERT INTO incident_event (incident_id, at, actor, action) "
                          "VALUES (:i, :at, 'test', 'escalate')"), {"i": inc[label], "at": at})
    # a case with escalations becomes a duplicate: they leave the numbers with it
    conn.execute(text("UPDATE incident SET duplicate_of = :d WHERE id = :i"),
                 {"d": inc["sep-w"], "i": inc["oct-old-id"]})
    conn.execute(text("DELETE FROM incident WHERE id = :i"), {"i": inc["nov-first"]})
    # households move, arrive and leave (the per-1,000-households rates and the headline)
    ids = world["ids"]
    conn.execute(text("UPDATE household SET grid_id = :to WHERE id = (SELECT min(id) FROM "
                      "household WHERE grid_id = :g AND code LIKE 'MONTHLY-%')"),
                 {"to": ids["620981900001001002"], "g": world["after"]["620981900001001001"]})
    conn.execute(text("UPDATE household SET address = '新地址' WHERE code LIKE 'MONTHLY-%'"))
    conn.execute(text("DELETE FROM household WHERE code = 'MONTHLY-H10'"))
    conn.execute(text("INSERT INTO household (code, geom, address, size, grid_id) "
                      "SELECT 'MONTHLY-NEW', geom, '地址', 1, grid_id FROM household "
                      "WHERE code = 'MONTHLY-H9'"))

    kept, cases = _both(conn, world["ids"], monkeypatch, towns=False)
    assert _differences(kept, cases) == []
    september = cases["2025-09", None, 3, "measures"]
    assert september["supervised_overdue"].sum() == 1  # the open one, past its deadline
    assert cases["2025-08", None, 3, "measures"]["supervised_overdue"].sum() == 1  # late
    # October: sep-w's second; oct-first's and oct-old-id's cases are duplicates now
    assert cases["2025-10", None, "headline"]["escalations"] == 1
    assert cases["2025-09", None, "headline"]["escalations"] == 1
    assert cases["2025-11", None, "headline"]["received"] == 0

    homes = conn.execute(text("SELECT grid_id, sum(n) FROM household_tally GROUP BY 1 "
                              "HAVING sum(n) <> 0 ORDER BY 1")).all()
    assert homes == conn.execute(text(
        "SELECT coalesce(grid_id, 0), count(*) FROM household GROUP BY 1 ORDER BY 1")).all()
    before = _sums(conn)
    loose = tally.status(conn)["loose"]
    assert loose > 0
    removed = tally.compact(conn)
    assert removed > 0 and tally.status(conn)["loose"] < loose
    assert _sums(conn) == before  # folding changes no number
    assert tally.compact(conn) == 0  # nothing new since
    assert conn.execute(text("SELECT grid_id, n FROM household_tally ORDER BY 1")).all() == homes

    assert tally.rebuild(conn, TZ) > 0
    assert _sums(conn) == before  # the kept sums are those the cases and history give


def test_another_zone_or_a_scoped_reader_reads_the_cases(conn, world, monkeypatch):  # noqa: F811
    assert tally.usable(conn, TZ) and not tally.usable(conn, "UTC")
    desk = Actor("user", 1, "县指挥中心", "commander", units=frozenset({world["ids"]["620981900"]}),
                 home_level=0)
    leader = Actor("user", 2, "领导", "leader", units=None)
    town_desk = Actor("user", 3, "镇", "commander", units=frozenset({world["ids"]["620981900001"]}),
                      home_level=1)
    department = Actor("user", 4, "部门", "handler", department=7,
                       units=frozenset({world["ids"]["620981900"]}), home_level=0)
    county = world["ids"]["620981900"]
    with scope.acting(desk):
        assert not tally.usable(conn, TZ)  # a map of its units: the cases
        assert tally.usable(conn, TZ, (0, county))  # its own county's sums: the tallies
    with scope.acting(town_desk):
        assert not tally.usable(conn, TZ, (0, county))  # above its home
    with scope.acting(department):
        assert not tally.usable(conn, TZ, (0, county))  # a department: some cases only
    with scope.acting(leader):
        assert tally.usable(conn, TZ)

    with pytest.raises(Exception, match="time zone"), conn.begin_nested():
        tally.rebuild(conn, "Mars/Olympus")
    assert tally.usable(conn, TZ)  # refused before anything changed


def test_a_rebuild_in_another_zone_counts_its_months(conn, world, monkeypatch):  # noqa: F811
    """Rebuilt with months in UTC, a UTC report reads the tallies and agrees with the cases;
    the zone the deployment had is refused until rebuilt."""
    tally.rebuild(conn, "UTC")
    assert tally.usable(conn, "UTC") and not tally.usable(conn, TZ)
    ids = world["ids"]
    kept = {}
    for month in ALL_MONTHS:
        kept[month, "trend"] = monthly_totals.trend(conn, month, "UTC", months=4)
        kept[month, "headline"] = monthly_totals.headline(conn, month, "UTC")
        kept[month, "measures"] = monthly.month_measures(conn, 3, month, "UTC",
                                                         within=(0, ids["620981900"]))
    with monkeypatch.context() as m:
        m.setattr(tally, "usable", lambda *_args: False)
        for month in ALL_MONTHS:
            assert _same(kept[month, "trend"],
                         monthly_totals.trend(conn, month, "UTC", months=4))
            assert _same(kept[month, "headline"], monthly_totals.headline(conn, month, "UTC"))
            assert _same(kept[month, "measures"], monthly.month_measures(
                conn, 3, month, "UTC", within=(0, ids["620981900"])))
    assert kept["2025-10", "headline"]["received"] > 0


def test_a_desk_reads_its_home_units_sums_from_the_tallies(conn, settings, world,  # noqa: F811
                                                          monkeypatch):
    """Under row-level security, a county desk's headline, trend and top categories of its
    county from the tallies are the numbers its own cases give."""
    county = world["ids"]["620981900"]
    desk = Actor("user", 1, "县指挥中心", "commander", units=frozenset({county}), home_level=0)
    conn.execute(text(f'SET LOCAL ROLE "{settings.db_app_role}"'))
    conn.execute(text("SELECT set_config('onemap.scope', :s, true), "
                      "set_config('onemap.department', '', true)"), {"s": str(county)})

    def numbers() -> dict:
        within = (0, county)
        return {(month, what): call(conn, month, TZ, within=within)
                for month in ALL_MONTHS
                for what, call in (("headline", monthly_totals.headline),
                                   ("trend", monthly_totals.trend),
                                   ("top", monthly_totals.top_categories_total))}

    with scope.acting(desk):
        assert tally.usable(conn, TZ, (0, county))
        kept = numbers()
        with monkeypatch.context() as m:
            m.setattr(tally, "usable", lambda *_args: False)
            cases = numbers()
    assert _differences(kept, cases) == []
    assert kept["2025-10", "headline"]["received"] > 0
    assert kept["2025-10", "headline"]["households"] > 0


def test_row_level_security_keeps_the_tallies_from_scoped_desks(conn, settings, world):  # noqa: F811
    conn.execute(text(f'SET LOCAL ROLE "{settings.db_app_role}"'))

    def visible(scope_value: str, department: str = "") -> int:
        conn.execute(text("SELECT set_config('onemap.scope', :s, true), "
                          "set_config('onemap.department', :d, true)"),
                     {"s": scope_value, "d": department})
        return int(conn.execute(text("SELECT count(*) FROM incident_tally")).scalar_one())

    assert visible("all") > 0
    assert visible("999999991,999999992") == 0  # homes without cases
    county, town = world["ids"]["620981900"], world["ids"]["620981900001"]
    # a desk sees its home units' own rows, and nothing of the units below them
    assert visible(str(county)) > 0
    seen = {int(u) for u, in conn.execute(text("SELECT DISTINCT unit_id FROM incident_tally"))}
    assert seen == {county}
    assert visible(str(town)) > 0 and visible(str(town), department="7") == 0
    assert visible("") == 0
    assert visible("all", department="7") == 0


def test_archived_event_months_leave_the_escalation_counts(conn, world):  # noqa: F811
    """What store.partitions.archive does after the detach, on one month's escalations."""
    inc = world["incidents"]
    for label, at in (("sep-w", sh(9, 3)), ("sep-e", sh(9, 6)), ("oct-w", sh(10, 4))):
        conn.execute(text("INSERT INTO incident_event (incident_id, at, actor, action) "
                          "VALUES (:i, :at, 'test', 'escalate')"), {"i": inc[label], "at": at})
    month = conn.execute(text("""
        SELECT date_trunc('month', at AT TIME ZONE :tz)::date, count(*)
        FROM incident_event e JOIN incident i ON i.id = e.incident_id
        WHERE e.action = 'escalate' AND i.duplicate_of IS NULL
        GROUP BY 1 ORDER BY 2 DESC LIMIT 1"""), {"tz": TZ}).first()
    start, n = month
    total = conn.execute(text("SELECT sum(escalations) FROM incident_tally "
                              "WHERE lvl = 'city' AND month = :m"), {"m": start}).scalar()
    assert total == n
    conn.execute(text("""CREATE TEMP TABLE gone AS SELECT e.* FROM incident_event e
                         WHERE date_trunc('month', at AT TIME ZONE :tz)::date = :m"""),
                 {"tz": TZ, "m": start})
    tally.forget_events(conn, "gone")
    after = conn.execute(text("SELECT sum(escalations) FROM incident_tally "
                              "WHERE lvl = 'city' AND month = :m"), {"m": start}).scalar()
    assert after == 0


def test_month_keys(conn):
    assert tally.month_date("2025-10") == datetime(2025, 10, 1).date()
    assert tally.lvl(0) == "county"
    with pytest.raises(ValueError):
        tally.month_date("2025-13")


@pytest.mark.slow
def test_the_command_compacts_rebuilds_in_the_configured_zone_and_audits(db_url):
    import os
    import re
    import subprocess
    import sys

    from sqlalchemy import create_engine

    from store import migrate
    from store.engine import ensure_database
    from tests.helpers import sibling_database

    url = sibling_database(db_url, "tally")
    ensure_database(url, fresh=True)
    engine = create_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        for k, at in enumerate(("2026-03-31 20:00+00", "2026-04-02 10:00+00")):
            conn.execute(text("INSERT INTO incident (source, external_id, category, "
                              "received_at) VALUES ('grid_app', :e, 'dispute', :at)"),
                         {"e": f"TALLY-{k}", "at": at})
        conn.execute(text("UPDATE incident SET rating = 5"))

    def onemap(*args: str, zone: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, DATABASE_URL=url, ONEMAP_TIMEZONE=zone)
        return subprocess.run([sys.executable, "-m", "cli", "db", "tally", *args], env=env,
                              text=True, capture_output=True, timeout=120)

    done = onemap("--compact", zone="Asia/Shanghai")
    assert done.returncode == 0, done.stderr
    folded = re.search(r"compacted: ([\d,]+) rows folded away", done.stderr)
    assert folded and int(folded.group(1).replace(",", "")) > 0  # the rating's delta rows
    assert "zone Asia/Shanghai" in done.stdout and "(0 not compacted)" in done.stdout
    other = onemap(zone="UTC")
    assert "reports read the cases until" in other.stderr
    rebuilt = onemap("--rebuild", zone="UTC")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "zone UTC" in rebuilt.stdout
    with engine.connect() as conn:
        months = [str(m) for m in conn.execute(text(
            "SELECT DISTINCT month FROM incident_tally ORDER BY 1")).scalars()]
        actions = set(conn.execute(text(
            "SELECT action FROM audit_log WHERE action LIKE 'db.tally%'")).scalars())
    assert months == ["2026-03-01", "2026-04-01"]  # 20:00 UTC on 31 March is April in Shanghai
    assert actions == {"db.tally.compact", "db.tally.rebuild"}
    engine.dispose()
