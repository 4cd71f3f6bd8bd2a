"""geo/ stays a pure library: no database, web or map-rendering imports — for every module."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

FORBIDDEN = ("sqlalchemy", "geoalchemy2", "psycopg", "dash", "flask", "folium", "store",
             "intake", "planning", "loaders", "reports", "dashboard", "cli")
GEO = Path(__file__).resolve().parents[2] / "geo"


def geo_modules() -> list[str]:
    return sorted(f"geo.{m.name}" for m in pkgutil.iter_modules([str(GEO)]))


def test_every_geo_module_imports_no_database_or_web_modules() -> None:
    modules = geo_modules()
    assert {"geo.crs", "geo.assign", "geo.levels", "geo.policy", "geo.workflow"} <= set(modules)
    code = (
        f"import importlib, sys; [importlib.import_module(m) for m in {modules!r}]; "
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]; "
        "print(','.join(sorted(bad)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "", f"geo imported: {out.stdout.strip()}"
