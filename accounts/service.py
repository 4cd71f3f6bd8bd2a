"""Accounts: who a user is as an :class:`~onemap.access.Actor`, and managing users and their
personal tokens (every change audited, with before/after for roles).

Callers: ``onemap user …`` (the command line), the admin page and the sign-in flow.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from accounts.audit import audit
from onemap import passwords
from onemap.access import ROLES, USER_ROLES, Actor, can
from onemap.context import Runtime
from onemap.errors import OneMapError
from store import scope
from store import users as db_users


class AccountError(OneMapError):
    """An account cannot be created or changed as asked; the message says why."""


class NotAllowed(OneMapError):
    """The acting user may not do this (answered 403, and audited as denied)."""


@dataclass(frozen=True)
class Scope:
    units: frozenset[int] | None
    unlocated: bool
    level: int | None = None  # of the home units, when they share one


def _scope(rt: Runtime, user: dict[str, Any]) -> Scope:
    code = user.get("unit_code")
    if not code or code == WHOLE:
        return Scope(None, True)  # no home unit, or 全域: the whole database
    versions = db_users.unit_versions(rt.engine, code)
    if not versions:
        return Scope(frozenset(), False)  # a unit that no longer exists: sees nothing
    levels = {int(v["level"]) for v in versions}
    return Scope(frozenset(v["id"] for v in versions), min(levels) == 0,
                 levels.pop() if len(levels) == 1 else None)


def actor_for(rt: Runtime, user: dict[str, Any], kind: str = "user") -> Actor:
    """The identity a user acts as: role, home units (every version of the unit code),
    department, and whether unplaced cases are in view (county-level desks)."""
    s = _scope(rt, user)
    return Actor(kind=kind, id=user["id"], name=user["display_name"], role=user["role"],
                 units=s.units, unlocated=s.unlocated, home_level=s.level,
                 department=user.get("department_id") if user["role"] == "department" else None,
                 username=user["username"])


def _require(rt: Runtime, action: str) -> None:
    if not can(rt.actor, action):
        audit(rt, "request.denied", result="denied", detail={"action": action})
        raise NotAllowed(f"{rt.actor.label} may not {action}")


def _check_role(role: str) -> None:
    if role not in USER_ROLES:
        raise AccountError(f"unknown role {role!r}; expected one of {', '.join(USER_ROLES)}")


#: the home "unit" of an account whose scope is the whole jurisdiction (全域): a province's
#: command centre above its top units, say.  Explicit, so no account gets it by omission.
WHOLE = "*"
#: roles that may hold the whole jurisdiction (a desk, a worker or a department may not)
WHOLE_ROLES = ("commander", "leader", "viewer", "planner")


def _check_unit(rt: Runtime, role: str, unit_code: str | None) -> None:
    if role not in ("admin", "auditor") and not unit_code:
        raise AccountError(f"a {role} needs a home unit: --unit CODE (its scope is that unit "
                           "and everything below it)"
                           + (", or --unit '*' for the whole jurisdiction (全域)"
                              if role in WHOLE_ROLES else ""))
    if unit_code == WHOLE:
        if role not in WHOLE_ROLES:
            raise AccountError(f"a {role} cannot hold the whole jurisdiction ('*'); give its "
                               "own unit: --unit CODE")
        return
    if unit_code and not any(v["current"] for v in db_users.unit_versions(rt.engine,
                                                                           unit_code)):
        raise AccountError(f"no current unit with code {unit_code!r}")


def add_user(rt: Runtime, username: str, *, role: str, password: str, display_name: str = "",
             unit_code: str | None = None, department: str | None = None,
             phone: str | None = None, must_change: bool = False) -> int:
    """Create an account (the password must pass :func:`onemap.passwords.check`)."""
    _require(rt, "user.manage")
    username = username.strip().lower()
    _check_role(role)
    _check_unit(rt, role, unit_code)
    passwords.check(password, username)
    department_id = None
    if department:
        department_id = db_users.department_id(rt.engine, department)
        if department_id is None:
            raise AccountError(f"no department with code {department!r}")
    elif role == "department":
        raise AccountError("a department desk needs --department CODE")
    if db_users.user(rt.engine, username=username):
        raise AccountError(f"a user named {username!r} exists already")
    with rt.engine.begin() as conn:
        try:
            user_id = db_users.insert_user(conn, {
                "username": username, "display_name": display_name.strip() or username,
                "role": role, "unit_code": unit_code, "department_id": department_id,
                "phone": phone, "password_hash": passwords.hash_password(password),
                "must_change_password": must_change})
        except Exception as exc:  # the check constraint on usernames
            if "ck_app_user_username" in str(exc):
                raise AccountError("a username is 2–64 lower-case letters, digits, '.', '_' "
                                   "or '-', starting with a letter or digit") from None
            raise
        audit(rt, "user.add", object_type="user", object_id=username, conn=conn,
              detail={"role": role, "unit": unit_code, "department": department})
    return user_id


def _existing(rt: Runtime, username: str) -> dict[str, Any]:
    found = db_users.user(rt.engine, username=username.strip().lower())
    if found is None:
        raise AccountError(f"no user named {username!r} (onemap user list)")
    return found


def change(rt: Runtime, username: str, **values: Any) -> dict[str, Any]:
    """Change role / unit / department / active / name of an account, audited before/after;
    a role or scope change ends the user's sessions."""
    _require(rt, "user.manage")
    found = _existing(rt, username)
    if "role" in values:
        _check_role(values["role"])
    if "role" in values or "unit_code" in values:
        _check_unit(rt, values.get("role", found["role"]),
                    values.get("unit_code", found["unit_code"]))
    before = {k: found.get(k) for k in values}
    with rt.engine.begin() as conn:
        db_users.update_user(conn, found["id"], values)
        if {"role", "unit_code", "department_id", "active"} & set(values):
            db_users.end_sessions_of(conn, found["id"], "account changed")
        audit(rt, "user.change", object_type="user", object_id=found["username"], conn=conn,
              detail={"before": before, "after": values})
    return {**found, **values}


