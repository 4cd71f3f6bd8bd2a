"""Writing the audit trail from anywhere in the app: ``audit(rt, action, …)``.

Who (the runtime's actor), what (``action``: ``login.ok``, ``incident.act``, ``plan.save``,
``export.download``, ``person.unmask``, ``request.denied`` …), on what (object type and id),
the result (ok / denied / failed) and a detail (before/after for roles and settings).  In
the caller's transaction when ``conn`` is given (the row commits with the change it records),
otherwise in a transaction of its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from onemap.access import Actor
from onemap.context import Runtime
from store import audit as db_audit
from store import scope


def audit(rt: Runtime, action: str, *, object_type: str | None = None,
          object_id: Any = None, result: str = "ok", detail: dict[str, Any] | None = None,
          address: str | None = None, conn: Connection | None = None,
          actor: Actor | None = None) -> None:
    who = actor or rt.actor
    values = dict(actor=who.label, role=who.role, action=action, result=result,
                  object_type=object_type, object_id=object_id,
                  address=address if address is not None else rt.address,
                  detail=detail)
    if conn is not None:
        db_audit.append(conn, **values)
        return
    with scope.acting(who), rt.engine.begin() as own:
        db_audit.append(own, **values)
