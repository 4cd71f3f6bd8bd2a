"""Benchmark: reports over HTTP — `POST /api/v1/reports` at a fixed rate, vs a plain PostGIS insert.

    python bench/ingest.py [--rate 200] [--seconds 60] [--workers 2] [--threads 32] [--port P]
                           [--prime-rounds 10] [--plain-rows 2000] [--csv FILE] [--quick]
                           [--database-url URL]

The issue's target: 200 reports/s over HTTP for 60 s on this machine, p99 server time under
50 ms, and every 201 in the database exactly once.

* Runs against the database of ``--database-url`` / ``DATABASE_URL`` (without one it prints a
  skip message).  It needs units there: the dev database of `make run` has the 玉门 demo; an
  empty ``unit`` table gets ``loaders.demo.load_demo(engine, "sample")``.
* Starts the real server as a subprocess (``onemap serve`` under gunicorn, with
  ``ONEMAP_PORT``, ``ONEMAP_WORKERS`` and ``ONEMAP_ESCALATE_EVERY=0``), waits for
  ``/api/health``, creates an operator API key for the run and revokes it at the end.
* Offers load open-loop: request i is sent at t0 + i/rate whatever the server does (a slow
  server is not given a rest), by a pool of threads with persistent ``http.client``
  connections.  Client latency is counted from the scheduled time, so waiting for a free
  thread counts against the server.  Reports sit on random household points; a few % give an
  ``address`` only (real household addresses), a few % are exact resubmissions (same
  external_id, ≥ 1 s later) and a few % are retries with the same ``Idempotency-Key`` soon
  after the first try.  Before the measured run, closed-loop priming rounds (2 × threads
  reports each) let every worker build its assignment engine (a cold start of a second or
  more on the first report); they are not in the table but are in the exactly-once check.
* Server time is the ``Server-Timing: app;dur=`` header (Flask's time for the request; time
  spent queued in gunicorn is not in it, but is in the client latency).
* Exactly-once check afterwards in the database: every id answered 201 exists once, rows with
  the run prefix = distinct (source, external_id) answered, every answer for one report names
  the same id, one ``receive`` event per row.
* The obvious alternative: ``--plain-rows`` rows inserted by one Python connection, one
  transaction each, ``INSERT … (SELECT id FROM unit WHERE ST_Contains(…))`` — no HTTP, no
  validation, no dedupe, no ancestors, no history event.

The rows it creates stay in the database (``incident_event`` is append-only: a trigger refuses
DELETE); their external_id starts with ``bench-ingest-<run>-`` (``-h-`` over HTTP, ``-sql-``
for the plain inserts).  The load generator shares the machine's cores with the server and
PostgreSQL; the CPU line says how much each used.
"""

from __future__ import annotations

import argparse
import heapq
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from geo.catalog import CATEGORIES  # noqa: E402

SOURCES = ("grid_app", "hotline_12345", "citizen_app")
TEXTS = ("楼道堆放杂物影响通行", "夜间施工噪音扰民", "小区路灯不亮", "邻里因停车发生纠纷",
         "垃圾清运不及时", "井盖缺失存在安全隐患", "流动摊贩占道经营")
ADDRESS_SHARE = 0.03   # of new reports: address only, no location
RESUBMIT_SHARE = 0.03  # of slots: the same report again (same external_id), ≥ 1 s later
IDEM_SHARE = 0.03      # of new reports: sent with an Idempotency-Key and retried soon after


@dataclass
class Slot:
    kind: str  # location / address / resubmit / retry
    key: tuple[str, str]  # (source, external_id)
    body: bytes
    idem: str | None = None


@dataclass
class Outcome:
    status: int = 0  # 0: no answer (connection error)
    lag_ms: float = 0.0  # sent this late after its scheduled time
    client_ms: float = float("nan")  # scheduled time → answer read
    server_ms: float = float("nan")  # Server-Timing app;dur
    incident_id: int | None = None
    in_grid: bool = False


# -- setup -----------------------------------------------------------------------------------

def sa_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_units(engine) -> None:
    with engine.connect() as conn:
        has_table = conn.execute(text("SELECT to_regclass('unit') IS NOT NULL")).scalar()
    if not has_table:
        from store import migrate

        migrate.upgrade(engine)
    with engine.connect() as conn:
        units = conn.execute(text("SELECT count(*) FROM unit WHERE valid_to IS NULL")).scalar()
    if not units:
        from loaders.demo import load_demo

        print("unit table empty: loading the 'sample' demo region", flush=True)
        load_demo(engine, "sample")


