"""`onemap plan export|import|grid-at`: grid planning with files (QGIS round trip)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from cli.common import open_runtime
from cli.common import say as _say
from onemap.settings import Settings


def cmd_plan(settings: Settings, args: argparse.Namespace) -> int:
    """Grid planning from files: export for QGIS, import the edited file, time-travel lookup.

    Exit status: 0 done; 1 import refused by validation errors, or no grid at the point;
    2 file or database refused it (row problems, stale file) — nothing written."""
    from loaders import planner_files as pf
    from planning import service as planning

    rt = open_runtime(settings)
    engine = rt.engine
    if args.action == "export":
        with engine.connect() as conn:
            paths = pf.export_layer(conn, args.file, args.format, within=args.within)
        _say("exported to " + ", ".join(str(p) for p in paths))
        return 0
    if args.action == "import":
        effective = planning.local_time(args.effective, settings.timezone)
        actor = args.actor or f"cli:{os.environ.get('USER') or 'unknown'}"
        outcome = planning.import_file(rt, args.file, actor=actor, effective=effective,
                                       dry_run=args.dry_run)
        print(planning.describe(outcome))
        sys.stdout.flush()
        return 0 if outcome.ok else 1
    from store.planning import grid_at

    at = planning.local_time(args.date, settings.timezone, end_of_day=True)
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


def register(sub: Any) -> None:
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


