"""`onemap user add|list|lock|unlock|reset-password|set-role|token|revoke-token` and
`onemap audit verify|list` (the command line acts as the shell's user, audited)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.common import open_runtime, say
from onemap.access import USER_ROLES
from onemap.errors import ConfigError
from onemap.settings import Settings


def _password(args: argparse.Namespace) -> str | None:
    if getattr(args, "password_stdin", False):
        line = sys.stdin.readline().rstrip("\n")
        if not line:
            raise ConfigError("--password-stdin: no password on standard input")
        return line
    return None


def cmd_user(settings: Settings, args: argparse.Namespace) -> int:
    from accounts import service

    rt = open_runtime(settings, migrate=True)
    action = args.action
    if action == "list":
        for u in service.list_users(rt):
            state = "active" if u["active"] else "disabled"
            print(f"{u['username']:<20} {u['role']:<12} {u['role_zh']:<12} "
                  f"{u['unit_code'] or '(all)':<16} {state:<9} "
                  f"{'totp' if u['totp_enabled'] else '':<5} {u['display_name']}")
        return 0
    if not args.username:
        raise ConfigError(f"user {action} needs a USERNAME")
    if action == "add":
        if not args.role:
            raise ConfigError(f"user add needs --role ({', '.join(USER_ROLES)})")
        password = _password(args)
        if password is None:
            raise ConfigError("user add needs --password-stdin (the password is read from "
                              "standard input, never from the command line)")
        service.add_user(rt, args.username, role=args.role, password=password,
                         display_name=args.name or "", unit_code=args.unit,
                         department=args.department, must_change=args.must_change)
        say(f"user {args.username} added ({args.role}, scope {args.unit or 'everywhere'})")
    elif action == "lock":
        service.lock(rt, args.username)
        say(f"user {args.username} disabled; their sessions are ended")
    elif action == "unlock":
        service.unlock(rt, args.username)
        say(f"user {args.username} enabled and unlocked")
    elif action == "reset-password":
        password = service.reset_password(rt, args.username, _password(args))
        if not args.password_stdin:
            print(password)
        say(f"password of {args.username} reset; it must be changed at the next sign-in")
    elif action == "set-role":
        if not args.role and args.unit is None:
            raise ConfigError("set-role needs --role ROLE and/or --unit CODE")
        values: dict[str, Any] = {}
        if args.role:
            values["role"] = args.role
        if args.unit is not None:
            values["unit_code"] = args.unit or None
        service.change(rt, args.username, **values)
        say(f"user {args.username}: {values}; their sessions are ended")
    elif action == "token":
        print(service.issue_token(rt, args.username, args.days))
        say(f"personal token for {args.username}, valid {args.days} days, scoped like the "
            "user; shown once — only its SHA-256 is stored. Send it as 'X-API-Key: <token>'.")
    elif action == "revoke-token":
        if not service.revoke_token(rt, args.username):
            raise ConfigError(f"no active token with prefix {args.username!r}")
        say("token revoked")
    return 0


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    from store import audit as db_audit

    rt = open_runtime(settings, migrate=True)
    if args.action == "verify":
        result = db_audit.verify(rt.engine)
        if result["first_broken"] is None:
            say(f"audit trail intact: {result['rows']} rows, every hash links to the one "
                "before")
            return 0
        print(f"onemap: audit trail BROKEN at row {result['first_broken']}: "
              f"{result['reason']}", file=sys.stderr)
        return 1
    for r in reversed(db_audit.search(rt.engine, actor=args.actor, action=args.filter,
                                      limit=args.limit)):
        print(f"{r['id']:>7} {r['at']:%Y-%m-%d %H:%M:%S} {r['actor']:<22} {r['action']:<20} "
              f"{r['result']:<7} {r['object_type'] or ''} {r['object_id'] or ''}")
    return 0


def register(sub: Any) -> None:
    user = sub.add_parser("user", help="accounts: add, list, lock, unlock, reset-password, "
                                       "set-role, token, revoke-token")
    user.add_argument("action", choices=["add", "list", "lock", "unlock", "reset-password",
                                         "set-role", "token", "revoke-token"])
    user.add_argument("username", nargs="?", help="the user (revoke-token: the prefix)")
    user.add_argument("--role", choices=list(USER_ROLES))
    user.add_argument("--unit", help="home unit code: the user's scope is it and below; '*' "
                      "for the whole jurisdiction (全域: commander, leader, viewer, planner)")
    user.add_argument("--department", help="department code (department desks)")
    user.add_argument("--name", help="display name, e.g. 张三")
    user.add_argument("--password-stdin", action="store_true",
                      help="read the password from standard input")
    user.add_argument("--must-change", action="store_true",
                      help="the user must change the password at the first sign-in")
    user.add_argument("--days", type=int, default=90, help="token: days it stays valid")
    user.set_defaults(func=cmd_user)

    audit = sub.add_parser("audit", help="the audit trail: verify the hash chain, list rows")
    audit.add_argument("action", choices=["verify", "list"])
    audit.add_argument("--actor", help="list: only this actor (e.g. user:admin)")
    audit.add_argument("--filter", help="list: actions starting with this (e.g. login)")
    audit.add_argument("--limit", type=int, default=50)
    audit.set_defaults(func=cmd_audit)
