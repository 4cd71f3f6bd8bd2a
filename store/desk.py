"""The desk's queues (#16): a handler's, a department's, a grid worker's or a command
centre's cases by what they need next.  Row-level security already narrows every query to
the actor's units (and a department desk to its department); ``level`` narrows a level desk
to the cases handled at its level."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text

from store.db import Bindable, connection, rows

OPEN = ("received", "dispatched", "accepted", "in_progress", "escalated", "returned",
        "reopened")
#: queue → its condition (``:now``, ``:soon`` bound).
QUEUES: dict[str, str] = {
    "to_accept": "i.status IN ('received', 'dispatched', 'escalated', 'returned', 'reopened')",
    "in_hand": "i.status IN ('accepted', 'in_progress')",
    "due_soon": ("i.status = ANY(CAST(:open AS text[])) AND i.due_at >= :now "
                 "AND i.due_at < :soon"),
    "overdue": "i.status = ANY(CAST(:open AS text[])) AND i.due_at < :now",
    "supervised": "i.supervised_due IS NOT NULL AND i.status = ANY(CAST(:open AS text[]))",
    "to_rate": "i.status = 'resolved'",
    "done": ("i.status IN ('rated', 'closed') AND i.closed_at >= CAST(:now AS timestamptz) "
             "- interval '30 days'"),
}


#: Every queue holds open or resolved cases, or cases closed in the last 30 days: said once
#: up front so the database reads those (two index ranges: ix_incident_status and
#: ix_incident_closed_at) and not the years of closed history.
LIVE = ("(i.status = ANY(CAST(:live AS text[])) "
        "OR i.closed_at >= CAST(:now AS timestamptz) - interval '30 days')")


def _where(level: int | None, filters: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    parts, params = ["i.duplicate_of IS NULL", LIVE], {"live": [*OPEN, "resolved"]}
    if level is not None:
        parts.append("i.handling_level = :level")
        params["level"] = level
    for column in ("category", "source", "severity"):
        values = [v for v in (filters.get(column) or ()) if v]
        if values:
            parts.append(f"i.{column} = ANY(CAST(:f_{column} AS text[]))")
            params[f"f_{column}"] = values
    return " AND ".join(parts), params


def counts(db: Bindable, now: datetime, soon: datetime, level: int | None = None,
           filters: dict[str, Any] | None = None) -> dict[str, int]:
    where, params = _where(level, filters or {})
    selects = ", ".join(f"count(*) FILTER (WHERE {cond}) AS {name}"
                        for name, cond in QUEUES.items())
    with connection(db) as conn:
        row = conn.execute(text(f"SELECT {selects} FROM incident i WHERE {where}"),
                           {**params, "now": now, "soon": soon, "open": list(OPEN)}
                           ).mappings().one()
    return {k: int(v) for k, v in row.items()}


def queue(db: Bindable, name: str, now: datetime, soon: datetime, level: int | None = None,
          filters: dict[str, Any] | None = None, limit: int = 50, offset: int = 0
          ) -> list[dict[str, Any]]:
    """One queue, soonest due first (the done queue: latest closed first)."""
    where, params = _where(level, filters or {})
    order = {"done": "i.closed_at DESC, i.id DESC",
             "supervised": "i.supervised_due, i.id"}.get(name, "i.due_at NULLS LAST, i.id")
    return rows(db, f"""
        SELECT i.id, i.category, i.severity, i.source, i.status, i.handling_level,
               i.urged_count, i.supervised_due,
               i.received_at, i.due_at, i.closed_at, left(i.description, 80) AS description,
               g.name AS grid_name, v.name AS village_name
        FROM incident i LEFT JOIN unit g ON g.id = i.grid_id
             LEFT JOIN unit v ON v.id = i.village_id
        WHERE {where} AND {QUEUES[name]}
        ORDER BY {order} LIMIT :limit OFFSET :offset""",
                {**params, "now": now, "soon": soon, "open": list(OPEN),
                 "limit": max(1, min(int(limit), 200)), "offset": max(0, int(offset))})


def departments(db: Bindable) -> list[dict[str, Any]]:
    """Departments to dispatch to (code, name), by name."""
    return rows(db, "SELECT DISTINCT code, name FROM department ORDER BY name")
