"""Bulk writes through psycopg 3 COPY: loaders and the demo generator never insert row by row.

Geometries go in as hex EWKB (``shapely.to_wkb(..., hex=True, include_srid=True)``), which
PostGIS parses fastest; the caller's transaction is used, so a failed load leaves nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection


def ewkb_hex(geoms: Sequence[Any] | np.ndarray, srid: int = 4326) -> np.ndarray:
    """Hex EWKB strings for shapely geometries (None stays None), ready for COPY."""
    arr = shapely.set_srid(np.asarray(geoms, dtype=object), srid)
    return shapely.to_wkb(arr, hex=True, include_srid=True)


def copy_rows(conn: Connection, table: str, columns: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows into ``table``; returns how many were written."""
    driver = conn.connection.driver_connection
    count = 0
    with driver.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count
