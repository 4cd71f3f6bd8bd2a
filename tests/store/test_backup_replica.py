"""Backups, point-in-time restores, the verify drill and a streaming standby — on real clusters.

The module runs its own small primary (a temporary var/, a free port, WAL archiving into
var/backups/wal) with the sample demo, so the developer's cluster is never touched.  Restores
and the standby are further real clusters started from it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import create_engine, text

from intake import service
from intake.schema import parse_report
from onemap.access import cli_actor
from onemap.context import Runtime
from onemap.errors import SetupError
from store import backup, replica
from store.cluster import Cluster
from store.postgres_bin import ensure_postgres
from store.runtime import build_runtime
from tests.helpers import free_port, fresh_demo_database

pytestmark = [pytest.mark.db, pytest.mark.slow]

DB = "pitr"


@pytest.fixture(scope="module")
def primary(settings, tmp_path_factory):
    var = tmp_path_factory.mktemp("var")
    os.chmod(var, 0o755)
    own = settings.with_(var_dir=str(var), pg_port=free_port(), database_url="", db_name=DB,
                         backup_dir="")
    cluster = Cluster(own, ensure_postgres(own), archive_to=own.backup_path / "wal")
    cluster.start()
    engine = fresh_demo_database(cluster.url(DB), "sample")
    yield cluster, own, engine
    engine.dispose()
    for root in [var / "replica", *sorted((var / "restore").glob("*"))]:
        if (root / "data").exists():
            Cluster(own, cluster.bins, root=root, port=0).stop()
    cluster.stop()


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _a_grid_point(engine) -> tuple[float, float]:
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM unit "
            "WHERE valid_to IS NULL ORDER BY level DESC, id LIMIT 1) s")).one()
    return float(row[0]), float(row[1])


def _submit(own, engine, ids: list[str], where: tuple[float, float] | None = None) -> None:
    rt = build_runtime(own, engine=engine, actor=cli_actor("test"))
    lon, lat = where or _a_grid_point(engine)
    for ext in ids:
        service.submit(rt, parse_report({
            "source": "hotline_12345", "external_id": ext, "category": "dispute",
            "description": "备份演练", "location": {"lon": lon, "lat": lat}}))


def _ids(url: str, prefix: str) -> set[str]:
    with psycopg.connect(_plain(url), connect_timeout=5) as conn:
        return {r[0] for r in conn.execute(
            "SELECT external_id FROM incident WHERE external_id LIKE %s", (prefix + "%",))}


def test_restore_to_a_moment_finds_exactly_what_was_committed_before_it(primary):
    cluster, own, engine = primary
    taken = backup.take(cluster)
    assert (taken.datadir / "PG_VERSION").exists() and taken.bytes > 0
    assert [b.name for b in backup.backups(own.backup_path)] == [taken.name]

    tag = "PITR-" + uuid.uuid4().hex[:6]
    first = [f"{tag}-A{i}" for i in range(5)]
    later = [f"{tag}-B{i}" for i in range(5)]
    _submit(own, engine, first)
    time.sleep(1.0)
    with engine.connect() as conn:
        moment = conn.execute(text("SELECT clock_timestamp()")).scalar()
    time.sleep(1.0)
    _submit(own, engine, later)

    # A moment before the only backup cannot be restored, and the message says why.
    with pytest.raises(SetupError, match="No backup finished before"):
        backup.restore(cluster, into=own.var_path / "restore" / "early", port=free_port(),
                       to=taken.started_at - timedelta(hours=1))

    restored = backup.restore(cluster, into=own.var_path / "restore" / "noted",
                              port=free_port(), to=moment)
    try:
        assert _ids(restored.url(DB), tag) == set(first)
        assert _ids(cluster.url(DB), tag) == set(first) | set(later)
        with psycopg.connect(_plain(restored.url(DB))) as conn:  # promoted: it takes writes
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
            conn.execute("CREATE TABLE restored_ok (x int)")
    finally:
        restored.stop()


def test_verify_matches_the_primary_while_reports_keep_arriving(primary):
    cluster, own, engine = primary
    backup.take(cluster)
    stop = threading.Event()
    written: list[str] = []

    def keep_writing() -> None:
        n = 0
        while not stop.is_set():
            ext = f"VERIFY-{uuid.uuid4().hex[:8]}-{n}"
            _submit(own, engine, [ext])
            written.append(ext)
            n += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        time.sleep(0.5)
        result = backup.verify(cluster, DB, scratch=own.var_path / "restore" / "verify",
                               port=free_port())
    finally:
        stop.set()
        writer.join()
    assert result.ok, result.differences
    assert result.expected["public.incident"] > 0
    assert "incident_event checksum" in result.expected
    assert len(written) > 1  # the writer really ran during the drill
    assert not (own.var_path / "restore" / "verify").exists()  # the scratch copy is gone


def test_differences_name_what_does_not_match():
    taken = backup.BaseBackup("x", None, datetime.now(UTC), datetime.now(UTC), 1)
    same = backup.Verification(taken, {"a": 1, "b": "9"}, {"a": 1, "b": "9"}, {})
    other = backup.Verification(taken, {"a": 1, "b": "9"}, {"a": 2, "b": "9", "c": 0}, {})
    assert same.ok and same.differences == []
    assert not other.ok and other.differences == ["a", "c"]


def test_choose_takes_the_newest_backup_before_the_target():
    t = datetime(2026, 12, 1, 10, tzinfo=UTC)
    older = backup.BaseBackup("old", None, t - timedelta(hours=5), t - timedelta(hours=4), 1)
    newer = backup.BaseBackup("new", None, t - timedelta(hours=2), t - timedelta(hours=1), 1)
    assert backup.choose([older, newer], t).name == "new"
    assert backup.choose([older, newer], t - timedelta(hours=3)).name == "old"
    assert backup.choose([older, newer], None).name == "new"
    with pytest.raises(SetupError, match="run `onemap db backup` first"):
        backup.choose([], t)


def test_restore_time_is_read_in_the_configured_zone():
    from cli.backup import parse_time
    from onemap.errors import ConfigError

    moment = parse_time("2026-12-01 10:00", "Asia/Shanghai")
    assert moment == datetime(2026, 12, 1, 2, tzinfo=UTC)
    assert parse_time("2026-12-01T10:00+00:00", "Asia/Shanghai").hour == 10
    with pytest.raises(ConfigError, match="is not a time"):
        parse_time("yesterday", "Asia/Shanghai")


def test_a_streaming_standby_serves_reads_and_the_app_falls_back_when_it_lags(primary):
    cluster, own, engine = primary
    standby = replica.standby(cluster)
    replica.up(cluster, say=lambda _m: None)
    assert (standby.datadir / "standby.signal").exists()
    tag = "REPL-" + uuid.uuid4().hex[:6]
    _submit(own, engine, [f"{tag}-1", f"{tag}-2"])
    deadline = time.monotonic() + 20
    while _ids(standby.url(DB), tag) != {f"{tag}-1", f"{tag}-2"}:
        assert time.monotonic() < deadline, "the standby did not replay the new reports"
        time.sleep(0.2)
    with psycopg.connect(_plain(standby.url(DB))) as conn:  # a real standby refuses writes
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE nope (x int)")

    read = create_engine(standby.url(DB))
    try:
        follower = replica.Replica(read, max_lag_s=30, every=0)
        lag = follower.lag()
        assert lag is not None and lag.streaming and lag.seconds < 30
        rt = Runtime(settings=own, engine=engine, units=None, replica=follower)
        assert rt.for_reading().engine is read
        assert rt.data_as_of() is not None

        from dashboard.wall_callbacks import as_of_text

        assert "备库" in as_of_text(True, rt.data_as_of(), own.timezone, "zh")
        assert "behind the" not in as_of_text(True, rt.data_as_of(), own.timezone, "en")

        # The standby stops: reads go back to the primary, and the wall says so.
        standby.stop()
        assert follower.lag() is None
        assert rt.for_reading().engine is engine
        assert as_of_text(True, None, own.timezone, "en").startswith("standby too far")
    finally:
        read.dispose()
        replica.drop(cluster)
    assert not standby.root.exists()
    with psycopg.connect(_plain(cluster.url("postgres"))) as conn:
        assert conn.execute("SELECT count(*) FROM pg_replication_slots").fetchone()[0] == 0


def test_the_wall_reads_the_standby_until_it_lags_then_the_primary(primary):
    """End to end through the app: a case written while the standby's replay is paused is
    not on the wall's layer (it reads the standby); once the standby counts as too far
    behind, the layer reads the primary and shows it."""
    from dashboard.app import create_app
    from tests.helpers import client_as

    cluster, own, engine = primary
    standby = replica.standby(cluster)
    replica.up(cluster, say=lambda _m: None)
    app = create_app(own.with_(replica_url=standby.url(DB), escalate_every_s=0))
    rt = app.server.extensions["onemap"]
    assert rt.replica is not None
    rt.replica.every = 0  # no cached lag in this test
    client = client_as(app, "commander")
    try:
        with psycopg.connect(_plain(standby.url(DB)), autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            tag = "WALL-" + uuid.uuid4().hex[:6]
            with engine.connect() as c:  # a grid of its own: not a near-duplicate of others
                where = c.execute(text(
                    "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p "
                    "FROM unit WHERE valid_to IS NULL ORDER BY level DESC, id DESC LIMIT 1) s"
                )).one()
            _submit(own, engine, [tag], (float(where[0]), float(where[1])))
            with engine.connect() as c:
                case = c.execute(text("SELECT id FROM incident WHERE external_id = :e"),
                                 {"e": tag}).scalar_one()

            def on_the_wall() -> bool:
                answer = client.get("/wall/incidents.geojson?z=18&window=30d")
                assert answer.status_code == 200
                return case in {f["properties"]["id"] for f in answer.get_json()["features"]}

            rt.replica.max_lag_s = 3600  # the standby is fresh enough: the wall reads it
            assert not on_the_wall()
            rt.replica.max_lag_s = 0  # now it is too far behind: the wall reads the primary
            time.sleep(0.2)
            assert on_the_wall()
            conn.execute("SELECT pg_wal_replay_resume()")
    finally:
        replica.drop(cluster)


def test_a_missing_wal_segment_makes_the_restore_fail_loudly(primary):
    cluster, own, engine = primary
    backup.take(cluster)
    _submit(own, engine, ["GAP-1"])
    backup.switch_and_wait(cluster)
    _submit(own, engine, ["GAP-2"])
    segments = sorted(p for p in (own.backup_path / "wal").iterdir() if len(p.name) == 24)
    segments[-1].unlink()  # the segment holding GAP-1 is lost
    with pytest.raises(SetupError, match="did not finish recovery"):
        backup.restore(cluster, into=own.var_path / "restore" / "gap", port=free_port(),
                       to=datetime.now(UTC))


def test_the_commands_back_up_verify_and_run_a_standby_and_stop_stops_them_all(primary):
    cluster, own, engine = primary
    env = dict(os.environ, ONEMAP_VAR_DIR=own.var_dir, ONEMAP_PG_PORT=str(own.pg_port),
               ONEMAP_DB_NAME=DB, DATABASE_URL="", DATABASE_REPLICA_URL="")

    def onemap(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli", *args], env=env, text=True,
                              capture_output=True, timeout=600)

    made = onemap("db", "backup")
    assert made.returncode == 0, made.stderr
    name = re.search(r"base backup (\d{8}T\d{6}Z)", made.stderr).group(1)
    assert name in onemap("db", "backup", "--list").stdout
    checked = onemap("db", "backup", "--verify")
    assert checked.returncode == 0, checked.stderr
    assert "matches the primary" in checked.stderr
    assert "incident_event checksum" in checked.stdout
    with engine.connect() as conn:
        actions = set(conn.execute(text(
            "SELECT action FROM audit_log WHERE action LIKE 'db.%'")).scalars())
    assert {"db.backup", "db.backup.verify"} <= actions

    missing = onemap("db", "restore")
    assert missing.returncode != 0 and "Say which moment" in missing.stderr

    assert onemap("db", "replica", "up").returncode == 0
    status = onemap("db", "replica", "status")
    assert "streaming" in status.stdout, status.stdout + status.stderr
    assert f":{own.pg_port + 1}/" in onemap("db", "replica", "url").stdout

    stopped = onemap("stop")
    assert "replica stopped" in stopped.stderr and "cluster stopped" in stopped.stderr
    assert not replica.standby(cluster).status().running
    assert not cluster.status().running
    cluster.start()
    replica.drop(cluster)
