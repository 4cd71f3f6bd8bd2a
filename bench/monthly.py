"""Benchmark: the monthly situation map on the 城关 demo — the month's report, the page's
callbacks, and the exports.

    python bench/monthly.py [--database-url URL] [--month YYYY-MM] [--runs 3]

The issue's targets (#8), with the 城关 demo (~1,700 grids, ~680k incidents a year): a month's
map in under 1 s server time; the PDF in under 15 s.

* Uses a database of its own next to ``--database-url`` / ``DATABASE_URL`` (name +
  ``_monthly``) and loads the 城关 demo into it once, so the report covers exactly one county.
* **Report**: ``reports.monthly.build`` (measures per unit with boundaries as they were, the
  headline, the 12-month trend, top categories, Gi* hot spots for the month and the three
  before it), cold (a new process's first call) and warm (contiguity cached).
* **Page**: the monthly page's callbacks over HTTP (Dash test client): the report and the
  colours callbacks and the units URL, each on a fresh cache, i.e. what a leader's first
  look at a month costs.
* **Exports**: HTML (folium, offline), PNG and PDF (headless Chromium).
* **The obvious alternatives**, same run: incidents per grid for the month by a plain PostGIS
  spatial join (``ST_Contains`` of grid polygons and incident points) instead of the grid id
  frozen on each incident, and geopandas ``sjoin`` of the month's incidents with the grids.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import _auth  # noqa: E402  (bench/_auth.py, next to this script)
import geopandas as gpd  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from onemap.settings import load_settings  # noqa: E402
from store.measures import Period  # noqa: E402


def _say(message: str) -> None:
    print(f"[bench/monthly] {message}", file=sys.stderr, flush=True)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def prepare(url: str) -> str:
    """The bench database with the 城关 demo (created and loaded on first use)."""
    from loaders.demo import load_demo
    from store import migrate, repository
    from store.engine import ensure_database

    bench = make_url(url)
    bench = bench.set(database=f"{bench.database}_monthly").render_as_string(
        hide_password=False)
    ensure_database(bench, fresh=False)
    engine = create_engine(bench)
    migrate.upgrade(engine)
    if not repository.count_units(engine):
        _say("loading the 城关 demo into the bench database (once; a few minutes)…")
        load_demo(engine, "chengguan")
    engine.dispose()
    return bench


def postgis_join_ms(engine, period: Period) -> tuple[float, int]:
    """The obvious alternative: incidents per grid by a spatial join in PostGIS."""
    start = time.perf_counter()
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT u.id, count(i.id) FROM unit u
            LEFT JOIN incident i ON ST_Contains(u.geom, i.geom)
                 AND i.received_at >= :s AND i.received_at < :e AND i.duplicate_of IS NULL
            WHERE u.valid_to IS NULL AND u.level = 3 GROUP BY u.id"""),
            {"s": period.start, "e": period.end}).all()
    return _ms(start), sum(int(n) for _, n in rows)


def sjoin_ms(engine, period: Period) -> tuple[float, int]:
    """The other alternative: load the month's incidents and the grids, geopandas sjoin."""
    start = time.perf_counter()
    with engine.connect() as conn:
        grids = gpd.read_postgis(text(
            "SELECT id, geom FROM unit WHERE valid_to IS NULL AND level = 3"), conn,
            geom_col="geom")
        points = gpd.read_postgis(text(
            "SELECT id, geom FROM incident WHERE geom IS NOT NULL AND duplicate_of IS NULL "
            "AND received_at >= :s AND received_at < :e"), conn, geom_col="geom",
            params={"s": period.start, "e": period.end})
    joined = gpd.sjoin(points, grids, predicate="within")
    return _ms(start), int(len(joined))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--month", default="")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not args.database_url:
        print("skipped: set DATABASE_URL (make bench does) to run the monthly benchmark")
        return 0
    url = prepare(args.database_url)
    engine = create_engine(url)
    settings = load_settings({**os.environ, "DATABASE_URL": url, "ONEMAP_ESCALATE_EVERY": "0"})

    from reports import export
    from reports import monthly as report_module
    from store import monthly as store_monthly

    months = store_monthly.months_with_data(engine, settings.timezone)
    month = args.month or (months[1] if len(months) > 1 else months[0])
    year, mon = (int(p) for p in month.split("-"))
    period = Period.month(year, mon, settings.timezone)
    with engine.connect() as conn:
        grids = conn.scalar(text("SELECT count(*) FROM unit WHERE valid_to IS NULL AND level=3"))
        year_n = conn.scalar(text("SELECT count(*) FROM incident WHERE received_at >= "
                                  "now() - interval '365 days'"))

    rows: list[tuple[str, list[float], str]] = []
    for level, name in ((1, "town"), (3, "grid")):
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            report = report_module.build(engine, month, level, settings)
            times.append(_ms(start))
        rows.append((f"report for a month, {name} level (build; first run cold)", times,
                     "< 1 s"))

    from dashboard.app import create_app
    from dashboard.monthly_callbacks import REPORTS

    app = create_app(settings)
    client = _auth.client(app, _auth.bench_user(url, "leader"))
    page_times = []
    for _ in range(args.runs):
        REPORTS._items.clear()  # a leader's first look at the month
        start = time.perf_counter()
        response = client.get(f"/monthly/units.geojson?month={month}&level=3")
        assert response.status_code == 200, response.status_code
        page_times.append(_ms(start))
    rows.append(("page: units of the month at grid level, fresh cache (report + shapes)",
                 page_times, "< 1 s"))

    with tempfile.TemporaryDirectory() as tmp:
        for fmt, target in (("html", "–"), ("png", "–"), ("pdf", "< 15 s")):
            times = []
            for _ in range(max(1, args.runs - 1)):
                start = time.perf_counter()
                getattr(export, f"to_{fmt}")(report, Path(tmp) / f"m.{fmt}", settings)
                times.append(_ms(start))
            rows.append((f"export {fmt.upper()} (grid level)", times, target))

    pg = [postgis_join_ms(engine, period) for _ in range(args.runs)]
    sj = [sjoin_ms(engine, period) for _ in range(args.runs)]
    rows.append(("alternative: incidents per grid by PostGIS ST_Contains join",
                 [t for t, _ in pg], "–"))
    rows.append(("alternative: incidents per grid by geopandas sjoin", [t for t, _ in sj], "–"))

    print(f"\nMonthly map, 城关 demo ({grids} grids, {year_n:,} incidents in the last 365 "
          f"days), month {month}, {args.runs} runs")
    print("| measure | median | max | target |")
    print("|---|---|---|---|")
    for name, times, target in rows:
        print(f"| {name} | {statistics.median(times):,.0f} ms | {max(times):,.0f} ms | "
              f"{target} |")
    located = int(report.units["received"].sum())
    print(f"\nIncidents in grids this month: report {located:,}, PostGIS join {pg[0][1]:,}, "
          f"sjoin {sj[0][1]:,} (frozen ids vs today's polygons; they differ only where "
          "incidents lie in blank areas or boundaries changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
