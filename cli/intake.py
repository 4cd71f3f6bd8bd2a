"""`onemap escalate` (for cron) and `onemap apikey add|list|revoke`."""


from __future__ import annotations

import argparse
from typing import Any

from cli.common import open_runtime
from geo.catalog import SOURCES
from onemap.settings import Settings


def cmd_escalate(settings: Settings, args: argparse.Namespace) -> int:
    from intake.service import escalate_overdue

    run = escalate_overdue(open_runtime(settings, migrate=True), batch=args.batch)
    print(f"[onemap] {run}")
    return 0


def cmd_apikey(settings: Settings, args: argparse.Namespace) -> int:
    from onemap.errors import ConfigError
    from store import api_keys

    engine = open_runtime(settings, migrate=True).engine
    if args.action == "add":
        if not args.source or not args.name:
            raise ConfigError("apikey add needs --source CHANNEL and --name NAME, e.g. "
                              "onemap apikey add --source hotline_12345 --name 12345热线")
        with engine.begin() as conn:
            key = api_keys.create_key(conn, args.name, args.source, args.role, args.unit)
        print(key)
        where = f"limited to unit {args.unit} and below" if args.unit else "everywhere"
        print(f"[onemap] key for {args.name} ({args.source}, {args.role}, {where}); it is "
              "shown only once — only its SHA-256 is stored. Send it as 'X-API-Key: <key>'.")
    elif args.action == "list":
        with engine.connect() as conn:
            rows = api_keys.list_keys(conn)
        if not rows:
            print("[onemap] no API keys yet: onemap apikey add --source … --name …")
        for r in rows:
            state = f"revoked {r['revoked_at']:%Y-%m-%d}" if r["revoked_at"] else "active"
            print(f"{r['prefix']}  {r['source']:<14} {r['role']:<9} "
                  f"{r['unit_code'] or '(all)':<16} {state:<18} {r['name']}")
    else:
        if not args.prefix:
            raise ConfigError("apikey revoke needs the key's prefix (see onemap apikey list)")
        with engine.begin() as conn:
            n = api_keys.revoke_key(conn, args.prefix)
        if not n:
            raise ConfigError(f"no active key with prefix {args.prefix!r}")
        api_keys.clear_cache()
        print(f"[onemap] revoked {n} key(s); running servers stop accepting it within "
              f"{api_keys.CACHE_SECONDS:g} s")
    return 0


def register(subparsers: Any) -> None:
    esc = subparsers.add_parser(
        "escalate", help="escalate overdue incidents one level up (for cron; the server also "
                         "runs it every ONEMAP_ESCALATE_EVERY seconds)")
    esc.add_argument("--batch", type=int, default=500, help="rows per transaction")
    esc.set_defaults(func=cmd_escalate)

    key = subparsers.add_parser("apikey", help="API keys of the channels: add, list, revoke")
    key.add_argument("action", choices=["add", "list", "revoke"])
    key.add_argument("prefix", nargs="?", help="revoke: the key's prefix")
    key.add_argument("--source", choices=list(SOURCES), help="add: the channel")
    key.add_argument("--name", help="add: who uses the key, e.g. 12345热线")
    key.add_argument("--role", choices=["reporter", "operator"], default="reporter",
                     help="reporter: submit and rate its channel's reports; operator: also "
                          "act on any case")
    key.add_argument("--unit", default=None, metavar="CODE",
                     help="add: limit the key to this unit and below (e.g. a county's code); "
                          "reports elsewhere are refused and reads return only its cases")
    key.set_defaults(func=cmd_apikey)
