"""Benchmark: an actor's scope for row-level security — the walk down the unit tree (before
migration 0022) against the kept closure (``unit_closure``), side by side in the same run.

    python bench/scope.py [--database-url URL] [--repeat 200]

On the database of ``DATABASE_URL`` (``make bench``: the demo's) and, when they exist, the
synthetic provinces the province bench loads (``<name>_province``, ``<name>_province_s1``):
for the first county, town and village, the time of ``onemap_scope_units()`` as migration 0022
reads it and of the walk it replaced (the same SQL as migration 0007), median and p95 over
``--repeat`` calls, each in its own statement, and whether both give the same units.  (Row
level security on households, persons, grid workers and cameras runs it once per statement;
an intake answer reads its grid worker back through it: ``bench/ingest.py`` for the whole.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

WALK = """
    WITH RECURSIVE tree(id) AS (
      SELECT u.id FROM unit u WHERE u.id = ANY (onemap_scope_homes())
      UNION
      SELECT c.id FROM unit c JOIN tree t ON c.parent_id = t.id)
    SELECT coalesce(array_agg(id), '{}') FROM tree"""
CLOSURE = "SELECT onemap_scope_units()"
LEVELS = ((0, "county"), (1, "town"), (2, "village"))


def _timed(conn, sql: str, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = conn.execute(text(sql)).scalar()
        times.append((time.perf_counter() - began) * 1000)
    return times, result


def _ms(times: list[float]) -> str:
    ordered = sorted(times)
    return f"{statistics.median(ordered):.2f} / {ordered[int(0.95 * (len(ordered) - 1))]:.2f}"


def _rows(url: str, repeat: int) -> list[tuple[str, ...]]:
    engine = create_engine(url)
    rows = []
    try:
        with engine.connect() as conn:
            if conn.execute(text("SELECT to_regclass('unit_closure')")).scalar() is None:
                return [(make_url(url).database, "—", "—", "—", "not at migration 0022")]
            units = conn.execute(text("SELECT count(*) FROM unit")).scalar()
            depth = conn.execute(text("SELECT min(level) FROM unit")).scalar()
            for offset, name in LEVELS:
                home = conn.execute(text(
                    "SELECT id FROM unit WHERE level = :l AND valid_to IS NULL "
                    "ORDER BY code LIMIT 1"), {"l": depth + offset}).scalar()
                conn.rollback()  # (end the lookup's transaction: one per scope below)
                if home is None:
                    continue
                with conn.begin():
                    conn.execute(text("SELECT set_config('onemap.scope', :s, true)"),
                                 {"s": str(home)})
                    walk_t, walked = _timed(conn, WALK, repeat)
                    kept_t, kept = _timed(conn, CLOSURE, repeat)
                rows.append((f"{make_url(url).database} ({units:,} units)",
                             f"{name} ({len(kept):,} units)", _ms(walk_t), _ms(kept_t),
                             "yes" if set(walked) == set(kept) else "**NO**"))
    finally:
        engine.dispose()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--repeat", type=int, default=200)
    args, _ = parser.parse_known_args()
    if not args.database_url:
        print("skipped: set DATABASE_URL (make bench does) to run the scope benchmark")
        return 0
    base = make_url(args.database_url)
    urls = [args.database_url]
    admin = create_engine(base)
    with admin.connect() as conn:
        for suffix in ("_province", "_province_s1"):
            name = f"{base.database}{suffix}"
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                            {"n": name}).scalar():
                urls.append(base.set(database=name).render_as_string(hide_password=False))
    admin.dispose()
    print("\n| database | scope (home unit) | walk down the tree, ms median / p95 "
          "| `unit_closure`, ms median / p95 | same units |\n|---|---|---|---|---|")
    for url in urls:
        for row in _rows(url, args.repeat):
            print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
