"""The first accounts: one administrator with a random password on a fresh install, and —
only when demo data is loaded — one demo user per role with a known demo password."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from accounts.service import add_user
from geo.levels import CITY, COUNTY, TOP, TOWN, VILLAGE
from onemap import passwords
from onemap.access import USER_ROLES, Actor
from onemap.context import Runtime
from store import users as db_users

SETUP = Actor(kind="system", id=0, name="setup", role="cli")
#: The demo users' password (README): for demo data only, never on real data.
DEMO_PASSWORD = "Demo-2026-onemap"


def ensure_admin(rt: Runtime, var_dir: str) -> str | None:
    """Create the account ``admin`` when it does not exist; its random password is written
    once to ``var/admin-password`` (0600) and returned.  None when it exists."""
    rt = rt.acting_as(SETUP)
    if db_users.user(rt.engine, username="admin") is not None:
        return None
    password = passwords.generate()
    add_user(rt, "admin", role="admin", password=password, display_name="系统管理员")
    path = Path(var_dir) / "admin-password"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    return password


def demo_users(rt: Runtime) -> list[dict[str, Any]]:
    """One user per role named ``demo_<role>`` (plus a town commander, ``demo_town``) with
    :data:`DEMO_PASSWORD`; skipped when they exist.  Returns what was created."""
    rt = rt.acting_as(SETUP)
    units = db_users.first_branch(rt.engine)
    if not units:
        return []
    county, town = units.get(TOP), units.get(TOWN, units.get(TOP))
    grid = units[max(units)]
    department = db_users.department_codes(rt.engine)[:1]
    homes = {"admin": None, "auditor": None, "grid_worker": grid, "handler": town}
    made = []
    plan = [(f"demo_{role}", role, homes.get(role, county)) for role in USER_ROLES]
    plan.append(("demo_town", "commander", town))
    if units.get(VILLAGE):  # the village desk of the demo grid: 村接单
        plan.append(("demo_village", "handler", units[VILLAGE]))
    if CITY is not None and units.get(COUNTY):  # five levels: a county's commander too
        plan.append(("demo_county", "commander", units[COUNTY]))
    for username, role, unit in plan:
        if role == "department" and not department:
            continue
        if db_users.user(rt.engine, username=username):
            continue
        add_user(rt, username, role=role, password=DEMO_PASSWORD,
                 display_name=f"演示{role}", unit_code=unit,
                 department=department[0] if role == "department" else None)
        made.append({"username": username, "role": role, "unit": unit,
                     "department": db_users.department_name(rt.engine, department[0])
                     if role == "department" else None})
    return made
