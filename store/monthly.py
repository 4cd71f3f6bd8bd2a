"""Numbers behind the monthly situation maps (月度态势图): one local calendar month, drawn with
the boundaries as they were at the end of that month.

The measures themselves (received, resolved, resolution_rate, on_time_rate,
closed_share_by_level, near-duplicates left out, …) are those of :mod:`store.measures` — the
same SQL fragments, so the wall, the monthly maps and their exports cannot disagree.  What this
module adds is *which unit* an incident counts under when boundaries changed.

Definitions
-----------

- **Month**: ``'YYYY-MM'``, the local calendar month in ``tz``
  (:meth:`store.measures.Period.month`), half-open ``[start, end)``.
- **Units of a month** (:func:`units_as_of` at the month's end ``end``): the rows of ``unit``
  at the level with ``valid_from < end AND (valid_to IS NULL OR valid_to >= end)`` — the map as
  it stood in the month's last instant.  A plan effective exactly at midnight on the 1st
  belongs to the new month.  ``valid_from`` counts only for rows a plan added (listed in
  ``unit_change.added_ids``): loaders stamp rows with their load time, which says nothing about
  when the boundary began, so those rows count from the beginning of time.  Hence with no
  versions these are simply the current units, also for months before the load.
- **Scope**: those units, narrowed by ``within=(level, unit_id)`` to the ones below (or equal
  to) the row of that unit's code valid at the same instant, walking ``parent_id`` through rows
  valid then.
- **Attribution** of an incident to a unit of the month's map, first match wins: (1) its
  frozen unit id of that level (:data:`store.measures.UNIT_COLUMNS`) when that row is on the
  map; (2) else the row on the map with the same code as the frozen row (a redrawn grid keeps
  its code); (3) else the unit on the map whose geometry covers the incident's location
  (``ST_Covers``; on a shared edge the lowest code).  Attribution is against the whole map,
  then ``within`` keeps its units, so a narrowed view shows the same numbers as the whole one.
  Incidents matching none (no location and no unit, or outside every unit) are not counted on
  the map; they still count in :mod:`store.monthly_totals` (headline, trend), which is over
  all incidents like :func:`store.measures.jurisdiction_total`.
- **prev_received**: incidents of the previous month attributed the same way to the *same*
  units (this month's boundaries), so a change is not an artefact of a redrawn map.
- **households**: for a row still current (``valid_to IS NULL``), households by ``grid_id``
  summed over its current descendants (as the wall does); for a retired row, the households
  whose point its geometry covers.  ``per_1000_households`` = received per 1,000 households,
  NaN with none.
- ``change_pct`` = 100·(received − prev_received)/prev_received, NaN when prev_received is 0.

Every function takes an Engine or a Connection (then runs inside the caller's transaction).
Each per-unit function is one SQL statement, grouped by unit: a month of a whole county at
grid level is one pass over two months of incidents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from geo.months import parse_month, shift_month
from geo.workflow import GRID
from store import tally
from store.db import Bindable
from store.measures import (
    _ON_TIME,
    _RESOLVED,
    LEVEL_NAMES,
    Period,
    _aware,
    _connection,
    _level_counts,
    unit_column,
)
from store.versions import in_force_sql

MEASURE_COLUMNS = (
    "code", "name", "received", "households", "per_1000_households", "prev_received", "change_pct",
    "resolved", "resolution_rate", "on_time_rate",
    *(f"closed_share_{name}" for name in LEVEL_NAMES.values()),
    "urged", "rated", "rating_mean", "supervised_overdue", "accept_hours",
)
#: The first 签收 of a case, kept on the case by a trigger on the history (migration 0019):
#: reading it from the history was one probe of incident_event per case, most of a
#: province's report.
FIRST_ACCEPT = "i.accepted_at"
#: Supervised (督办) cases done after, or still open past, their supervision deadline.
SUPERVISED_OVERDUE = ("count(*) FILTER (WHERE i.supervised_due IS NOT NULL "
                      "AND coalesce(i.closed_at, now()) > i.supervised_due)")
#: Mean hours from receipt to the first 签收 (cases accepted at all).
ACCEPT_HOURS = "(avg(extract(epoch FROM i.accepted_at - i.received_at)) / 3600)::float8"

# A row of ``unit`` (alias ``u``) on the map in the last instant before :at.  Rows written by
# a loader carry their load time as valid_from, not when the boundary began: only a row a plan
# added (unit_change.added_ids) starts at its valid_from; the others count from the start.
_VALID = in_force_sql("u", ":at", just_before=True)


# --- months ----------------------------------------------------------------------------------
def _check_tz(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except Exception:  # ZoneInfoNotFoundError, ValueError for malformed keys
        raise ValueError(f"unknown time zone {tz!r}; use an IANA name like 'Asia/Shanghai'") \
            from None
    return tz


def month_period(month: str, tz: str = "Asia/Shanghai") -> Period:
    """The local calendar month ``'YYYY-MM'`` in ``tz`` as a half-open :class:`Period`."""
    year, mon = parse_month(month)
    return Period.month(year, mon, _check_tz(tz))


def previous_month(month: str) -> str:
    """The month before ``month``: what "环比" compares with."""
    return shift_month(month, -1)


def months_with_data(db: Bindable, tz: str = "Asia/Shanghai") -> list[str]:
    """'YYYY-MM' local months that have (non-duplicate) incidents, newest first.

    A loose index scan: one backward probe of the received_at index per month instead of
    reading every incident.
    """
    sql = """
        WITH RECURSIVE m AS (
            SELECT date_trunc('month', max(received_at) AT TIME ZONE :tz) AS s
            FROM incident WHERE duplicate_of IS NULL
            UNION ALL
            SELECT (SELECT date_trunc('month', max(i.received_at) AT TIME ZONE :tz)
                    FROM incident i
                    WHERE i.received_at < (m.s AT TIME ZONE :tz) AND i.duplicate_of IS NULL)
            FROM m WHERE m.s IS NOT NULL)
        SELECT to_char(s, 'YYYY-MM') FROM m WHERE s IS NOT NULL ORDER BY s DESC"""
    with _connection(db) as conn:
        return [r[0] for r in conn.execute(text(sql), {"tz": _check_tz(tz)})]


# --- scope -----------------------------------------------------------------------------------
def _scope_ctes(level: int, within: tuple[int, int] | None) -> tuple[list[str], dict[str, Any]]:
    """CTEs ending in ``full_map`` and ``s`` (id, code, name, parent_id, version, valid_to):
    the units of ``level`` on the map at ``:at``, and those narrowed to ``within``; needs
    ``WITH RECURSIVE``.  Without their geometries (join ``unit`` by id where one is drawn or
    tested): a province has 100,000 grids, and copying their shapes into each statement's map
    took 110 of the 117 ms of counting a county's grids (27 counties of the scale-1 province)."""
    unit_column(level)  # refuses unknown levels
    params: dict[str, Any] = {"level": int(level)}
    ctes: list[str] = []
    narrow = ""
    if within is not None:
        try:
            w_level, w_id = (int(v) for v in within)
        except (TypeError, ValueError):
            raise ValueError(f"within must be (level, unit_id) or None, got {within!r}") \
                from None
        unit_column(w_level)
        if w_level > level:
            raise ValueError(f"within level {w_level} is below the map level {level}: narrow "
                             "to a unit at the map's level or above it")
        params.update(w_level=w_level, w_id=w_id)
        ctes.append(f"""sub AS (
            SELECT u.id, u.level FROM unit u
            WHERE u.level = :w_level AND {_VALID}
              AND u.code = (SELECT code FROM unit WHERE id = :w_id AND level = :w_level)
            UNION ALL
            SELECT u.id, u.level FROM unit u JOIN sub ON u.parent_id = sub.id
            WHERE sub.level < :level AND u.level > sub.level AND {_VALID})""")
        narrow = " WHERE id IN (SELECT id FROM sub)"
    ctes.append(f"""full_map AS MATERIALIZED (
        SELECT u.id, u.code, u.name, u.parent_id, u.version, u.valid_to FROM unit u
        WHERE u.level = :level AND {_VALID})""")
    ctes.append(f"s AS MATERIALIZED (SELECT * FROM full_map{narrow})")
    return ctes, params


