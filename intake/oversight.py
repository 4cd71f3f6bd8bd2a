"""催办 / 督办 (#16): notes on an open case from above — a command centre, or a level desk
above the case's level.  ``urge`` counts and puts its note at the top of the handler's case;
``supervise`` puts the case on the supervised list with a deadline of its own.  Both are
history events that keep the case's state (called by :func:`intake.service.act`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from accounts.audit import audit
from geo.workflow import OPEN_FOR_NOTES
from intake.schema import ActionIn, ReportError
from onemap.access import can
from onemap.context import Runtime
from store import incidents as db_incidents


def may_note_from_above(rt: Runtime, row: dict[str, Any]) -> bool:
    """催办/督办 come from above: a command centre, or a level desk above the case's level."""
    if not can(rt.actor, "incident.read", row):
        return False
    if can(rt.actor, "incident.urge", row):
        return True
    if rt.actor.role != "handler" or row.get("handling_level") is None:
        return False
    tops = rt.units.tree().tops()
    return bool(tops) and rt.units.tree().units[tops[0]]["level"] < row["handling_level"]


def note_from_above(rt: Runtime, conn: Connection, row: dict[str, Any],
                    action: ActionIn, *, client_key: str | None = None) -> dict[str, Any]:
    if row["status"] not in OPEN_FOR_NOTES:
        raise ReportError(f"cannot {action.action}: the case is {row['status']}, not open",
                          status=409, code="illegal_transition")
    if not may_note_from_above(rt, row):
        audit(rt, "incident.act", object_type="incident", object_id=row["id"],
              result="denied", detail={"action": action.action})
        raise ReportError(f"{action.action}: only a command centre or a higher level may",
                          status=403, code="forbidden")
    if not action.note:
        raise ReportError(f"{action.action} needs a note (what is expected)",
                          [("note", "is required")])
    now = datetime.now(UTC)
    due = now + timedelta(days=action.days or 3) if action.action == "supervise" else None
    db_incidents.note_from_above(conn, row["id"], action.action, supervised_due=due)
    if due is None:
        note = action.note
    else:
        local = due.astimezone(ZoneInfo(rt.settings.timezone))
        note = f"{action.note}（督办期限 {local:%Y-%m-%d %H:%M}）"
    db_incidents.append_event(conn, row["id"], action.actor or rt.actor.name, action.action,
                              row["status"], row["status"], note, at=now,
                              client_key=client_key)
    audit(rt, "incident.act", object_type="incident", object_id=row["id"], conn=conn,
          detail={"action": action.action, "supervised_due": due})
    return db_incidents.get_incident(conn, row["id"])
