"""Engines and database URLs: the one place that knows where the database is.

With ``DATABASE_URL`` set, that server is used as given (the database name can be swapped, for
the test database).  Without it, the URL points at the embedded cluster under ``var/pg``.
"""

from __future__ import annotations

import os
import weakref
from functools import lru_cache

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from onemap.errors import ConfigError, DatabaseError
from onemap.settings import Settings


def _normalise(url: str) -> URL:
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise ConfigError(f"DATABASE_URL={url!r} is not a database URL "
                          "(expected postgresql://user:password@host:port/dbname).") from exc
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(f"DATABASE_URL must point at PostgreSQL with PostGIS, not "
                          f"{parsed.get_backend_name()!r}.")
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def database_url(settings: Settings, dbname: str | None = None) -> str:
    """SQLAlchemy URL of the app database (or of ``dbname`` on the same server)."""
    if settings.database_url:
        url = _normalise(settings.database_url)
        if dbname:
            url = url.set(database=dbname)
        return url.render_as_string(hide_password=False)
    from store.cluster import embedded_url

    return embedded_url(settings, dbname or settings.db_name)


def replica_url(url: str) -> str:
    """``DATABASE_REPLICA_URL`` checked and normalised like ``DATABASE_URL``."""
    return _normalise(url).render_as_string(hide_password=False)


def app_database_name(settings: Settings) -> str:
    if settings.database_url:
        return _normalise(settings.database_url).database or settings.db_name
    return settings.db_name


def test_database_name(settings: Settings) -> str:
    """The database `make test` recreates: ONEMAP_TEST_DB_NAME, or <app db>_test with a URL."""
    if settings.database_url:
        return f"{app_database_name(settings)}_test"
    return settings.test_db_name


@lru_cache(maxsize=16)
def get_engine(url: str, role: str = "") -> Engine:
    """A pooled engine per URL (and role), shared by the process (pre-ping survives server
    restarts).  With ``role`` the engine acts as that database role and scopes every
    transaction to the acting identity (:mod:`store.scope`)."""
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    if role:
        from store.scope import install

        install(engine, role)
    _ENGINES.add(engine)
    return engine


#: the engines :func:`get_engine` made in this process that are still alive
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def dispose_all() -> None:
    """Close every pooled connection of this process's engines (the server's master process,
    once it has warmed the caches its workers inherit, so it holds no idle connections)."""
    for engine in list(_ENGINES):
        engine.dispose()


def _forget_parents_connections() -> None:
    """In a forked child (a server worker): drop the pooled connections inherited from the
    parent without closing them (they are the parent's sockets), so the child opens its own
    (SQLAlchemy's recipe for pools and ``fork``)."""
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_parents_connections)


def ensure_database(url: str, *, fresh: bool = False) -> bool:
    """Create the database of ``url`` if missing (drop it first when ``fresh``).

    Returns True when the database was created.
    """
    target = make_url(url)
    name = target.database
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if exists and fresh:
                conn.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
                conn.execute(text(f'DROP DATABASE "{name}"'))
                exists = False
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0'))
                return True
            return False
    except OperationalError as exc:
        raise DatabaseError(
            f"Cannot reach PostgreSQL at {target.host}:{target.port}: {exc.orig}. "
            "Is it running? (`onemap db status`; `make run` starts the embedded one.)") from exc
    except ProgrammingError as exc:
        raise DatabaseError(f"PostgreSQL refused to create database {name!r}: {exc.orig}. "
                            "The user in DATABASE_URL needs the CREATEDB privilege.") from exc
    finally:
        admin.dispose()
