"""Finding (and on Debian/Ubuntu, installing) PostgreSQL ≥ 15 with PostGIS ≥ 3.3.

Search order: ``ONEMAP_PG_BINDIR``; the active conda env; ``pg_ctl`` on PATH; ``pg_config
--bindir``; Debian's ``/usr/lib/postgresql/N/bin`` (newest first).  The first directory with
``initdb``, ``pg_ctl`` and ``postgres`` of a supported version wins.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from onemap.errors import SetupError
from onemap.settings import Settings
from onemap.system import apt_install, can_apt_install

MIN_PG = 15
MIN_POSTGIS = (3, 3)

MANUAL_HINT = (
    "Install PostgreSQL 15+ with PostGIS 3.3+ and run the command again:\n"
    "  Debian/Ubuntu:  sudo apt-get install postgresql postgresql-15-postgis-3\n"
    "  conda:          conda env create -f environment.yml && conda activate onemap\n"
    "Or point DATABASE_URL at an existing PostGIS server."
)


@dataclass(frozen=True)
class PgBinaries:
    bindir: Path
    major: int
    postgis: str | None  # default_version from postgis.control, None when absent

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def _major_version(bindir: Path) -> int | None:
    try:
        out = subprocess.run([str(bindir / "postgres"), "-V"], capture_output=True,
                             text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out.stdout)
    return int(match.group(1)) if match else None


def _sharedir(bindir: Path, major: int) -> Path | None:
    pg_config = bindir / "pg_config"
    if pg_config.exists():
        out = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    for guess in (Path(f"/usr/share/postgresql/{major}"), bindir.parent / "share" / "postgresql",
                  bindir.parent / "share"):
        if (guess / "extension").is_dir():
            return guess
    return None


def _postgis_version(bindir: Path, major: int) -> str | None:
    share = _sharedir(bindir, major)
    control = share / "extension" / "postgis.control" if share else None
    if not control or not control.exists():
        return None
    match = re.search(r"default_version\s*=\s*'([^']+)'", control.read_text())
    return match.group(1) if match else None


def _candidates(settings: Settings) -> list[Path]:
    dirs: list[Path] = []
    if settings.pg_bindir:
        dirs.append(Path(settings.pg_bindir))
    if os.environ.get("CONDA_PREFIX"):
        dirs.append(Path(os.environ["CONDA_PREFIX"]) / "bin")
    on_path = shutil.which("pg_ctl")
    if on_path:
        dirs.append(Path(on_path).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            dirs.append(Path(out.stdout.strip()))
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted((p for p in debian.iterdir() if p.name.isdigit()),
                          key=lambda p: int(p.name), reverse=True)
        dirs.extend(p / "bin" for p in versions)
    seen: set[Path] = set()
    return [d for d in dirs if not (d in seen or seen.add(d))]


def _postgis_ok(version: str | None) -> bool:
    if not version:
        return False
    parts = tuple(int(x) for x in re.findall(r"\d+", version)[:2])
    return parts >= MIN_POSTGIS


def find_postgres(settings: Settings) -> PgBinaries | None:
    """The best PostgreSQL installation found, preferring one that has PostGIS."""
    found: list[PgBinaries] = []
    for bindir in _candidates(settings):
        if not all((bindir / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            continue
        major = _major_version(bindir)
        if major is None or major < MIN_PG:
            continue
        found.append(PgBinaries(bindir, major, _postgis_version(bindir, major)))
        if settings.pg_bindir and bindir == Path(settings.pg_bindir):
            return found[-1]
    with_postgis = [b for b in found if _postgis_ok(b.postgis)]
    return (with_postgis or found or [None])[0]


def ensure_postgres(settings: Settings) -> PgBinaries:
    """Return PostgreSQL ≥ 15 with PostGIS ≥ 3.3, installing them with apt-get if we may."""
    bins = find_postgres(settings)
    if bins and _postgis_ok(bins.postgis):
        return bins
    if not can_apt_install():
        what = ("PostGIS ≥ 3.3 for PostgreSQL " + str(bins.major)) if bins else "PostgreSQL ≥ 15"
        raise SetupError(f"{what} was not found.\n{MANUAL_HINT}")
    if bins is None:
        apt_install(["postgresql", "postgresql-contrib"], "PostgreSQL server",
                    manual_hint=MANUAL_HINT)
        bins = find_postgres(settings)
        if bins is None:
            raise SetupError(f"PostgreSQL was installed but no server ≥ {MIN_PG} was found.\n"
                             + MANUAL_HINT)
    if not _postgis_ok(bins.postgis):
        apt_install([f"postgresql-{bins.major}-postgis-3"], "PostGIS",
                    manual_hint=MANUAL_HINT)
        bins = find_postgres(settings)
        if bins is None or not _postgis_ok(bins.postgis):
            raise SetupError("PostGIS was installed but its extension files were not found.\n"
                             + MANUAL_HINT)
    return bins
