"""`onemap export monthly`: writes the file, or exits 2 with a message a user can act on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.db


def run(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DATABASE_URL=db_url, ONEMAP_BASEMAP_URL="")
    return subprocess.run([sys.executable, "-m", "cli", "export", "monthly", *args],
                          env=env, capture_output=True, text=True, timeout=300)


def test_export_writes_the_html(reports_engine, reports_db_url, report_month, tmp_path: Path):
    out = tmp_path / "m.html"
    done = run(reports_db_url, "--month", report_month, "--level", "village",
               "--format", "html", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.is_file() and "leaflet" in out.read_text(encoding="utf-8").lower()
    assert str(out) in done.stderr


def test_export_within_a_unit_code(reports_engine, reports_db_url, report_month,
                                   tmp_path: Path):
    out = tmp_path / "w.html"
    done = run(reports_db_url, "--month", report_month, "--within", "620981",
               "--format", "html", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "玉门市" in out.read_text(encoding="utf-8")
    bad = run(reports_db_url, "--month", report_month, "--within", "000000",
              "--out", str(tmp_path / "x.html"))
    assert bad.returncode == 2 and "000000" in bad.stderr


def test_month_without_data_exits_2_with_the_months_that_have_some(
        reports_engine, reports_db_url, report_month, tmp_path: Path):
    out = tmp_path / "none.pdf"
    done = run(reports_db_url, "--month", "1999-01", "--format", "pdf", "--out", str(out))
    assert done.returncode == 2
    assert "No incidents were received in 1999-01" in done.stderr
    assert report_month in done.stderr
    assert not out.exists()


def test_bad_level_or_month_exits_2(reports_engine, reports_db_url, tmp_path: Path):
    level = run(reports_db_url, "--month", "2026-10", "--level", "street")
    assert level.returncode == 2 and "invalid choice: 'street'" in level.stderr
    month = run(reports_db_url, "--month", "2026-13", "--out", str(tmp_path / "m.html"))
    assert month.returncode == 2 and "YYYY-MM" in month.stderr
