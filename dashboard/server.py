"""Serving the app with gunicorn (a production server, not Flask's development one).

The app is preloaded (``ONEMAP_PRELOAD``, on by default): gunicorn's master builds it and
warms what its pages and reports need (:func:`dashboard.app.warm_places`: the boundaries, the
unit tree, the assignment engine and its nearest-grid index — 12 s for the scale-1 province)
*before* it binds the port and forks its workers.  Each worker starts with all of it in memory
(shared with the master until written), so no first request waits for a build or competes
with one, and a worker that dies is replaced warm.  The master holds no database connection
across the fork (:func:`store.engine.dispose_all`; a child drops what it inherits), and each
worker starts its own threads after it (:func:`dashboard.app.start_background`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from gunicorn.app.base import BaseApplication

from onemap.settings import Settings


class _OneMapServer(BaseApplication):
    def __init__(self, settings: Settings, options: dict) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from dashboard.app import create_app, start_background, warm_places

        if not self.settings.preload:  # in each worker: it warms its caches in a thread
            return create_app(self.settings).server
        from onemap.access import SYSTEM
        from store.engine import dispose_all

        began = time.monotonic()
        print("[onemap] warming the caches (boundaries, unit tree, assignment engine) before "
              "listening …", file=sys.stderr, flush=True)
        app = create_app(self.settings, background=False)
        warm_places(app.server.extensions["onemap"].acting_as(SYSTEM), lowest_priority=False)
        dispose_all()
        print(f"[onemap] caches warmed in {time.monotonic() - began:.1f} s; starting the "
              "workers", file=sys.stderr, flush=True)
        self.cfg.set("post_fork", lambda _server, _worker: start_background(app, warm=False))
        return app.server


def options(settings: Settings, *, pidfile: Path | None = None) -> dict:
    """gunicorn's settings for ``settings`` (TLS files checked)."""
    options = {
        "bind": f"{settings.host}:{settings.port}",
        "workers": max(1, settings.workers),
        "worker_class": "gthread",
        "preload_app": settings.preload,
        "threads": 4,
        "timeout": 120,
        "graceful_timeout": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
    }
    if pidfile is not None:
        options["pidfile"] = str(pidfile)
    if settings.tls_cert or settings.tls_key:
        from onemap.errors import ConfigError

        for name, value in (("ONEMAP_TLS_CERT", settings.tls_cert),
                            ("ONEMAP_TLS_KEY", settings.tls_key)):
            if not value or not Path(value).is_file():
                raise ConfigError(f"{name}={value!r} is not a file: HTTPS needs both "
                                  "ONEMAP_TLS_CERT and ONEMAP_TLS_KEY (PEM files)")
        options.update(certfile=settings.tls_cert, keyfile=settings.tls_key)
    return options


def server(settings: Settings, *, pidfile: Path | None = None) -> _OneMapServer:
    """The gunicorn application for ``settings`` (``.run()`` serves; ``.load()`` is what its
    master does before forking)."""
    return _OneMapServer(settings, options(settings, pidfile=pidfile))


def serve(settings: Settings, *, pidfile: Path | None = None) -> None:
    """Run gunicorn in the foreground until SIGTERM/SIGINT."""
    server(settings, pidfile=pidfile).run()
