"""The `onemap` command: parses options and calls functions that are tested on their own.

    onemap setup [--no-demo] [--for-tests]   PostgreSQL/PostGIS, cluster, database, demo data
    onemap db up|down|status|shell|url|migrate|reset
    onemap demo --region yumen|donghai|etuoke|chengguan|all|sample
    onemap load boundaries|households|cameras|incidents FILE [--dry-run] …
    onemap plan export FILE [--format geojson|gpkg|shp] [--within CODE]   grids for QGIS
    onemap plan import FILE [--dry-run] [--actor NAME] [--effective DATE]  edited grids back
    onemap plan grid-at LON LAT [--date YYYY-MM-DD]   the grid that held a point on a day
    onemap export monthly [--month YYYY-MM] [--level county|town|village|grid]
                  [--format html|png|pdf] [--out PATH] [--within CODE] [--measure M]
                                             the monthly situation map, offline HTML/PNG/PDF
    onemap serve [--host H] [--port P]       the dashboard under gunicorn (foreground)
    onemap stop                              stop the dashboard and the embedded cluster
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from onemap.errors import OneMapError, SetupError
from onemap.settings import Settings, load_settings


def _say(message: str) -> None:
    print(f"[onemap] {message}", file=sys.stderr, flush=True)


# --- setup ---------------------------------------------------------------------------------
def cmd_setup(settings: Settings, args: argparse.Namespace) -> int:
    from onemap.bootstrap import prepare_database, start_server

    start_server(settings)
    if args.for_tests:
        from onemap.system import ensure_browser, ensure_pdf_tools

        ensure_browser()
        ensure_pdf_tools()
        _say("database server, browser and PDF tools ready for the tests")
        return 0
    engine = prepare_database(settings, demo=not args.no_demo)
    from store import repository

    counts = repository.unit_counts_by_level(engine)
    _say(f"database ready ({engine.url.host}:{engine.url.port}/{engine.url.database}); "
         f"units per level: {counts or 'none'}")
    return 0


# --- db ------------------------------------------------------------------------------------
def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    from onemap.bootstrap import embedded_cluster, prepare_database, start_server
    from store.engine import database_url

    action = args.action
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


def _db_status(settings: Settings) -> str:
    if not settings.embedded:
        return "using DATABASE_URL"
    from onemap.bootstrap import embedded_cluster

    return "cluster " + embedded_cluster(settings).status().describe()


def _psql(settings: Settings) -> int:
    from sqlalchemy.engine import make_url

    from store.engine import database_url

    url = make_url(database_url(settings))
    env = dict(os.environ, PGPASSWORD=url.password or "")
    psql = "psql"
    if settings.embedded:
        from onemap.bootstrap import embedded_cluster

        psql = embedded_cluster(settings).bins.tool("psql")
    return subprocess.call([psql, "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
                            "-U", url.username or "postgres", url.database or "postgres"], env=env)


# --- demo ----------------------------------------------------------------------------------
def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from loaders.demo import load_demo
    from onemap.bootstrap import prepare_database, start_server

    start_server(settings)
    engine = prepare_database(settings, demo=False)
    counts = load_demo(engine, args.region, tz=settings.timezone)
    if not counts:
        _say("nothing loaded (already there)")
    else:
        _say("loaded: " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))
    return 0


# --- plan ----------------------------------------------------------------------------------
def _plan_engine(settings: Settings):
    from onemap.bootstrap import start_server
    from store.engine import database_url, get_engine

    start_server(settings)  # the embedded cluster, if that is what we use
    return get_engine(database_url(settings))


def cmd_plan(settings: Settings, args: argparse.Namespace) -> int:
    """Grid planning from files: export for QGIS, import the edited file, time-travel lookup.

    Exit status: 0 done; 1 import refused by validation errors, or no grid at the point;
    2 file or database refused it (row problems, stale file) — nothing written."""
    from loaders import planner_files as pf

    engine = _plan_engine(settings)
    if args.action == "export":
        with engine.connect() as conn:
            paths = pf.export_layer(conn, args.file, args.format, within=args.within)
        _say("exported to " + ", ".join(str(p) for p in paths))
        return 0
    if args.action == "import":
        effective = pf.local_time(args.effective, settings.timezone)
        actor = args.actor or f"cli:{os.environ.get('USER') or 'unknown'}"
        outcome = pf.import_file(engine, args.file, actor=actor, effective=effective,
                                 dry_run=args.dry_run, settings=settings)
        print(pf.describe(outcome))
        sys.stdout.flush()
        return 0 if outcome.ok else 1
    from store.planning import grid_at

    at = pf.local_time(args.date, settings.timezone, end_of_day=True)
    with engine.connect() as conn:
        row = grid_at(conn, args.lon, args.lat, at)
    when = args.date or "now"
    if row is None:
        print(f"{args.lon}, {args.lat} ({when}): in no grid")
        return 1
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(settings.timezone)
    since = row["valid_from"].astimezone(zone)
    until = row["valid_to"].astimezone(zone) if row.get("valid_to") else None
    print(f"{args.lon}, {args.lat} ({when}): {row['code']} {row['name']} "
          f"(version {row['version']}, id {row['id']}, valid from {since:%Y-%m-%d %H:%M}"
          f"{f' to {until:%Y-%m-%d %H:%M}' if until else ', current'} {settings.timezone})")
    return 0


def _register_plan(sub: Any) -> None:
    plan = sub.add_parser("plan", help="grid planning with files: export, import, grid-at")
    actions = plan.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="current grids to GeoJSON, GeoPackage or "
                                               "Shapefile (UTF-8 .cpg) for editing in QGIS")
    export.add_argument("file", type=Path)
    export.add_argument("--format", choices=["geojson", "gpkg", "shp"], default=None,
                        help="default: from the file's suffix")
    export.add_argument("--within", default=None, metavar="CODE",
                        help="only grids under this unit (a village, town or county code)")
    imp = actions.add_parser("import", help="an edited grid file: validation, impact preview, "
                                            "then new grid versions")
    imp.add_argument("file", type=Path)
    imp.add_argument("--dry-run", action="store_true", help="check and preview, save nothing")
    imp.add_argument("--actor", default=None, help="who made the change (default: $USER)")
    imp.add_argument("--effective", default=None, metavar="DATE",
                     help="local day (YYYY-MM-DD) the new grids take effect (default now)")
    at = actions.add_parser("grid-at", help="the grid that held a point on a day")
    at.add_argument("lon", type=float)
    at.add_argument("lat", type=float)
    at.add_argument("--date", default=None, metavar="YYYY-MM-DD",
                    help="local day (end of it); default now")
    plan.set_defaults(func=cmd_plan)


# --- export --------------------------------------------------------------------------------
def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    """The monthly situation map as an offline HTML, a 1920×1080 PNG or a one-page PDF.

    Exit status: 0 written; 2 refused (a month without incidents, a bad month or level, an
    unknown --within code) or the browser failed — with the reason on stderr."""
    from sqlalchemy import text

    from reports import export as ex
    from reports import monthly as rm
    from store import monthly as sm

    engine = _plan_engine(settings)
    level = rm.parse_level(args.level)
    month = args.month
    if month is None:
        months = sm.months_with_data(engine, settings.timezone)
        if not months:
            raise rm.ReportError("The database holds no incidents, so there is no month to "
                                 "report (load some with `onemap demo` or `onemap load "
                                 "incidents`).")
        month = months[0]
    within = None
    scope_name = None
    if args.within:
        with engine.connect() as conn:
            row = conn.execute(text(
                "SELECT level, id, name FROM unit WHERE code = :c AND valid_to IS NULL "
                "ORDER BY level LIMIT 1"), {"c": args.within}).first()
        if row is None:
            raise rm.ReportError(f"No current unit has the code {args.within!r} (--within).")
        if int(row.level) > level:
            raise rm.ReportError(f"--within {args.within} is a unit below the map level "
                                 f"{args.level}; pick a unit at that level or above.")
        within, scope_name = (int(row.level), int(row.id)), str(row.name)
    report = rm.build(engine, month, level, settings, within=within, require_data=True)
    out = args.out or (settings.var_path / "exports"
                       / f"monthly-{report.month}-{rm.LEVEL_EN[level]}.{args.format}")
    path = ex.export(report, args.format, out, settings, measure=args.measure,
                     scope_name=scope_name)
    _say(f"{report.title_zh}: wrote {path}")
    return 0


def _register_export(sub: Any) -> None:
    export = sub.add_parser("export", help="offline exports: the monthly situation map")
    kinds = export.add_subparsers(dest="kind", required=True)
    monthly = kinds.add_parser("monthly", help="a month's map as HTML (no network needed), "
                                               "PNG 1920×1080 or a one-page A4 PDF")
    monthly.add_argument("--month", default=None, metavar="YYYY-MM",
                         help="local calendar month (default: the newest with incidents)")
    monthly.add_argument("--level", choices=["county", "town", "village", "grid"],
                         default="town", help="units to colour (default town)")
    monthly.add_argument("--format", choices=["html", "png", "pdf"], default="html")
    monthly.add_argument("--out", type=Path, default=None,
                         help="file to write (default var/exports/monthly-<month>-<level>.<ext>)")
    monthly.add_argument("--within", default=None, metavar="CODE",
                         help="only this unit (e.g. a county's code) and what lies below it")
    monthly.add_argument("--measure", default="received",
                         choices=["received", "per_1000", "change_pct", "resolution_rate",
                                  "on_time_rate", "closed_share_grid"],
                         help="what colours the units (default received)")
    monthly.set_defaults(func=cmd_export)


# --- serve / stop --------------------------------------------------------------------------
def _pidfile(settings: Settings) -> Path:
    """One pid file per port, so a test server never collides with the developer's."""
    return settings.var_path / "run" / f"dashboard-{settings.port}.pid"


