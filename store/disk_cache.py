"""What a server derives from the units and keeps on disk for the next process: one folder per
kind under ``<var>/cache/`` (mode 0700), files written to a temporary name and renamed, a file
lock per name so that one process builds while the others wait and then read, and the newest
few files kept.

Used by the wall's simplified boundaries (:mod:`dashboard.snapshot_cache`, ``units``) and the
intake's assignment engine (:mod:`store.kept_engine`, ``engine``).  Files are plain arrays
(``numpy.savez``, read with ``allow_pickle=False``): nothing in them is executed when read, and
a file not owned by this user, or writable by others, is ignored.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: keep this many newest files of a kind per database (older signatures are of no use)
KEEP = 4
#: A lock without its file this old is left over (a build takes about a minute).
STALE_LOCK_S = 3600.0


def file_name(database: str, *parts: object) -> str:
    """A file name for what was derived from ``parts`` in ``database``: its tag, a dash, and a
    hash of the parts."""
    tag = hashlib.sha1(database.encode()).hexdigest()[:8]
    return f"{tag}-{hashlib.sha1(repr(parts).encode()).hexdigest()[:24]}"


def folder(root: Path, kind: str) -> Path:
    """``<root>/cache/<kind>``, made private (0700) if it is not yet."""
    path = Path(root) / "cache" / kind
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


@contextmanager
def building(where: Path, name: str) -> Iterator[None]:
    """Hold the build of ``name`` in folder ``where`` against other processes (they wait,
    then read it).  Without a writable folder, nothing is held."""
    try:
        fd = os.open(where / f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def save(where: Path, name: str, arrays: dict[str, np.ndarray], what: str) -> Path | None:
    """Write ``arrays`` as ``<name>.npz`` in ``where``; None when the disk refuses (the caller
    keeps what it built in memory; the log says why, naming ``what``)."""
    try:
        final = where / f"{name}.npz"
        tmp = where / f".{name}.{os.getpid()}.tmp.npz"
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, final)
        prune(where)
        return final
    except OSError as exc:
        log.warning("Cannot keep the %s on disk (%s); it stays in memory.", what, exc)
        return None


def load(where: Path, name: str, what: str) -> dict[str, np.ndarray] | None:
    """The arrays kept as ``name``, or None when there are none or they cannot be trusted or
    read (then the caller rebuilds; the log says why, naming ``what``)."""
    path = where / f"{name}.npz"
    if not path.is_file():
        return None
    try:
        st = path.stat()
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            log.warning("Ignoring %s: not owned by this user or writable by others.", path)
            return None
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("Cannot read the kept %s %s (%s); rebuilding it.", what, path, exc)
        return None


def prune(where: Path) -> None:
    """Keep the newest :data:`KEEP` files of each database (the tag before the dash of
    :func:`file_name`); drop the others' locks, and locks left without a file (a build that
    failed, a file removed by hand) once nobody can still be building under them."""
    files = sorted(where.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    seen: dict[str, int] = {}
    for path in files:
        tag = path.stem.split("-", 1)[0] if "-" in path.stem else ""
        seen[tag] = seen.get(tag, 0) + 1
        if seen[tag] > KEEP:
            path.unlink(missing_ok=True)
            (where / f".{path.stem}.lock").unlink(missing_ok=True)
    stale = time.time() - STALE_LOCK_S
    for lock in where.glob(".*.lock"):
        try:
            if (not (where / f"{lock.name[1:-5]}.npz").exists()
                    and lock.stat().st_mtime < stale):
                lock.unlink()
        except OSError:
            pass
