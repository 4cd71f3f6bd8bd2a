"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sibling_database(db_url: str, suffix: str) -> str:
    """The URL of a database next to the test database (``<name>_<suffix>``), for tests that
    commit (the API, served pages) and so must not share the baseline database."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    return url.set(database=f"{url.database}_{suffix}").render_as_string(hide_password=False)


def fresh_demo_database(url: str, region: str = "sample", scale: float = 1.0):
    """Drop and recreate the database at ``url``, migrate it and load a demo region; returns
    an Engine (the caller disposes of it)."""
    from sqlalchemy import create_engine

    from loaders.demo import load_demo
    from store import migrate
    from store.engine import ensure_database

    ensure_database(url, fresh=True)
    engine = create_engine(url, pool_pre_ping=True)
    migrate.upgrade(engine)
    load_demo(engine, region, scale=scale)
    return engine
