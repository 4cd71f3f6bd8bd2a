"""The monthly tallies of the cases (``incident_tally``, migration 0020): when they may be
read, the whole-jurisdiction sums a headline and a trend read from them, and their upkeep
(compaction, a rebuild in another zone, archived event months).

A tally row holds, for one local month, one level column (``city`` … ``grid``), one frozen
unit of it (0: none) and one category (``''`` at the grid level: :func:`keeps_categories`), the
sums of :data:`SUMS` over the non-duplicate cases
received that month — and the escalation events dated that month.  Triggers add a delta row
per change; readers sum them; :func:`compact` folds them.  Every case is under each level
column once, so the ``city`` rows cover the whole jurisdiction in any deployment.

The tallies answer readers that see every case (:func:`usable`), and a desk for its home
units' own sums (a county commander's headline and trend of its county); a scoped desk's map
of the units below depends on which cases its scope lets through, which the sums do not keep
— that reads the cases, as before.  The per-unit measures of a month's map, which also attribute
cases whose frozen unit is not on the map, are in :mod:`store.monthly_tally`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import Connection, text

from geo.levels import LEVEL_KEYS
from geo.months import parse_month
from store import scope

#: (column, what one case adds) over the incident alias ``i`` — as the trigger's sums
#: (migration 0020), for the cases the report reads from the table itself
SUMS: tuple[tuple[str, str], ...] = (
    ("n", "1"),
    ("located", "(i.geom IS NOT NULL)::int"),
    ("resolved", "(i.closed_at IS NOT NULL)::int"),
    ("on_time", "coalesce(i.closed_at IS NOT NULL AND NOT i.overdue "
                "AND i.closed_at <= i.due_at, false)::int"),
    *((f"closed_l{k}", f"coalesce(i.closed_at IS NOT NULL AND i.handling_level = {k}, "
                       "false)::int") for k in range(5)),
    ("dispatched", "(i.dispatched_at IS NOT NULL)::int"),
    ("urged", "(i.urged_count > 0)::int"),
    ("rated", "(i.rating IS NOT NULL)::int"),
    ("rating_sum", "coalesce(i.rating, 0)"),
    ("accepted", "(i.accepted_at IS NOT NULL)::int"),
    ("accept_secs", "coalesce(extract(epoch FROM i.accepted_at - i.received_at), 0)::float8"),
    ("sup_late", "coalesce(i.supervised_due IS NOT NULL AND i.closed_at > i.supervised_due, "
                 "false)::int"),
    ("sup_open", "(i.supervised_due IS NOT NULL AND i.closed_at IS NULL)::int"),
)
SUM_NAMES: tuple[str, ...] = tuple(name for name, _ in SUMS)
#: the level column whose rows hold every case once
ALL = "city"


def month_date(month: str) -> date:
    """'2026-11' → the tally's key for that month (its first day)."""
    year, mon = parse_month(month)
    return date(year, mon, 1)


def lvl(level: int) -> str:
    """A depth → the tally's level key (``county`` …)."""
    return LEVEL_KEYS[int(level)]


def keeps_categories(level: int) -> bool:
    """Whether the tallies of ``level`` are split by category (all but the grid's, whose
    month has a handful of cases: top categories per grid are read from the cases)."""
    return lvl(level) != "grid"


def usable(conn: Connection, tz: str, within: tuple[int, int] | None = None) -> bool:
    """Whether this reader's numbers may come from the tallies: the tallies exist and are in
    ``tz``, and the acting user sees every case (or no user acts: the owner's connection,
    which row-level security does not narrow) — or, for sums over ``within`` alone (a
    headline, a trend, top categories: that unit's own rows), ``within`` is one of the home
    units of a desk without a department, whose rows count only cases it sees (migration
    0023).  A unit's map, which reads the rows of the units below, needs every case."""
    actor = scope.current()
    if actor is not None and not actor.everywhere and not (
            within is not None and actor.department is None and actor.units is not None
            and int(within[1]) in actor.units):
        return False
    zone = conn.execute(text(
        "SELECT CASE WHEN to_regclass('incident_tally_setting') IS NOT NULL "
        "THEN (SELECT tz FROM incident_tally_setting) END")).scalar()
    return zone == tz


def _where(within: tuple[int, int] | None) -> tuple[str, dict[str, Any]]:
    if within is None:
        return "t.lvl = :t_lvl", {"t_lvl": ALL}
    level, unit_id = within
    return "t.lvl = :t_lvl AND t.unit_id = :t_unit", {"t_lvl": lvl(level),
                                                      "t_unit": int(unit_id)}


def totals(conn: Connection, months: Iterable[str],
           within: tuple[int, int] | None = None) -> dict[str, dict[str, float]]:
    """Per month ('YYYY-MM'), the sums of :data:`SUMS` and ``escalations`` over every case (or
    those frozen to ``within = (level, unit_id)``); months without a row are left out."""
    labels = {month_date(m): m for m in months}
    where, params = _where(within)
    sums = ", ".join(f"sum(t.{name}) AS {name}" for name in (*SUM_NAMES, "escalations"))
    rows = conn.execute(text(f"""
        SELECT t.month, {sums} FROM incident_tally t
        WHERE {where} AND t.month = ANY(:months) GROUP BY t.month"""),
        {**params, "months": list(labels)}).mappings()
    return {labels[r["month"]]: {k: float(v) for k, v in r.items() if k != "month"}
            for r in rows}


