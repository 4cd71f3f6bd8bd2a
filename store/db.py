"""The one engine-or-connection helper of the data layer.

Every query function takes ``db``: an Engine (the function opens and closes its own
connection) or a Connection (it runs inside the caller's transaction).  geopandas'
``io/sql.py::_get_conn`` is the model.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection, Engine, text

Bindable = Engine | Connection


@contextmanager
def connection(db: Bindable) -> Iterator[Connection]:
    """Use the caller's connection (and transaction) as is; open one from an Engine."""
    if isinstance(db, Engine):
        with db.connect() as conn:
            yield conn
    else:
        with nullcontext(db) as conn:
            yield conn


def rows(db: Bindable, sql: str, params: Mapping[str, Any] | None = None) -> list[dict]:
    """Every row of ``sql`` as a dict."""
    with connection(db) as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql), dict(params or {}))]


def scalar(db: Bindable, sql: str, params: Mapping[str, Any] | None = None) -> Any:
    """The first column of the first row of ``sql`` (None when there is no row)."""
    with connection(db) as conn:
        return conn.scalar(text(sql), dict(params or {}))
