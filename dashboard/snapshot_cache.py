"""The unit layers' snapshot kept on disk, so a restarted server (or a second worker) serves
boundaries at once instead of simplifying every unit again.

Simplifying and serialising the boundaries of a province (118,000 units, six zoom bands) takes
about a minute; reading them back takes about a second.  A file is named by a hash of the
database, the units signature (:func:`store.wall.units_signature`), the datum and
:data:`FORMAT`, so a change of units, database or code simply misses.  The format is plain
arrays and a JSON header under ``var/cache/units`` — how files are written, locked, trusted and
pruned is :mod:`store.disk_cache`'s, shared with the kept assignment engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from store import disk_cache

#: bump when the snapshot's content changes meaning (bands, properties, serialisation)
FORMAT = 1
KIND = "units"
WHAT = "unit boundaries"


def key(database: str, signature: tuple, datum: str) -> str:
    return disk_cache.file_name(database, FORMAT, signature, datum)


def _pack(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    data = [s.encode("utf-8") for s in strings]
    offsets = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in data], out=offsets[1:])
    return np.frombuffer(b"".join(data), dtype=np.uint8), offsets


def _unpack(blob: np.ndarray, offsets: np.ndarray) -> list[str]:
    text = blob.tobytes()
    o = offsets.tolist()
    return [text[o[i]:o[i + 1]].decode("utf-8") for i in range(len(o) - 1)]


def save(root: Path, name: str, snap: Any) -> Path | None:
    """Write ``snap`` (a :class:`dashboard.geodata.Snapshot`); None when the disk refuses
    (the server keeps serving from memory, and says why in the log)."""
    bands = list(snap.geometry)
    header = {"signature": repr(snap.signature), "datum": snap.datum, "token": snap.token,
              "parent_ids": snap.parent_ids, "props": snap.props,
              "bands": [None if b is None else int(b) for b in bands]}
    arrays: dict[str, np.ndarray] = {
        "header": np.frombuffer(json.dumps(header, ensure_ascii=False).encode(), np.uint8),
        "ids": snap.ids, "levels": snap.levels, "bounds": np.asarray(snap.bounds, float)}
    arrays["heads"], arrays["heads_off"] = _pack(snap.heads)
    for i, band in enumerate(bands):
        arrays[f"band{i}"], arrays[f"band{i}_off"] = _pack(snap.geometry[band])
    try:
        where = disk_cache.folder(root, KIND)
    except OSError as exc:
        disk_cache.log.warning("Cannot keep the %s on disk (%s); they stay in memory.",
                               WHAT, exc)
        return None
    return disk_cache.save(where, name, arrays, WHAT)


def load(root: Path, name: str, make: Callable[..., Any]) -> Any | None:
    """The snapshot stored as ``name`` (built by ``make(**fields)``), or None when there is
    none or it cannot be read (then it is rebuilt)."""
    z = disk_cache.load(Path(root) / "cache" / KIND, name, WHAT)
    if z is None:
        return None
    try:
        header = json.loads(z["header"].tobytes().decode())
        geometry = {band: _unpack(z[f"band{i}"], z[f"band{i}_off"])
                    for i, band in enumerate(header["bands"])}
        ids, levels, bounds = z["ids"], z["levels"], z["bounds"]
        heads = _unpack(z["heads"], z["heads_off"])
    except (ValueError, KeyError) as exc:
        disk_cache.log.warning("Cannot read the kept %s %s (%s); rebuilding them.", WHAT,
                               name, exc)
        return None
    parents = header["parent_ids"]
    children: dict[int, list[int]] = {}
    for uid, pid in zip(ids.tolist(), parents, strict=True):
        if pid is not None:
            children.setdefault(pid, []).append(uid)
    return make(datum=header["datum"], ids=ids, levels=levels, parent_ids=parents,
                props=header["props"], heads=heads, geometry=geometry, bounds=bounds,
                index={int(u): i for i, u in enumerate(ids.tolist())}, children=children,
                token=header["token"])


@contextmanager
def building(root: Path, name: str) -> Iterator[None]:
    """Hold the build of ``name`` against other processes (they wait, then read it)."""
    try:
        where = disk_cache.folder(root, KIND)
    except OSError:
        yield
        return
    with disk_cache.building(where, name):
        yield
