"""`onemap serve` and `onemap stop`."""

from __future__ import annotations

import argparse
import os
import signal
import time
from pathlib import Path
from typing import Any

from cli.common import say as _say
from onemap.errors import ConfigError, SetupError
from onemap.settings import Settings


def _pidfile(settings: Settings) -> Path:
    """One pid file per port, so a test server never collides with the developer's."""
    return settings.var_path / "run" / f"dashboard-{settings.port}.pid"


def _running_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from store.cluster import port_in_use

    host = args.host or settings.host
    port = args.port or settings.port
    settings = settings.with_(host=host, port=port)
    pidfile = _pidfile(settings)
    pid = _running_pid(pidfile)
    if pid:
        raise SetupError(f"OneMap is already serving (pid {pid}) at http://{host}:{port}/ — "
                         "open it, or run `make stop` first.")
    if port_in_use(port, "127.0.0.1" if host in ("0.0.0.0", "") else host):
        raise SetupError(f"Port {port} is already in use by another program, so the dashboard "
                         f"cannot start. Stop that program or pick another port: "
                         f"ONEMAP_PORT={port + 1} make run")
    _check_levels(settings)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    from dashboard.server import serve

    scheme = "https" if settings.tls_cert else "http"
    _say(f"serving the dashboard on {scheme}://{host}:{port}/  (Ctrl-C or `make stop` to stop)")
    serve(settings, pidfile=pidfile)
    return 0


def _check_levels(settings: Settings) -> None:
    """Refuse to serve a database whose units do not fit ONEMAP_LEVELS (they would be drawn
    and counted under the wrong level names); warn when it has no grids yet."""
    from sqlalchemy.exc import OperationalError

    from store.engine import database_url, get_engine
    from store.units import levels_mismatch

    try:
        found = levels_mismatch(get_engine(database_url(settings)))
    except OperationalError:  # not up yet: the server says so on its own
        return
    if found is None:
        return
    severity, sentence = found
    if severity == "error":
        raise ConfigError(sentence)
    _say(f"warning: {sentence}")


def cmd_stop(settings: Settings, args: argparse.Namespace) -> int:
    from cli.proxy import down

    if down(settings):
        _say("nginx stopped")
    cmd_stop_dashboards(settings)
    _stop_clusters(settings)
    return 0


def cmd_stop_dashboards(settings: Settings) -> int:
    """Stop every dashboard (node) this var/ started; returns how many were running."""
    stopped = 0
    for pidfile in sorted((settings.var_path / "run").glob("dashboard-*.pid")):
        pid = _running_pid(pidfile)
        if pid:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if _running_pid(pidfile) is None:
                    break
                time.sleep(0.1)
            _say(f"dashboard stopped (pid {pid})")
            stopped += 1
        pidfile.unlink(missing_ok=True)
    if not stopped:
        _say("dashboard was not running")
    return stopped


def _stop_clusters(settings: Settings) -> None:
    if settings.embedded:
        from cli.bootstrap import embedded_cluster

        primary = None
        if (settings.var_path / "pg" / "data" / "PG_VERSION").exists():
            primary = embedded_cluster(settings)
        # A local standby (`onemap db replica up`) and restored copies (`onemap db restore`)
        # are clusters too: stop them first, the primary last.
        from store.cluster import Cluster

        others = [settings.var_path / "replica", *sorted((settings.var_path / "restore").glob("*"))]
        for root in others:
            if primary is not None and (root / "data" / "PG_VERSION").exists():
                if Cluster(settings, primary.bins, root=root, port=0).stop():
                    _say(f"cluster in {root} stopped")
        if primary is not None:
            _say("cluster stopped" if primary.stop() else "cluster was not running")


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve the dashboard (foreground)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(func=cmd_serve)

    stop = sub.add_parser("stop", help="stop the dashboard and the embedded cluster")
    stop.set_defaults(func=cmd_stop)
