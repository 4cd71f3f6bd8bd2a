"""Who is acting, and the one function that decides what they may do.

An :class:`Actor` is the identity every service call runs under: a signed-in user, a user's
personal token, a channel's API key, the command line, or the system's own jobs.  Whether an
actor may do something is decided by :func:`can` and nowhere else (Datasette's
``permission_allowed(actor, action, resource)`` habit, FixMyStreet's per-area roles): pages,
HTTP doors and services ask it, they never compare roles themselves.

Scope: every actor has home units (``units``; ``None`` = everywhere).  What it may see is the
subtree below them — a county user sees the county, a town user that town.  A case carries the
unit ids of every level frozen at receipt (``unit_ids``), so "in scope" is "one of its units is
a home unit".  The database applies the same scope a second time by row-level security
(:func:`db_scope` is what the data layer sets per transaction).

This module is part of the kernel: it imports nothing else of the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Role:
    code: str
    zh: str
    en: str
    actions: frozenset[str]
    needs_totp: bool = False


@dataclass(frozen=True)
class Actor:
    """Who is acting: ``kind`` (user / token / apikey / cli / system), an id, a display name,
    the role :func:`can` reads, the channel (``source``) a reporter key speaks for, the home
    unit ids (``None``: every unit), the department of a department desk, and whether cases
    without a place (unlocated) are in view (top-level desks)."""

    kind: str
    id: int
    name: str
    role: str
    source: str | None = None
    prefix: str = ""
    units: frozenset[int] | None = None
    department: int | None = None
    unlocated: bool = True
    username: str = ""
    #: the level of the home units (all versions of one code share it), when known: the data
    #: layer then repeats the scope as a condition an index serves (store.measures)
    home_level: int | None = None

    @property
    def label(self) -> str:
        """How the actor is named in the audit trail (``key:<prefix>``, ``user:<name>``)."""
        if self.kind == "apikey":
            return f"key:{self.prefix}"
        if self.kind in ("user", "token"):
            return f"user:{self.username or self.name}"
        return self.kind if self.kind == "system" else f"{self.kind}:{self.name}"

    @property
    def everywhere(self) -> bool:
        return self.units is None and self.department is None


_READ = {"wall.view", "monthly.view", "incident.read"}
_ACT = {"incident.read", "incident.act", "incident.submit", "incident.rate"}

#: The roles of people, with their Chinese and English names and what they may do in scope.
ROLES: dict[str, Role] = {r.code: r for r in (
    Role("admin", "系统管理员", "Administrator",
         frozenset({"user.manage", "apikey.manage"}), needs_totp=True),
    Role("auditor", "安全审计员", "Auditor", frozenset({"audit.read"}), needs_totp=True),
    Role("commander", "指挥中心", "Command centre",
         frozenset(_READ | _ACT | {"incident.read_private", "person.unmask", "report.export",
                                   "incident.urge", "desk.view"})),
    Role("handler", "处置岗(村/镇/县)", "Level desk",
         frozenset(_READ | _ACT | {"incident.read_private", "desk.view", "report.export"})),
    Role("department", "职能部门", "Department desk",
         frozenset({"incident.read", "incident.act", "desk.view"})),
    Role("grid_worker", "网格员", "Grid worker",
         frozenset({"incident.read", "incident.act", "incident.submit", "desk.view",
                    "mobile.use"})),
    Role("planner", "网格规划员", "Grid planner", frozenset({"plan.view", "plan.save"})),
    Role("leader", "领导", "Leader", frozenset(_READ | {"report.export"})),
    Role("viewer", "只读用户", "Viewer", frozenset({"wall.view", "monthly.view"})),
)}

#: role → actions it may take anywhere in its scope (people's roles, keys and the system).
RULES: dict[str, frozenset[str]] = {code: role.actions for code, role in ROLES.items()}
RULES.update({
    "reporter": frozenset({"incident.submit_own_channel", "incident.read_own_channel",
                           "incident.rate_own_channel"}),
    # A channel's operator key (and the command line): a command centre without a screen.
    "operator": frozenset({"incident.submit", "incident.submit_own_channel", "incident.read",
                           "incident.read_own_channel", "incident.read_private",
                           "incident.act", "incident.rate", "incident.rate_own_channel",
                           "plan.save", "report.export"}),
    # The reporter on the citizen page: rates the one case its link names.
    "citizen": frozenset({"incident.rate"}),
    "system": frozenset({"incident.submit", "incident.read", "incident.read_private",
                         "incident.act", "incident.escalate", "plan.save", "report.export"}),
})

# The command line (the shell account that owns the database) and set-up: every action.
RULES["cli"] = frozenset().union(*RULES.values())

#: Roles a person's account may hold (keys hold reporter / operator).
USER_ROLES = tuple(ROLES)

#: The system's own jobs (escalation, loads started by the server, caches of aggregates).
SYSTEM = Actor(kind="system", id=0, name="系统", role="system")
#: Nobody: what a request without a session or key acts as (may do nothing, sees nothing).
ANONYMOUS = Actor(kind="anonymous", id=0, name="anonymous", role="anonymous",
                  units=frozenset(), unlocated=False)


def cli_actor(user: str) -> Actor:
    """The person at the command line (the shell account; a trusted administrator)."""
    return Actor(kind="cli", id=0, name=user or "unknown", role="cli")


def role_name(code: str, lang: str = "zh") -> str:
    role = ROLES.get(code)
    if role is None:
        return code
    return role.zh if lang == "zh" else role.en


def can(actor: Actor | None, action: str, resource: Any = None) -> bool:
    """May ``actor`` take ``action`` on ``resource``?  The one permission check.

    Actions: ``wall.view``, ``monthly.view``, ``report.export``, ``plan.view``, ``plan.save``,
    ``incident.submit`` / ``read`` / ``read_private`` (reporter contact) / ``act`` / ``rate`` /
    ``escalate`` / ``urge``, ``person.unmask``, ``desk.view``, ``mobile.use``,
    ``user.manage``, ``apikey.manage``, ``audit.read``.  ``resource`` narrows the answer: a
    channel name or anything with ``source`` (a reporter key acts for its own channel only),
    and anything with ``unit_ids`` (a case: its unit at every level) or ``department_id``
    (and ``support_department_ids``), which must be in the actor's scope.  A department
    that only supports a case (协办) reads it; the lead department acts on it.
    """
    if actor is None:
        return False
    allowed = RULES.get(actor.role, frozenset())
    if action in allowed:
        if action == "incident.act" and actor.department is not None \
                and _get(resource, "department_id") not in (None, actor.department):
            return False  # a supporting department (协办) sees the case; the lead acts
        return in_scope(actor, resource)
    own = f"{action}_own_channel"
    if own in allowed and resource is not None:
        return _source_of(resource) == actor.source and in_scope(actor, resource)
    return False


def _source_of(resource: Any) -> str | None:
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict):
        return resource.get("source")
    return getattr(resource, "source", None)


#: the frozen unit columns of a case (geo.levels.ALL_COLUMNS; the kernel does not import geo)
_UNIT_COLUMNS = ("city_id", "county_id", "town_id", "village_id", "grid_id")


def _get(resource: Any, name: str) -> Any:
    if isinstance(resource, dict):
        return resource.get(name)
    return getattr(resource, name, None)


def in_scope(actor: Actor, resource: Any) -> bool:
    """Is ``resource`` (a case with ``unit_ids``, a unit with its ancestors' ids as
    ``unit_ids``, a row with ``department_id``) inside the actor's scope?  Objects without a
    place (no unit ids) are in view of actors that see unlocated cases."""
    if resource is None or isinstance(resource, str):
        return True
    if actor.department is not None and _get(resource, "department_id") is not None \
            and _get(resource, "department_id") != actor.department \
            and actor.department not in (_get(resource, "support_department_ids") or ()):
        return False  # a department desk: the cases it leads or supports
    if actor.units is None:
        return True
    unit_ids = _get(resource, "unit_ids")
    if unit_ids is None:
        ids = [_get(resource, k) for k in _UNIT_COLUMNS]
        unit_ids = [i for i in ids if i is not None] if any(
            isinstance(resource, dict) and k in resource for k in _UNIT_COLUMNS) else None
    if unit_ids is None:
        return True  # not a placed object (a channel, a report being checked elsewhere)
    values = [u for u in (unit_ids.values() if isinstance(unit_ids, dict) else unit_ids)
              if u is not None]
    if not values:
        return actor.unlocated
    return any(u in actor.units for u in values)


def db_scope(actor: Actor | None) -> dict[str, str]:
    """The settings the data layer puts on each transaction for ``actor`` (read by the
    row-level security policies): ``onemap.scope`` is ``all`` or the home unit ids,
    ``onemap.unlocated`` says whether unplaced cases are in view, ``onemap.department``
    narrows a department desk to its cases.  No actor: an empty scope, no rows."""
    if actor is None:
        return {"onemap.scope": "", "onemap.unlocated": "off", "onemap.department": ""}
    if actor.units is None:
        scope = "all"
    else:
        scope = ",".join(str(u) for u in sorted(actor.units)) or "none"
    return {"onemap.scope": scope,
            "onemap.unlocated": "on" if actor.unlocated else "off",
            "onemap.department": "" if actor.department is None else str(actor.department)}
