"""`onemap plan export|import|grid-at`: the QGIS round trip and time travel from the shell."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyogrio
import pytest
from shapely.geometry import MultiPolygon, box
from sqlalchemy import Engine, text

from cli import main
from loaders.sample import ORIGIN
from tests.helpers import fresh_demo_database, sibling_database

pytestmark = pytest.mark.db

VILLAGE = "620981900001001"
G1, G2 = f"{VILLAGE}001", f"{VILLAGE}002"
X0, Y0 = ORIGIN


@pytest.fixture()
def plan_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Engine]]:
    """A fresh sample database the command is pointed at (DATABASE_URL), its grids valid
    since 2020 so dates before an edit have an answer."""
    url = sibling_database(db_url, "cliplan")
    engine = fresh_demo_database(url, "sample")
    with engine.begin() as conn:
        conn.execute(text("UPDATE unit SET valid_from = '2020-01-01T00:00:00+08:00'"))
    monkeypatch.setenv("DATABASE_URL", url)
    yield url, engine
    engine.dispose()


def _run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _current(engine: Engine, code: str) -> tuple[int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(text("SELECT id, version FROM unit WHERE code = :c AND "
                                       "valid_to IS NULL"), {"c": code}).one())


def _edit(path: Path, x: float) -> None:
    """Move the shared edge of grids 1 and 2 to ``x`` in both rows (what a QGIS user does)."""
    frame = pyogrio.read_dataframe(path)
    frame.loc[frame["code"] == G1, "geometry"] = MultiPolygon([box(X0, Y0, x, Y0 + 0.04)])
    frame.loc[frame["code"] == G2, "geometry"] = MultiPolygon(
        [box(x, Y0, X0 + 0.04, Y0 + 0.04)])
    path.unlink()
    pyogrio.write_dataframe(frame, path)


def test_export_edit_import_and_time_travel(plan_db, tmp_path: Path, capsys) -> None:
    _, engine = plan_db
    path = tmp_path / "village.gpkg"
    code, _, err = _run(capsys, "plan", "export", str(path), "--within", VILLAGE)
    assert code == 0, err
    assert "exported to" in err and path.exists()

    code, out, err = _run(capsys, "plan", "import", str(path))
    assert code == 0, err
    assert "no changes" in out

    _edit(path, X0 + 0.025)
    before = _current(engine, G1)
    code, out, err = _run(capsys, "plan", "import", str(path), "--dry-run")
    assert code == 0, err
    assert "validation: OK" in out and "DRY RUN" in out
    assert G1 in out and G2 in out
    assert _current(engine, G1) == before

    code, out, err = _run(capsys, "plan", "import", str(path), "--actor", "张规划",
                          "--effective", "2024-06-01")
    assert code == 0, err
    assert "Saved 1 change(s)" in out
    assert _current(engine, G1)[1] == 2
    with engine.connect() as conn:
        actor = conn.execute(text("SELECT actor FROM unit_change ORDER BY id DESC LIMIT 1"))
        assert actor.scalar() == "张规划"

    # a point in the strip that moved from grid 2 to grid 1 on 2024-06-01 (local day)
    lon, lat = str(X0 + 0.022), str(Y0 + 0.02)
    code, out, err = _run(capsys, "plan", "grid-at", lon, lat, "--date", "2024-05-31")
    assert code == 0, err
    assert G2 in out and "version 1" in out and "to 2024-06-01 00:00" in out
    code, out, err = _run(capsys, "plan", "grid-at", lon, lat, "--date", "2024-06-01")
    assert code == 0, err
    assert G1 in out and "version 2" in out and "current" in out
    code, out, _ = _run(capsys, "plan", "grid-at", lon, lat)
    assert G1 in out
    code, out, _ = _run(capsys, "plan", "grid-at", "10.0", "10.0")
    assert code == 1 and "in no grid" in out


def test_import_refusals_exit_non_zero_and_write_nothing(plan_db, tmp_path: Path,
                                                         capsys) -> None:
    _, engine = plan_db
    path = tmp_path / "grids.geojson"
    assert _run(capsys, "plan", "export", str(path))[0] == 0
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM unit")).scalar()

    # an overlap: validation refuses it (exit 1)
    frame = pyogrio.read_dataframe(path)
    frame.loc[frame["code"] == G1, "geometry"] = MultiPolygon(
        [box(X0, Y0, X0 + 0.03, Y0 + 0.04)])
    overlap = tmp_path / "overlap.geojson"
    pyogrio.write_dataframe(frame, overlap)
    code, out, _ = _run(capsys, "plan", "import", str(overlap))
    assert code == 1
    assert "REFUSED" in out and "overlap" in out and "Nothing saved" in out

    # a broken file: the error names the file, row and field (exit 2)
    broken = tmp_path / "broken.geojson"
    frame = pyogrio.read_dataframe(path)
    frame["version"] = frame["version"].astype(object)
    frame.loc[2, "version"] = "abc"
    pyogrio.write_dataframe(frame, broken)
    code, _, err = _run(capsys, "plan", "import", str(broken))
    assert code == 2
    assert "broken.geojson: row 3, version: not a whole number ('abc')" in err
    assert "Traceback" not in err

    # a stale file: someone saved grid 1 after our export (exit 2, PlanConflict)
    _edit(path, X0 + 0.025)
    first = tmp_path / "first.geojson"
    first.write_bytes(path.read_bytes())
    assert _run(capsys, "plan", "import", str(first), "--actor", "A")[0] == 0
    count += 2  # new versions of grids 1 and 2
    _edit(path, X0 + 0.015)  # still the old export: version 1
    code, _, err = _run(capsys, "plan", "import", str(path), "--actor", "B")
    assert code == 2
    assert G1 in err and "nothing was saved" in err
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM unit")).scalar() == count


def test_shapefile_export_from_a_real_shell(plan_db, tmp_path: Path) -> None:
    url, _ = plan_db
    result = subprocess.run(
        [sys.executable, "-m", "cli", "plan", "export", str(tmp_path / "g.shp"),
         "--format", "shp"], capture_output=True, text=True, timeout=120,
        env=dict(os.environ, DATABASE_URL=url))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "g.cpg").read_text().strip() == "UTF-8"
    frame = pyogrio.read_dataframe(tmp_path / "g.shp")
    assert "西城南社区第1网格" in set(frame["name"])
