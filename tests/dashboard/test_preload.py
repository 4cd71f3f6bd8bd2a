"""`onemap serve` preloads: gunicorn's master warms the caches, then forks workers that start
with them and open their own database connections (dashboard/server.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parents[2]

# What gunicorn's master does (load), then what a worker does (fork, post_fork, serve): run in
# a process of its own, so the fork happens in a process with no test threads around.
SCRIPT = textwrap.dedent("""
    import gc, json, os, sys, threading
    from sqlalchemy import text
    from dashboard.server import server
    from onemap.settings import load_settings

    srv = server(load_settings().with_(escalate_every_s=3600))
    wsgi = srv.load()
    rt = wsgi.extensions["onemap"]
    cache = rt.units.base if hasattr(rt.units, "base") else rt.units
    places = cache._places
    master = {
        "places": places is not None and places.engine is not None,
        "nearest": places is not None and places.engine.nearest.prepared,
        "pooled": rt.engine.pool.checkedin() + rt.engine.pool.checkedout(),
        "threads": sorted(t.name for t in threading.enumerate() if t.name.startswith("onemap")),
        "preload": srv.cfg.preload_app,
    }
    # a connection of the master's, back in its pool at the fork: a child that took it from
    # the pool would talk over the master's socket
    with rt.engine.connect() as conn:
        parent_pid = conn.scalar(text("SELECT pg_backend_pid()"))
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read)
        srv.cfg.post_fork(None, None)
        gc.collect()  # the master's dropped connections are collected here: not closed
        with rt.engine.connect() as mine:
            pid = mine.scalar(text("SELECT pg_backend_pid()"))
        worker = {
            "backend": pid,
            "threads": sorted(t.name for t in threading.enumerate()
                              if t.name.startswith("onemap")),
            "places_same": cache._places is places,
        }
        os.write(write, json.dumps(worker).encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(child, 0)
    worker = json.loads(os.read(read, 65536) or b"{}")
    # the child has gone: the master's pooled connection is still the same, open one
    # (pre-ping would have replaced it had the child closed it)
    with rt.engine.connect() as conn:
        after = conn.scalar(text("SELECT pg_backend_pid()"))
    print(json.dumps({"master": master, "worker": worker, "status": status,
                      "parent_pid": parent_pid, "parent_after": after}))
""")


def test_the_master_warms_then_each_worker_connects_on_its_own(wall_engine, wall_db_url):
    env = dict(os.environ, DATABASE_URL=wall_db_url, ONEMAP_WORKERS="1")
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "caches warmed in" in done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    master, worker = got["master"], got["worker"]
    assert master["preload"] is True
    # warmed before any fork: the assignment engine and its nearest-grid index are built
    assert master["places"] and master["nearest"]
    # the master keeps no pooled connection for its workers to inherit, and starts no thread
    assert master["pooled"] == 0
    assert master["threads"] == []
    # the worker: the master's warm caches as they were, its own threads, its own connection
    assert got["status"] == 0
    assert worker["places_same"] is True
    assert worker["threads"] == ["onemap-escalation"]
    assert worker["backend"] != got["parent_pid"]
    assert got["parent_after"] == got["parent_pid"]


def test_without_preload_each_worker_warms_its_own(settings, wall_engine, wall_db_url):
    """ONEMAP_PRELOAD=0: gunicorn loads the app in each worker, which warms its caches in a
    background thread (the path before the master warmed them)."""
    from dashboard.server import server
    from store.runtime import build_runtime

    mine = settings.with_(database_url=wall_db_url, escalate_every_s=0, preload=False)
    shared = build_runtime(mine).units  # the process's one cache for this database
    cache = shared.base if hasattr(shared, "base") else shared
    with cache._places_lock:
        cache._places = None  # as in a fresh worker (other tests of this process built it)
    srv = server(mine)
    assert srv.cfg.preload_app is False
    wsgi = srv.load()
    assert wsgi.extensions["onemap"].units is shared
    deadline = time.monotonic() + 120
    while cache._places is None and time.monotonic() < deadline:  # nobody asked for it
        time.sleep(0.1)
    assert cache._places is not None and cache._places.engine is not None
