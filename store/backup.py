"""Backups of the embedded cluster: base backups, the WAL archive, point-in-time restores and a
verify drill — all with PostgreSQL's own tools (``pg_basebackup``, ``archive_command``,
``restore_command`` and recovery targets), nothing home-made.

Layout of the backup directory (``ONEMAP_BACKUP_DIR``, default ``var/backups``)::

    wal/                      finished WAL segments, copied by the primary's archive_command
    base/<YYYYmmddTHHMMSSZ>/  data/ (pg_basebackup, plain format, WAL streamed in) and
                              backup.json (when it started and finished, size)

The primary always runs with ``archive_mode=on``; its ``archive_command`` copies a segment only
while ``wal/`` exists, so nothing accumulates until the first ``onemap db backup``.  A restore
copies the newest base backup that finished before the target into a new cluster directory,
and replays the archive up to the target (``recovery_target_time`` or a named restore point),
then promotes it: the primary is never touched.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from onemap.errors import SetupError
from store.cluster import Cluster

BASE_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class BaseBackup:
    name: str
    path: Path
    started_at: datetime
    finished_at: datetime
    bytes: int

    @property
    def datadir(self) -> Path:
        return self.path / "data"


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _connect(cluster: Cluster, dbname: str = "postgres", **kw) -> psycopg.Connection:
    return psycopg.connect(_plain(cluster.url(dbname)), connect_timeout=10, **kw)


def archive_dir(cluster: Cluster) -> Path:
    if cluster.archive_to is None:
        raise SetupError("This cluster has no WAL archive configured.")
    return cluster.archive_to


def ensure_archiving(primary: Cluster, *, say=print) -> None:
    """Create the WAL archive and make sure the running primary copies into it (a cluster
    started by an older OneMap, without archive_mode, is restarted once)."""
    wal = archive_dir(primary)
    (wal.parent / "base").mkdir(parents=True, exist_ok=True)
    wal.mkdir(parents=True, exist_ok=True)
    primary.give_to_server(wal.parent)
    primary.start()
    with _connect(primary, autocommit=True) as conn:
        mode = conn.execute("SHOW archive_mode").fetchone()[0]
        command = conn.execute("SHOW archive_command").fetchone()[0]
    if mode != "on" or str(wal) not in command:
        say("restarting the database cluster once to turn on WAL archiving "
            f"into {wal} (archive_mode needs a restart)")
        primary.stop()
        primary.start()
        primary.wait_ready()


def backups(archive_root: Path) -> list[BaseBackup]:
    """Finished base backups, oldest first (a backup without backup.json never finished)."""
    out = []
    for meta in sorted((archive_root / "base").glob("*/backup.json")):
        data = json.loads(meta.read_text())
        out.append(BaseBackup(name=meta.parent.name, path=meta.parent,
                              started_at=datetime.fromisoformat(data["started_at"]),
                              finished_at=datetime.fromisoformat(data["finished_at"]),
                              bytes=int(data["bytes"])))
    return out


def _server_now(cluster: Cluster) -> datetime:
    with _connect(cluster, autocommit=True) as conn:
        return conn.execute("SELECT clock_timestamp()").fetchone()[0]


def take(primary: Cluster, *, say=print) -> BaseBackup:
    """A base backup of the whole cluster (every database), with its WAL streamed in, so it
    restores on its own; the archive then carries it forward to any later moment."""
    ensure_archiving(primary, say=say)
    root = archive_dir(primary).parent
    started = _server_now(primary)
    name = started.astimezone(UTC).strftime(BASE_FORMAT)
    target = root / "base" / name
    if target.exists():
        raise SetupError(f"A backup named {name} already exists in {target.parent}; wait a "
                         "second and run it again.")
    target.mkdir(parents=True)
    primary.give_to_server(target)
    primary.run_tool("pg_basebackup", "-D", str(target / "data"), "-Fp", "-X", "stream",
                     "-c", "fast", "--no-sync")
    finished = _server_now(primary)
    size = sum(p.stat().st_size for p in (target / "data").rglob("*") if p.is_file())
    (target / "backup.json").write_text(json.dumps({
        "started_at": started.isoformat(), "finished_at": finished.isoformat(),
        "bytes": size}, indent=1))
    switch_and_wait(primary)
    return next(b for b in backups(root) if b.name == name)


def switch_and_wait(primary: Cluster, timeout: float = 60) -> str:
    """Close the current WAL segment and wait until the archive holds it, so everything
    committed so far can be restored.  Returns the segment's file name."""
    wal = archive_dir(primary)
    with _connect(primary, autocommit=True) as conn:
        segment = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]
        deadline = time.monotonic() + timeout
        while not (wal / segment).exists():
            if time.monotonic() > deadline:
                failed = conn.execute(
                    "SELECT last_failed_wal, last_failed_time FROM pg_stat_archiver").fetchone()
                raise SetupError(f"WAL segment {segment} did not reach the archive {wal} "
                                 f"within {timeout:.0f} s (last failure: {failed[0]} at "
                                 f"{failed[1]}); see {primary.logfile}")
            time.sleep(0.1)
    return segment


def choose(all_backups: list[BaseBackup], to: datetime | None) -> BaseBackup:
    """The newest base backup that finished before ``to`` (the newest of all without it)."""
    if not all_backups:
        raise SetupError("There is no backup yet: run `onemap db backup` first.")
    if to is None:
        return all_backups[-1]
    usable = [b for b in all_backups if b.finished_at <= to]
    if not usable:
        raise SetupError(f"No backup finished before {to.isoformat(sep=' ')}: the oldest "
                         f"({all_backups[0].name}) finished at "
                         f"{all_backups[0].finished_at.isoformat(sep=' ')}. A restore can only "
                         "reach moments after a base backup.")
    return usable[-1]


