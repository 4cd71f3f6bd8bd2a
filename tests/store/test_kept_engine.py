"""The assignment engine kept for other processes (store/kept_engine.py, #18): the first
process to build it keeps its rasters; another process's unit cache (the second server
worker, a restart) builds its engine from them without rasterising, and answers the same; a
damaged or foreign file is rebuilt, never trusted."""

from __future__ import annotations

import os

import numpy as np
import pytest

from geo import assign
from store.units import UnitCache

pytestmark = pytest.mark.db


def _files(root):
    return sorted((root / "cache" / "engine").glob("*.npz"))


def _points(engine, n=5_000):
    lk = engine.lookup
    ny, nx = lk.cells.shape
    x0, y0, x1, y1 = lk.x0, lk.y0, lk.x0 + nx * lk.dx, lk.y0 + ny * lk.dy
    rng = np.random.default_rng(7)
    return rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)


def _no_rasterising(monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("rasterised again instead of reading the kept rasters")
    monkeypatch.setattr(assign, "build_lookup", refuse)


def test_a_second_process_builds_from_the_kept_rasters(db_engine, tmp_path, monkeypatch):
    first = UnitCache(db_engine, keep_root=tmp_path).places().engine
    (path,) = _files(tmp_path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    written = path.stat().st_mtime_ns
    _no_rasterising(monkeypatch)
    second = UnitCache(db_engine, keep_root=tmp_path).places().engine
    assert second is not first and _files(tmp_path) == [path]
    assert path.stat().st_mtime_ns == written
    x, y = _points(first)
    a, b = first.assign(x, y), second.assign(x, y)
    assert (a.grid_id >= 0).sum() > 0
    assert np.array_equal(a.grid_id, b.grid_id) and np.array_equal(a.unit_ids, b.unit_ids)


def test_a_damaged_or_foreign_file_is_rebuilt(db_engine, tmp_path, caplog):
    UnitCache(db_engine, keep_root=tmp_path).places()
    (path,) = _files(tmp_path)
    path.write_bytes(b"PK\x03\x04 not an archive")
    engine = UnitCache(db_engine, keep_root=tmp_path).places().engine
    assert engine is not None and "rebuilding" in caplog.text
    assert path.read_bytes()[:20] != b"PK\x03\x04 not an archive"[:20]  # written again
    os.chmod(path, 0o666)
    caplog.clear()
    UnitCache(db_engine, keep_root=tmp_path).places()
    assert "writable by others" in caplog.text


def test_rasters_of_other_units_are_not_used(db_engine, tmp_path, caplog, monkeypatch):
    """A file under this name whose rasters were made from other units (a race between
    the signature and the read, a file copied by hand) is refused by its fingerprint."""
    UnitCache(db_engine, keep_root=tmp_path).places()
    (path,) = _files(tmp_path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["fingerprint"] = arrays["fingerprint"][::-1].copy()
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    UnitCache(db_engine, keep_root=tmp_path).places()
    assert "other units" in caplog.text


def test_the_runtime_keeps_it_under_the_var_directory(db_url, settings, tmp_path,
                                                       monkeypatch):
    """What a server's runtime builds goes under its ``ONEMAP_VAR_DIR`` (cache/engine)."""
    from store import units
    from store.runtime import build_runtime

    monkeypatch.setattr(units, "_caches", {})  # this process's caches: the test's own
    rt = build_runtime(settings.with_(database_url=db_url, var_dir=str(tmp_path)))
    assert rt.units.places().engine is not None
    assert len(_files(tmp_path)) == 1
    assert oct((tmp_path / "cache" / "engine").stat().st_mode & 0o777) == "0o700"


def test_a_new_department_keeps_the_engine(db_engine, monkeypatch):
    """Workers or departments changed, units not: the lookups are read again, the engine
    (the costly part) is the same object."""
    from sqlalchemy import text

    from store import units

    monkeypatch.setattr(units, "PLACES_EVERY_S", 0.0)
    cache = UnitCache(db_engine)
    before = cache.places()
    with db_engine.begin() as conn:
        conn.execute(text("INSERT INTO department (code, name, kind) "
                          "VALUES ('T-KEEP-ENGINE', '测试部门', 'county')"))
    try:
        after = cache.places()
        assert "T-KEEP-ENGINE" in after.departments and "T-KEEP-ENGINE" not in \
            before.departments
        assert after is not before and after.engine is before.engine
        assert cache.places(force=True).engine is not before.engine  # forced: rebuilt
    finally:
        with db_engine.begin() as conn:
            conn.execute(text("DELETE FROM department WHERE code = 'T-KEEP-ENGINE'"))
