"""Performance measures of the closed loop, computed in SQL for any unit, level and period.

The command wall and the monthly maps both read these numbers, so they are defined once, here.
Every per-unit measure is one function ``f(db, scope, period, *, filters=None) -> pd.Series``
indexed by unit id (index name ``unit_id``) that contains every unit of the :class:`Scope` — 0
for counts, NaN for rates with no denominator — so a map can colour every unit, including the
quiet ones.

Definitions
-----------

- **Units in scope**: current rows of ``unit`` (``valid_to IS NULL``) at ``scope.level``; only
  the children of ``scope.parent_id`` and/or only ``scope.unit_ids`` when given (ids at another
  level, or superseded versions, are ignored).
- **Belonging**: an incident belongs to a unit through the unit ids frozen on it at receipt:
  level 0 → ``county_id``, 1 → ``town_id``, 2 → ``village_id``, 3 → ``grid_id``.  Redrawing
  grids later does not move past cases.  Other levels are refused (``ValueError``).
- **Near-duplicates** (``duplicate_of IS NOT NULL``) are left out of every measure: a case is
  counted once, under its first report.
- **Period**: half-open ``[start, end)``; :meth:`Period.month` is the local calendar month
  (``Asia/Shanghai`` by default).
- ``received``: incidents whose ``received_at`` is in the period.
- ``dispatched``: of those, the ones with at least one ``incident_event`` with action
  ``'dispatch'`` (at any time, also after the period); read from ``incident.dispatched_at``,
  the first dispatch, kept with the event.
- ``resolved``: of those received in the period, the ones with ``closed_at IS NOT NULL`` (办结),
  whenever they were resolved.
- ``resolution_rate`` = resolved / received (NaN when nothing was received).
- ``on_time_rate``: among the resolved ones, the share with ``NOT overdue AND closed_at <=
  due_at`` (a case that ever missed a deadline, or has no deadline, is not on time); NaN when
  none was resolved.
- ``closed_share_by_level``: among the resolved ones, the share whose ``handling_level`` is
  3 / 2 / 1 / 0 (columns ``grid`` / ``village`` / ``town`` / ``county``); cases without a
  handling level count in the denominator only, so a row may sum to less than 1.
- ``escalations``: ``incident_event`` rows with action ``'escalate'`` whose ``at`` is in the
  period, for the unit's incidents (whenever those were received).
- ``overdue_now``: open incidents (status in :data:`geo.workflow.OPEN_STATES`) with
  ``due_at < now``; ``now`` defaults to the database's ``now()``.  Not bound to a period.
- ``mean_rating``: mean ``rating`` of the incidents received in the period that have one
  (NaN when none has).
- :func:`jurisdiction_total` gives the same measures over all incidents (not grouped by unit,
  so incidents without a unit, e.g. unlocated ones, count too); ``within=(level, unit_id)``
  restricts it to the incidents whose frozen unit column of that level is ``unit_id``.
- **Filters** (:class:`Filters`, keyword ``filters`` of every measure): only incidents whose
  ``category`` / ``severity`` / ``source`` / ``status`` is one of the given values count, in
  every measure and every part of it (the incidents received, the incidents whose escalation
  events are counted, the open overdue ones).  An empty tuple does not restrict that column;
  ``filters=None`` equals ``Filters()``.  ``status`` is the incident's *current* status.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import text

from geo.levels import ALL_COLUMNS, LEVEL_COLUMNS, LEVELS
from geo.workflow import OPEN_STATES, STATES
from store.db import Bindable
from store.db import connection as _connection
from store.models import SEVERITIES, SOURCES

# The frozen incident column that says which unit of each level an incident belongs to.
UNIT_COLUMNS: dict[int, str] = dict(LEVEL_COLUMNS)
# closed_share_by_level columns, in the order of the hierarchy from the bottom up.
LEVEL_NAMES: dict[int, str] = {lv.depth: lv.key for lv in reversed(LEVELS)}

SUMMARY_COLUMNS = (
    "received", "dispatched", "resolved", "resolution_rate", "on_time_rate",
    *(f"closed_share_{name}" for name in LEVEL_NAMES.values()),
    "escalations", "overdue_now", "mean_rating",
)


def _aware(value: datetime, what: str) -> datetime:
    """Naive datetimes would be read in the session's time zone: refuse them."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {value!r}")
    return value


