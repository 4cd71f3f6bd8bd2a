"""The desk (工作台, #16): each person in the loop sees the cases that wait for them.

Which cases: the actor's scope (row-level security: units, and a department desk's
department) and, for a level desk (``handler``), the cases handled at the level of its home
unit — a village desk takes village cases, a town desk town cases.  Which actions: those of
the workflow from the case's state that the actor's role may take (:func:`onemap.access.can`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from geo.workflow import NOTE_ACTIONS, OPEN_FOR_NOTES, allowed_actions
from intake import oversight, service
from intake.schema import ActionIn, ReportError
from onemap.access import can
from onemap.context import Runtime
from store import desk as db_desk

QUEUE_NAMES = tuple(db_desk.QUEUES)
SOON = timedelta(hours=24)


@dataclass(frozen=True)
class Desk:
    level: int | None  # the level a handler's desk handles (None: every level)
    now: datetime
    soon: datetime


def desk_for(rt: Runtime, now: datetime | None = None) -> Desk:
    now = now or datetime.now(UTC)
    level = None
    if rt.actor.role == "handler":
        tops = rt.units.tree().tops()
        if tops:
            level = rt.units.tree().units[tops[0]]["level"]
    return Desk(level, now, now + SOON)


def counts(rt: Runtime, filters: dict[str, Any] | None = None) -> dict[str, int]:
    d = desk_for(rt)
    return db_desk.counts(rt.engine, d.now, d.soon, d.level, filters)


def queue(rt: Runtime, name: str, filters: dict[str, Any] | None = None, *, limit: int = 50,
          offset: int = 0) -> list[dict[str, Any]]:
    if name not in db_desk.QUEUES:
        raise ReportError(f"unknown queue {name!r}; one of {', '.join(QUEUE_NAMES)}")
    d = desk_for(rt)
    return db_desk.queue(rt.engine, name, d.now, d.soon, d.level, filters, limit, offset)


def actions_for(rt: Runtime, case: dict[str, Any]) -> tuple[str, ...]:
    """The workflow's actions from the case's state that this actor may take on it, and
    催办/督办 when it may note from above."""
    out: list[str] = []
    if can(rt.actor, "incident.act", case):
        out += [a for a in allowed_actions(case["status"], case.get("handling_level"))
                if a not in ("rate", "reopen", "locate")]
    if case["status"] in OPEN_FOR_NOTES and oversight.may_note_from_above(rt, case):
        out += list(NOTE_ACTIONS)
    return tuple(out)


def act_many(rt: Runtime, ids: list[int], action: str, note: str | None = None
             ) -> dict[int, str]:
    """Bulk accept or dispatch: each case on its own (one refusal does not stop the rest);
    returns id → "ok" or the reason."""
    if action not in ("accept", "dispatch"):
        raise ReportError("bulk actions are accept and dispatch")
    out: dict[int, str] = {}
    for incident_id in ids:
        try:
            service.act(rt, int(incident_id), ActionIn(action=action, note=note,
                                                       actor=rt.actor.name))
            out[int(incident_id)] = "ok"
        except ReportError as err:
            out[int(incident_id)] = str(err)
    return out
