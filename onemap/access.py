"""Who is acting, and the one function that decides what they may do.

An :class:`Actor` is the identity every service call runs under: a channel's API key, the
command wall's built-in operator, the command line, or the system's own jobs.  Whether an actor
may do something is decided by :func:`can` and nowhere else (Datasette's
``permission_allowed(actor, action, resource)`` habit): pages, HTTP doors and services ask it,
they never compare roles themselves.  Issue #10 fills actors from real user accounts; the rules
for the roles that exist today are in :data:`RULES`.

This module is part of the kernel: it imports nothing else of the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    """Who is acting: ``kind`` (apikey / wall / cli / system), an id, a display name, the
    role that :func:`can` reads, the channel (``source``) a reporter key speaks for, and the
    unit ids the actor may see (``None``: every unit)."""

    kind: str
    id: int
    name: str
    role: str
    source: str | None = None
    prefix: str = ""
    units: frozenset[int] | None = None

    @property
    def label(self) -> str:
        """How the actor is named in the audit trail (``key:<prefix>``, ``wall``, ``cli:root``)."""
        if self.kind == "apikey":
            return f"key:{self.prefix}"
        return self.kind if self.kind in ("wall", "system") else f"{self.kind}:{self.name}"


#: The command wall's operator (the wall's action buttons act as this identity until #10).
WALL_OPERATOR = Actor(kind="wall", id=0, name="指挥中心大屏", role="operator",
                      source="hotline_12345")
#: The system's own jobs (escalation, loads started by the server).
SYSTEM = Actor(kind="system", id=0, name="系统", role="system")


def cli_actor(user: str) -> Actor:
    """The person at the command line (the shell account; a trusted administrator)."""
    return Actor(kind="cli", id=0, name=user or "unknown", role="operator")


#: role → actions it may take anywhere in its scope.
RULES: dict[str, frozenset[str]] = {
    "reporter": frozenset({"incident.submit_own_channel", "incident.read_own_channel",
                           "incident.rate_own_channel"}),
    "operator": frozenset({"incident.submit", "incident.submit_own_channel", "incident.read",
                           "incident.read_own_channel", "incident.read_private",
                           "incident.act", "incident.rate", "incident.rate_own_channel",
                           "plan.save", "report.export"}),
    "system": frozenset({"incident.submit", "incident.read", "incident.read_private",
                         "incident.act", "incident.escalate", "plan.save", "report.export"}),
}


def can(actor: Actor | None, action: str, resource: Any = None) -> bool:
    """May ``actor`` take ``action`` on ``resource``?  The one permission check.

    Actions: ``incident.submit`` (any channel), ``incident.read`` (every case),
    ``incident.read_private`` (reporter contact, private categories), ``incident.act``
    (workflow actions), ``incident.rate``, ``plan.save``, ``report.export``.  A reporter key
    may submit, read and rate only its own channel's reports: pass the report's or case's
    channel (a string, or anything with a ``source`` attribute or key) as ``resource``.
    """
    if actor is None:
        return False
    allowed = RULES.get(actor.role, frozenset())
    if action in allowed:
        return _in_scope(actor, resource)
    own = f"{action}_own_channel"
    if own in allowed and resource is not None:
        return _source_of(resource) == actor.source and _in_scope(actor, resource)
    return False


def _source_of(resource: Any) -> str | None:
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict):
        return resource.get("source")
    return getattr(resource, "source", None)


def _in_scope(actor: Actor, resource: Any) -> bool:
    if actor.units is None or resource is None or isinstance(resource, str):
        return True
    unit_ids = resource.get("unit_ids") if isinstance(resource, dict) else getattr(
        resource, "unit_ids", None)
    if not unit_ids:
        return True
    values = unit_ids.values() if isinstance(unit_ids, dict) else unit_ids
    return any(u in actor.units for u in values if u is not None)