@dataclass(frozen=True)
class Period:
    """A half-open time interval ``[start, end)`` of tz-aware datetimes.

    Half-open so consecutive months tile the timeline: every incident falls in exactly one.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _aware(self.start, "Period.start")
        _aware(self.end, "Period.end")
        if not self.start < self.end:
            raise ValueError(f"Period.start ({self.start}) must be before end ({self.end})")

    @classmethod
    def month(cls, year: int, month: int, tz: str = "Asia/Shanghai") -> Period:
        """The local calendar month: what a monthly report means by "October"."""
        if not 1 <= month <= 12:
            raise ValueError(f"month must be 1-12, got {month}")
        zone = ZoneInfo(tz)
        start = datetime(year, month, 1, tzinfo=zone)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
        return cls(start, end)

    @classmethod
    def last_days(cls, days: int, now: datetime | None = None) -> Period:
        """The rolling window ending at ``now`` (default: the current time), for the wall."""
        if days <= 0:
            raise ValueError(f"days must be positive, got {days}")
        end = datetime.now(UTC) if now is None else _aware(now, "now")
        return cls(end - timedelta(days=days), end)


@dataclass(frozen=True)
class Scope:
    """Which units to measure: every current unit at ``level``, optionally narrowed to the
    children of ``parent_id`` and/or to ``unit_ids``."""

    level: int
    parent_id: int | None = None
    unit_ids: tuple[int, ...] | None = None


# Filter field -> (incident column, allowed values or None for free text).
_FILTER_FIELDS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "categories": ("category", None),
    "severities": ("severity", SEVERITIES),
    "sources": ("source", SOURCES),
    "statuses": ("status", STATES),
}


@dataclass(frozen=True)
class Filters:
    """Which incidents count: the wall's category/severity/source/status pickers.

    Each field is a tuple of allowed values; an empty tuple means "any".  Frozen and made of
    tuples, so a value can key a cache.
    """

    categories: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for field, (_, allowed) in _FILTER_FIELDS.items():
            value = getattr(self, field)
            if isinstance(value, str) or not isinstance(value, (tuple, list, set, frozenset)):
                raise ValueError(f"Filters.{field} must be a tuple of strings, e.g. "
                                 f"{field}=({value!r},), got {value!r}")
            values = tuple(value)
            for v in values:
                if not isinstance(v, str):
                    raise ValueError(f"Filters.{field} must contain strings, got {v!r}")
                if allowed is not None and v not in allowed:
                    raise ValueError(f"unknown value {v!r} in Filters.{field}; "
                                     f"allowed: {', '.join(allowed)}")
            object.__setattr__(self, field, values)

    @property
    def empty(self) -> bool:
        """True when nothing is restricted."""
        return not any(getattr(self, field) for field in _FILTER_FIELDS)

    def sql(self, alias: str = "i") -> tuple[str, dict[str, Any]]:
        """``(condition, params)`` over the incident alias ``alias``: ``"TRUE"`` when empty.

        Parameter names start with ``f_`` so the fragment can join any statement.
        """
        if not alias.isidentifier():
            raise ValueError(f"alias must be an SQL identifier, got {alias!r}")
        conditions, params = [], {}
        for field, (column, _) in _FILTER_FIELDS.items():
            values = getattr(self, field)
            if values:
                conditions.append(f"{alias}.{column} = ANY(CAST(:f_{field} AS text[]))")
                params[f"f_{field}"] = list(values)
        return (" AND ".join(conditions) or "TRUE"), params


def _filter_sql(filters: Filters | None, alias: str = "i") -> tuple[str, dict[str, Any]]:
    if filters is None:
        return "TRUE", {}
    if not isinstance(filters, Filters):
        raise ValueError(f"filters must be a store.measures.Filters or None, got {filters!r}")
    return filters.sql(alias)


def unit_column(level: int) -> str:
    """The incident column holding the unit of ``level`` (a fixed name, safe to interpolate)."""
    try:
        return UNIT_COLUMNS[level]
    except (KeyError, TypeError):
        raise ValueError(
            f"no incident column for unit level {level!r}; levels are 0 (county), 1 (town), "
            "2 (village) and 3 (grid)") from None




def _units_cte(scope: Scope) -> tuple[str, dict[str, Any]]:
    """``units(id)``: the scope's unit list, the left side of every per-unit query."""
    where = ["valid_to IS NULL", "level = :level"]
    params: dict[str, Any] = {"level": scope.level}
    if scope.parent_id is not None:
        where.append("parent_id = :parent_id")
        params["parent_id"] = int(scope.parent_id)
    if scope.unit_ids is not None:
        where.append("id = ANY(CAST(:unit_ids AS bigint[]))")
        params["unit_ids"] = [int(i) for i in scope.unit_ids]
    return f"units AS (SELECT id FROM unit WHERE {' AND '.join(where)})", params