def _check_within(conn: Connection, within: tuple[int, int] | None) -> None:
    """A ``within`` naming no unit of that level is a caller's mistake, not an empty map."""
    if within is None:
        return
    found = conn.scalar(text("SELECT count(*) FROM unit WHERE id = :i AND level = :l"),
                        {"i": int(within[1]), "l": int(within[0])})
    if not found:
        raise ValueError(f"within={within!r}: there is no unit {within[1]} at level "
                         f"{within[0]}")


#: The unit of the month's map a case (``i``, left-joined to ``m`` on its frozen unit) counts
#: under: its frozen unit's, else the unit covering it (see *Attribution*); NULL for none.
_ATTRIBUTED = f"""coalesce(
                   m.unit_id,
                   CASE WHEN i.geom && (SELECT box FROM ext) THEN
                       (SELECT u.id FROM unit u
                        WHERE u.level = :level AND u.geom && i.geom AND {_VALID}
                          AND ST_Covers(u.geom, i.geom)
                        ORDER BY u.code, u.id LIMIT 1) END)"""
#: The non-duplicate cases received in ``[:lo, :end)``.
_WINDOW = "i.received_at >= :lo AND i.received_at < :end AND i.duplicate_of IS NULL"
#: ``m(frozen, unit_id)``: every unit of the level, with the unit of the map it maps to
#: (itself, or the map's unit of its code; NULL for none), and ``ext``, the map's extent.
_MAP_CTES = """m AS MATERIALIZED (
        SELECT f.id AS frozen, coalesce(s1.id, s2.id) AS unit_id
        FROM unit f LEFT JOIN full_map s1 ON s1.id = f.id
             LEFT JOIN full_map s2 ON s2.code = f.code
        WHERE f.level = :level),
    ext AS MATERIALIZED (  -- read only when a case has no mapped unit (coalesce)
        SELECT ST_SetSRID(ST_Extent(u.geom)::geometry, 4326) AS box FROM unit u
        WHERE u.id IN (SELECT id FROM full_map))"""


