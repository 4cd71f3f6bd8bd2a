"""Benchmark: the synthetic province (#18) — load, wall at province and county level, monthly.

    python bench/province.py [--database-url URL] [--scale 0.1] [--people 1.0] [--runs 2]

* A database of its own (name + ``_province``; another scale than 0.1: name +
  ``_province_s<scale>``) with ``onemap demo --region
  province-synthetic --scale S --people P`` loaded once (its time is printed then, and kept in
  ``var/bench-province-load.txt`` for later runs). ``--scale 1`` (86 counties, ~100k grids,
  10 M households and incidents, 72 M events) took 55 min and 25 GB here (session 9); the
  default 0.1 is 9 counties, ~10k grids, ~1 M households and ~1 M incidents with their
  histories.
* **Wall**: the real server (2 gunicorn workers) and headless Chromium.  First full paint at
  province level (a 全域 commander, ``--unit '*'``: every top unit drawn, legend, KPIs, latest
  list) and for one county's commander (its towns): on the first start after a load (the
  boundaries simplified and kept on disk right after it, as ``onemap demo`` does — timed in
  its own row; ``--keep-cache`` keeps those of an earlier run), then after a restart, and
  after a restart with ``ONEMAP_PRELOAD=0`` (each worker warms its own caches beside its
  first requests instead of the master before it listens), with how long each start took to
  answer its health check.  Then
  bench/wall.py's operator tour for the county (levels, measures, windows, a filter, drill
  into a town and a village, layers, zoom to street level) — the max server time of its
  callbacks.
* **Monthly**: ``reports.monthly.build`` for the province at county level and for one county
  at grid level (last full month), cold and warm, in this process; and, side by side in the
  same run, the report's statements the monthly tallies (migration 0020) answer — the units'
  measures, the grid counts of the hot spots, the headline and the 12-month trend — read from
  the tallies and from the cases (``store.tally.usable`` turned off), with whether they agree.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _auth  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from geo.levels import COUNTY, GRID, LEVELS, TOP, TOWN  # noqa: E402


def _say(message: str) -> None:
    print(f"[bench/province] {message}", file=sys.stderr, flush=True)


def prepare(base_url: str, scale: float, people: float) -> tuple[str, str]:
    from loaders.province import load_province
    from onemap.settings import load_settings
    from store import migrate
    from store.engine import ensure_database

    url = make_url(base_url)
    # scale 0.1 keeps the database it always had; another scale gets one of its own
    suffix = "_province" if scale == 0.1 else f"_province_s{scale:g}".replace(".", "_")
    url = url.set(database=f"{url.database}{suffix}").render_as_string(hide_password=False)
    ensure_database(url)
    engine = create_engine(url)
    note = ROOT / "var" / f"bench{suffix.replace('_', '-')}-load.txt"
    try:
        migrate.upgrade(engine)
        t0 = time.monotonic()
        counts = load_province(engine, scale=scale, people=people,
                               var_dir=load_settings().var_dir)
        if counts:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
            took = time.monotonic() - t0
            loaded = (f"{took:.0f} s for " + ", ".join(f"{t} {n:,}" for t, n in counts.items())
                      + f" (scale {scale:g}, people {people:g})")
            note.parent.mkdir(exist_ok=True)
            note.write_text(loaded)
        else:
            loaded = note.read_text() if note.exists() else "loaded earlier"
    finally:
        engine.dispose()
    return url, loaded


def monthly(url: str, builds: int = 3) -> list[tuple[str, str]]:
    from onemap.settings import load_settings
    from reports import monthly as report

    settings = load_settings()
    engine = create_engine(url)
    with engine.connect() as conn:
        county = conn.execute(text("SELECT id, name FROM unit WHERE level = :c "
                                   "AND valid_to IS NULL ORDER BY code LIMIT 1"),
                              {"c": COUNTY}).one()
        month = conn.execute(text(
            "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') "
            "- interval '1 month', 'YYYY-MM')")).scalar()
    rows = []
    for label, level, within in ((f"province at county level, {month}", COUNTY, None),
                                 (f"one county ({county.name}) at grid level, {month}", GRID,
                                  (COUNTY, county.id))):
        times = []
        for _ in range(builds):
            t0 = time.monotonic()
            report.build(engine, month, level, settings, within=within)
            times.append(time.monotonic() - t0)
        rows.append((f"monthly report: {label}", f"cold {times[0]:.2f} s, warm "
                     f"{min(times[1:]):.2f} s"))
        rows.append(_tallies_side_by_side(engine, month, level, within, settings, builds))
    rows.append(_as_commander(url, month, county.id, settings, builds))
    engine.dispose()
    return rows


def _as_commander(url: str, month: str, county_id: int, settings,
                  builds: int = 3) -> tuple[str, str]:
    """The county's report at grid level as its own commander reads it (the application's
    role, row-level security): its headline, trend and top categories from its county's
    tallies (migration 0023) vs from its cases (before), warm, in the same run."""
    from onemap.access import Actor
    from reports import monthly as report
    from store import scope, tally
    from store.runtime import build_runtime

    rt = build_runtime(settings.with_(database_url=url))
    with rt.engine.connect() as conn:  # (the unit table has no row-level security)
        versions = frozenset(int(v) for v, in conn.execute(text(
            "SELECT id FROM unit WHERE code = (SELECT code FROM unit WHERE id = :c)"),
            {"c": county_id}))
    desk = Actor("user", 0, "bench county commander", "commander", units=versions,
                 home_level=COUNTY)
    kept, got = tally.usable, {}
    try:
        for way in ("tallies", "cases"):
            if way == "cases":
                tally.usable = lambda *_args: False
            times = []
            with scope.acting(desk):
                for _ in range(builds):
                    t0 = time.monotonic()
                    report.build(rt.engine, month, GRID, settings, within=(COUNTY, county_id))
                    times.append(time.monotonic() - t0)
            got[way] = times
    finally:
        tally.usable = kept
    return ("monthly report: that county at grid level as its commander (row-level security; "
            "headline, trend, top categories from its county's tallies vs from its cases)",
            f"{got['tallies'][0]:.2f} s first, warm {min(got['tallies'][1:]):.2f} s vs "
            f"warm {min(got['cases'][1:]):.2f} s")


def _tallies_side_by_side(engine, month: str, level: int, within, settings,
                          builds: int = 3) -> tuple[str, str]:
    """The statements the monthly tallies answer, warm, from the tallies and from the cases
    (the path before migration 0020, still taken by scoped desks) in the same run — and
    whether the two give the same numbers."""
    import pandas as pd

    from store import monthly as store
    from store import monthly_totals, tally

    tz = settings.timezone
    calls = {
        "measures": lambda: store.month_measures(engine, level, month, tz, within=within),
        "counts": lambda: store.grid_counts(engine, month, tz, within=within),
        "headline": lambda: monthly_totals.headline(engine, month, tz, within=within),
        "trend": lambda: monthly_totals.trend(engine, month, tz, within=within),
    }
    kept = tally.usable
    got: dict[str, tuple[float, dict]] = {}
    try:
        for way in ("tallies", "cases"):
            if way == "cases":
                tally.usable = lambda *_args: False
            times, answers = [], {}
            for _ in range(builds):
                t0 = time.monotonic()
                answers = {name: call() for name, call in calls.items()}
                times.append(time.monotonic() - t0)
            got[way] = (min(times[1:]), answers)
    finally:
        tally.usable = kept
    a, b = got["tallies"][1], got["cases"][1]
    same = True
    for name in calls:
        x, y = a[name], b[name]
        try:
            if isinstance(x, pd.DataFrame):
                pd.testing.assert_frame_equal(x, y, check_dtype=False, rtol=1e-9)
            elif isinstance(x, pd.Series):
                pd.testing.assert_series_equal(x, y, check_dtype=False)
            else:
                same &= all(x[k] == y[k] or (x[k] != x[k] and y[k] != y[k])
                            or abs(x[k] - y[k]) < 1e-9 for k in x if k != "units") \
                    and x["units"] == y["units"]
        except AssertionError:
            same = False
    return ("… its measures, grid counts, headline and trend: from the monthly tallies vs "
            "from the cases",
            f"warm {got['tallies'][0]:.2f} s vs {got['cases'][0]:.2f} s; "
            f"{'same numbers' if same else 'NUMBERS DIFFER'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--people", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--port", type=int, default=8078)
    parser.add_argument("--no-monthly", action="store_true", help="the wall only")
    parser.add_argument("--monthly-builds", type=int, default=3,
                        help="builds of each monthly report: the first cold, the best of the "
                             "others warm (at least 2)")
    parser.add_argument("--keep-cache", action="store_true",
                        help="keep the boundaries kept on disk by an earlier server")
    args, _ = parser.parse_known_args()
    if not args.database_url:
        print("skipped: set DATABASE_URL (make bench does) to run the province benchmark")
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import wall
    from playwright.sync_api import sync_playwright

    from onemap.system import ensure_browser

    url, loaded = prepare(args.database_url, args.scale, args.people)
    engine = create_engine(url)
    with engine.connect() as conn:
        sizes = dict(conn.execute(text(
            "SELECT level, count(*) FROM unit WHERE valid_to IS NULL GROUP BY level")).all())
        county = conn.execute(text("SELECT code FROM unit WHERE level = :c "
                                   "AND valid_to IS NULL ORDER BY code LIMIT 1"),
                              {"c": COUNTY}).scalar()
        households = conn.execute(text("SELECT count(*) FROM household")).scalar()
        incidents = conn.execute(text("SELECT count(*) FROM incident")).scalar()
    engine.dispose()
    names = ", ".join(f"{sizes.get(lvl.depth, 0):,} {lvl.key}" for lvl in LEVELS)
    rows: list[tuple[str, str]] = [
        ("province", f"{names}; {households:,} households, {incidents:,} incidents"),
        ("generate + load", loaded)]
    if not args.keep_cache:  # as after `onemap demo`: simplified and kept on disk now
        from cli.demo import keep_boundaries
        from onemap.settings import load_settings

        for kind in ("units", "engine"):
            for old in (ROOT / "var" / "cache" / kind).glob("*.npz"):
                old.unlink()
        engine = create_engine(url)
        kept = keep_boundaries(load_settings().with_(database_url=url), engine)
        engine.dispose()
        rows.append(("boundaries simplified and assignment engine built, both kept on "
                     "disk after the load (`onemap demo` does it)", f"{kept:.1f} s"))
    whole = _auth.bench_user(url, "commander", "*")
    local = _auth.bench_user(url, "commander", county)
    tops, towns = sizes[TOP], sizes[TOWN] // max(1, sizes[COUNTY])
    wall.PAINT_TIMEOUT_MS = 300_000  # with --keep-cache and none kept: built in the request
    paints: dict[str, list[float]] = {}
    ready: dict[str, float] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=ensure_browser(), args=wall.CHROMIUM_ARGS)
        for start, preload in (("first start", "1"), ("after a restart", "1"),
                               ("after a restart, ONEMAP_PRELOAD=0", "0")):
            # ONEMAP_PRELOAD=0, side by side: each worker warms its caches in a thread
            # beside its first requests (as before the master warmed them)
            proc = wall.serve(url, args.port, 2, ONEMAP_PRELOAD=preload)
            ready[start] = proc.ready_s
            base = f"http://127.0.0.1:{args.port}"
            try:
                for who, user, shapes in (("province", whole, tops), ("county", local, towns)):
                    wall.SESSION_COOKIES.clear()
                    wall.SESSION_COOKIES.update(_auth.cookies(base, user))
                    paints[f"{who}, {start}"] = [wall.first_paint(browser, base, shapes)[0]
                                                 for _ in range(args.runs)]
                if start == "after a restart":
                    timings = wall.callbacks(browser, base)
            finally:
                proc.terminate()
                proc.wait(timeout=15)
        browser.close()
    every = [ms for name, values in timings.items() for ms in values
             if not name.startswith("layer ")]
    rows.append(("server ready (health answered; its master warms the caches before it "
                 "listens): first start / after a restart / without preload",
                 " / ".join(f"{s:.1f}" for s in ready.values()) + " s"))
    for name, values in paints.items():
        rows.append((f"wall first paint, {name} (target < 3 s): first request / next",
                     " / ".join(f"{s:.2f}" for s in values) + " s"))
    rows.append(("wall callbacks: answers, median / p95 / max server time (target < 300 ms)",
                 f"{len(every)}: {statistics.median(every):.0f} / "
                 f"{sorted(every)[int(0.95 * (len(every) - 1))]:.0f} / {max(every):.0f} ms"
                 if every else "—"))
    slowest = sorted(((max(v), k) for k, v in timings.items()), reverse=True)[:3]
    rows += [(f"slowest: `{name}`", f"{ms:.0f} ms") for ms, name in slowest]
    rows += [] if args.no_monthly else monthly(url, max(2, args.monthly_builds))
    print("\n| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
