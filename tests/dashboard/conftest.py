"""A real served dashboard (gunicorn, as `make run` starts it) and a real headless Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from store import api_keys
from tests.helpers import SERVED, free_port, fresh_demo_database, sibling_database


def serve(db_url: str, **env_extra: str) -> tuple[subprocess.Popen, str]:
    """Start `onemap serve` (gunicorn, as `make run` does) on a free port; wait for health."""
    port = free_port()
    # Many test users sign in from 127.0.0.1 within a minute: the per-address limit is
    # raised here (tests/dashboard/test_access.py checks the real one).
    env = dict(os.environ, DATABASE_URL=db_url, ONEMAP_PORT=str(port), ONEMAP_WORKERS="1",
               ONEMAP_LOGIN_RATE="1000 per minute", **env_extra)
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the dashboard did not start:\n{proc.stdout.read()}")
        time.sleep(0.3)
    SERVED[url] = db_url
    return proc, url


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def served_url(db_engine, db_url) -> Iterator[str]:
    proc, url = serve(db_url)
    yield url
    stop(proc)


@pytest.fixture(scope="session")
def wall_db_url(db_url: str) -> str:
    """A database of its own for the wall: 玉门's real boundaries (about 650 units) with a
    small generated population, cameras, workers and a year of incidents."""
    return sibling_database(db_url, "wall")


@pytest.fixture(scope="session")
def wall_engine(wall_db_url: str) -> Iterator[Engine]:
    engine = fresh_demo_database(wall_db_url, "yumen", scale=0.03)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def wall_keys(wall_engine: Engine) -> dict[str, str]:
    with wall_engine.begin() as conn:
        return {"hotline": api_keys.create_key(conn, "12345热线", "hotline_12345", "reporter")}


@pytest.fixture(scope="session")
def wall_url(wall_engine: Engine, wall_db_url: str) -> Iterator[str]:
    proc, url = serve(wall_db_url, ONEMAP_ESCALATE_EVERY="0")
    yield url
    stop(proc)
