"""Benchmark: the command wall on the 东海 demo — first paint, callback server time, payload.

    python bench/wall.py [--database-url URL] [--runs 3] [--port P] [--workers 2]

The issue's targets (#6), with the 东海 demo (1,076 grids, ~400k households, a year of
incidents) on localhost: first full paint under 3 s; each filter, level or drill callback
under 300 ms server time; first-load payload under 2 MB.

* Uses a database of its own next to ``--database-url`` / ``DATABASE_URL`` (name + ``_wall``)
  and loads the 东海 demo into it once (about 70 s; kept for later runs), so the page shows
  exactly one county.
* Starts the real server (``onemap serve``: gunicorn, ``--workers`` processes) and drives
  headless Chromium (Debian's ``chromium``).
* **First full paint**: from navigation until the towns are drawn, the legend, the KPI tiles
  and the latest list are filled — a fresh browser context each run (no cache).
* **Payload**: encoded bytes of every response of that first load.
* **Callbacks**: the ``Server-Timing`` of every ``/_dash-update-component`` answer while the
  script switches level and measure, changes the time window and a filter, drills into a town
  and a village and climbs back, grouped by the callback's outputs.
* **The obvious alternatives**, same run: the whole unit layer inlined at full resolution (what
  the page did before #6) for payload, and a plain PostGIS choropleth that joins incidents to
  grids with ``ST_Contains`` instead of reading the grid frozen on each incident.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import _auth  # noqa: E402  (bench/_auth.py, next to this script)
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic"]
UNITS = "path.om-unit"


def _say(message: str) -> None:
    print(f"[bench/wall] {message}", file=sys.stderr, flush=True)


def prepare(url: str) -> str:
    """The bench database with the 东海 demo (created and loaded on first use)."""
    from loaders.demo import load_demo
    from store import migrate, repository
    from store.engine import ensure_database

    bench = make_url(url)
    bench = bench.set(database=f"{bench.database}_wall").render_as_string(hide_password=False)
    ensure_database(bench, fresh=False)
    engine = create_engine(bench)
    migrate.upgrade(engine)
    if not repository.unit_code_exists(engine, "320722"):
        _say("loading the 东海 demo into the bench database (once; about 70 s)…")
        load_demo(engine, "donghai")
    engine.dispose()
    return bench


def serve(url: str, port: int, workers: int, **env_extra: str) -> subprocess.Popen:
    """The real server on ``port`` (``env_extra``: more ONEMAP_* settings); ``proc.ready_s``:
    how long it took to answer its health check (its master warms the caches first)."""
    env = dict(os.environ, DATABASE_URL=url, ONEMAP_PORT=str(port),
               ONEMAP_WORKERS=str(workers), ONEMAP_ESCALATE_EVERY="0", **env_extra)
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    began = time.monotonic()
    while time.monotonic() < began + 300:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2):
                proc.ready_s = time.monotonic() - began  # type: ignore[attr-defined]
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("the dashboard did not start within 300 s")


def _server_ms(response) -> float | None:
    header = response.headers.get("server-timing", "")
    for part in header.split(","):
        if "dur=" in part:
            return float(part.split("dur=")[1].split(";")[0])
    return None


def _outputs(request) -> str:
    try:
        body = json.loads(request.post_data or "{}")
    except json.JSONDecodeError:
        return "?"
    out = body.get("output", "?")
    return out if len(out) < 60 else out[:57] + "…"


def _signed_in(browser, base: str):
    """A browser context with a county commander's session (every page needs one)."""
    # bypass_csp: the page's CSP forbids eval, which wait_for_function("…") uses (the
    # harness's, not the app's scripts)
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, bypass_csp=True)
    context.add_cookies([{"name": k, "value": v, "url": base}
                         for k, v in SESSION_COOKIES.items()])
    return context


SESSION_COOKIES: dict[str, str] = {}


#: how long a first paint may take before the bench gives up (bench/province.py raises it)
PAINT_TIMEOUT_MS = 30_000


def first_paint(browser, base: str, towns: int) -> tuple[float, int, int]:
    """Seconds to a full first paint, encoded bytes and number of requests."""
    context = _signed_in(browser, base)
    page = context.new_page()
    sizes: list[int] = []
    page.on("requestfinished", lambda r: sizes.append(r.sizes()["responseBodySize"]))
    t0 = time.monotonic()
    page.goto(base + "/")
    page.wait_for_function(f"document.querySelectorAll('{UNITS}').length >= {towns}",
                           timeout=PAINT_TIMEOUT_MS)
    page.wait_for_function(
        "document.querySelector('#legend-title') && document.querySelectorAll("
        "'#latest li.om-item').length > 0 && !document.querySelector('#kpi-resolution_rate')"
        ".innerText.includes('–')", timeout=PAINT_TIMEOUT_MS)
    elapsed = time.monotonic() - t0
    page.wait_for_timeout(1500)  # what else the first view loads (point layers)
    total, count = sum(sizes), len(sizes)
    context.close()
    return elapsed, total, count