def _attributed_cte(level: int, columns: str, narrowed: bool = False) -> str:
    """``inc(unit_id, …)``: non-duplicate incidents received in ``[:lo, :end)`` with the unit
    of the whole month's map they count under (NULL when none; see *Attribution*) and
    ``columns`` (over i).  Attributing against the whole map and only then keeping the units
    of ``s`` makes a ``within`` view equal the same rows of the whole view.

    ``narrowed`` (a ``within`` view): only cases that can count under a unit of ``s`` are
    read — those whose frozen unit maps into ``s``, and unmapped ones inside the extent of
    ``s`` (a unit of ``s`` can only cover a point there).  Every other case would be dropped
    by the join with ``s`` anyway, so the rows are the same; but a county's report no longer
    attributes (and reads the history of) every case of the province."""
    column = unit_column(level)
    attributed, window, head = _ATTRIBUTED, _WINDOW, f"{_MAP_CTES},"
    if not narrowed:
        return f"""{head}
    inc AS (
        SELECT {attributed} AS unit_id, {columns}
        FROM incident i LEFT JOIN m ON m.frozen = i.{column}
        WHERE {window})"""
    # two parts, so that the first reads the cases of the frozen units that map into s
    # through the index on the frozen column, not every case of the window
    return f"""{head}
    ext_s AS MATERIALIZED (
        SELECT ST_SetSRID(ST_Extent(u.geom)::geometry, 4326) AS box FROM unit u
        WHERE u.id IN (SELECT id FROM s)),
    m_s AS MATERIALIZED (SELECT frozen, unit_id FROM m WHERE unit_id IN (SELECT id FROM s)),
    inc AS (
        SELECT m.unit_id, i.*
        FROM m_s m CROSS JOIN LATERAL (  -- per frozen unit: its (unit, received_at) index
            SELECT {columns} FROM incident i  -- (OFFSET 0: not flattened into one big join)
            WHERE i.{column} = m.frozen AND {window} OFFSET 0) i
        UNION ALL
        SELECT {attributed} AS unit_id, {columns}
        FROM incident i LEFT JOIN m ON m.frozen = i.{column}
        WHERE {window} AND m.unit_id IS NULL AND i.geom && (SELECT box FROM ext_s))"""


def _tallied(conn: Connection, tz: str, level: int, params: dict[str, Any],
             months: list[str], month: str) -> bool:
    """Whether this reader's numbers come from the monthly tallies (:func:`store.tally.usable`);
    if so, adds the parameters :func:`store.monthly_tally.ctes` reads."""
    if not tally.usable(conn, tz):
        return False
    params.update(t_lvl=tally.lvl(level), t_mon=tally.month_date(month),
                  t_months=[tally.month_date(m) for m in months])
    return True


