"""The per-unit numbers of a month's map read from the monthly tallies (:mod:`store.tally`)
instead of the cases — the same attribution as :mod:`store.monthly`, the same answers.

A tally row is for one frozen unit, so it counts under the unit of the month's map that
frozen unit maps to (itself, or the map's unit with its code): the ``m`` map of
:mod:`store.monthly`.  Two parts still read the cases, each only when the tallies say it has
something to read (an uncorrelated condition, which PostgreSQL checks once before the scan):

- ``live``: located cases whose frozen unit is on no unit of the map (none frozen, or a unit
  retired with its code) — attributed by their point, as :mod:`store.monthly` does;
- ``sup``: cases under supervision (督办) still open past their supervision deadline — the one
  number that moves with the clock — through the partial index of migration 0020.

:func:`ctes` ends in ``tsum(unit_id, cur, category, <store.tally.SUMS>, sup_now)``: the rows
a reader sums per unit (``cur``: the report's month, else the month before).
"""

from __future__ import annotations

from store.measures import LEVEL_NAMES, unit_column
from store.monthly import _ATTRIBUTED, _MAP_CTES, _VALID, _WINDOW
from store.tally import SUM_NAMES, SUMS

#: ``agg`` as :func:`store.monthly.month_measures` reads it, from ``tsum``
MEASURES_AGG = f"""agg AS (
        SELECT unit_id, cur, sum(n) AS n, sum(resolved) AS resolved, sum(on_time) AS on_time,
               {", ".join(f"sum(closed_l{lv}) AS l{lv}" for lv in LEVEL_NAMES)},
               sum(urged) AS urged, sum(rated) AS rated,
               sum(rating_sum)::float8 / nullif(sum(rated), 0) AS rating_mean,
               sum(sup_late) + sum(sup_now) AS supervised_overdue,
               (sum(accept_secs) / nullif(sum(accepted), 0) / 3600)::float8 AS accept_hours
        FROM tsum GROUP BY 1, 2)"""


def ctes(level: int, *, by_category: bool = False, supervised: bool = False,
         narrowed: bool = False, sums: tuple[str, ...] = SUM_NAMES) -> list[str]:
    """The CTEs after :func:`store.monthly._scope_ctes` (``full_map``, ``s``) that end in
    ``tsum``.  Parameters: ``:t_lvl`` (the tally's level key), ``:t_months`` (dates),
    ``:t_mon`` (the report's month), ``:lo``/``:start``/``:end``, ``:level``, ``:at``.
    ``supervised`` adds the open supervised cases past their deadline (``sup_now``).
    ``narrowed`` (a ``within`` view): the tallies of the frozen units mapping into ``s`` are
    read unit by unit through the index, not the level's whole month.  ``sums``: the sums
    ``tsum`` carries (a count needs ``n`` only: a province's month is 100,000 grid rows)."""
    unknown = set(sums) - set(SUM_NAMES)
    if unknown or (supervised and "sup_open" not in sums):
        raise ValueError(f"no tally sum {sorted(unknown)} (supervised needs sup_open); sums "
                         f"are {', '.join(SUM_NAMES)}")
    column = unit_column(level)
    cat_t = "t.category" if by_category else "NULL::text"
    cat_i = "i.category" if by_category else "NULL::text"
    from_tally = ", ".join(f"sum(t.{name}) AS {name}" for name in sums)
    per_case = ", ".join(f"{expr} AS {name}" for name, expr in SUMS if name in sums)
    from_cases = ", ".join(f"sum(a.{name}) AS {name}" for name in sums)
    zeros = ", ".join(f"0 AS {name}" for name in sums)
    window = "t.lvl = :t_lvl AND t.month = ANY(:t_months)"
    parts = [_MAP_CTES, *(_narrowed(window, cat_t, from_tally) if narrowed
                          else _whole(window, cat_t, sums))]
    parts += [
        f"""live AS (
        SELECT a.unit_id, a.cur, a.category, {from_cases}, 0::bigint AS sup_now
        FROM (SELECT {_ATTRIBUTED} AS unit_id, i.received_at >= :start AS cur,
                     {cat_i} AS category, {per_case}
              FROM incident i LEFT JOIN m ON m.frozen = i.{column}
              WHERE {_WINDOW} AND m.unit_id IS NULL AND i.geom IS NOT NULL
                AND (SELECT located FROM lost) > 0) a
        JOIN s ON s.id = a.unit_id
        GROUP BY 1, 2, 3)""",
    ]
    union = ["SELECT * FROM tl", "SELECT * FROM live"]
    if supervised:
        parts.append(f"""sup AS (
        SELECT a.unit_id, a.cur, NULL::text AS category, {zeros}, count(*) AS sup_now
        FROM (SELECT {_ATTRIBUTED} AS unit_id, i.received_at >= :start AS cur
              FROM incident i LEFT JOIN m ON m.frozen = i.{column}
              WHERE {_WINDOW} AND i.closed_at IS NULL AND i.supervised_due IS NOT NULL
                AND i.supervised_due < now()
                AND ((SELECT sup_open FROM lost) > 0
                     OR (SELECT coalesce(sum(sup_open), 0) FROM tl) > 0)) a  -- (in sums)
        JOIN s ON s.id = a.unit_id
        GROUP BY 1, 2)""")
        union.append("SELECT * FROM sup")
    parts.append("tsum AS (" + " UNION ALL ".join(union) + ")")
    return parts


