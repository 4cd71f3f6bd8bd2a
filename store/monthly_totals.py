"""The monthly report's numbers over the whole jurisdiction (or within one unit, by the cases'
frozen unit ids): the headline, the twelve months' trend, the month's top categories.

Unlike :mod:`store.monthly`'s per-unit numbers these count every non-duplicate case, also
those on no unit of the month's map, like :func:`store.measures.jurisdiction_total`.  They are
read from the monthly tallies (:mod:`store.tally`) when the reader may (every case in view,
months in the same zone), else from the cases; both give the same numbers
(``tests/store/test_tally.py``).
"""

from __future__ import annotations

import math

import pandas as pd
from sqlalchemy import text

from store import measures, tally
from store.db import Bindable
from store.measures import _ON_TIME, _RESOLVED, LEVEL_NAMES, _connection, _within_sql
from store.monthly import (
    _check_within,
    _households_ctes,
    _no_jit,
    _positive,
    _scope_ctes,
    _with,
    month_period,
    previous_month,
    shift_month,
)

TREND_COLUMNS = ("month", "received", "resolved", "resolution_rate", "on_time_rate")


def _from_sums(s: dict[str, float]) -> dict:
    """:func:`store.measures.jurisdiction_total`'s keys the headline reads, from a month's
    tally sums (an empty dict: a month without cases)."""
    n, done = int(s.get("n", 0)), int(s.get("resolved", 0))
    return {
        "received": n, "resolved": done,
        "resolution_rate": done / n if n else math.nan,
        "on_time_rate": s.get("on_time", 0) / done if done else math.nan,
        **{f"closed_share_{name}": s.get(f"closed_l{lv}", 0) / done if done else math.nan
           for lv, name in LEVEL_NAMES.items()},
        "escalations": int(s.get("escalations", 0)),
    }

def top_categories_total(db: Bindable, month: str, tz: str = "Asia/Shanghai", n: int = 5, *,
                         within: tuple[int, int] | None = None) -> list[tuple[str, int]]:
    """The month's ``n`` most frequent categories over all non-duplicate incidents (also
    unlocated ones, as :func:`headline`), most first, ties by category."""
    _positive(n)
    period = month_period(month, tz)
    where, params = _within_sql(within)
    with _connection(db) as conn:  # a grid's tallies keep no categories
        if tally.usable(conn, tz, within) and (within is None
                                               or tally.keeps_categories(within[0])):
            return tally.categories(conn, month, within, n)
        rows = conn.execute(text(f"""
            SELECT i.category, count(*) AS n FROM incident i
            WHERE i.received_at >= :start AND i.received_at < :end AND i.duplicate_of IS NULL
              AND {where}
            GROUP BY i.category ORDER BY n DESC, i.category LIMIT :n"""),
            {**params, "start": period.start, "end": period.end, "n": n}).all()
    return [(c, int(k)) for c, k in rows]


def _change_pct(now: int, before: int) -> float:
    return 100.0 * (now - before) / before if before else math.nan


