"""Benchmark: 200 walls open at once — polling the database vs LISTEN/NOTIFY (#18).

    python bench/walls.py [--database-url URL] [--walls 200] [--seconds 60] [--rate 1]

* The wall benchmark's database (东海, name + ``_wall``), served by the real server
  (``onemap serve``, 2 gunicorn workers) once with ``ONEMAP_LIVE_UPDATES=poll`` and once with
  ``notify``.
* **Walls**: headless clients that do what an open wall page does every 3 s — post the live
  tick callback (``/_dash-update-component``) with their own state — signed in as 10 town
  viewers (18 walls each, each town's centre) and a county commander (the other walls).
* **Load**: reports POSTed to the API at ``--rate`` per second into random grids.
* **Measured** over ``--seconds``: CPU seconds of the PostgreSQL server (all its processes)
  and of the app (gunicorn); the update delay from a report's 201 until each wall that may see
  it has it (p50/p95/max, and any never delivered); the tick's answer time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _auth  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

TICK_OUTPUTS = [("live", "data"), ("live", "hideout"), ("incidents", "hideout"),
                ("watermark", "data"), ("live-seen", "data"), ("live-checked", "data")]
TICK_S = 3.0


def _say(message: str) -> None:
    print(f"[bench/walls] {message}", file=sys.stderr, flush=True)


def _cpu_of(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        except (OSError, IndexError, ValueError):
            continue
    return total


def _children(root: int) -> list[int]:
    out, todo = [root], [root]
    while todo:
        parent = todo.pop()
        try:
            kids = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            kids = []
        out += [int(k) for k in kids]
        todo += [int(k) for k in kids]
    return out


def _postgres_pids(url: str) -> list[int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        datadir = conn.scalar(text("SHOW data_directory"))
    engine.dispose()
    root = int(Path(datadir, "postmaster.pid").read_text().split()[0])
    return _children(root)


class Wall(threading.Thread):
    def __init__(self, port: int, cookies: dict[str, str], scope: int | None,
                 stop: threading.Event, start_after: float) -> None:
        super().__init__(daemon=True)
        self.port, self.scope, self.stop, self.start_after = port, scope, stop, start_after
        self.headers = {"Content-Type": "application/json",
                        "X-CSRFToken": cookies["_csrf_token"],
                        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
        self.mark = self.checked = None
        self.seen: list[int] = []
        self.got: dict[int, float] = {}
        self.answer_ms: list[float] = []
        self.n = 0

    def tick(self, conn: http.client.HTTPConnection) -> None:
        self.n += 1
        body = {"output": ".." + "...".join(f"{i}.{p}" for i, p in TICK_OUTPUTS) + "..",
                "outputs": [{"id": i, "property": p} for i, p in TICK_OUTPUTS],
                "inputs": [{"id": "tick", "property": "n_intervals", "value": self.n}],
                "state": [{"id": "watermark", "property": "data", "value": self.mark},
                          {"id": "live-seen", "property": "data", "value": self.seen[-200:]},
                          {"id": "live-checked", "property": "data", "value": self.checked}],
                "changedPropIds": ["tick.n_intervals"]}
        t0 = time.perf_counter()
        conn.request("POST", "/_dash-update-component", json.dumps(body), self.headers)
        resp = conn.getresponse()
        raw = resp.read()
        now = time.time()
        self.answer_ms.append((time.perf_counter() - t0) * 1000)
        if resp.status == 204:
            return
        if resp.status != 200:
            raise RuntimeError(f"tick answered {resp.status}: {raw[:200]!r}")
        answer = json.loads(raw)["response"]
        if "watermark" in answer:
            self.mark = answer["watermark"]["data"]
        if "live-checked" in answer:
            self.checked = answer["live-checked"]["data"]
        for op in answer.get("live", {}).get("hideout", {}).get("operations", []):
            loc = op.get("location") or []
            if len(loc) == 2 and loc[0] == "overrides":
                self.got.setdefault(int(loc[1]), now)
                self.seen.append(int(loc[1]))

    def run(self) -> None:
        time.sleep(self.start_after)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.stop.is_set():
            t0 = time.monotonic()
            for _attempt in range(2):  # the server closes idle keep-alive connections
                try:
                    self.tick(conn)
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.stop.wait(max(0.0, TICK_S - (time.monotonic() - t0)))


def run_mode(url: str, mode: str, rate: float, args, towns, users, county_user, key,
             places) -> dict:
    port = 8700 + (1 if mode == "notify" else 0)
    from wall import serve  # the wall benchmark's way of starting the real server

    proc = serve(url, port, 2, ONEMAP_LIVE_UPDATES=mode, ONEMAP_LOGIN_RATE="1000 per minute")
    base = f"http://127.0.0.1:{port}"
    try:
        jars = {t: _auth.cookies(base, users[t]) for t in towns}
        county = _auth.cookies(base, county_user)
        stop = threading.Event()
        walls: list[Wall] = []
        per_town = int(args.walls * 0.9) // len(towns)
        for t in towns:
            walls += [Wall(port, jars[t], t, stop, random.uniform(0, TICK_S))
                      for _ in range(per_town)]
        walls += [Wall(port, county, None, stop, random.uniform(0, TICK_S))
                  for _ in range(args.walls - len(walls))]
        for w in walls:
            w.start()
        time.sleep(2 * TICK_S + 1)  # every wall has its first watermark
        pg, app = _postgres_pids(url), _children(proc.pid)
        cpu0 = (_cpu_of(pg), _cpu_of(app))
        t_start = time.monotonic()
        t_wall = time.time()
        sent: list[tuple[int, int, float]] = []
        api = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        n = 0
        while time.monotonic() - t_start < args.seconds:
            if rate <= 0:
                time.sleep(args.seconds)
                break
            lon, lat, town = random.choice(places)
            ext = f"W{mode}-{time.time()}-{n}"
            body = json.dumps({"source": "hotline_12345", "external_id": ext,
                               "category": "dispute", "description": "大屏压测",
                               "location": {"lon": lon, "lat": lat}})
            api.request("POST", "/api/v1/reports", body, {"Content-Type": "application/json",
                                                          "X-API-Key": key})
            resp = api.getresponse()
            answer = json.loads(resp.read())
            if resp.status == 201 and not answer.get("duplicate_of"):  # walls skip duplicates
                sent.append((answer["id"], town, time.time()))
            n += 1
            time.sleep(max(0.0, n / rate - (time.monotonic() - t_start)))
        cpu1 = (_cpu_of(pg), _cpu_of(app))
        elapsed = time.monotonic() - t_start
        time.sleep(2 * TICK_S + 8)  # let the last reports arrive
        stop.set()
        for w in walls:
            w.join(timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    delays, missing = [], 0
    for w in walls:
        for incident, town, at in sent:
            if w.scope is not None and w.scope != town:
                continue
            if incident in w.got:
                delays.append(w.got[incident] - at)
            else:
                missing += 1
                if os.environ.get("BENCH_DEBUG"):
                    _say(f"missed {incident} (town {town}, sent {at - t_wall:.1f} s in) on a "
                         f"wall of {w.scope}; its last look {w.checked and w.checked - t_wall}")
    answers = [ms for w in walls for ms in w.answer_ms]
    delays.sort()
    return {"mode": mode, "rate": rate, "reports": len(sent),
            "db_cpu": (cpu1[0] - cpu0[0]) / elapsed,
            "app_cpu": (cpu1[1] - cpu0[1]) / elapsed,
            "p50": statistics.median(delays) if delays else float("nan"),
            "p95": delays[int(0.95 * (len(delays) - 1))] if delays else float("nan"),
            "max": delays[-1] if delays else float("nan"), "missing": missing,
            "deliveries": len(delays), "tick_p95": sorted(answers)[int(0.95 * (len(answers) - 1))],
            "ticks": len(answers)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--walls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, nargs="+", default=[1.0, 0.0],
                        help="reports per second (each rate is one pair of runs; 0: a quiet "
                             "hour)")
    args, _ = parser.parse_known_args()
    if not args.database_url:
        print("skipped: set DATABASE_URL (make bench does) to run the walls benchmark")
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from wall import prepare

    from store import api_keys, migrate

    url = prepare(args.database_url)
    engine = create_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        key = api_keys.create_key(conn, "压测热线", "hotline_12345", "reporter")
        town_rows = conn.execute(text(
            "SELECT id, code FROM unit WHERE level = 1 AND valid_to IS NULL ORDER BY code "
            "LIMIT 10")).all()
        places = [(float(x), float(y), int(t)) for x, y, t in conn.execute(text("""
            SELECT ST_X(ST_PointOnSurface(g.geom)), ST_Y(ST_PointOnSurface(g.geom)), v.parent_id
            FROM unit g JOIN unit v ON v.id = g.parent_id
            WHERE g.level = 3 AND g.valid_to IS NULL AND v.valid_to IS NULL""")).all()]
    engine.dispose()
    towns = [int(r.id) for r in town_rows]
    users = {int(r.id): _auth.bench_user(url, "viewer", r.code) for r in town_rows}
    county_user = _auth.bench_user(url, "commander")
    results = [run_mode(url, mode, rate, args, towns, users, county_user, key, places)
               for rate in args.rate for mode in ("poll", "notify")]
    print(f"\n{args.walls} walls (3 s tick) for {args.seconds:g} s on 东海; 90 % of walls are "
          "town viewers\n")
    print("| reports/s | live updates | DB CPU (cores) | app CPU (cores) | update delay p50 / "
          "p95 / max (s) | missed | tick answer p95 (ms) | ticks |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['rate']:g} | {r['mode']} | {r['db_cpu']:.2f} | {r['app_cpu']:.2f} | "
              f"{r['p50']:.1f} / "
              f"{r['p95']:.1f} / {r['max']:.1f} | {r['missing']} of "
              f"{r['missing'] + r['deliveries']} | {r['tick_p95']:.0f} | {r['ticks']:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
