"""The `onemap load boundaries|households|cameras|incidents FILE …` command.

It only parses options and calls :func:`loaders.importers.core.run` (which the planner page
reuses), then prints the summary.  Exit status: 0 when loaded (rejected rows included), 2 when
the file was refused — the database is then unchanged.

    onemap load boundaries grids.shp --level 3 --crs EPSG:4543
    onemap load incidents 12345.xlsx --source 12345 --datum gcj02 --map received_at=派单时间
    onemap load households hh.csv --dry-run --rejects /tmp/hh.rejects.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cli.common import open_runtime
from loaders.importers.options import KINDS, LoadOptions, parse_mapping
from onemap.settings import Settings

EXAMPLES = {
    "boundaries": "GeoJSON, Shapefile (.shp; GBK attributes detected), GeoPackage or KML",
    "households": "CSV or XLSX register (户编码, 地址, 楼栋, 房号, 户主姓名, 经度, 纬度 …)",
    "cameras": "CSV or XLSX device list (设备编码, 名称, 类型 雪亮/村村通/社会面, 状态 …)",
    "incidents": "CSV or XLSX export (工单编号, 受理时间, 诉求内容, 地址, 经度, 纬度 …)",
}


def register(subparsers: Any) -> None:
    """Add `load` with one sub-command per kind to the `onemap` parser."""
    load = subparsers.add_parser("load", help="import a file: boundaries, households, cameras, "
                                              "incidents")
    kinds = load.add_subparsers(dest="kind", required=True)
    for kind in KINDS:
        p = kinds.add_parser(kind, help=EXAMPLES[kind], description=EXAMPLES[kind])
        p.add_argument("file", type=Path)
        p.add_argument("--datum", default=None,
                       choices=["wgs84", "gcj02", "bd09", "cgcs2000", "auto"],
                       help="datum of the coordinates in the file; without it points are "
                            "read as wgs84 after checking that no other datum fits the units "
                            "and households clearly better; auto: take the best fit")
        p.add_argument("--encoding", default=None,
                       help="text encoding (default: detect UTF-8 / GBK)")
        p.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                       help="which column holds a field, e.g. --map code=网格编码 (repeatable)")
        p.add_argument("--sheet", default=None,
                       help="XLSX sheet, or GeoPackage/KML layer (default: the first)")
        p.add_argument("--dry-run", action="store_true",
                       help="do the whole load and report it, then roll back")
        p.add_argument("--rejects", type=Path, default=None, metavar="PATH",
                       help="where to write rejected rows (default <file>.rejects.csv)")
        p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="progress bars on stderr (default: when it is a terminal)")
        if kind == "boundaries":
            p.add_argument("--crs", default=None,
                           help="CRS of the file when it has none or a wrong one "
                                "(e.g. EPSG:4543)")
            p.add_argument("--level", type=int, default=None, choices=[0, 1, 2, 3],
                           help="level of every unit (0 county … 3 grid) when no level column")
            p.add_argument("--allow-overlaps", action="store_true",
                           help="load even when units overlap (reported as notes)")
            p.add_argument("--repair", action="store_true",
                           help="make each level a valid coverage: snap near vertices, "
                                "node shared edges, give overlaps and slivers/gaps narrower "
                                "than --tolerance-m to the neighbour with the longest shared "
                                "edge; every change is listed (and written to "
                                "<file>.repairs.csv)")
            p.add_argument("--tolerance-m", type=float, default=1.0,
                           help="--repair tolerance in metres (default 1)")
            p.add_argument("--root-level", default=None, metavar="NAME",
                           help="what the file's top level is (省, 市, 县 …) when it is not a "
                                "county: the load says how OneMap will name each level")
        else:
            p.add_argument("--snap-m", type=float, default=None,
                           help="snap points this close outside the jurisdiction "
                                "(default ONEMAP_SNAP_M, 50)")
        if kind == "incidents":
            p.add_argument("--source", default=None,
                           help="channel when the file has no source column "
                                "(grid_app, hotline_12345/12345, citizen_app, police_110 …)")
            p.add_argument("--allow-unlocated", action="store_true",
                           help="keep incidents without coordinates (stored unlocated)")
        if kind != "boundaries":
            p.add_argument("--on-duplicate", default="first",
                           choices=["first", "last", "reject"],
                           help="one id on several rows: load the first (default) or the "
                                "last and reject the others as its duplicates, or reject all")
        p.set_defaults(func=cmd_load)


def options_from_args(args: argparse.Namespace) -> LoadOptions:
    """LoadOptions from parsed arguments (shared with tests)."""
    return LoadOptions(
        datum=args.datum, crs=getattr(args, "crs", None), encoding=args.encoding,
        mapping=parse_mapping(args.map), sheet=args.sheet, level=getattr(args, "level", None),
        allow_overlaps=getattr(args, "allow_overlaps", False), dry_run=args.dry_run,
        root_level=getattr(args, "root_level", None),
        repair=getattr(args, "repair", False), tolerance_m=getattr(args, "tolerance_m", 1.0),
        rejects_path=args.rejects, snap_m=getattr(args, "snap_m", None),
        source=getattr(args, "source", None),
        allow_unlocated=getattr(args, "allow_unlocated", False), progress=args.progress,
        on_duplicate=getattr(args, "on_duplicate", "first"))


def cmd_load(settings: Settings, args: argparse.Namespace) -> int:
    """Run the load and print its summary; OneMapError (refusal) propagates → exit 2."""
    import dataclasses

    from loaders.importers.core import run

    options = dataclasses.replace(options_from_args(args), secrets_dir=settings.var_dir,
                                  level_names=settings.level_names)
    rt = open_runtime(settings)
    report = run(args.kind, args.file, options, db=rt.engine, policy=rt.policy)
    print(report.summary())
    sys.stdout.flush()
    return 0