def _narrowed(window: str, category: str, from_tally: str) -> list[str]:
    """``tl`` and ``lost`` for a ``within`` view: the tallies of the frozen units that map
    into ``s``, probed unit by unit through the index."""
    return [
        f"""tl AS MATERIALIZED (
        SELECT m.unit_id, t.month = :t_mon AS cur, {category} AS category, {from_tally},
               0::bigint AS sup_now
        FROM (SELECT frozen, unit_id FROM m WHERE unit_id IN (SELECT id FROM s)) m
        CROSS JOIN LATERAL (SELECT * FROM incident_tally t  -- OFFSET 0: probe per unit
                            WHERE {window} AND t.unit_id = m.frozen OFFSET 0) t
        GROUP BY 1, 2, 3)""",
        # the cases of the window on no unit of the map (frozen to none, or to a unit that
        # maps to none): how many are located, how many open under supervision
        f"""lost AS MATERIALIZED (
        SELECT coalesce(sum(t.located), 0) AS located, coalesce(sum(t.sup_open), 0) AS sup_open
        FROM incident_tally t
        WHERE {window}
          AND t.unit_id IN (SELECT 0 UNION ALL SELECT frozen FROM m WHERE unit_id IS NULL))""",
    ]


def _whole(window: str, category: str, sums: tuple[str, ...]) -> list[str]:
    """``tl`` and ``lost`` for the whole map: the level's month summed per frozen unit, each
    mapped to the map's unit (itself when on the map, else the map's unit of its code, looked
    up for those few only) — not the whole ``m`` map of every unit of the level, which is
    built only if a case must be attributed by its point."""
    kept = (*sums, *(name for name in ("located", "sup_open") if name not in sums))
    per_unit = ", ".join(f"sum(t.{name}) AS {name}" for name in kept)
    mapped = ", ".join(f"sum(f.{name}) AS {name}" for name in sums)
    return [
        f"""tf AS MATERIALIZED (
        SELECT t.*, coalesce(on_map.id, CASE WHEN t.frozen <> 0 THEN (
                   SELECT u.id FROM unit u
                   WHERE u.level = :level AND {_VALID}
                     AND u.code = (SELECT f.code FROM unit f WHERE f.id = t.frozen)
                   ORDER BY u.id LIMIT 1) END) AS unit_id
        FROM (SELECT t.unit_id AS frozen, t.month, {category} AS category, {per_unit}
              FROM incident_tally t WHERE {window} GROUP BY 1, 2, 3) t
        LEFT JOIN full_map on_map ON on_map.id = t.frozen)""",
        f"""tl AS MATERIALIZED (
        SELECT f.unit_id, f.month = :t_mon AS cur, f.category, {mapped}, 0::bigint AS sup_now
        FROM tf f WHERE f.unit_id IS NOT NULL GROUP BY 1, 2, 3)""",
        """lost AS MATERIALIZED (
        SELECT coalesce(sum(located), 0) AS located, coalesce(sum(sup_open), 0) AS sup_open
        FROM tf WHERE unit_id IS NULL)""",
    ]


__all__ = ["MEASURES_AGG", "ctes"]
