"""`onemap setup` and `onemap db up|down|status|shell|url|migrate|reset`."""

from __future__ import annotations

import argparse
import os
import subprocess
from typing import Any

from cli.common import say as _say
from onemap.settings import Settings


# --- setup ---------------------------------------------------------------------------------
def cmd_setup(settings: Settings, args: argparse.Namespace) -> int:
    from cli.bootstrap import prepare_database, start_server

    start_server(settings)
    if args.for_tests:
        from onemap.system import ensure_browser, ensure_nginx, ensure_pdf_tools

        ensure_browser()
        ensure_pdf_tools()
        ensure_nginx()
        _say("database server, browser, PDF tools and nginx ready for the tests")
        return 0
    engine = prepare_database(settings, demo=not args.no_demo)
    from store import repository

    counts = repository.unit_counts_by_level(engine)
    _say(f"database ready ({engine.url.host}:{engine.url.port}/{engine.url.database}); "
         f"units per level: {counts or 'none'}")
    from accounts.bootstrap import ensure_admin
    from store.runtime import build_runtime

    password = ensure_admin(build_runtime(settings, engine=engine), settings.var_dir)
    if password:
        _say(f"administrator created — username: admin  password: {password}  (shown once; "
             f"also in {settings.var_path / 'admin-password'}, mode 0600). Signing in asks "
             "to set up an authenticator app (TOTP) first.")
    return 0


# --- db ------------------------------------------------------------------------------------
def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    from cli.bootstrap import embedded_cluster, prepare_database, start_server
    from store.engine import database_url

    action = args.action
    if action in ("backup", "restore", "replica"):
        from cli import backup

        return getattr(backup, f"cmd_{action}")(settings, args)
    if action in ("partitions", "archive"):
        return _partitions(settings, args)
    if action == "tally":
        return _tally(settings, args)
    if action == "up":
        start_server(settings)
        _say(_db_status(settings))
        return 0
    if action == "url":
        print(database_url(settings))
        return 0
    if action == "migrate":
        start_server(settings)
        prepare_database(settings, demo=False)
        _say("schema at head")
        return 0
    if action == "reset":
        start_server(settings)
        prepare_database(settings, fresh=True, demo=not args.no_demo)
        _say("database recreated")
        return 0
    if action == "shell":
        start_server(settings)
        return _psql(settings)
    if not settings.embedded:
        _say(f"DATABASE_URL is set; OneMap does not manage that server ({action} ignored).")
        return 0
    cluster = embedded_cluster(settings)
    if action == "down":
        _say("cluster stopped" if cluster.stop() else "cluster was not running")
        return 0
    print(cluster.status().describe())
    return 0


def _partitions(settings: Settings, args: argparse.Namespace) -> int:
    """`onemap db partitions` (list, make the months ahead) and `onemap db archive --before`."""
    from datetime import date

    from accounts.audit import audit
    from cli.common import open_runtime
    from onemap.errors import ConfigError
    from store import partitions

    rt = open_runtime(settings, migrate=True)
    if args.action == "partitions":
        with rt.engine.begin() as conn:
            made = partitions.ahead(conn)
            found = partitions.listing(conn)
        for p in found:
            span = (f"{p.start:%Y-%m-%d} … {p.end:%Y-%m-%d}" if p.start else "DEFAULT (outside "
                    "every month)")
            print(f"{p.name:32} {span:28} {p.rows:>12,} rows")
        _say(f"{len(found)} partitions; {made} month(s) made now")
        return 0
    if not args.before:
        raise ConfigError("Say up to which month: onemap db archive --before 2025-01")
    try:
        year, month = (int(x) for x in args.before.split("-")[:2])
        before = date(year, month, 1)
    except ValueError as exc:
        raise ConfigError(f"--before {args.before!r} is not a month (YYYY-MM).") from exc
    directory = settings.var_path / "archive"
    done = partitions.archive(rt.engine, before, directory)
    for item in done:
        audit(rt, "db.archive", object_type="partition", object_id=item.partition,
              detail={"rows": item.rows, "file": str(item.path), "sha256": item.sha256})
        print(f"{item.partition}: {item.rows:,} rows → {item.path}")
    _say(f"{len(done)} month(s) of incident history archived to {directory}"
         if done else f"no month ends before {before:%Y-%m}")
    return 0


