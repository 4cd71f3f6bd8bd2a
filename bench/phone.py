"""Benchmark: the grid worker's phone page ``/m`` (#16) on a throttled "slow 3G" network in
Chromium — bytes on the wire and time until the page is usable (categories drawn, grids
cached, GPS asked) on a first visit — side by side with the obvious alternative, the Dash
desk ``/desk`` opened on the same phone.  (Later visits take the shell from the service
worker's cache; the DevTools throttle applies to the page, not to the worker's own fetches,
so those are not timed here.)

    python bench/phone.py [--database-url URL] [--loads 3]

Network profile (Chrome DevTools' "Slow 3G" of recent versions): 400 ms round trip,
400 kbit/s down and up, set through the DevTools protocol.  Viewport 360×740, emulated GPS.
Uses the wall bench's database (东海; ``bench/wall.py``'s ``prepare``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import _auth  # noqa: E402  (bench/_auth.py, next to this script)
from sqlalchemy import create_engine, text  # noqa: E402

SLOW_3G = {"offline": False, "latency": 400, "downloadThroughput": 400_000 / 8,
           "uploadThroughput": 400_000 / 8}


def load(browser, base: str, jar: dict, path: str, ready: str, where: tuple[float, float],
         warm: bool) -> tuple[float, int, int]:
    """One page load on slow 3G: (ms until ``ready``, bytes received, requests)."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                  has_touch=True, permissions=["geolocation"],
                                  geolocation={"longitude": where[0], "latitude": where[1],
                                               "accuracy": 20})
    context.add_cookies([{"name": n, "value": v, "url": base} for n, v in jar.items()])
    page = context.new_page()
    if warm:  # a first visit on a fast network installs the service worker
        page.goto(base + path)
        page.wait_for_selector(ready, timeout=120_000)
        page.evaluate("navigator.serviceWorker ? navigator.serviceWorker.ready.then(() => 1) "
                      ": 1")
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW_3G)
    received: list[float] = []
    urls: dict[str, str] = {}
    cdp.on("Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"],
                                                                   e["request"]["url"]))
    cdp.on("Network.loadingFinished", lambda e: received.append(e["encodedDataLength"]))
    cdp.on("Network.loadingFinished", lambda e: os.environ.get("BENCH_DEBUG") and print(
        urls.get(e["requestId"]), e["encodedDataLength"], file=sys.stderr))
    start = time.perf_counter()
    page.goto(base + path, wait_until="commit", timeout=120_000)
    page.wait_for_selector(ready, timeout=120_000)
    elapsed = (time.perf_counter() - start) * 1000
    context.close()
    return elapsed, int(sum(received)), len(received)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--loads", type=int, default=3)
    args, _ = parser.parse_known_args()
    if not args.database_url:
        print("skipped: set DATABASE_URL (make bench does) to run the phone benchmark")
        return 0
    from playwright.sync_api import sync_playwright
    from wall import prepare, serve

    from onemap.system import ensure_browser

    url = prepare(args.database_url)
    engine = create_engine(url)
    with engine.connect() as conn:
        code, x, y = conn.execute(text(
            "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
            "FROM unit WHERE level = 3 AND valid_to IS NULL ORDER BY code LIMIT 1")).one()
    engine.dispose()
    user = _auth.bench_user(url, "grid_worker", code)
    port = 19000 + os.getpid() % 1000
    proc = serve(url, port, 1)
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        jar = _auth.cookies(base, user)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=ensure_browser(),
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
            cases = (("/m, first visit", "/m", "body[data-ready='1']", False),
                     ("/desk (Dash) on the phone, first visit", "/desk", "#d-rows, #d-empty",
                      False))
            for label, path, ready, warm in cases:
                runs = [load(browser, base, jar, path, ready, (x, y), warm)
                        for _ in range(args.loads)]
                rows.append((label, statistics.median(r[0] for r in runs),
                             statistics.median(r[1] for r in runs),
                             statistics.median(r[2] for r in runs)))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    width = max(len(r[0]) for r in rows)
    print("slow 3G: 400 ms RTT, 400 kbit/s down/up; 360×740; median of "
          f"{args.loads} loads")
    print(f"\n{'page':<{width}}  {'usable after s':>14} {'KB received':>12} {'requests':>9}")
    for label, ms, size, n in rows:
        print(f"{label:<{width}}  {ms / 1000:>14.1f} {size / 1024:>12.0f} {n:>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