def _no_jit(conn: Connection) -> None:
    """Turn JIT off, and give sorts and hashes 64 MB, for the rest of the transaction.

    The attribution subplan makes the planner's cost estimates huge, so PostgreSQL would JIT
    compile these statements: about 1.8 s of compiling for a 0.3 s query.  A province's grid
    counts sort and hash its 100,000 grids' tallies, which spilled to disk with the default
    4 MB.
    Transaction-local (``set_config(..., true)``), so it ends with the caller's transaction.
    """
    conn.execute(text("SELECT set_config('jit', 'off', true), "
                      "set_config('work_mem', '64MB', true)"))


def _with(ctes: list[str]) -> str:
    return "WITH RECURSIVE " + ",\n".join(ctes)


def _geoframe(rows: list[dict], columns: list[str]) -> gpd.GeoDataFrame:
    if not rows:
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs="EPSG:4326")
    geoms = shapely.from_wkb([bytes(r.pop("wkb")) for r in rows])
    frame = gpd.GeoDataFrame(rows, columns=columns, geometry=list(geoms), crs="EPSG:4326")
    for c in ("id", "version"):
        frame[c] = frame[c].astype("int64")
    frame["parent_id"] = frame["parent_id"].astype("Int64")
    return frame


def map_changes(db: Bindable) -> list[datetime]:
    """The instants at which some unit enters or leaves a month's map (:data:`_VALID`), in
    order: the start of every unit a recorded change added, and the end of every retired unit.
    A map drawn at ``at`` holds the same units as one drawn at any other instant with as many
    of these before it (``bisect_left``): a report reads a year's grids once, not per month."""
    with _connection(db) as conn:
        return list(conn.execute(text("""
            SELECT t FROM (
                SELECT u.valid_from AS t FROM unit u
                WHERE u.id IN (SELECT unnest(uc.added_ids) FROM unit_change uc)
                UNION
                SELECT valid_to FROM unit WHERE valid_to IS NOT NULL) x
            ORDER BY 1""")).scalars())


def units_as_of(db: Bindable, level: int, at: datetime, *,
                within: tuple[int, int] | None = None) -> gpd.GeoDataFrame:
    """The units of ``level`` as they stood in the last instant before ``at`` (a month's end):
    columns id, code, name, parent_id, version, geometry (EPSG:4326), ordered by code.

    "Before": a row retired exactly at ``at`` is still on the map, one starting at ``at`` not
    yet — so ``at`` = the month's end draws the month as it closed.
    """
    ctes, params = _scope_ctes(level, within)
    params["at"] = _aware(at, "at")
    sql = f"""{_with(ctes)}
        SELECT s.id, s.code, s.name, s.parent_id, s.version, ST_AsBinary(u.geom) AS wkb
        FROM s JOIN unit u ON u.id = s.id ORDER BY s.code, s.id"""
    with _connection(db) as conn:
        _check_within(conn, within)
        _no_jit(conn)
        rows = [dict(r._mapping) for r in conn.execute(text(sql), params)]
    return _geoframe(rows, ["id", "code", "name", "parent_id", "version"])


# --- per-unit measures -----------------------------------------------------------------------
def _households_ctes(narrowed: bool = False, tallied: bool = False) -> list[str]:
    """``hh(id, n)``: households of every unit in ``s`` (see *households*).

    ``narrowed`` (a ``within`` view): only the households of the grids below ``s`` are
    counted (through the index on ``household.grid_id``), not every grid's of the province.
    ``tallied``: the current grids' counts from the households' tally (migration 0021)."""
    only = "AND grid_id IN (SELECT id FROM cur)" if narrowed else ""
    counted = (f"SELECT grid_id, sum(n) AS n FROM household_tally WHERE grid_id <> 0 {only}"
               if tallied else
               f"SELECT grid_id, count(*) AS n FROM household WHERE grid_id IS NOT NULL {only}")
    return [
        """cur AS (
            SELECT id AS root, id FROM s WHERE valid_to IS NULL
            UNION ALL
            SELECT cur.root, u.id FROM unit u JOIN cur ON u.parent_id = cur.id
            WHERE u.valid_to IS NULL AND u.id <> cur.id)""",
        f"per_grid AS ({counted} GROUP BY grid_id)",
        """hh AS (
            SELECT cur.root AS id, coalesce(sum(per_grid.n), 0) AS n
            FROM cur LEFT JOIN per_grid ON per_grid.grid_id = cur.id GROUP BY cur.root
            UNION ALL
            SELECT s.id, (SELECT count(*) FROM household h
                          WHERE h.geom && g.geom AND ST_Covers(g.geom, h.geom))
            FROM s JOIN unit g ON g.id = s.id WHERE s.valid_to IS NOT NULL)""",
    ]