def _period_params(period: Period) -> dict[str, Any]:
    return {"start": period.start, "end": period.end}


def _received_per_unit(db: Bindable, scope: Scope, period: Period,
                       outputs: Mapping[str, str], aggregates: str,
                       filters: Filters | None = None) -> pd.DataFrame:
    """One statement over the incidents received in the period, grouped by the unit column.

    ``aggregates`` are computed per unit (``a.*``); ``outputs`` maps a column name to an
    expression over them, evaluated for every unit (NULL aggregates → the unit had none).
    """
    column = unit_column(scope.level)
    units, params = _units_cte(scope)
    where, filter_params = _filter_sql(filters)
    select = ", ".join(f"{expr} AS {name}" for name, expr in outputs.items())
    sql = f"""
        WITH {units},
        a AS (
            SELECT i.{column} AS unit_id, {aggregates}
            FROM incident i
            WHERE i.received_at >= :start AND i.received_at < :end
              AND i.duplicate_of IS NULL
              AND {where}
              AND i.{column} IN (SELECT id FROM units)
            GROUP BY i.{column}
        )
        SELECT u.id AS unit_id, {select}
        FROM units u LEFT JOIN a ON a.unit_id = u.id
        ORDER BY u.id
    """
    return _frame(db, sql, {**params, **filter_params, **_period_params(period)},
                  list(outputs))


def _frame(db: Bindable, sql: str, params: dict[str, Any], columns: list[str]) -> pd.DataFrame:
    with _connection(db) as conn:
        rows = conn.execute(text(sql), params).all()
    index = pd.Index([int(r[0]) for r in rows], name="unit_id", dtype="int64")
    data = {name: [r[k + 1] for r in rows] for k, name in enumerate(columns)}
    return pd.DataFrame(data, index=index, columns=columns)


def _count(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name].astype("int64")


