"""The unit boundaries kept on disk (dashboard/snapshot_cache.py): a second process reads them
instead of simplifying again, gets the same answers, and a damaged, foreign or stale file is
never trusted (it is rebuilt)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from dashboard import geodata, snapshot_cache
from store import disk_cache, repository
from tests.helpers import fresh_demo_database, sibling_database

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def engine(db_url):
    engine = fresh_demo_database(sibling_database(db_url, "snapcache"))
    yield engine
    engine.dispose()


def _no_database_read(monkeypatch) -> None:
    def refuse(*_a, **_k):
        raise AssertionError("the units were read from the database again")
    monkeypatch.setattr(repository, "load_units_frame", refuse)


def _files(root):
    return sorted((root / "cache" / "units").glob("*.npz"))


def test_a_second_process_reads_the_boundaries_from_disk(engine, tmp_path, monkeypatch):
    first = geodata.UnitLayers(engine, "gcj02", cache_root=tmp_path)
    built = first.snapshot()
    (path,) = _files(tmp_path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "cache" / "units").stat().st_mode & 0o777) == "0o700"
    _no_database_read(monkeypatch)
    again = geodata.UnitLayers(engine, "gcj02", cache_root=tmp_path)
    read = again.snapshot()
    assert read is not built
    for band in built.geometry:
        assert read.geometry[band] == built.geometry[band]
    assert (read.heads, read.props, read.parent_ids, read.token) == (
        built.heads, built.props, built.parent_ids, built.token)
    assert (read.ids == built.ids).all() and (read.bounds == built.bounds).all()
    assert read.children == built.children and read.signature == built.signature
    assert again.geojson(level=3) == first.geojson(level=3)


def test_another_datum_or_database_is_another_file(engine, tmp_path):
    geodata.UnitLayers(engine, "wgs84", cache_root=tmp_path).snapshot()
    geodata.UnitLayers(engine, "gcj02", cache_root=tmp_path).snapshot()
    assert len(_files(tmp_path)) == 2
    sig = (1, 2)
    assert snapshot_cache.key("db_a", sig, "wgs84") != snapshot_cache.key("db_b", sig, "wgs84")


def test_a_damaged_or_foreign_file_is_rebuilt_not_trusted(engine, tmp_path, caplog):
    geodata.UnitLayers(engine, "wgs84", cache_root=tmp_path).snapshot()
    (path,) = _files(tmp_path)
    good = path.read_bytes()
    path.write_bytes(b"PK\x03\x04 not an archive")
    rebuilt = geodata.UnitLayers(engine, "wgs84", cache_root=tmp_path)
    assert rebuilt.snapshot().ids.size > 0 and rebuilt.builds == 1
    assert "rebuilding" in caplog.text
    assert path.read_bytes() != b"PK\x03\x04 not an archive"  # written again
    path.write_bytes(good)
    os.chmod(path, 0o666)  # anyone could have written it: ignored
    caplog.clear()
    assert snapshot_cache.load(tmp_path, path.stem, dict) is None
    assert "writable by others" in caplog.text


def test_kept_after_a_load_the_servers_first_start_reads_them(engine, settings, tmp_path,
                                                              monkeypatch):
    """`onemap demo` and `make setup` keep the boundaries right after loading
    (cli.demo.keep_boundaries, with the command line's owner engine); a server's runtime
    (the application role's engine for the same database) then reads that file and builds
    nothing."""
    from cli.demo import keep_boundaries
    from store.runtime import build_runtime

    mine = settings.with_(database_url=engine.url.render_as_string(hide_password=False),
                          var_dir=str(tmp_path))
    monkeypatch.setattr(geodata, "_LAYERS", {})  # this process's cache: the test's own
    assert keep_boundaries(mine, engine) > 0
    (path,) = _files(tmp_path)
    written = path.stat().st_mtime_ns
    assert len(list((tmp_path / "cache" / "engine").glob("*.npz"))) == 1  # and the engine

    def refuse(*_a, **_k):  # (the units are read again: the assignment engine needs them)
        raise AssertionError("the boundaries were simplified again")
    monkeypatch.setattr(geodata, "build_snapshot", refuse)
    monkeypatch.setattr(geodata, "_LAYERS", {})  # another command: read, not written again
    keep_boundaries(mine, engine)
    assert _files(tmp_path) == [path] and path.stat().st_mtime_ns == written
    rt = build_runtime(mine)
    assert rt.engine is not engine
    served = geodata.UnitLayers(rt.engine, mine.basemap_datum, cache_root=mine.var_path)
    assert served.snapshot().ids.size > 0 and served.builds == 1


def test_left_over_locks_are_pruned_but_not_one_in_use(engine, tmp_path):
    """A lock whose snapshot is gone (a failed build, a file removed by hand) is dropped when
    the next snapshot is saved, once it is old enough that nobody can still be building."""
    folder = tmp_path / "cache" / "units"
    folder.mkdir(parents=True)
    old = folder / ".0123456789abcdef01234567.lock"
    fresh = folder / ".fedcba9876543210fedcba98.lock"
    old.touch()
    fresh.touch()
    hours_ago = old.stat().st_mtime - 2 * disk_cache.STALE_LOCK_S
    os.utime(old, (hours_ago, hours_ago))
    geodata.UnitLayers(engine, "wgs84", cache_root=tmp_path).snapshot()
    (path,) = _files(tmp_path)
    assert not old.exists() and fresh.exists()
    assert (folder / f".{path.stem}.lock").exists()  # the one just used stays


def test_each_database_keeps_its_newest_files(tmp_path):
    """The newest few files are kept per database: many test databases written after a
    province's files do not push those out."""
    folder = disk_cache.folder(tmp_path, "units")
    province = [disk_cache.file_name("h:1/onemap_province", "sig", i) for i in range(6)]
    tests = [disk_cache.file_name(f"h:1/onemap_test{i}", "sig") for i in range(8)]
    assert len({n.split("-")[0] for n in province}) == 1  # one database, one tag
    for i, name in enumerate(province + tests):  # the province's first, then the tests'
        disk_cache.save(folder, name, {"a": np.arange(3)}, "test files")
        os.utime(folder / f"{name}.npz", (1_000_000 + i, 1_000_000 + i))
    disk_cache.prune(folder)
    left = {p.stem for p in folder.glob("*.npz")}
    assert left == set(province[-disk_cache.KEEP:]) | set(tests)