def sample_places(engine, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Random household points (or, without households, points inside random grids) and
    real household addresses that name one household."""
    with engine.connect() as conn:
        conn.execute(text("SELECT setseed(:s)"), {"s": (seed % 1000) / 1000})
        rows = conn.execute(text(
            "SELECT ST_X(geom), ST_Y(geom) FROM household WHERE geom IS NOT NULL "
            "ORDER BY random() LIMIT :n"), {"n": n}).all()
        if not rows:
            rows = conn.execute(text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p "
                "FROM unit WHERE valid_to IS NULL AND level = (SELECT max(level) FROM unit) "
                "ORDER BY random() LIMIT :n) s"), {"n": n}).all()
        # Addresses held by one household only: the register repeats some, and an address
        # found in several places is (rightly) not guessed by the intake.
        addresses = [a for (a,) in conn.execute(text(
            "SELECT h.address FROM (SELECT address FROM household WHERE address IS NOT NULL "
            "ORDER BY random() LIMIT :n) h "
            "WHERE (SELECT count(*) FROM household x WHERE x.address = h.address) = 1"),
            {"n": 2000})]
    lon = np.array([r[0] for r in rows])
    lat = np.array([r[1] for r in rows])
    return lon, lat, addresses


def build_plan(n: int, rate: float, prefix: str, lon: np.ndarray, lat: np.ndarray,
               addresses: list[str], seed: int, tag: str = "h-") -> list[Slot]:
    rng = np.random.default_rng(seed)
    reported_at = datetime.now().replace(microsecond=0).isoformat()
    slots: list[Slot] = []
    originals: list[int] = []  # slots holding a first submission
    retries: list[tuple[int, int]] = []  # (due slot, original slot) heap
    for i in range(n):
        if retries and retries[0][0] <= i:
            _, orig = heapq.heappop(retries)
            o = slots[orig]
            slots.append(Slot("retry", o.key, o.body, o.idem))
            continue
        r = rng.random()
        lo, hi = bisect_left(originals, i - 10 * rate), bisect_right(originals, i - rate)
        if r < RESUBMIT_SHARE and hi > lo:
            o = slots[originals[int(rng.integers(lo, hi))]]
            slots.append(Slot("resubmit", o.key, o.body, None))
            continue
        source = SOURCES[int(rng.integers(len(SOURCES)))]
        key = (source, f"{prefix}{tag}{i:07d}")
        report = {"source": source, "external_id": key[1],
                  "category": CATEGORIES[int(rng.integers(len(CATEGORIES)))].code,
                  "description": f"{TEXTS[int(rng.integers(len(TEXTS)))]}（压测 {i}）",
                  "reported_at": reported_at}
        k = int(rng.integers(len(lon)))
        if addresses and rng.random() < ADDRESS_SHARE:
            kind = "address"
            report["address"] = addresses[int(rng.integers(len(addresses)))]
        else:
            kind = "location"
            report["location"] = {"lon": round(float(lon[k]), 6), "lat": round(float(lat[k]), 6)}
        idem = None
        if rng.random() < IDEM_SHARE:
            idem = f"{prefix}{tag}idem-{i}"
            heapq.heappush(retries, (i + int(rng.integers(max(1, rate * 0.05),
                                                          max(2, rate * 0.5))), i))
        slots.append(Slot(kind, key, json.dumps(report, ensure_ascii=False).encode(), idem))
        originals.append(i)
    return slots


def start_server(url: str, port: int, workers: int, log) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=url, ONEMAP_PORT=str(port),
               ONEMAP_WORKERS=str(workers), ONEMAP_ESCALATE_EVERY="0")
    code = ("import sys; from cli import main; "
            f"sys.exit(main(['serve', '--host', '127.0.0.1', '--port', '{port}']))")
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def wait_healthy(proc: subprocess.Popen, port: int, timeout: float = 90.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/health")
            ok = conn.getresponse().status == 200
            conn.close()
            if ok:
                return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- load ------------------------------------------------------------------------------------

def fire(slots: list[Slot], rate: float, port: int, api_key: str, threads: int,
         t0: float) -> tuple[list[Outcome], float]:
    """Send slot i at t0 + i/rate from ``threads`` persistent connections; returns the
    outcomes and the time the last answer arrived."""
    n = len(slots)
    out = [Outcome() for _ in range(n)]
    lock = threading.Lock()
    state = {"next": 0, "last": 0.0}
    base = {"Content-Type": "application/json; charset=utf-8", "X-API-Key": api_key}

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = state["next"]
                state["next"] += 1
            if i >= n:
                break
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            slot = slots[i]
            headers = dict(base, **({"Idempotency-Key": slot.idem} if slot.idem else {}))
            res = out[i]
            res.lag_ms = (time.perf_counter() - due) * 1000
            for attempt in (0, 1):  # one resend when a kept-alive connection was closed
                try:
                    conn.request("POST", "/api/v1/reports", slot.body, headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except (http.client.RemoteDisconnected, ConnectionResetError,
                        BrokenPipeError):
                    conn.close()
                    if attempt == 0:
                        continue
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    break
                res.status = resp.status
                timing = resp.getheader("Server-Timing") or ""
                if "dur=" in timing:
                    res.server_ms = float(timing.split("dur=")[1].split(";")[0].split(",")[0])
                if resp.status in (200, 201):
                    answer = json.loads(data)
                    res.incident_id = answer["id"]
                    res.in_grid = answer["units"]["grid"] is not None
                break
            done = time.perf_counter()
            res.client_ms = (done - due) * 1000
            with lock:
                state["last"] = max(state["last"], done)
        conn.close()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return out, state["last"]


class CpuMeter:
    """CPU used by the generator, the server's process tree, PostgreSQL (backends of this
    database plus the cluster's own processes) and everything else on the machine."""

    def __init__(self, server_pid: int, dbname: str) -> None:
        import psutil

        self.psutil = psutil
        self.server_pid = server_pid
        self.dbname = dbname
        self.start = self.sample()
        self.busy = self.machine_busy()
        self.t = time.perf_counter()

    def machine_busy(self) -> float:
        c = self.psutil.cpu_times()
        return sum(c) - c.idle - getattr(c, "iowait", 0.0)

    def ours(self, p) -> bool:
        words = " ".join(p.info["cmdline"] or []).split()
        if len(words) >= 4 and "(" in words[3]:  # "postgres: user db host(port) state"
            return words[2] == self.dbname
        return True  # checkpointer, walwriter, autovacuum launcher…

    def sample(self) -> dict[str, dict[int, float]]:
        ps = self.psutil

        def cpu(p) -> float:
            try:
                c = p.cpu_times()
                return c.user + c.system
            except (ps.NoSuchProcess, ps.AccessDenied):
                return 0.0

        groups: dict[str, dict[int, float]] = {"generator": {os.getpid(): cpu(ps.Process())}}
        try:
            server = ps.Process(self.server_pid)
            tree = [server, *server.children(recursive=True)]
        except ps.NoSuchProcess:
            tree = []
        groups["server"] = {p.pid: cpu(p) for p in tree}
        groups["postgres"] = {p.pid: cpu(p) for p in ps.process_iter(["name", "cmdline"])
                              if p.info["name"] in ("postgres", "postmaster") and self.ours(p)}
        return groups

    def stop(self) -> dict[str, float]:
        end = self.sample()
        wall = time.perf_counter() - self.t
        busy = self.machine_busy() - self.busy
        used = {}
        for group, pids in end.items():
            before = self.start.get(group, {})
            used[group] = sum(max(0.0, v - before.get(pid, 0.0)) for pid, v in pids.items())
        used["other processes"] = max(0.0, busy - sum(used.values()))
        return {g: 100 * s / wall for g, s in used.items()}


# -- the alternative -------------------------------------------------------------------------

def plain_insert(url: str, lon: np.ndarray, lat: np.ndarray, prefix: str, rows: int,
                 seed: int) -> dict[str, float]:
    import psycopg

    rng = np.random.default_rng(seed + 1)
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    lat_ms = []
    located = 0
    with psycopg.connect(libpq) as conn:
        grid_level = conn.execute("SELECT max(level) FROM unit WHERE valid_to IS NULL"
                                  ).fetchone()[0]
        t_all = time.perf_counter()
        for i in range(rows):
            k = int(rng.integers(len(lon)))
            cat = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
            t = time.perf_counter()
            grid = conn.execute("""
                INSERT INTO incident (source, external_id, category, severity, description,
                                      geom, grid_id, status, location_reason, received_at,
                                      updated_at)
                SELECT %s, %s, %s, %s, %s, p.g,
                       (SELECT u.id FROM unit u WHERE u.level = %s AND u.valid_to IS NULL
                          AND ST_Contains(u.geom, p.g) LIMIT 1),
                       'received', 'inside', now(), now()
                FROM (SELECT ST_SetSRID(ST_MakePoint(%s, %s), 4326) AS g) p
                RETURNING grid_id""",
                (SOURCES[i % len(SOURCES)], f"{prefix}sql-{i:07d}", cat.code, cat.severity,
                 TEXTS[i % len(TEXTS)], grid_level, float(lon[k]), float(lat[k]))).fetchone()[0]
            conn.commit()
            lat_ms.append((time.perf_counter() - t) * 1000)
            located += grid is not None
        total = time.perf_counter() - t_all
    arr = np.array(lat_ms)
    return {"rows": rows, "rows_s": rows / total, "p50": float(np.percentile(arr, 50)),
            "p99": float(np.percentile(arr, 99)), "max": float(arr.max()),
            "located": located / rows}


# -- checks and report -----------------------------------------------------------------------

def exactly_once(engine, prefix: str, slots: list[Slot], out: list[Outcome]) -> tuple[bool, str]:
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT i.id, i.source, i.external_id,
                   (SELECT count(*) FROM incident_event e
                    WHERE e.incident_id = i.id AND e.action = 'receive') AS receives
            FROM incident i WHERE i.external_id LIKE :p AND i.external_id NOT LIKE :sql"""),
            {"p": f"{prefix}%", "sql": f"{prefix}sql-%"}).all()
    db_id = {(r.source, r.external_id): r.id for r in rows}
    db_ids = {r.id for r in rows}
    created = [o.incident_id for o in out if o.status == 201]
    answered: dict[tuple[str, str], set[int]] = {}
    for slot, o in zip(slots, out, strict=True):
        if o.status in (200, 201):
            answered.setdefault(slot.key, set()).add(o.incident_id)
    sent_keys = {s.key for s in slots}
    twice = len(created) - len(set(created))
    missing = len(set(created) - db_ids)
    disagree = sum(1 for k, ids in answered.items() if ids != {db_id.get(k)})
    bad_events = sum(1 for r in rows if r.receives != 1)
    unanswered_stored = len({k for k in sent_keys - set(answered) if k in db_id})
    ok = (twice == 0 and missing == 0 and disagree == 0 and bad_events == 0
          and len(rows) == len(answered) + unanswered_stored)
    detail = (f"{len(created):,} answers 201 → {len(set(created)):,} distinct ids, "
              f"{len(created) - missing:,} found; {len(rows):,} rows with the run prefix for "
              f"{len(answered):,} distinct reports answered ({len(sent_keys):,} sent); "
              f"answers naming another id: {disagree}; rows without exactly one 'receive' "
              f"event: {bad_events}")
    if unanswered_stored:
        detail += f"; stored though never answered 2xx: {unanswered_stored}"
    if len(created) != len(answered):
        detail += f"; reports answered only 200 (first try lost): {len(answered) - len(created)}"
    return ok, detail


def pct(values: list[float], q: float) -> float:
    arr = np.array([v for v in values if v == v])
    return float(np.percentile(arr, q)) if len(arr) else float("nan")


def table(slots: list[Slot], out: list[Outcome]) -> None:
    kinds = ["all", "location", "address", "resubmit", "retry"]
    head = (f"{'requests':10} {'n':>7} {'201':>7} {'200':>6} {'4xx':>5} {'5xx':>5} {'err':>5} "
            f"{'srv p50':>8} {'p90':>7} {'p99':>7} {'max':>7} {'cli p50':>8} {'p99':>7}")
    print(head)
    print("-" * len(head))
    for kind in kinds:
        sel = [o for s, o in zip(slots, out, strict=True) if kind == "all" or s.kind == kind]
        if not sel:
            continue
        st = Counter(o.status for o in sel)
        srv = [o.server_ms for o in sel]
        cli = [o.client_ms for o in sel if o.status]
        print(f"{kind:10} {len(sel):>7,} {st[201]:>7,} {st[200]:>6,} "
              f"{sum(v for k, v in st.items() if 400 <= k < 500):>5} "
              f"{sum(v for k, v in st.items() if k >= 500):>5} {st[0]:>5} "
              f"{pct(srv, 50):>8.1f} {pct(srv, 90):>7.1f} {pct(srv, 99):>7.1f} "
              f"{max((v for v in srv if v == v), default=float('nan')):>7.1f} "
              f"{pct(cli, 50):>8.1f} {pct(cli, 99):>7.1f}")
    print("(ms; server = Server-Timing app;dur, client = scheduled send → answer read)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or None)
    ap.add_argument("--rate", type=float, default=200.0, help="reports offered per second")
    ap.add_argument("--seconds", type=float, default=60.0, help="measured duration")
    ap.add_argument("--prime-rounds", type=int, default=10,
                    help="at most this many closed-loop rounds before the measured run")
    ap.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    ap.add_argument("--threads", type=int, default=32, help="load-generator connections")
    ap.add_argument("--plain-rows", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--csv", type=Path, help="also write one line per measured request here")
    ap.add_argument("--quick", action="store_true", help="5 s, 300 plain rows (smoke run)")
    ap.add_argument("--unscoped", action="store_true",
                    help="use a key without a unit (default: a key scoped to the first "
                         "county, as a deployment gives each channel; #15)")
    args, _unknown = ap.parse_known_args(argv)  # bench/run.py forwards its own arguments
    if not args.database_url:
        print("ingest: skipped (no --database-url and no DATABASE_URL)")
        return 0
    if args.quick:
        args.seconds, args.plain_rows = 5.0, 300

    url = sa_url(args.database_url)
    engine = create_engine(url)
    ensure_units(engine)
    run = datetime.now().strftime("%Y%m%d%H%M%S")
    prefix = f"bench-ingest-{run}-"
    n = int(round(args.rate * args.seconds))
    lon, lat, addresses = sample_places(engine, 20_000, args.seed)
    slots = build_plan(n, args.rate, prefix, lon, lat, addresses, args.seed)
    prime_round = 2 * args.threads
    priming = build_plan(prime_round * args.prime_rounds, args.rate, prefix, lon, lat,
                         addresses, args.seed + 7, tag="p-")
    kinds = Counter(s.kind for s in slots)
    print(f"run {prefix}*: {n:,} requests at {args.rate:g}/s for {args.seconds:g} s, "
          f"{len(lon):,} household points, {len(addresses):,} addresses; "
          + ", ".join(f"{k} {v:,}" for k, v in kinds.items()), flush=True)

    from store.api_keys import create_key, revoke_key

    with engine.begin() as conn:
        county = None if args.unscoped else conn.scalar(text(
            "SELECT code FROM unit WHERE level = 0 AND valid_to IS NULL ORDER BY code LIMIT 1"))
        api_key = create_key(conn, f"bench ingest {run}", "hotline_12345", "operator",
                             unit_code=county)
    print(f"key: operator, {'scoped to unit ' + county if county else 'unscoped'}", flush=True)
    port = args.port or free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="onemap-bench-ingest-", suffix=".log")
    proc = start_server(args.database_url, port, args.workers, log)
    cpu: dict[str, float] = {}
    try:
        if not wait_healthy(proc, port):
            log.seek(0)
            print("ingest: the server did not become healthy:\n" + log.read()[-3000:])
            return 1
        print(f"server: onemap serve on 127.0.0.1:{port}, {args.workers} gunicorn workers × 4 "
              f"threads (pid {proc.pid}); generator: {args.threads} connections", flush=True)
        # Priming, closed loop: each worker builds its assignment engine on its first report
        # (a cold start of a second or more); rounds of 2 × threads reports until one round
        # has no slow answer, so that the measured run starts from a served, empty queue.
        primed: list[Outcome] = []
        for r in range(args.prime_rounds):
            chunk = priming[r * prime_round:(r + 1) * prime_round]
            got, _ = fire(chunk, 1e9, port, api_key, args.threads, time.perf_counter())
            primed += got
            if all(o.server_ms < 100 for o in got):
                break
        priming = priming[:len(primed)]
        time.sleep(1.0)
        meter = CpuMeter(proc.pid, make_url(url).database or "")
        t0 = time.perf_counter() + 0.2
        out, last = fire(slots, args.rate, port, api_key, args.threads, t0)
        cpu = meter.stop()
    finally:
        stop_server(proc)
        with engine.begin() as conn:
            revoke_key(conn, api_key.split("_")[1])
    log.seek(0)
    server_log = [ln for ln in log.read().splitlines()
                  if ln.strip() and not ln.startswith("[onemap] serving")]
    log.close()

    measured_slots, measured = slots, out
    if args.csv:
        with args.csv.open("w", encoding="utf-8") as f:
            f.write("i,scheduled_s,kind,status,lag_ms,client_ms,server_ms,incident_id\n")
            for i, (slot, o) in enumerate(zip(slots, out, strict=True)):
                f.write(f"{i},{i / args.rate:.4f},{slot.kind},{o.status},{o.lag_ms:.2f},"
                        f"{o.client_ms:.2f},{o.server_ms:.2f},{o.incident_id or ''}\n")
    print()
    table(measured_slots, measured)
    ok_answers = sum(1 for o in measured if o.status in (200, 201))
    span = last - t0
    achieved = ok_answers / span if span > 0 else 0.0
    p99 = pct([o.server_ms for o in measured], 99)
    lag99 = pct([o.lag_ms for o in measured], 99)
    print(f"\noffered {args.rate:g}/s for {args.seconds:g} s; achieved {achieved:,.1f}/s "
          f"(2xx answers ÷ first scheduled send → last answer, {span:.1f} s); generator send "
          f"lag p99 {lag99:.1f} ms")
    slowest = np.nanmax([o.server_ms for o in primed])
    print(f"priming before it (closed loop, not in the table): {len(primed):,} reports in "
          f"{len(primed) // prime_round} round(s), slowest {slowest:.0f} ms (cold start), "
          f"statuses {dict(Counter(o.status for o in primed))}")
    if cpu:
        print(f"CPU during the measured part (% of one core; {os.cpu_count()} cores = "
              f"{100 * (os.cpu_count() or 1)} %): " + ", ".join(
            f"{g} {v:.0f} %" for g, v in cpu.items()))
        if cpu.get("other processes", 0) > 20:
            print(f"note: other processes used {cpu['other processes']:.0f} % of a core during "
                  "the run; the timings are disturbed by them, run again on a quiet machine")
    if server_log:
        print(f"server log ({len(server_log)} lines), last: {server_log[-1][:200]}")

    once, detail = exactly_once(engine, prefix, priming + slots, primed + out)
    plain = plain_insert(url, lon, lat, prefix, args.plain_rows, args.seed)
    engine.dispose()

    print()
    head = f"{'method':52} {'rows':>7} {'rows/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'in grid':>8}"
    print(head)
    print("-" * len(head))
    created = [(s, o) for s, o in zip(measured_slots, measured, strict=True) if o.status == 201]
    print(f"{'POST /api/v1/reports, open loop (server time)':52} {len(created):>7,} "
          f"{achieved:>8,.0f} {pct([o.server_ms for _, o in created], 50):>7.1f} "
          f"{pct([o.server_ms for _, o in created], 99):>7.1f} "
          f"{sum(o.in_grid for _, o in created) / max(1, len(created)):>8.0%}")
    print(f"{'plain INSERT … ST_Contains, 1 conn, 1 txn/row':52} {plain['rows']:>7,} "
          f"{plain['rows_s']:>8,.0f} {plain['p50']:>7.1f} {plain['p99']:>7.1f} "
          f"{plain['located']:>8.0%}")
    print("(HTTP rows/s is what was offered and answered, not a ceiling; the plain insert runs "
          "closed-loop as fast as one connection goes, after the HTTP run)")

    print()
    print(f"p99 server time < 50 ms: {'yes' if p99 < 50 else 'no'} ({p99:.1f} ms)")
    target = 0.99 * args.rate
    print(f"achieved ≥ {args.rate:g}/s: {'yes' if achieved >= target else 'no'} "
          f"({achieved:,.1f}/s; 1 % allowed for the last answer's latency)")
    print(f"every 201 in the database exactly once: {'yes' if once else 'no'} ({detail})")
    sent = len({s.key for s in priming + slots})
    print(f"rows left in the database: external_id LIKE '{prefix}%' ({sent:,} "
          f"over HTTP, {plain['rows']:,} plain); incident_event is append-only, so they stay")
    return 0


if __name__ == "__main__":
    sys.exit(main())
