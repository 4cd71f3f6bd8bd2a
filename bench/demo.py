"""Benchmark: generating and storing the demo regions (`onemap demo --region all`).

Loads each region into a scratch database (``<db>_bench_demo``, dropped afterwards) and prints
rows and seconds per region.  Target (issue #4): all four regions in under 10 minutes.  There is
no obvious alternative to compare with; the per-table row counts show where the time goes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from loaders.demo import REGIONS, load_region
from store import migrate
from store.engine import ensure_database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", default=",".join(REGIONS),
                        help="comma-separated region keys (default: all four)")
    args, _ = parser.parse_known_args(argv)
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("DATABASE_URL is not set (make bench sets it); skipped.")
        return 0
    scratch = make_url(url)
    scratch = scratch.set(drivername="postgresql+psycopg",
                          database=f"{scratch.database}_bench_demo")
    scratch_url = scratch.render_as_string(hide_password=False)
    ensure_database(scratch_url, fresh=True)
    engine = create_engine(scratch_url)
    migrate.upgrade(engine)
    rows = []
    total = time.perf_counter()
    try:
        for key in args.regions.split(","):
            started = time.perf_counter()
            counts = load_region(engine, key)
            rows.append((key, counts, time.perf_counter() - started))
    finally:
        engine.dispose()
        ensure_database(scratch_url, fresh=True)  # leave an empty scratch database behind
    print(f"\n{'region':<10} {'units':>6} {'households':>11} {'incidents':>10} {'events':>10} "
          f"{'seconds':>8}")
    for key, counts, seconds in rows:
        print(f"{key:<10} {counts.get('unit', 0):>6,} {counts.get('household', 0):>11,} "
              f"{counts.get('incident', 0):>10,} {counts.get('incident_event', 0):>10,} "
              f"{seconds:>8.1f}")
    print(f"{'all':<10} {'':>6} {'':>11} {'':>10} {'':>10} {time.perf_counter() - total:>8.1f}"
          "   (target: < 600 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