def _rate(frame: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(frame[name], errors="coerce").astype("float64")


_RESOLVED = "count(*) FILTER (WHERE i.closed_at IS NOT NULL)"
_ON_TIME = ("count(*) FILTER (WHERE i.closed_at IS NOT NULL AND NOT i.overdue "
            "AND i.closed_at <= i.due_at)")
#: dispatched at least once: the first dispatch is kept on the case (migration 0019)
_DISPATCHED = "count(*) FILTER (WHERE i.dispatched_at IS NOT NULL)"


def received(db: Bindable, scope: Scope, period: Period, *,
             filters: Filters | None = None) -> pd.Series:
    """Incidents received in the period: the workload each unit took in."""
    frame = _received_per_unit(db, scope, period, {"received": "coalesce(a.n, 0)"},
                               "count(*) AS n", filters)
    return _count(frame, "received")


def dispatched(db: Bindable, scope: Scope, period: Period, *,
               filters: Filters | None = None) -> pd.Series:
    """Of the incidents received in the period, those dispatched at least once (at any time:
    ``incident.dispatched_at``, the first dispatch, set with its event)."""
    frame = _received_per_unit(db, scope, period, {"dispatched": "coalesce(a.n, 0)"},
                               f"{_DISPATCHED} AS n", filters)
    return _count(frame, "dispatched")


def resolved(db: Bindable, scope: Scope, period: Period, *,
             filters: Filters | None = None) -> pd.Series:
    """Of the incidents received in the period, those resolved (办结, closed_at set)."""
    frame = _received_per_unit(db, scope, period, {"resolved": "coalesce(a.n, 0)"},
                               f"{_RESOLVED} AS n", filters)
    return _count(frame, "resolved")


def resolution_rate(db: Bindable, scope: Scope, period: Period, *,
                    filters: Filters | None = None) -> pd.Series:
    """resolved / received; NaN where nothing was received (no rate, rather than 0 %)."""
    frame = _received_per_unit(
        db, scope, period, {"resolution_rate": "a.resolved::float8 / nullif(a.n, 0)"},
        f"count(*) AS n, {_RESOLVED} AS resolved", filters)
    return _rate(frame, "resolution_rate")


def on_time_rate(db: Bindable, scope: Scope, period: Period, *,
                 filters: Filters | None = None) -> pd.Series:
    """Share of the resolved incidents (received in the period) never overdue and closed by
    their deadline; NaN where none was resolved."""
    frame = _received_per_unit(
        db, scope, period, {"on_time_rate": "a.on_time::float8 / nullif(a.resolved, 0)"},
        f"{_RESOLVED} AS resolved, {_ON_TIME} AS on_time", filters)
    return _rate(frame, "on_time_rate")


def _level_counts() -> str:
    """``l3 … l0``: resolved incidents per handling level (for closed_share_by_level)."""
    return ", ".join(
        f"count(*) FILTER (WHERE i.closed_at IS NOT NULL AND i.handling_level = {level}) "
        f"AS l{level}" for level in LEVEL_NAMES)


def closed_share_by_level(db: Bindable, scope: Scope, period: Period, *,
                          filters: Filters | None = None) -> pd.DataFrame:
    """Among resolved incidents received in the period, the share finished at each level.

    Shows whether cases are settled close to the people (grid) or pushed up the chain.
    Columns ``grid``, ``village``, ``town``, ``county``; rows are NaN where none was resolved.
    """
    aggregates = f"{_RESOLVED} AS resolved, {_level_counts()}"
    outputs = {name: f"a.l{level}::float8 / nullif(a.resolved, 0)"
               for level, name in LEVEL_NAMES.items()}
    frame = _received_per_unit(db, scope, period, outputs, aggregates, filters)
    return frame.apply(pd.to_numeric, errors="coerce").astype("float64")


def _escalation_events_sql(value: str, where: str) -> str:
    """One row per ``escalate`` event dated in the period, with ``v`` = ``value`` (over ``i``)
    of its incident, NULL when that incident is a near-duplicate or fails ``where``.

    The incident is probed by primary key per event: the events of a period are few, and a
    join lets the planner scan every incident instead.
    """
    return f"""
        SELECT (SELECT {value} FROM incident i
                WHERE i.id = e.incident_id AND i.duplicate_of IS NULL AND {where}) AS v
        FROM incident_event e
        WHERE e.action = 'escalate' AND e.at >= :start AND e.at < :end"""


def _overdue_sql(where: str) -> str:
    """Open non-duplicate incidents past ``due_at`` at ``:now`` (default: the database clock)
    matching ``where`` (over ``i``)."""
    return f"""
        FROM incident i
        WHERE i.status = ANY(CAST(:open_states AS text[]))
          AND i.due_at < coalesce(CAST(:now AS timestamptz), now())
          AND i.duplicate_of IS NULL
          AND {where}"""


def _overdue_params(now: datetime | None) -> dict[str, Any]:
    return {"open_states": list(OPEN_STATES), "now": None if now is None else _aware(now, "now")}


def escalations(db: Bindable, scope: Scope, period: Period, *,
                filters: Filters | None = None) -> pd.Series:
    """Escalation events (上报) dated in the period, for the unit's incidents.

    Counts events, not incidents: a case pushed up twice in the month counts twice.
    """
    column = unit_column(scope.level)
    units, params = _units_cte(scope)
    where, filter_params = _filter_sql(filters)
    sql = f"""
        WITH {units},
        a AS (
            SELECT x.v AS unit_id, count(*) AS n
            FROM ({_escalation_events_sql(f"i.{column}", where)}) x
            WHERE x.v IN (SELECT id FROM units)
            GROUP BY x.v
        )
        SELECT u.id AS unit_id, coalesce(a.n, 0) AS escalations
        FROM units u LEFT JOIN a ON a.unit_id = u.id
        ORDER BY u.id
    """
    frame = _frame(db, sql, {**params, **filter_params, **_period_params(period)},
                   ["escalations"])
    return _count(frame, "escalations")


def overdue_now(db: Bindable, scope: Scope, now: datetime | None = None, *,
                filters: Filters | None = None) -> pd.Series:
    """Open incidents past their deadline at ``now`` (default: the database clock).

    The database clock by default, so the wall agrees with the escalation job's view.
    """
    column = unit_column(scope.level)
    units, params = _units_cte(scope)
    where, filter_params = _filter_sql(filters)
    sql = f"""
        WITH {units},
        a AS (
            SELECT i.{column} AS unit_id, count(*) AS n
            {_overdue_sql(where)}
              AND i.{column} IN (SELECT id FROM units)
            GROUP BY i.{column}
        )
        SELECT u.id AS unit_id, coalesce(a.n, 0) AS overdue_now
        FROM units u LEFT JOIN a ON a.unit_id = u.id
        ORDER BY u.id
    """
    frame = _frame(db, sql, {**params, **filter_params, **_overdue_params(now)},
                   ["overdue_now"])
    return _count(frame, "overdue_now")


def mean_rating(db: Bindable, scope: Scope, period: Period, *,
                filters: Filters | None = None) -> pd.Series:
    """Mean citizen rating (1-5) of the incidents received in the period that were rated."""
    frame = _received_per_unit(db, scope, period, {"mean_rating": "a.mean::float8"},
                               "avg(i.rating) AS mean", filters)
    return _rate(frame, "mean_rating")


def summary(db: Bindable, scope: Scope, period: Period,
            now: datetime | None = None, *, filters: Filters | None = None) -> pd.DataFrame:
    """Every measure as a column (see :data:`SUMMARY_COLUMNS`), one row per unit in scope.

    Simply one call to each measure, on one connection, so the definitions live in one place.
    """
    f = {"filters": filters}
    with _connection(db) as conn:
        shares = closed_share_by_level(conn, scope, period, **f)
        columns = {
            "received": received(conn, scope, period, **f),
            "dispatched": dispatched(conn, scope, period, **f),
            "resolved": resolved(conn, scope, period, **f),
            "resolution_rate": resolution_rate(conn, scope, period, **f),
            "on_time_rate": on_time_rate(conn, scope, period, **f),
            **{f"closed_share_{name}": shares[name] for name in LEVEL_NAMES.values()},
            "escalations": escalations(conn, scope, period, **f),
            "overdue_now": overdue_now(conn, scope, now, **f),
            "mean_rating": mean_rating(conn, scope, period, **f),
        }
    frame = pd.DataFrame(columns)
    frame.index.name = "unit_id"
    return frame[list(SUMMARY_COLUMNS)]


def _scope_sql(alias: str = "i") -> tuple[str, dict[str, Any]]:
    """``(condition, params)``: the acting user's scope (:func:`store.scope.current`) as a
    condition an index serves — the frozen column of the home units' level, plus the unplaced
    cases when they are in view.

    Row-level security already limits the rows to the same set (this never widens it), but
    its policy is an OR over every level column and the all-scope switch, which no index
    serves: a county commander's KPI over 30 days read every case of the province in those
    days.  ``TRUE`` for actors without units (the whole database) or whose level is unknown."""
    from store.scope import current

    actor = current()
    if actor is None or actor.units is None or actor.home_level is None \
            or actor.home_level not in UNIT_COLUMNS or not actor.units:
        return "TRUE", {}
    column = f"{alias}.{UNIT_COLUMNS[actor.home_level]}"
    condition = f"{column} = ANY(:scope_unit_ids)"
    if actor.unlocated:
        unplaced = " AND ".join(f"{alias}.{c} IS NULL" for c in ALL_COLUMNS)
        condition = f"({condition} OR ({unplaced}))"
    return condition, {"scope_unit_ids": sorted(actor.units)}


def _within_sql(within: tuple[int, int] | None, alias: str = "i") -> tuple[str, dict[str, Any]]:
    """``(condition, params)``: the incidents frozen to unit ``within = (level, unit_id)``;
    without one, the acting user's scope (:func:`_scope_sql`)."""
    if within is None:
        return _scope_sql(alias)
    try:
        level, unit_id = within
        unit_id = int(unit_id)
    except (TypeError, ValueError):
        raise ValueError(f"within must be (level, unit_id) or None, got {within!r}") from None
    return f"{alias}.{unit_column(level)} = :within_unit_id", {"within_unit_id": unit_id}


def jurisdiction_total(db: Bindable, period: Period, now: datetime | None = None, *,
                       filters: Filters | None = None,
                       within: tuple[int, int] | None = None, history: bool = True) -> dict:
    """The same measures over the whole jurisdiction, for KPI tiles and headlines.

    Computed over all incidents (not summed from units), so incidents without a unit count
    and rates are true ratios rather than means of unit rates.  ``within=(level, unit_id)``
    narrows it to one unit's incidents (by the frozen unit column of that level), for a wall
    zoomed into a town.  Keys are :data:`SUMMARY_COLUMNS`; counts are ints, rates floats (NaN
    with no denominator).  ``history=False`` leaves out ``dispatched`` and ``escalations`` (0),
    which a wall's tiles do not show (escalations are counted from the cases' history).
    """
    shares = ", ".join(
        f"r.l{level}::float8 / nullif(r.resolved, 0) AS closed_share_{name}"
        for level, name in LEVEL_NAMES.items())
    filter_where, filter_params = _filter_sql(filters)
    within_where, within_params = _within_sql(within)
    where = f"{filter_where} AND {within_where}"
    escalations = (f"""(SELECT count(*) FROM ({_escalation_events_sql("true", where)}) x
                WHERE x.v)""" if history else "0")
    sql = f"""
        WITH r AS (
            SELECT count(*) AS received,
                   {_DISPATCHED if history else "0"} AS dispatched,
                   {_RESOLVED} AS resolved,
                   {_ON_TIME} AS on_time,
                   {_level_counts()},
                   avg(i.rating)::float8 AS mean_rating
            FROM incident i
            WHERE i.received_at >= :start AND i.received_at < :end
              AND i.duplicate_of IS NULL
              AND {where}
        )
        SELECT r.received, r.dispatched, r.resolved,
               r.resolved::float8 / nullif(r.received, 0) AS resolution_rate,
               r.on_time::float8 / nullif(r.resolved, 0) AS on_time_rate,
               {shares},
               {escalations} AS escalations,
               (SELECT count(*) {_overdue_sql(where)}) AS overdue_now,
               r.mean_rating
        FROM r
    """
    params = {**_period_params(period), **_overdue_params(now), **filter_params,
              **within_params}
    with _connection(db) as conn:
        row = conn.execute(text(sql), params).one()._mapping
    counts = {"received", "dispatched", "resolved", "escalations", "overdue_now"}
    return {name: int(row[name]) if name in counts
            else (math.nan if row[name] is None else float(row[name]))
            for name in SUMMARY_COLUMNS}
