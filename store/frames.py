"""COPY of whole pandas frames (CSV in memory): the fast path for generated demo data."""

from __future__ import annotations

import io

import pandas as pd
from sqlalchemy import Connection

CHUNK_ROWS = 200_000


def copy_frame(conn: Connection, table: str, frame: pd.DataFrame) -> int:
    """COPY ``frame`` (columns named as the table's) into ``table``; None/NaN become NULL.

    Array columns must already be PostgreSQL array literals (e.g. ``"{a,b}"``) and geometry
    columns hex EWKB (`store.bulk.ewkb_hex`).
    """
    if frame.empty:
        return 0
    driver = conn.connection.driver_connection
    columns = ", ".join(frame.columns)
    with driver.cursor() as cur:
        with cur.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
                      ) as copy:
            for start in range(0, len(frame), CHUNK_ROWS):
                buffer = io.StringIO()
                frame.iloc[start:start + CHUNK_ROWS].to_csv(buffer, header=False, index=False,
                                                            na_rep="\\N")
                copy.write(buffer.getvalue())
    return len(frame)


def reserve_ids(conn: Connection, table: str, n: int) -> int:
    """Reserve ``n`` consecutive ids of ``table``'s id sequence; returns the first.

    Lets a loader COPY parents and children with their keys known in advance.
    """
    from sqlalchemy import text

    seq = conn.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table})
    first = int(conn.scalar(text("SELECT nextval(:s)"), {"s": seq}))
    if n > 1:
        conn.execute(text("SELECT setval(:s, :v)"), {"s": seq, "v": first + n - 1})
    return first
