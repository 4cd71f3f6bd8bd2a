"""The `onemap` command, one module per command family; each parses options and calls a
function of the layer that owns the work.

    onemap setup [--no-demo] [--for-tests]   PostgreSQL/PostGIS, cluster, database, demo data
    onemap db up|down|status|shell|url|migrate|reset
    onemap db backup [--verify|--list] · restore --to T · replica up|down|status|url|drop
    onemap demo --region yumen|donghai|etuoke|chengguan|all|sample
    onemap load boundaries|households|cameras|incidents FILE [--dry-run] …
    onemap plan export FILE [--format geojson|gpkg|shp] [--within CODE]   grids for QGIS
    onemap plan import FILE [--dry-run] [--actor NAME] [--effective DATE]  edited grids back
    onemap plan grid-at LON LAT [--date YYYY-MM-DD]   the grid that held a point on a day
    onemap bulk households|incidents [--scheduler local|none|tcp://…] [--workers N]
                                             partitioned bulk jobs on Dask (a re-run resumes)
    onemap export monthly [--month YYYY-MM] [--level county|town|village|grid]
                  [--format html|png|pdf] [--out PATH] [--within CODE] [--measure M]
                                             the monthly situation map, offline HTML/PNG/PDF
    onemap user add|list|lock|unlock|reset-password|set-role|token|revoke-token …
    onemap audit verify|list                 the audit trail's hash chain; recent rows
    onemap serve [--host H] [--port P]       the dashboard under gunicorn (foreground)
    onemap proxy up|down|status|config [--nodes 2] [--listen 8443]   nodes behind nginx
    onemap stop                              stop nginx, the dashboards and every cluster
"""

from __future__ import annotations

import argparse
import sys

from cli import bulk, db, demo, export, intake, load, plan, proxy, serve, users
from onemap.errors import OneMapError
from onemap.settings import load_settings

#: The command families, one module each; every module has ``register(subparsers)``.
COMMANDS = (db, demo, load, intake, plan, bulk, export, serve, proxy, users)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onemap", description="OneMap (一张图) command line")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
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