def callbacks(browser, base: str) -> dict[str, list[float]]:
    """Server time of every callback while an operator works the page."""
    page = _signed_in(browser, base).new_page()
    timings: dict[str, list[float]] = defaultdict(list)

    def record(response) -> None:
        ms = _server_ms(response)
        if ms is None:
            return
        if "_dash-update-component" in response.url:
            timings[_outputs(response.request)].append(ms)
        elif "/wall/" in response.url:
            layer = response.url.split("/wall/")[1].split("?")[0]
            timings[f"layer {layer}"].append(ms)

    page.goto(base + "/")
    page.wait_for_selector(UNITS, timeout=30_000)
    page.wait_for_timeout(2500)
    page.on("response", record)

    def settle() -> None:
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)

    for label in ("村(社区)", "网格", "县(市/区/旗)", "乡镇(街道)"):
        page.get_by_label(label, exact=True).check()
        settle()
    for label in ("每千户事件数", "超期未办结", "办结率", "网格内办结占比", "受理事件数"):
        page.get_by_label(label, exact=True).check()
        settle()
    for label in ("今日", "近30天", "近7天"):
        page.get_by_label(label, exact=True).check()
        settle()
    page.locator("#f-category").click()
    page.get_by_role("option").first.click()
    page.keyboard.press("Escape")
    settle()
    page.locator(UNITS).first.dispatch_event("click")  # drill into a town
    settle()
    page.locator(UNITS).first.dispatch_event("click")  # and a village
    settle()
    page.get_by_label("住户", exact=True).check()
    page.get_by_label("视频监控", exact=True).check()
    settle()
    box = page.locator(".om-map").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(4):  # wheel in to street zoom: density hexagons, points in view
        page.mouse.wheel(0, -300)
        settle()
    page.locator(".om-crumb").first.click()  # back to the whole county
    settle()
    page.close()
    return timings


def alternatives(url: str) -> dict[str, tuple[float, float]]:
    """(size or time, rows) of the obvious alternatives."""
    from store import repository, wall
    from store.measures import Period

    engine = create_engine(url)
    out: dict[str, tuple[float, float]] = {}
    t0 = time.perf_counter()
    inline = json.dumps(repository.units_geojson(engine), separators=(",", ":"))
    out["inline"] = (len(inline.encode()), time.perf_counter() - t0)
    period = Period.last_days(30, datetime.now(UTC))
    with engine.connect() as conn:
        grids = [r[0] for r in conn.execute(text(
            "SELECT id FROM unit WHERE level = 3 AND valid_to IS NULL"))]
    best = []
    for _ in range(3):
        t0 = time.perf_counter()
        ours = wall.choropleth(engine, 3, grids, period, "received")
        best.append(time.perf_counter() - t0)
    out["ours"] = (min(best), len(ours))
    plain = """
        SELECT u.id, count(i.id) FROM unit u
        LEFT JOIN incident i ON ST_Contains(u.geom, i.geom)
             AND i.received_at >= :s AND i.received_at < :e AND i.duplicate_of IS NULL
        WHERE u.level = 3 AND u.valid_to IS NULL GROUP BY u.id"""
    best = []
    with engine.connect() as conn:
        for _ in range(3):
            t0 = time.perf_counter()
            rows = conn.execute(text(plain), {"s": period.start, "e": period.end}).all()
            best.append(time.perf_counter() - t0)
    out["plain"] = (min(best), len(rows))
    mismatches = sum(1 for gid, n in rows if int(ours.get(gid) or 0) != n)
    out["mismatch"] = (mismatches, len(rows))
    engine.dispose()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--port", type=int, default=8077)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not args.database_url:
        print("skipped: set DATABASE_URL (make bench does) to run the wall benchmark")
        return 0
    from playwright.sync_api import sync_playwright

    from onemap.system import ensure_browser

    url = prepare(args.database_url)
    engine = create_engine(url)
    with engine.connect() as conn:
        towns = conn.scalar(text("SELECT count(*) FROM unit WHERE level = 1 "
                                 "AND valid_to IS NULL"))
    engine.dispose()
    proc = serve(url, args.port, args.workers)
    base = f"http://127.0.0.1:{args.port}"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=ensure_browser(), args=CHROMIUM_ARGS)
            SESSION_COOKIES.update(_auth.cookies(base, _auth.bench_user(url)))
            paints = [first_paint(browser, base, towns) for _ in range(args.runs)]
            timings = callbacks(browser, base)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    alt = alternatives(url)

    print(f"\nCommand wall, 东海 demo ({towns} towns), {args.workers} gunicorn workers, "
          "localhost, headless Chromium\n")
    print("| measure | result | target |")
    print("|---|---|---|")
    secs = [p[0] for p in paints]
    print(f"| first full paint, {args.runs} cold loads | "
          f"{' / '.join(f'{s:.2f}' for s in secs)} s | < 3 s |")
    print(f"| first-load payload (encoded) | {paints[0][1] / 1e6:.2f} MB in {paints[0][2]} "
          "requests | < 2 MB |")
    print(f"| alternative: every unit inlined at full resolution | "
          f"{alt['inline'][0] / 1e6:.2f} MB of GeoJSON (before compression) | |")
    every = [ms for name, values in timings.items() for ms in values
             if not name.startswith("layer ")]
    if every:
        print(f"| callbacks: {len(every)} answers, median / p95 / max server time | "
              f"{statistics.median(every):.0f} / "
              f"{sorted(every)[int(0.95 * (len(every) - 1))]:.0f} / {max(every):.0f} ms "
              "| < 300 ms each |")
    print(f"| choropleth of all grids, 30 days (store.wall) | {alt['ours'][0] * 1000:.0f} ms "
          f"for {alt['ours'][1]} grids | |")
    print(f"| alternative: plain PostGIS ST_Contains join | {alt['plain'][0] * 1000:.0f} ms, "
          f"{alt['mismatch'][0]} grids differ | |")
    print("\nPer callback (outputs) and per layer URL: answers, median, max server ms\n")
    print("| callback outputs / layer | n | median ms | max ms |")
    print("|---|---|---|---|")
    for name, values in sorted(timings.items(), key=lambda kv: -max(kv[1])):
        print(f"| `{name}` | {len(values)} | {statistics.median(values):.0f} | "
              f"{max(values):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
