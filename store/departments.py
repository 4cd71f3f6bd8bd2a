"""The monthly page's department table (#16): per department, the month's dispatched cases,
how many were resolved and on time, and the citizens' ratings."""

from __future__ import annotations

from typing import Any

from geo.levels import LEVEL_COLUMNS
from store.db import Bindable, rows
from store.measures import _ON_TIME, _RESOLVED
from store.monthly import ACCEPT_HOURS, SUPERVISED_OVERDUE, month_period


def month_by_department(db: Bindable, month: str, tz: str = "Asia/Shanghai", *,
                        within: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    """Departments with cases received in ``month`` (non-duplicates; ``within=(level, id)``
    narrows to one unit by its frozen column), most cases first."""
    period = month_period(month, tz)
    where, params = "true", {}
    if within is not None:
        level, unit_id = within
        where = f"i.{LEVEL_COLUMNS[int(level)]} = :w"
        params["w"] = int(unit_id)
    return rows(db, f"""
        SELECT d.code, d.name, count(*) AS received, {_RESOLVED} AS resolved,
               {_ON_TIME} AS on_time,
               ({_ON_TIME})::float8 / nullif({_RESOLVED}, 0) AS on_time_rate,
               count(i.rating) AS rated, avg(i.rating)::float8 AS rating_mean,
               {SUPERVISED_OVERDUE} AS supervised_overdue, {ACCEPT_HOURS} AS accept_hours
        FROM incident i JOIN department d ON d.id = i.department_id
        WHERE i.received_at >= :start AND i.received_at < :end AND i.duplicate_of IS NULL
          AND {where}
        GROUP BY d.code, d.name ORDER BY received DESC, d.code""",
                {**params, "start": period.start, "end": period.end})
