"""Benchmark: a streaming standby's lag under load, and backup / restore / verify times (#18).

    python bench/scaleout.py [--database-url URL] [--rate 200] [--seconds 60] [--skip-lag]
                             [--skip-backup]

* **Replica lag**: `onemap db replica up` makes a real standby of the embedded cluster (its own
  port); `bench/ingest.py --rate R` then offers reports over HTTP to the primary while the
  primary's ``pg_stat_replication`` is sampled every 0.2 s: ``replay_lag`` (commit on the
  primary → replayed on the standby) and the bytes not yet replayed.  The standby is dropped
  afterwards.  Needs the embedded cluster (no ``DATABASE_URL`` of another server).
* **Backup, verify, restore** on a cluster that holds the 城关 demo only (its own var/ under
  ``var/bench-backup``, loaded once, about 2–3 minutes, kept): `onemap db backup` (base backup
  + WAL archive), `onemap db backup --verify` (restore into a scratch cluster and compare row
  counts and a checksum of ``incident_event``), and `onemap db restore --to <now>`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _say(message: str) -> None:
    print(f"[bench/scaleout] {message}", file=sys.stderr, flush=True)


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[int(q * (len(values) - 1))] if values else float("nan")


def replica_lag(rate: float, seconds: float) -> list[tuple[str, str]]:
    import psycopg

    from cli.bootstrap import embedded_cluster
    from onemap.settings import load_settings
    from store import replica

    settings = load_settings()
    primary = embedded_cluster(settings)
    primary.start()
    _say("making the standby (pg_basebackup of the whole cluster) …")
    t0 = time.monotonic()
    replica.up(primary, say=_say)
    made = time.monotonic() - t0
    url = primary.url("postgres").replace("postgresql+psycopg://", "postgresql://", 1)
    lags: list[float] = []
    behind: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.is_set():
                row = conn.execute(
                    "SELECT coalesce(extract(epoch FROM replay_lag), 0), "
                    "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) "
                    "FROM pg_stat_replication "
                    "ORDER BY backend_start DESC LIMIT 1").fetchone()
                if row:
                    lags.append(float(row[0]))
                    behind.append(int(row[1] or 0))
                stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    env = dict(os.environ, DATABASE_URL=primary.url(settings.db_name))
    _say(f"offering {rate:g} reports/s for {seconds:g} s to the primary …")
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "ingest.py"), "--rate",
                          str(rate), "--seconds", str(seconds), "--plain-rows", "0"],
                         env=env, capture_output=True, text=True)
    stop.set()
    sampler.join()
    achieved = next((line for line in run.stdout.splitlines() if "achieved" in line), "?")
    replica.drop(primary)
    return [("standby made (pg_basebackup, whole cluster)", f"{made:.1f} s"),
            ("load", achieved.strip()),
            ("replay lag p50 / p99 / max", f"{statistics.median(lags) * 1000:.0f} / "
             f"{_pct(lags, 0.99) * 1000:.0f} / {max(lags) * 1000:.0f} ms" if lags else "—"),
            ("bytes not yet replayed p99 / max", f"{_pct(behind, 0.99) / 1024:.0f} / "
             f"{max(behind) / 1024:.0f} KB" if behind else "—"),
            ("samples", f"{len(lags)}")]


def backup_times() -> list[tuple[str, str]]:
    var = ROOT / "var" / "bench-backup"
    env = dict(os.environ, ONEMAP_VAR_DIR=str(var), ONEMAP_PG_PORT="54360", DATABASE_URL="",
               ONEMAP_DEMO_REGION="chengguan", DATABASE_REPLICA_URL="")
    onemap = [sys.executable, "-m", "cli"]

    def timed(*args: str) -> tuple[float, str]:
        t0 = time.monotonic()
        done = subprocess.run([*onemap, *args], env=env, capture_output=True, text=True,
                              cwd=ROOT)
        if done.returncode != 0:
            raise SystemExit(f"onemap {' '.join(args)} failed:\n{done.stderr[-2000:]}")
        return time.monotonic() - t0, done.stdout + done.stderr

    _say("the 城关 cluster (loaded once, kept in var/bench-backup) …")
    timed("setup")
    import shutil

    shutil.rmtree(var / "backups", ignore_errors=True)
    shutil.rmtree(var / "restore", ignore_errors=True)
    try:
        backup_s, said = timed("db", "backup")
        size = next((line.split("(")[1].split(")")[0] for line in said.splitlines()
                     if "base backup" in line), "?")
        verify_s, said = timed("db", "backup", "--verify")
        figures = [line for line in said.splitlines() if "incident_event checksum" in line]
        from datetime import datetime

        moment = datetime.now().astimezone().isoformat(sep=" ", timespec="seconds")
        time.sleep(1)
        restore_s, _ = timed("db", "restore", "--to", moment)
    finally:
        subprocess.run([*onemap, "stop"], env=env, capture_output=True, cwd=ROOT)
    return [("base backup (城关 cluster)", f"{backup_s:.1f} s, {size}"),
            ("verify (restore to a restore point + compare)", f"{verify_s:.1f} s"),
            ("restore --to a moment (copy + WAL replay + promote)", f"{restore_s:.1f} s"),
            ("checksum line", figures[0].strip() if figures else "—")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--skip-lag", action="store_true")
    parser.add_argument("--skip-backup", action="store_true")
    args, _ = parser.parse_known_args()
    rows: list[tuple[str, str]] = []
    if not args.skip_lag:
        rows += replica_lag(args.rate, args.seconds)
    if not args.skip_backup:
        rows += backup_times()
    print("\n| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