def _running_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from store.cluster import port_in_use

    host = args.host or settings.host
    port = args.port or settings.port
    settings = settings.with_(host=host, port=port)
    pidfile = _pidfile(settings)
    pid = _running_pid(pidfile)
    if pid:
        raise SetupError(f"OneMap is already serving (pid {pid}) at http://{host}:{port}/ — "
                         "open it, or run `make stop` first.")
    if port_in_use(port, "127.0.0.1" if host in ("0.0.0.0", "") else host):
        raise SetupError(f"Port {port} is already in use by another program, so the dashboard "
                         f"cannot start. Stop that program or pick another port: "
                         f"ONEMAP_PORT={port + 1} make run")
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    from dashboard.server import serve

    _say(f"serving the dashboard on http://{host}:{port}/  (Ctrl-C or `make stop` to stop)")
    serve(settings, pidfile=pidfile)
    return 0


def cmd_stop(settings: Settings, args: argparse.Namespace) -> int:
    stopped = 0
    for pidfile in sorted((settings.var_path / "run").glob("dashboard-*.pid")):
        pid = _running_pid(pidfile)
        if pid:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if _running_pid(pidfile) is None:
                    break
                time.sleep(0.1)
            _say(f"dashboard stopped (pid {pid})")
            stopped += 1
        pidfile.unlink(missing_ok=True)
    if not stopped:
        _say("dashboard was not running")
    if settings.embedded:
        from onemap.bootstrap import embedded_cluster

        if (settings.var_path / "pg" / "data" / "PG_VERSION").exists():
            _say("cluster stopped" if embedded_cluster(settings).stop()
                 else "cluster was not running")
    return 0


