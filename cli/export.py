"""`onemap export monthly`: the monthly situation map as HTML, PNG or PDF."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.common import open_runtime
from cli.common import say as _say
from geo import measures as measure_registry
from geo.levels import LEVEL_BY_KEY
from onemap.settings import Settings


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    """The monthly situation map as an offline HTML, a 1920×1080 PNG or a one-page PDF.

    Exit status: 0 written; 2 refused (a month without incidents, a bad month or level, an
    unknown --within code) or the browser failed — with the reason on stderr."""
    import dataclasses

    from accounts.audit import audit
    from reports import export as ex
    from reports import monthly as rm

    rt = open_runtime(settings)
    report, scope_name = rm.build_for(rt.engine, settings, month=args.month, level=args.level,
                                      within_code=args.within)
    report = dataclasses.replace(report, exported_by=rt.actor.label)
    level = report.level
    out = args.out or (settings.var_path / "exports"
                       / f"monthly-{report.month}-{rm.LEVEL_EN[level]}.{args.format}")
    path = ex.export(report, args.format, out, settings, measure=args.measure,
                     scope_name=scope_name)
    audit(rt, "export.write", object_type="monthly", object_id=str(path),
          detail={"within": args.within, "format": args.format})
    _say(f"{report.title_zh}: wrote {path}")
    return 0


def register(sub: Any) -> None:
    export = sub.add_parser("export", help="offline exports: the monthly situation map")
    kinds = export.add_subparsers(dest="kind", required=True)
    monthly = kinds.add_parser("monthly", help="a month's map as HTML (no network needed), "
                                               "PNG 1920×1080 or a one-page A4 PDF")
    monthly.add_argument("--month", default=None, metavar="YYYY-MM",
                         help="local calendar month (default: the newest with incidents)")
    monthly.add_argument("--level", choices=list(LEVEL_BY_KEY),
                         default="town", help="units to colour (default town)")
    monthly.add_argument("--format", choices=["html", "png", "pdf"], default="html")
    monthly.add_argument("--out", type=Path, default=None,
                         help="file to write (default var/exports/monthly-<month>-<level>.<ext>)")
    monthly.add_argument("--within", default=None, metavar="CODE",
                         help="only this unit (e.g. a county's code) and what lies below it")
    monthly.add_argument("--measure", default="received",
                         choices=list(measure_registry.keys("export")),
                         help="what colours the units (default received)")
    monthly.set_defaults(func=cmd_export)


