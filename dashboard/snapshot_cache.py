"""The unit layers' snapshot kept on disk, so a restarted server (or a second worker) serves
boundaries at once instead of simplifying every unit again.

Simplifying and serialising the boundaries of a province (118,000 units, six zoom bands) takes
about a minute; reading them back takes about a second.  A file is named by a hash of the
database, the units signature (:func:`store.wall.units_signature`), the datum and
:data:`FORMAT`, so a change of units, database or code simply misses.  The format is plain
arrays (``numpy.savez``, read with ``allow_pickle=False``) and a JSON header — nothing in it is
executed when read — written to a temporary name and renamed, under ``var/cache/units`` (mode
0700).  While one process builds, the others wait on a file lock and then read its result.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: bump when the snapshot's content changes meaning (bands, properties, serialisation)
FORMAT = 1
#: keep this many newest files (older signatures are of no use)
KEEP = 4
#: A lock without its snapshot this old is left over (a build takes about a minute).
STALE_LOCK_S = 3600.0


def key(database: str, signature: tuple, datum: str) -> str:
    return hashlib.sha1(repr((FORMAT, database, signature, datum)).encode()).hexdigest()[:24]


def _dir(root: Path) -> Path:
    path = root / "cache" / "units"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


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
        folder = _dir(root)
        final = folder / f"{name}.npz"
        tmp = folder / f".{name}.{os.getpid()}.tmp.npz"
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, final)
        _prune(folder)
        return final
    except OSError as exc:
        log.warning("Cannot keep the unit boundaries on disk (%s); they stay in memory.", exc)
        return None


def load(root: Path, name: str, make: Callable[..., Any]) -> Any | None:
    """The snapshot stored as ``name`` (built by ``make(**fields)``), or None when there is
    none or it cannot be read (then it is rebuilt)."""
    path = root / "cache" / "units" / f"{name}.npz"
    if not path.is_file():
        return None
    try:
        st = path.stat()
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            log.warning("Ignoring %s: not owned by this user or writable by others.", path)
            return None
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(z["header"].tobytes().decode())
            geometry = {band: _unpack(z[f"band{i}"], z[f"band{i}_off"])
                        for i, band in enumerate(header["bands"])}
            ids, levels, bounds = z["ids"], z["levels"], z["bounds"]
            heads = _unpack(z["heads"], z["heads_off"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("Cannot read the cached unit boundaries %s (%s); rebuilding them.",
                    path, exc)
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
        fd = os.open(_dir(root) / f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _prune(folder: Path) -> None:
    """Keep the newest :data:`KEEP` snapshots; drop the others' locks, and locks left without
    a snapshot (a build that failed, a file removed by hand) once nobody can still be
    building under them."""
    files = sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[KEEP:]:
        old.unlink(missing_ok=True)
        (folder / f".{old.stem}.lock").unlink(missing_ok=True)
    stale = time.time() - STALE_LOCK_S
    for lock in folder.glob(".*.lock"):
        try:
            if (not (folder / f"{lock.name[1:-5]}.npz").exists()
                    and lock.stat().st_mtime < stale):
                lock.unlink()
        except OSError:
            pass
