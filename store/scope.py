"""The acting identity's scope, put on every transaction — the one place reads are scoped.

The web app connects as the application's database role (``ONEMAP_DB_APP_ROLE``, created by
migration 0007), on which PostgreSQL's row-level security filters ``incident``,
``incident_event``, ``household``, ``household_person``, ``grid_worker`` and ``camera`` to the
units in ``onemap.scope``.  :func:`acting` sets who is acting for the code inside it (a
request, a background job); every transaction begun there starts with ``SET LOCAL`` of that
actor's scope (:func:`onemap.access.db_scope`).  Outside any :func:`acting` block nothing is
set and the policies return no rows: forgetting the scope fails closed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine, event

from onemap.access import Actor, db_scope

_current: ContextVar[Actor | None] = ContextVar("onemap_actor", default=None)


def current() -> Actor | None:
    """The actor the data layer is scoping for right now (None: nobody)."""
    return _current.get()


@contextmanager
def acting(actor: Actor | None) -> Iterator[None]:
    """Run the block with ``actor``'s scope on every transaction it begins."""
    token = _current.set(actor)
    try:
        yield
    finally:
        _current.reset(token)


def enter(actor: Actor | None) -> Any:
    """Set the actor until :func:`leave` (for request hooks that cannot use ``with``)."""
    return _current.set(actor)


def leave(token: Any) -> None:
    _current.reset(token)


_SET = ("SELECT set_config('onemap.scope', %(scope)s, true), "
        "set_config('onemap.unlocated', %(unlocated)s, true), "
        "set_config('onemap.department', %(department)s, true)")


def _on_begin(conn: Any) -> None:
    values = db_scope(_current.get())
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(_SET, {"scope": values["onemap.scope"],
                              "unlocated": values["onemap.unlocated"],
                              "department": values["onemap.department"]})
    finally:
        cursor.close()


def install(engine: Engine, role: str) -> Engine:
    """Make ``engine`` act as ``role`` (``SET ROLE`` on each new connection) and scope each
    transaction it begins.  Idempotent."""
    if getattr(engine, "_onemap_scoped", None) == role:
        return engine

    @event.listens_for(engine, "connect")
    def _set_role(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f'SET ROLE "{role}"')
        finally:
            dbapi_connection.autocommit = autocommit

    event.listen(engine, "begin", _on_begin)
    engine._onemap_scoped = role  # type: ignore[attr-defined]
    return engine