def _measures_from_cases(level: int, narrowed: bool) -> list[str]:
    """``agg`` of :func:`month_measures` read from the cases (readers the tallies do not
    serve, :func:`store.tally.usable`)."""
    return [
        _attributed_cte(level, "i.received_at, i.closed_at, i.due_at, i.overdue, "
                               "i.handling_level, i.urged_count, i.rating, "
                               f"i.supervised_due, {FIRST_ACCEPT} AS accepted_at",
                        narrowed=narrowed),
        f"""agg AS (
            SELECT i.unit_id, i.received_at >= :start AS cur, count(*) AS n,
                   {_RESOLVED} AS resolved, {_ON_TIME} AS on_time, {_level_counts()},
                   count(*) FILTER (WHERE i.urged_count > 0) AS urged,
                   count(i.rating) AS rated, avg(i.rating)::float8 AS rating_mean,
                   {SUPERVISED_OVERDUE} AS supervised_overdue,
                   {ACCEPT_HOURS} AS accept_hours
            FROM inc i JOIN s ON s.id = i.unit_id  -- only the map's units: a county's report
            GROUP BY 1, 2)""",                      # reads the history of its own cases only
    ]


def _measures_sql(scope: list[str], shares: str, agg: list[str], homes: list[str]) -> str:
    """:func:`month_measures`' statement over the map ``scope``, its ``agg`` and ``hh``."""
    return f"""{_with([*scope, *agg, *homes])}
        SELECT s.id AS unit_id, s.code, s.name,
               coalesce(c.n, 0) AS received,
               coalesce(hh.n, 0) AS households,
               coalesce(p.n, 0) AS prev_received,
               coalesce(c.resolved, 0) AS resolved,
               c.resolved::float8 / nullif(c.n, 0) AS resolution_rate,
               c.on_time::float8 / nullif(c.resolved, 0) AS on_time_rate,
               {shares},
               coalesce(c.urged, 0) AS urged, coalesce(c.rated, 0) AS rated,
               c.rating_mean, coalesce(c.supervised_overdue, 0) AS supervised_overdue,
               c.accept_hours
        FROM s
             LEFT JOIN agg c ON c.unit_id = s.id AND c.cur
             LEFT JOIN agg p ON p.unit_id = s.id AND NOT p.cur
             LEFT JOIN hh ON hh.id = s.id
        ORDER BY s.code, s.id"""


def month_measures(db: Bindable, level: int, month: str, tz: str = "Asia/Shanghai", *,
                   within: tuple[int, int] | None = None) -> pd.DataFrame:
    """The month's measures for every unit of ``level`` on the month's map (see the module
    docstring), indexed by unit id (``unit_id``) in the order of :func:`units_as_of`.

    Columns :data:`MEASURE_COLUMNS`: counts are ints (0 for quiet units), rates floats (NaN
    with no denominator), ``closed_share_*`` as in
    :func:`store.measures.closed_share_by_level`.  One statement.
    """
    period = month_period(month, tz)
    prev = month_period(previous_month(month), tz)
    ctes, params = _scope_ctes(level, within)
    shares = ", ".join(
        f"c.l{lv}::float8 / nullif(c.resolved, 0) AS closed_share_{name}"
        for lv, name in LEVEL_NAMES.items())
    params.update(at=period.end, lo=prev.start, start=period.start, end=period.end)
    narrowed = within is not None
    from store import monthly_tally  # it builds on this module's attribution

    with _connection(db) as conn:
        _check_within(conn, within)
        _no_jit(conn)
        tallied = _tallied(conn, tz, level, params, [month, previous_month(month)], month)
        result = conn.execute(text(_measures_sql(ctes, shares, [
            *monthly_tally.ctes(level, supervised=True, narrowed=narrowed),
            monthly_tally.MEASURES_AGG] if tallied else _measures_from_cases(level, narrowed),
            _households_ctes(narrowed=narrowed, tallied=tallied))), params)
        frame = pd.DataFrame(result.all(), columns=list(result.keys()))
    frame = frame.set_index("unit_id")
    frame.index = frame.index.astype("int64")
    for c in ("received", "households", "prev_received", "resolved"):
        frame[c] = frame[c].astype("int64")
    rates = ["resolution_rate", "on_time_rate",
             *(f"closed_share_{name}" for name in LEVEL_NAMES.values())]
    for c in rates:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    homes = frame["households"].where(frame["households"] > 0)
    frame["per_1000_households"] = (frame["received"] * 1000 / homes).astype("float64")
    before = frame["prev_received"].where(frame["prev_received"] > 0)
    frame["change_pct"] = (100 * (frame["received"] - before) / before).astype("float64")
    return frame[list(MEASURE_COLUMNS)]