def _tally(settings: Settings, args: argparse.Namespace) -> int:
    """`onemap db tally`: the monthly tallies' zone and size; ``--compact`` folds their delta
    rows, ``--rebuild`` makes them again from the cases in ONEMAP_TIMEZONE."""
    from accounts.audit import audit
    from cli.common import open_runtime
    from store import tally

    rt = open_runtime(settings, migrate=True)
    if args.rebuild:
        with rt.engine.begin() as conn:
            made = tally.rebuild(conn, settings.timezone)
        audit(rt, "db.tally.rebuild", object_type="incident_tally", object_id=settings.timezone,
              detail={"rows": made})
        _say(f"monthly tallies rebuilt from the cases, months in {settings.timezone}: "
             f"{made:,} rows")
    if args.compact:
        with rt.engine.begin() as conn:
            removed = tally.compact(conn)
        audit(rt, "db.tally.compact", object_type="incident_tally", object_id="",
              detail={"removed": removed})
        _say(f"monthly tallies compacted: {removed:,} rows folded away")
    with rt.engine.connect() as conn:
        state = tally.status(conn)
    print(f"zone {state['tz']}, {state['rows']:,} rows ({state['loose']:,} not compacted), "
          f"months {state['first'] or '-'} … {state['last'] or '-'}")
    if state["tz"] != settings.timezone:
        _say(f"the tallies count months in {state['tz']} but ONEMAP_TIMEZONE is "
             f"{settings.timezone}: reports read the cases until `onemap db tally --rebuild`")
    return 0


def _db_status(settings: Settings) -> str:
    if not settings.embedded:
        return "using DATABASE_URL"
    from cli.bootstrap import embedded_cluster

    return "cluster " + embedded_cluster(settings).status().describe()


def _psql(settings: Settings) -> int:
    from sqlalchemy.engine import make_url

    from store.engine import database_url

    url = make_url(database_url(settings))
    env = dict(os.environ, PGPASSWORD=url.password or "")
    psql = "psql"
    if settings.embedded:
        from cli.bootstrap import embedded_cluster

        psql = embedded_cluster(settings).bins.tool("psql")
    return subprocess.call([psql, "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
                            "-U", url.username or "postgres", url.database or "postgres"], env=env)


def register(sub: Any) -> None:
    setup = sub.add_parser("setup", help="PostgreSQL/PostGIS, cluster, database, demo data")
    setup.add_argument("--no-demo", action="store_true", help="do not load demo data")
    setup.add_argument("--for-tests", action="store_true",
                       help="only the database server and the browser the tests need")
    setup.set_defaults(func=cmd_setup)

    db = sub.add_parser("db", help="the database: up, down, status, shell, url, migrate, "
                                   "reset, backup, restore, replica, partitions, archive, "
                                   "tally")
    db.add_argument("action", choices=["up", "down", "status", "shell", "url", "migrate",
                                       "reset", "backup", "restore", "replica",
                                       "partitions", "archive", "tally"])
    db.add_argument("what", nargs="?", choices=["up", "down", "status", "url", "drop"],
                    help="replica: up (make and start a streaming standby), down, status, "
                         "url, drop")
    db.add_argument("--no-demo", action="store_true", help="reset: leave the database empty")
    db.add_argument("--verify", action="store_true",
                    help="backup: restore the newest backup into a scratch cluster and compare "
                         "row counts and a checksum of incident_event with the primary")
    db.add_argument("--list", action="store_true", help="backup: list the base backups")
    db.add_argument("--to", help='restore: the moment to restore to, e.g. "2026-12-01 10:00" '
                                 "(in ONEMAP_TIMEZONE unless an offset is given)")
    db.add_argument("--into", help="restore: a new cluster directory (default var/restore/…)")
    db.add_argument("--port", type=int, help="restore: the restored cluster's port")
    db.add_argument("--before", help="archive: detach and archive the months of incident "
                                     "history before this month (YYYY-MM)")
    db.add_argument("--compact", action="store_true",
                    help="tally: fold the monthly tallies' delta rows (the escalation "
                         "scheduler does this hourly)")
    db.add_argument("--rebuild", action="store_true",
                    help="tally: make the monthly tallies again from the cases, with months "
                         "in ONEMAP_TIMEZONE")
    db.set_defaults(func=cmd_db)