def restore(primary: Cluster, *, into: Path, port: int, to: datetime | None = None,
            restore_point: str | None = None, timeout: float = 600) -> Cluster:
    """Restore into a new cluster directory ``into`` on ``port`` and start it, promoted.

    ``to`` (aware): replay committed transactions up to and including that moment;
    ``restore_point``: up to a named ``pg_create_restore_point``; neither: to the end of the
    archive.  The primary is only asked to archive its current segment first."""
    archive_root = archive_dir(primary).parent
    chosen = choose(backups(archive_root), to)
    if into.exists() and any(into.iterdir()):
        raise SetupError(f"{into} is not empty; restore into a new directory.")
    if primary.status().running:
        switch_and_wait(primary)
    into.mkdir(parents=True, exist_ok=True)
    shutil.copytree(chosen.datadir, into / "data", symlinks=True)
    restored = Cluster(primary.settings, primary.bins, root=into, port=port)
    data = restored.datadir
    (data / "standby.signal").unlink(missing_ok=True)
    (data / "recovery.signal").touch()
    lines = [f"restore_command = 'cp {archive_dir(primary)}/%f %p'",
             "recovery_target_action = 'promote'"]
    if to is not None:
        lines.append(f"recovery_target_time = '{to.isoformat(sep=' ')}'")
    elif restore_point is not None:
        lines.append(f"recovery_target_name = '{restore_point}'")
    with open(data / "postgresql.auto.conf", "a") as conf:
        conf.write("\n# onemap db restore\n" + "\n".join(lines) + "\n")
    restored.give_to_server(into)
    try:
        restored.start()
    except SetupError:  # recovery can end (and stop the server) before pg_ctl sees it ready
        raise _recovery_failed(restored) from None
    _wait_promoted(restored, timeout)
    return restored


def _wait_promoted(cluster: Cluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not cluster.status().running:
            break
        try:
            with _connect(cluster, autocommit=True) as conn:
                if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    return
        except psycopg.OperationalError:
            pass
        time.sleep(0.3)
    raise _recovery_failed(cluster)


def _recovery_failed(cluster: Cluster) -> SetupError:
    tail = ""
    if cluster.logfile.exists():
        tail = "\n".join(cluster.logfile.read_text(errors="replace").splitlines()[-12:])
    return SetupError(f"The restored cluster in {cluster.root} did not finish recovery (is "
                      "the target after the backup, and is the WAL archive complete?).\n"
                      f"Last lines of {cluster.logfile}:\n{tail}")


# --- verify --------------------------------------------------------------------------------
def _tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') "
        "ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def figures(conn: psycopg.Connection, tables: list[str]) -> dict[str, int | str]:
    """Exact row counts of ``tables`` and an order-independent checksum of every
    ``incident_event`` row (the sum of the first 60 bits of each row's md5)."""
    out: dict[str, int | str] = {}
    for table in tables:
        out[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    if "public.incident_event" in tables:
        total = conn.execute(
            "SELECT coalesce(sum(('x' || left(md5(e::text), 15))::bit(60)::bigint), 0) "
            "FROM incident_event e").fetchone()[0]
        out["incident_event checksum"] = str(total)
    return out


@dataclass
class Verification:
    backup: BaseBackup
    expected: dict[str, int | str]
    found: dict[str, int | str]
    seconds: dict[str, float]

    @property
    def differences(self) -> list[str]:
        keys = sorted(set(self.expected) | set(self.found))
        return [k for k in keys if self.expected.get(k) != self.found.get(k)]

    @property
    def ok(self) -> bool:
        return not self.differences


def verify(primary: Cluster, dbname: str, *, scratch: Path, port: int) -> Verification:
    """Restore the newest backup into ``scratch`` and compare it with the primary.

    The primary's figures are taken under SHARE locks (writers wait, readers do not), then a
    named restore point is written before the locks go: the restore replays exactly to that
    point, so both sides describe the same moment even while reports keep arriving."""
    seconds: dict[str, float] = {}
    point = "onemap_verify_" + datetime.now(UTC).strftime(BASE_FORMAT)
    t0 = time.monotonic()
    with _connect(primary, dbname) as conn:
        tables = _tables(conn)
        for attempt in range(200):
            # Never wait long while holding some of the locks: a writer waiting on one we
            # hold must not wait long enough (1 s) for PostgreSQL to pick a deadlock victim —
            # it could pick the writer, and a report would fail because of a drill.
            conn.execute("SET LOCAL statement_timeout = '300ms'")
            try:
                conn.execute(f"LOCK TABLE {', '.join(tables)} IN SHARE MODE")
            except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable,
                    psycopg.errors.DeadlockDetected):
                conn.rollback()
                time.sleep(0.05 + 0.002 * attempt)
                continue
            conn.execute("SET LOCAL statement_timeout = 0")
            expected = figures(conn, tables)
            conn.execute("SELECT pg_create_restore_point(%s)", (point,))
            conn.commit()
            break
        else:
            raise SetupError("The tables stayed busy for a minute; the verify drill could not "
                             "take its figures. Run it again in a quieter moment.")
    seconds["figures on the primary"] = time.monotonic() - t0
    t0 = time.monotonic()
    restored = restore(primary, into=scratch, port=port, restore_point=point)
    seconds["restore"] = time.monotonic() - t0
    try:
        t0 = time.monotonic()
        with _connect(restored, dbname) as conn:
            found = figures(conn, tables)
        seconds["figures on the restored copy"] = time.monotonic() - t0
    finally:
        restored.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return Verification(choose(backups(archive_dir(primary).parent), None), expected, found,
                        seconds)