def grid_counts(db: Bindable, month: str, tz: str = "Asia/Shanghai", *,
                within: tuple[int, int] | None = None) -> pd.Series:
    """Incidents received in the month per grid on the month's map (0 for quiet grids),
    attributed as in :func:`month_measures`; indexed by grid id in code order, for hot spots."""
    period = month_period(month, tz)
    ctes, params = _scope_ctes(GRID, within)
    params.update(at=period.end, lo=period.start, start=period.start, end=period.end)
    from store import monthly_tally  # it builds on this module's attribution

    with _connection(db) as conn:
        _check_within(conn, within)
        _no_jit(conn)
        if _tallied(conn, tz, GRID, params, [month], month):
            ctes += [*monthly_tally.ctes(GRID, narrowed=within is not None, sums=("n",)),
                     "agg AS (SELECT unit_id, sum(n) AS n FROM tsum GROUP BY 1)"]
        else:
            ctes += [_attributed_cte(GRID, "i.id", narrowed=within is not None),
                     "agg AS (SELECT i.unit_id, count(*) AS n FROM inc i "
                     "JOIN s ON s.id = i.unit_id GROUP BY 1)"]
        rows = conn.execute(text(f"""{_with(ctes)}
            SELECT s.id, coalesce(agg.n, 0) FROM s LEFT JOIN agg ON agg.unit_id = s.id
            ORDER BY s.code, s.id"""), params).all()
    index = pd.Index([int(r[0]) for r in rows], name="unit_id", dtype="int64")
    return pd.Series([int(r[1]) for r in rows], index=index, name="count", dtype="int64")


def top_categories(db: Bindable, level: int, month: str, tz: str = "Asia/Shanghai",
                   n: int = 3, *, within: tuple[int, int] | None = None
                   ) -> dict[int, list[tuple[str, int]]]:
    """Per unit on the month's map (every one, quiet units with ``[]``), its ``n`` most
    frequent incident categories of the month as ``(category, count)``, most first (ties by
    category); attributed as in :func:`month_measures`."""
    _positive(n)
    period = month_period(month, tz)
    ctes, params = _scope_ctes(level, within)
    params.update(at=period.end, lo=period.start, start=period.start, end=period.end)
    params["n"] = int(n)
    from store import monthly_tally  # it builds on this module's attribution

    out: dict[int, list[tuple[str, int]]] = {}
    with _connection(db) as conn:
        _check_within(conn, within)
        _no_jit(conn)
        # a grid's tallies keep no categories: its top categories come from the cases
        if tally.keeps_categories(level) and _tallied(conn, tz, level, params, [month], month):
            ctes += monthly_tally.ctes(level, by_category=True, sums=("n",),
                                       narrowed=within is not None)
            counted = ("SELECT unit_id, category, sum(n) AS n FROM tsum GROUP BY 1, 2 "
                       "HAVING sum(n) > 0")
        else:
            ctes.append(_attributed_cte(level, "i.category", narrowed=within is not None))
            counted = ("SELECT i.unit_id, i.category, count(*) AS n FROM inc i "
                       "JOIN s ON s.id = i.unit_id GROUP BY 1, 2")
        ctes.append(f"""ranked AS (
                SELECT unit_id, category, n,
                       row_number() OVER (PARTITION BY unit_id ORDER BY n DESC, category) AS k
                FROM ({counted}) c)""")
        sql = f"""{_with(ctes)}
            SELECT s.id, r.category, r.n
            FROM s LEFT JOIN ranked r ON r.unit_id = s.id AND r.k <= :n
            ORDER BY s.code, s.id, r.k"""
        for uid, category, count in conn.execute(text(sql), params):
            items = out.setdefault(int(uid), [])
            if category is not None:
                items.append((category, int(count)))
    return out


def _positive(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")


__all__ = [
    "MEASURE_COLUMNS", "grid_counts", "map_changes", "month_measures", "month_period",
    "months_with_data",
    "previous_month", "shift_month", "top_categories", "units_as_of",
]
