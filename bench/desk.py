"""Benchmark: the desk (#16) — first paint and queue refresh for a town desk, a department
desk and a county command centre, and a phone photo's way in (verify, strip EXIF, thumbnail,
store).

    python bench/desk.py [--database-url URL] [--runs 20] [--region chengguan|donghai]

* ``--region chengguan`` (the default, as the issue names): a bench database of its own
  (``<name>_chengguan``) with the 城关 demo (about 675k incidents), loaded on first use (a few
  minutes, once).  ``donghai`` uses the wall bench's database (``<name>_wall``, 东海).
* **First paint**: ``onemap serve`` on the bench database, headless Chromium signed in as
  each desk, from ``goto('/desk')`` until the queue's list (or its empty state) is drawn;
  median of a few cold page loads.
* **Queue refresh** = the desk's 5-second callback as the page runs it (counts of every queue
  + the open queue's first page), server time in a request context, p50 and p95; side by side
  with the same two queries run by the database owner without row-level security.
* **Photo**: a 4,000 × 3,000 JPEG of about 4 MB with EXIF GPS, through
  :func:`intake.photos.process` (decode, read EXIF, strip, re-encode, thumbnail) and the
  whole :func:`intake.photos.add_photo` (plus the row, the history event and the audit row),
  rolled into a scratch media directory.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import _auth  # noqa: E402  (bench/_auth.py, next to this script)
from sqlalchemy import create_engine, text  # noqa: E402


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _phone_jpeg(seed: int = 7) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (3000, 4000, 3), dtype=np.uint8)
    pixels[:, :, 1] = (pixels[:, :, 1] // 4) + 120  # some structure, not pure noise
    img = Image.fromarray(pixels)
    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "N", 2: (34, 30, 1.5), 3: "E", 4: (118, 45, 2.25)})
    out = io.BytesIO()
    img.save(out, "JPEG", quality=60, exif=exif)
    return out.getvalue()


def prepare_region(url: str, region: str) -> str:
    """A bench database of its own with one demo region (created and loaded on first use)."""
    from sqlalchemy.engine import make_url

    from loaders.demo import load_demo
    from loaders.demo_spec import REGIONS
    from store import migrate, repository
    from store.engine import ensure_database

    bench = make_url(url)
    bench = bench.set(database=f"{bench.database}_{region}").render_as_string(
        hide_password=False)
    ensure_database(bench, fresh=False)
    engine = create_engine(bench)
    migrate.upgrade(engine)
    if not repository.unit_code_exists(engine, REGIONS[region].adcode):
        print(f"loading the {region} demo into the bench database (once; a few minutes)…",
              file=sys.stderr, flush=True)
        load_demo(engine, region)
    engine.dispose()
    return bench


def first_paint(url: str, users: dict[str, dict], loads: int = 5
                ) -> list[tuple[str, str, list[float]]]:
    """Each desk's first paint in Chromium: goto('/desk') → the queue list drawn."""
    from playwright.sync_api import sync_playwright
    from wall import serve

    from onemap.system import ensure_browser

    port = 18000 + os.getpid() % 1000
    proc = serve(url, port, 1)
    base = f"http://127.0.0.1:{port}"
    out = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=ensure_browser(),
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
            for label, user in users.items():
                jar = _auth.cookies(base, user)
                times = []
                for k in range(loads + 1):
                    context = browser.new_context(viewport={"width": 1600, "height": 900})
                    context.add_cookies([{"name": n, "value": v, "url": base}
                                         for n, v in jar.items()])
                    page = context.new_page()
                    start = time.perf_counter()
                    page.goto(base + "/desk")
                    page.wait_for_selector("#d-rows, #d-empty", timeout=60_000)
                    if k:  # the first load warms the server's caches
                        times.append(_ms(start))
                    context.close()
                out.append(("desk first paint in Chromium (goto → list)", label, times))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--region", choices=("chengguan", "donghai"), default="chengguan")
    args, _ = parser.parse_known_args()
    if not args.database_url:
        print("skipped: set DATABASE_URL (make bench does) to run the desk benchmark")
        return 0
    from datetime import UTC, datetime, timedelta

    from flask import g
    from wall import prepare

    from accounts.bootstrap import SETUP
    from accounts.service import actor_for
    from dashboard import desk_callbacks as dc
    from dashboard.app import create_app
    from intake import photos
    from onemap.access import cli_actor
    from onemap.settings import load_settings
    from store import desk as db_desk
    from store import scope
    from store import users as db_users

    url = prepare(args.database_url) if args.region == "donghai" else \
        prepare_region(args.database_url, args.region)
    owner = create_engine(url)
    with owner.connect() as conn:
        total = conn.scalar(text("SELECT count(*) FROM incident"))
        town = conn.scalar(text("""SELECT u.code FROM incident i JOIN unit u ON u.id = i.town_id
                                   GROUP BY u.code ORDER BY count(*) DESC LIMIT 1"""))
        county = conn.scalar(text("SELECT code FROM unit WHERE level = 0 LIMIT 1"))
        dept = conn.scalar(text("""SELECT d.code FROM incident i JOIN department d
                                   ON d.id = i.department_id GROUP BY d.code
                                   ORDER BY count(*) DESC LIMIT 1"""))
        case = conn.scalar(text("SELECT id FROM incident WHERE town_id = (SELECT id FROM unit "
                                "WHERE code = :t AND valid_to IS NULL) ORDER BY id DESC "
                                "LIMIT 1"), {"t": town})
    media = tempfile.mkdtemp(prefix="onemap-bench-media-")
    settings = load_settings({**os.environ, "DATABASE_URL": url, "ONEMAP_ESCALATE_EVERY": "0",
                              "ONEMAP_MEDIA_DIR": media})
    app = create_app(settings)
    rt = app.server.extensions["onemap"]
    desks = {"town desk (handler)": ("handler", town, None),
             "department desk": ("department", county, dept),
             "county command centre": ("commander", county, None)}
    rows: list[tuple[str, str, list[float]]] = []
    users = {}
    for label, (role, unit, department) in desks.items():
        made = _auth.bench_user(url, role, unit) if department is None else None
        if made is None:
            from accounts.service import add_user

            name = f"bench_dept_{int(time.time())}"
            add_user(rt.acting_as(SETUP), name, role="department", password=_auth.PASSWORD,
                     unit_code=unit, department=department)
            made = {"username": name}
        users[label] = {"username": made["username"], "password": _auth.PASSWORD}
        actor = actor_for(rt, db_users.user(rt.engine, username=made["username"]))
        with app.server.test_request_context("/"), scope.acting(actor):
            g.onemap_actor = actor
            times = []
            for _ in range(args.runs + 1):
                start = time.perf_counter()
                dc._refresh(0, "to_accept", None, None, None, None, "zh")
                times.append(_ms(start))
            rows.append(("desk refresh (counts + first page)", label, times[1:]))
    now = datetime.now(UTC)
    times = []
    for _ in range(args.runs + 1):
        start = time.perf_counter()
        db_desk.counts(owner, now, now + timedelta(hours=24))
        db_desk.queue(owner, "to_accept", now, now + timedelta(hours=24))
        times.append(_ms(start))
    rows.append(("same two queries, owner without RLS", "alternative", times[1:]))

    shots = [_phone_jpeg(seed) for seed in range(5)]  # five different photos
    jpeg = shots[0]
    process_times, add_times = [], []
    for shot in shots:
        start = time.perf_counter()
        photos.process(shot, max_bytes=10 * 1024 * 1024)
        process_times.append(_ms(start))
        with scope.acting(cli_actor("bench")):
            start = time.perf_counter()
            photos.add_photo(rt.acting_as(cli_actor("bench")), case, shot)
            add_times.append(_ms(start))
    rows.append((f"photo {len(jpeg) / 1048576:.1f} MB: verify, strip, re-encode, thumbnail",
                 "intake.photos.process", process_times))
    rows.append(("photo: the whole upload (files, row, event, audit)",
                 "intake.photos.add_photo", add_times))

    rows += first_paint(url, users)
    region = {"chengguan": "城关", "donghai": "东海"}[args.region]
    print(f"{region} bench database: {total:,} incidents")
    width = max(len(r[0]) for r in rows)
    print(f"\n{'what':<{width}}  {'who':<24} {'p50 ms':>8} {'p95 ms':>8}")
    for what, who, values in rows:
        print(f"{what:<{width}}  {who:<24} {statistics.median(values):>8.1f} "
              f"{_p95(values):>8.1f}")
    print("targets (#16): first paint < 1.5 s; queue refresh p95 < 200 ms; "
          "photo upload < 400 ms")
    owner.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