def lock(rt: Runtime, username: str) -> None:
    change(rt, username, active=False)


def unlock(rt: Runtime, username: str) -> None:
    change(rt, username, active=True, failed_logins=0, locked_until=None)


def reset_password(rt: Runtime, username: str, password: str | None = None) -> str:
    """Set a new password (random when not given); the user must change it at next sign-in.
    Returns the password (shown once)."""
    _require(rt, "user.manage")
    found = _existing(rt, username)
    password = password or passwords.generate()
    passwords.check(password, found["username"])
    with rt.engine.begin() as conn:
        db_users.update_user(conn, found["id"], {
            "password_hash": passwords.hash_password(password), "must_change_password": True,
            "password_changed_at": datetime.now(UTC), "failed_logins": 0,
            "locked_until": None})
        db_users.end_sessions_of(conn, found["id"], "password reset")
        audit(rt, "user.reset_password", object_type="user", object_id=found["username"],
              conn=conn)
    return password


def list_users(rt: Runtime) -> list[dict[str, Any]]:
    _require(rt, "user.manage")
    out = []
    for u in db_users.users(rt.engine):
        out.append({**u, "role_zh": ROLES[u["role"]].zh})
    return out


def issue_token(rt: Runtime, username: str, days: int = 90) -> str:
    """A personal API token for ``username`` (shown once, stored hashed), scoped as the
    user; it stops working after ``days`` or when revoked."""
    _require(rt, "user.manage")
    if not 1 <= days <= 366:
        raise AccountError("--days must be between 1 and 366")
    found = _existing(rt, username)
    prefix = secrets.token_hex(4)
    token = f"omu_{prefix}_{secrets.token_urlsafe(32)}"
    with rt.engine.begin() as conn:
        db_users.insert_token(conn, found["id"], prefix, token,
                              datetime.now(UTC) + timedelta(days=days))
        audit(rt, "token.issue", object_type="user", object_id=found["username"], conn=conn,
              detail={"prefix": prefix, "days": days})
    return token


def revoke_token(rt: Runtime, prefix: str) -> int:
    _require(rt, "user.manage")
    with rt.engine.begin() as conn:
        n = db_users.revoke_token(conn, prefix)
        audit(rt, "token.revoke", object_type="token", object_id=prefix, conn=conn,
              result="ok" if n else "failed")
    return n


def token_actor(rt: Runtime, token: str) -> Actor | None:
    """The actor of a personal token (its user's role and scope), or None."""
    if not token.startswith("omu_") or len(token) > 200:
        return None
    with scope.acting(None):
        found = db_users.token_user(rt.engine, token)
        if found is None:
            return None
        user = db_users.user(rt.engine, user_id=found["user_id"])
    if user is None or not user["active"]:
        return None
    actor = actor_for(rt, user, kind="token")
    return actor
