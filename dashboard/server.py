"""Serving the app with gunicorn (a production server, not Flask's development one)."""

from __future__ import annotations

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
        from dashboard.app import create_app

        return create_app(self.settings).server


def serve(settings: Settings, *, pidfile: Path | None = None) -> None:
    """Run gunicorn in the foreground until SIGTERM/SIGINT."""
    options = {
        "bind": f"{settings.host}:{settings.port}",
        "workers": max(1, settings.workers),
        "worker_class": "gthread",
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
    _OneMapServer(settings, options).run()