def categories(conn: Connection, month: str, within: tuple[int, int] | None,
               n: int) -> list[tuple[str, int]]:
    """The month's ``n`` most frequent categories over every case (or ``within``), most
    first, ties by category — as :func:`store.monthly_totals.top_categories_total`."""
    where, params = _where(within)
    rows = conn.execute(text(f"""
        SELECT t.category, sum(t.n) AS k FROM incident_tally t
        WHERE {where} AND t.month = :month GROUP BY t.category HAVING sum(t.n) > 0
        ORDER BY k DESC, t.category LIMIT :n"""),
        {**params, "month": month_date(month), "n": int(n)}).all()
    return [(str(c), int(k)) for c, k in rows]


# --- upkeep ----------------------------------------------------------------------------------
def compact(conn: Connection) -> int:
    """Fold the delta rows written since the last compaction into one row per key (with the
    rows already there); groups that net to nothing go.  Returns the rows removed.

    Rows a concurrent transaction writes while this runs are left for the next time; sums
    are the same either way."""
    mark = conn.execute(text(
        "SELECT compacted_to FROM incident_tally_setting FOR UPDATE")).scalar_one()
    before = conn.execute(text("SELECT count(*) FROM incident_tally WHERE id > :m"),
                          {"m": mark}).scalar_one()
    if not before:
        return 0
    sums = ", ".join(f"sum({name})" for name in (*SUM_NAMES, "escalations"))
    nonzero = " OR ".join(f"sum({name}) <> 0" for name in (*SUM_NAMES, "escalations"))
    columns = ", ".join((*SUM_NAMES, "escalations"))
    result = conn.execute(text(f"""
        WITH keys AS (SELECT DISTINCT month, lvl, unit_id, category FROM incident_tally
                      WHERE id > :m),
        gone AS (DELETE FROM incident_tally t USING keys k
                 WHERE t.lvl = k.lvl AND t.month = k.month AND t.unit_id = k.unit_id
                   AND t.category = k.category
                 RETURNING t.*),
        made AS (INSERT INTO incident_tally (month, lvl, unit_id, category, {columns})
                 SELECT month, lvl, unit_id, category, {sums} FROM gone
                 GROUP BY 1, 2, 3, 4 HAVING {nonzero}
                 ORDER BY 2, 1, 3  -- the readers' index order: few pages to a month
                 RETURNING id)
        SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM made),
               (SELECT max(id) FROM made)"""), {"m": mark}).one()
    removed, made, top = int(result[0]), int(result[1]), result[2]
    if top is not None:
        conn.execute(text("UPDATE incident_tally_setting SET compacted_to = :t"), {"t": top})
    return removed - made + _compact_households(conn)


def _compact_households(conn: Connection) -> int:
    """Fold the households' delta rows (one row per grid at most: a province's 100,000)."""
    if not conn.execute(text("SELECT EXISTS (SELECT 1 FROM household_tally "
                             "GROUP BY grid_id HAVING count(*) > 1)")).scalar():
        return 0
    removed, made = conn.execute(text("""
        WITH gone AS (DELETE FROM household_tally RETURNING grid_id, n),
        made AS (INSERT INTO household_tally (grid_id, n)
                 SELECT grid_id, sum(n) FROM gone GROUP BY 1 HAVING sum(n) <> 0 ORDER BY 1
                 RETURNING id)
        SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM made)""")).one()
    return int(removed) - int(made)


def rebuild(conn: Connection, tz: str) -> int:
    """Every tally row again from the cases and their history, with months in ``tz``, and
    the households per grid (``onemap db tally --rebuild``); returns the case rows made."""
    made = int(conn.execute(text("SELECT onemap_tally_rebuild(:tz)"),
                            {"tz": tz}).scalar_one())
    conn.execute(text("LOCK TABLE household_tally IN EXCLUSIVE MODE"))
    conn.execute(text("DELETE FROM household_tally"))
    conn.execute(text("INSERT INTO household_tally (grid_id, n) SELECT coalesce(grid_id, 0), "
                      "count(*) FROM household GROUP BY 1 ORDER BY 1"))
    return made


def forget_events(conn: Connection, table: str) -> None:
    """Take the escalations of the (detached) event partition ``table`` out of the tallies:
    an archived month is no longer in the history the report counts from."""
    conn.execute(text(f"""
        INSERT INTO incident_tally (month, lvl, unit_id, category, escalations)
        SELECT date_trunc('month', e.at AT TIME ZONE (SELECT tz FROM incident_tally_setting))
                 ::date, l.lvl, coalesce(l.u, 0), l.cat, -count(*)
        FROM "{table}" e JOIN incident i ON i.id = e.incident_id AND i.duplicate_of IS NULL
             CROSS JOIN LATERAL (VALUES ('city', i.city_id, i.category),
                                        ('county', i.county_id, i.category),
                                        ('town', i.town_id, i.category),
                                        ('village', i.village_id, i.category),
                                        ('grid', i.grid_id, '')) AS l(lvl, u, cat)
        WHERE e.action = 'escalate'
        GROUP BY 1, 2, 3, 4"""))


def households(conn: Connection) -> int:
    """Every household (also those on no grid), from the households' tally."""
    return int(conn.execute(text("SELECT coalesce(sum(n), 0) FROM household_tally")).scalar())


def status(conn: Connection) -> dict[str, Any]:
    """The zone, the rows, those not yet compacted, and the months covered."""
    row = conn.execute(text("""
        SELECT s.tz, (SELECT count(*) FROM incident_tally) AS rows,
               (SELECT count(*) FROM incident_tally WHERE id > s.compacted_to) AS loose,
               (SELECT min(month) FROM incident_tally) AS first,
               (SELECT max(month) FROM incident_tally) AS last
        FROM incident_tally_setting s""")).mappings().one()
    return dict(row)


__all__ = ["ALL", "SUMS", "SUM_NAMES", "categories", "compact", "forget_events", "households",
           "keeps_categories", "lvl",
           "month_date", "rebuild", "status", "totals", "usable"]
