"""geo/ stays a pure library: no database, web or map-rendering imports."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("sqlalchemy", "geoalchemy2", "psycopg", "dash", "flask", "folium")


def test_geo_imports_no_database_or_web_modules() -> None:
    code = (
        "import geo, geo.crs, geo.assign, geo.coverage, geo.simplify, geo.testing; import sys; "
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]; "
        "print(','.join(sorted(bad)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "", f"geo imported: {out.stdout.strip()}"
