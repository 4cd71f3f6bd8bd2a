"""Revealing personal data: one record, for a user whose role may (``person.unmask``), after
a reason, audited.  Everything else sees the masked values the data layer returns."""

from __future__ import annotations

from typing import Any

from accounts.audit import audit
from accounts.service import NotAllowed
from onemap.access import can
from onemap.context import Runtime
from onemap.errors import OneMapError
from store import incidents as db_incidents
from store import wall as db_wall

MIN_REASON = 4
KINDS = ("incident", "worker")


class RevealRefused(OneMapError):
    """No reason given, or nothing to reveal (answered 400/404)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def reveal(rt: Runtime, kind: str, object_id: int, reason: str) -> dict[str, Any]:
    """The unmasked contact fields of one case (reporter, grid worker) or one grid worker.
    Raises :class:`RevealRefused` (no reason; not found — also outside the scope) or
    :class:`~accounts.service.NotAllowed`; every attempt is audited."""
    reason = (reason or "").strip()
    if kind not in KINDS:
        raise RevealRefused(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if len(reason) < MIN_REASON:
        raise RevealRefused(f"请填写查看原因（至少 {MIN_REASON} 个字）/ give a reason (at least "
                            f"{MIN_REASON} characters)")
    if kind == "incident":
        with rt.engine.connect() as conn:
            row = db_incidents.get_incident(conn, int(object_id), with_events=False,
                                            reveal=True)
        fields = None if row is None else {
            "reporter": row.get("reporter"),
            "grid_worker": {"name": row.get("grid_worker_name"),
                            "phone": row.get("grid_worker_phone")}}
    else:
        row = db_wall.worker(rt.engine, int(object_id))
        fields = None if row is None else {"name": row["name"], "phone": row["phone"]}
    if row is None:
        audit(rt, "person.unmask", object_type=kind, object_id=object_id, result="failed",
              detail={"reason": reason, "why": "not found"})
        raise RevealRefused(f"no {kind} {object_id}", status=404)
    if not can(rt.actor, "person.unmask", row if kind == "incident" else None):
        audit(rt, "person.unmask", object_type=kind, object_id=object_id, result="denied",
              detail={"reason": reason})
        raise NotAllowed("your role may not reveal personal data")
    audit(rt, "person.unmask", object_type=kind, object_id=object_id,
          detail={"reason": reason, "fields": sorted(fields)})
    return fields
