"""The embedded cluster's life: first start, restart, crash recovery, a busy port.

Each test runs its own small cluster in a temporary var/ on a free port, so the developer's
cluster (and the test database) are never touched.
"""

from __future__ import annotations

import os
import signal
import socket
import time

import psycopg
import pytest

from onemap.errors import SetupError
from store.cluster import Cluster
from store.postgres_bin import ensure_postgres
from tests.helpers import free_port

pytestmark = [pytest.mark.db, pytest.mark.slow]


@pytest.fixture()
def cluster(settings, tmp_path_factory):
    var = tmp_path_factory.mktemp("var")
    os.chmod(var, 0o755)
    own = settings.with_(var_dir=str(var), pg_port=free_port(), database_url="")
    cluster = Cluster(own, ensure_postgres(own))
    yield cluster
    try:
        cluster.stop()
    except SetupError:
        pass


def _select_one(cluster: Cluster) -> int:
    url = cluster.url("postgres").replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute("SELECT 1").fetchone()[0]


def test_first_start_initialises_and_second_start_reuses(cluster):
    assert not cluster.status().initialised
    cluster.start()
    status = cluster.status()
    assert status.initialised and status.running
    assert _select_one(cluster) == 1
    version_file = cluster.datadir / "PG_VERSION"
    created = version_file.stat().st_mtime_ns

    assert cluster.stop() is True
    assert not cluster.status().running
    assert cluster.init() is False  # no second initdb
    cluster.start()
    assert version_file.stat().st_mtime_ns == created
    assert _select_one(cluster) == 1
    # The server listens on loopback only and keeps its socket inside var/.
    assert (cluster.sockdir / f".s.PGSQL.{cluster.port}").exists()


def test_stale_pid_file_after_a_crash_is_recovered(cluster):
    cluster.start()
    pid = cluster.status().pid
    os.kill(pid, signal.SIGKILL)  # the machine "crashes"
    for _ in range(50):
        if not cluster.status().running:
            break
        time.sleep(0.1)
    # Make the leftover pid file point at a live process that is not postgres (PID reuse).
    pidfile = cluster.datadir / "postmaster.pid"
    lines = pidfile.read_text().splitlines()
    lines[0] = str(os.getpid())
    pidfile.write_text("\n".join(lines) + "\n")
    assert not cluster.status().running
    time.sleep(0.5)  # let the killed server's children notice and exit
    cluster.start()
    assert cluster.status().running
    assert _select_one(cluster) == 1


def test_busy_port_gets_a_clear_message(cluster):
    cluster.init()
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", cluster.port))
        blocker.listen()
        with pytest.raises(SetupError, match=f"Port {cluster.port}.*already in use") as err:
            cluster.start()
    assert "ONEMAP_PG_PORT" in err.value.user_msg
    assert not cluster.status().running