# --- entry point ---------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onemap", description="OneMap (一张图) command line")
    sub = parser.add_subparsers(dest="command", required=True)

    setup = sub.add_parser("setup", help="PostgreSQL/PostGIS, cluster, database, demo data")
    setup.add_argument("--no-demo", action="store_true", help="do not load demo data")
    setup.add_argument("--for-tests", action="store_true",
                       help="only the database server and the browser the tests need")
    setup.set_defaults(func=cmd_setup)

    db = sub.add_parser("db", help="the database: up, down, status, shell, url, migrate, reset")
    db.add_argument("action", choices=["up", "down", "status", "shell", "url", "migrate",
                                       "reset"])
    db.add_argument("--no-demo", action="store_true", help="reset: leave the database empty")
    db.set_defaults(func=cmd_db)

    from loaders.demo import REGION_CHOICES

    demo = sub.add_parser("demo", help="generate and load demo regions")
    demo.add_argument("--region", choices=REGION_CHOICES, default="yumen",
                      help="玉门 yumen, 东海 donghai, 鄂托克前旗 etuoke, 城关 chengguan, all")
    demo.set_defaults(func=cmd_demo)

    from loaders.commands import register as register_load

    register_load(sub)

    from intake.commands import register as register_intake

    register_intake(sub)

    _register_plan(sub)

    _register_export(sub)

    serve = sub.add_parser("serve", help="serve the dashboard (foreground)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(func=cmd_serve)

    stop = sub.add_parser("stop", help="stop the dashboard and the embedded cluster")
    stop.set_defaults(func=cmd_stop)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(load_settings(), args)
    except OneMapError as exc:
        print(f"onemap: error: {exc.user_msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