def headline(db: Bindable, month: str, tz: str = "Asia/Shanghai", *,
             within: tuple[int, int] | None = None) -> dict:
    """The month over the whole jurisdiction (or ``within`` one unit by its frozen ids), from
    :func:`store.measures.jurisdiction_total`: all non-duplicate incidents, also those on no
    map unit.

    Keys: month, received, prev_received, change_pct, resolved, resolution_rate,
    on_time_rate, closed_share_grid/village/town/county, escalations, households,
    per_1000_households,
    units ({level: number of units on the month's map}).
    """
    period = month_period(month, tz)
    prev = month_period(previous_month(month), tz)
    where, where_params = _within_sql(within)
    with _connection(db) as conn:
        _check_within(conn, within)
        _no_jit(conn)
        tallied = tally.usable(conn, tz, within)  # the cases' sums over ``within``
        if tallied:
            sums = tally.totals(conn, [month, previous_month(month)], within)
            total = _from_sums(sums.get(month, {}))
            before = int(sums.get(previous_month(month), {}).get("n", 0))
        else:
            total = measures.jurisdiction_total(conn, period, within=within)
            before = int(conn.scalar(text(f"""
                SELECT count(*) FROM incident i
                WHERE i.received_at >= :start AND i.received_at < :end
                  AND i.duplicate_of IS NULL AND {where}"""),
                {"start": prev.start, "end": prev.end, **where_params}))
        levels = [lv for lv in LEVEL_NAMES if within is None or lv >= int(within[0])]
        units = {}
        for lv in sorted(levels):
            ctes, params = _scope_ctes(lv, within)
            units[lv] = int(conn.scalar(text(f"{_with(ctes)} SELECT count(*) FROM s"),
                                        {**params, "at": period.end}))
        every = tallied and tally.usable(conn, tz)  # the households' tally: every grid's
        if within is None:
            homes = tally.households(conn) if every else \
                int(conn.scalar(text("SELECT count(*) FROM household")))
        else:
            ctes, params = _scope_ctes(int(within[0]), within)
            ctes += _households_ctes(narrowed=True, tallied=every)
            homes = int(conn.scalar(text(f"{_with(ctes)} SELECT coalesce(sum(n), 0) FROM hh"),
                                    {**params, "at": period.end}))
    received = int(total["received"])
    out = {
        "month": month,
        "received": received,
        "prev_received": before,
        "change_pct": _change_pct(received, before),
        "resolved": int(total["resolved"]),
        "resolution_rate": total["resolution_rate"],
        "on_time_rate": total["on_time_rate"],
        **{f"closed_share_{name}": total[f"closed_share_{name}"]
           for name in LEVEL_NAMES.values()},
        "escalations": int(total["escalations"]),
        "households": homes,
        "per_1000_households": received * 1000 / homes if homes else math.nan,
        "units": units,
    }
    return out


def trend(db: Bindable, month: str, tz: str = "Asia/Shanghai", months: int = 12, *,
          within: tuple[int, int] | None = None) -> pd.DataFrame:
    """One row per month for the ``months`` months ending at ``month``, oldest first:
    month, received, resolved, resolution_rate, on_time_rate — over all non-duplicate
    incidents, as :func:`headline` (0 and NaN for months without incidents)."""
    _positive(months)
    labels = [shift_month(month, k) for k in range(-months + 1, 1)]
    first, last = month_period(labels[0], tz), month_period(month, tz)
    where, params = _within_sql(within)
    # Bucket by the months' own (tz-aware) boundaries: width_bucket on the timestamps is about
    # twice as fast as converting every row to local time and truncating it.
    bounds = [month_period(label, tz).start for label in labels]
    sql = f"""
        SELECT width_bucket(i.received_at, CAST(:bounds AS timestamptz[])) AS k,
               count(*) AS received, {_RESOLVED} AS resolved, {_ON_TIME} AS on_time
        FROM incident i
        WHERE i.received_at >= :start AND i.received_at < :end
          AND i.duplicate_of IS NULL AND {where}
        GROUP BY 1"""
    with _connection(db) as conn:
        _no_jit(conn)
        if tally.usable(conn, tz, within):
            got = {label: (int(s["n"]), int(s["resolved"]), int(s["on_time"]))
                   for label, s in tally.totals(conn, labels, within).items()}
        else:
            got = {labels[int(r.k) - 1]: (int(r.received), int(r.resolved), int(r.on_time))
                   for r in conn.execute(text(sql), {
                       **params, "bounds": bounds, "start": first.start, "end": last.end})}
    rows = []
    for label in labels:
        n, done, on_time = got.get(label, (0, 0, 0))
        rows.append({"month": label, "received": n, "resolved": done,
                     "resolution_rate": done / n if n else math.nan,
                     "on_time_rate": on_time / done if done else math.nan})
    frame = pd.DataFrame(rows, columns=list(TREND_COLUMNS))
    return frame.astype({"received": "int64", "resolved": "int64",
                         "resolution_rate": "float64", "on_time_rate": "float64"})


__all__ = ["TREND_COLUMNS", "headline", "top_categories_total", "trend"]
