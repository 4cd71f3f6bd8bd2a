"""The intake's assignment engine, its rasters kept on disk for the next process.

Building the engine of a province (rasterising ~100,000 grids and the top level, and the
snapping filter) takes about half a minute of CPU, and every server worker needs one.  The
first process to build it keeps the rasters (:meth:`geo.assign.AssignmentEngine.kept`) under
``<var>/cache/engine``; the others wait on its lock, then build theirs from the units and those
rasters in a fraction of the time.  A file is named by a hash of the database, the units
signature (:func:`store.wall.units_signature`) and :data:`FORMAT`; the engine checks that the
rasters were made from the very units it is given (a fingerprint), so a file that does not
fit is rebuilt, never trusted.  Files, locks and pruning are :mod:`store.disk_cache`'s.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd

from geo.assign import AssignmentEngine
from store import disk_cache

log = logging.getLogger(__name__)

#: bump when the kept arrays change meaning
FORMAT = 1
KIND = "engine"
WHAT = "assignment engine's rasters"


def key(database: str, signature: tuple) -> str:
    return disk_cache.file_name(database, FORMAT, signature)


def build_engine(units: gpd.GeoDataFrame, *, root: Path | None, database: str,
                 signature: tuple) -> AssignmentEngine:
    """The assignment engine of ``units``: from the rasters kept under ``root`` for this
    database and units signature when there are some that fit, else built (and kept).
    ``root`` None: built, nothing kept."""
    if root is None:
        return AssignmentEngine.build(units)
    try:
        where = disk_cache.folder(root, KIND)
    except OSError as exc:
        log.warning("Cannot keep the %s on disk (%s); building it in memory.", WHAT, exc)
        return AssignmentEngine.build(units)
    name = key(database, signature)
    with disk_cache.building(where, name):
        kept = disk_cache.load(where, name, WHAT)
        if kept is not None:
            try:
                return AssignmentEngine.build(units, kept=kept)
            except ValueError as exc:
                log.warning("Not using the kept %s %s: %s; rebuilding them.", WHAT, name, exc)
        engine = AssignmentEngine.build(units)
        disk_cache.save(where, name, engine.kept(), WHAT)
        return engine


def database_of(url) -> str:  # noqa: ANN001 - a sqlalchemy URL
    """What names a database in a key: host, port and name (not the role: the command line's
    owner and the server's application role share the files)."""
    return f"{url.host}:{url.port}/{url.database}"
