"""`onemap demo --region …`: generate and load demo regions."""

from __future__ import annotations

import argparse
import time
from typing import Any

from cli.common import say as _say
from onemap.settings import Settings


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from cli.bootstrap import prepare_database, start_server
    from loaders.demo import load_demo

    start_server(settings)
    engine = prepare_database(settings, demo=False)
    if args.region == "province-synthetic":
        from loaders.province import load_province

        counts = load_province(engine, scale=args.scale, people=args.people,
                               tz=settings.timezone, var_dir=settings.var_dir)
    else:
        counts = load_demo(engine, args.region, tz=settings.timezone, scale=args.people,
                           var_dir=settings.var_dir)
    if not counts:
        _say("nothing loaded (already there)")
    else:
        _say("loaded: " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))
    keep_boundaries(settings, engine)
    return 0


def keep_boundaries(settings: Settings, engine: Any) -> float:
    """Simplify the wall's boundaries and build the intake's assignment engine now, and keep
    both on disk (``var/cache/units``, ``var/cache/engine``); the seconds it took.

    Run after a load: the first start of a server then reads them (a few seconds for a
    province) instead of building them while its first pages are asked for (about a minute
    of CPU for 100,000 grids, in each worker).  A server's engine for the same database finds
    the same files; nothing is built again if they are already there.
    """
    from dashboard.geodata import layers
    from onemap.access import SYSTEM
    from store import scope
    from store.units import unit_cache

    t0 = time.perf_counter()
    layers(engine, settings).refresh()
    took = time.perf_counter() - t0
    _say(f"wall boundaries ready, kept in {settings.var_path / 'cache' / 'units'} "
         f"({took:.1f} s; read back if already kept)")
    t1 = time.perf_counter()
    with scope.acting(SYSTEM):
        unit_cache(engine, settings.var_path).places(force=True)
    _say(f"assignment engine ready, its rasters kept in {settings.var_path / 'cache' / 'engine'}"
         f" ({time.perf_counter() - t1:.1f} s; read back if already kept)")
    return time.perf_counter() - t0


def register(sub: Any) -> None:
    from loaders.demo import REGION_CHOICES

    demo = sub.add_parser("demo", help="generate and load demo regions")
    demo.add_argument("--region", choices=REGION_CHOICES, default="yumen",
                      help="玉门 yumen, 东海 donghai, 鄂托克前旗 etuoke, 城关 chengguan, all, "
                           "province-synthetic (86 counties over ~400,000 km² at --scale 1)")
    demo.add_argument("--scale", type=float, default=0.1,
                      help="province-synthetic: the share of its counties and area (1: ~100k "
                           "grids, 10 M households)")
    demo.add_argument("--people", type=float, default=1.0,
                      help="the share of households, people and incidents to generate")
    demo.set_defaults(func=cmd_demo)
