"""The command line: clear errors on a busy port, and the database URL it hands to tools."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.helpers import free_port


def _onemap(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True,
                          text=True, timeout=60, env=env)


def test_serve_on_a_busy_port_says_so_and_exits_2():
    port = free_port()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        result = _onemap("serve", "--port", str(port))
    assert result.returncode == 2
    assert f"Port {port} is already in use" in result.stderr
    assert "ONEMAP_PORT" in result.stderr


def test_bad_setting_is_reported_without_a_traceback():
    result = _onemap("db", "url", env=dict(os.environ, ONEMAP_PG_PORT="not-a-port"))
    assert result.returncode == 2
    assert "ONEMAP_PG_PORT" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.db
def test_db_url_points_at_the_running_server(db_engine):
    result = _onemap("db", "url")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("postgresql+psycopg://")
