"""Benchmark: what scoping costs (#15) — the wall's callbacks, its incident layer and
``/api/v1/incidents`` for a town user against the same work unscoped, on the 东海 demo.

    python bench/access.py [--database-url URL] [--runs 7]

* Uses the wall bench's database (``<name>_wall``, the 东海 demo, loaded once by
  ``bench/wall.py``'s ``prepare``).
* Four ways to run the same code, same run:
  - **owner, no RLS** — the obvious alternative: the database owner's engine, which
    row-level security does not apply to (what the app did before #15);
  - **app role, everything** — the application's role with the ``all`` scope (the system's
    jobs);
  - **county user** — a county commander: the policies check each row against the county's
    subtree;
  - **town user** — a town commander: the same, narrower.
* The callbacks run as plain functions in a request context (server time, no HTTP); the
  layer and the API through the Flask test client with the user's session or personal token.
* Medians (and the slowest run) in milliseconds, first run excluded (caches warm).
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


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        fn()
        out.append(_ms(start))
    return out[1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if not args.database_url:
        print("skipped: set DATABASE_URL (make bench does) to run the access benchmark")
        return 0
    from flask import g
    from wall import prepare

    from accounts.bootstrap import SETUP
    from accounts.service import actor_for, issue_token
    from dashboard import wall_callbacks as wc
    from dashboard.app import create_app
    from onemap.access import SYSTEM
    from onemap.settings import load_settings
    from store import scope
    from store import users as db_users
    from store import wall as db_wall

    url = prepare(args.database_url)
    owner = create_engine(url)
    with owner.connect() as conn:
        county = conn.scalar(text("SELECT code FROM unit WHERE level = 0 AND valid_to IS NULL "
                                  "ORDER BY code LIMIT 1"))
        town = conn.execute(text("""
            SELECT u.code, count(*) FROM incident i JOIN unit u ON u.id = i.town_id
            GROUP BY u.code ORDER BY count(*) DESC LIMIT 1""")).one()
        total = conn.scalar(text("SELECT count(*) FROM incident"))
    settings = load_settings({**os.environ, "DATABASE_URL": url, "ONEMAP_ESCALATE_EVERY": "0",
                              "ONEMAP_LOGIN_RATE": "1000 per minute"})
    app = create_app(settings)
    rt = app.server.extensions["onemap"]
    users = {"county user": _auth.bench_user(url, "commander", county),
             "town user": _auth.bench_user(url, "commander", town.code)}
    actors = {"app role, everything": SYSTEM}
    tokens = {}
    for label, user in users.items():
        row = db_users.user(rt.engine, username=user["username"])
        actors[label] = actor_for(rt, row)
        tokens[label] = issue_token(rt.acting_as(SETUP), user["username"], 1)
    print(f"东海 bench database: {total:,} incidents; town {town.code} has {town[1]:,}",
          flush=True)

    def kpis_and_lists(engine):
        def run():
            from datetime import UTC, datetime

            from dashboard import view as v
            p = v.period_for("30d", datetime.now(UTC), settings.timezone, None, None)
            db_wall.kpis(engine, p, None, within=None, tz=settings.timezone)
            db_wall.latest_incidents(engine, within=None, filters=None, limit=15)
            db_wall.overdue_incidents(engine, within=None, filters=None, limit=15)
        return run

    rows: list[tuple[str, str, list[float]]] = []
    rows.append(("KPIs + latest + overdue (store)", "owner, no RLS",
                 _timed(kpis_and_lists(owner), args.runs)))
    for label, actor in actors.items():
        with scope.acting(actor):
            rows.append(("KPIs + latest + overdue (store)", label,
                         _timed(kpis_and_lists(rt.engine), args.runs)))

    # The wall's callbacks as the page calls them, in a request context per actor.
    for label, actor in actors.items():
        if actor is SYSTEM:
            continue
        with app.server.test_request_context("/"), scope.acting(actor):
            g.onemap_actor = actor
            rows.append(("callback: lists + KPI tiles", label, _timed(
                lambda: wc._lists(None, {"parent": None}, "30d", None, None, None, None,
                                  None, None, None, "zh"), args.runs)))
            rows.append(("callback: choropleth", label, _timed(
                lambda: wc._choropleth({"level": 1, "parent": None, "path": []}, "received",
                                       "30d", None, None, None, None, None, None,
                                       None, "zh"), args.runs)))

    for label, user in users.items():
        client = _auth.client(app, user)
        rows.append(("layer: /wall/incidents.geojson z=10", label, _timed(
            lambda c=client: c.get("/wall/incidents.geojson?z=10&window=30d"), args.runs)))
        api = app.server.test_client()
        rows.append(("API: /api/v1/incidents?limit=100", label, _timed(
            lambda c=api, t=tokens[label]: c.get("/api/v1/incidents?limit=100",
                                                 headers={"X-API-Key": t}), args.runs)))

    width = max(len(r[0]) for r in rows)
    print(f"\n{'what':<{width}}  {'who':<22} {'median ms':>10} {'max ms':>8}")
    for what, who, times in rows:
        print(f"{what:<{width}}  {who:<22} {statistics.median(times):>10.1f} "
              f"{max(times):>8.1f}")
    owner.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
