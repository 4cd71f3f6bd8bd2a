"""The options of a load, shared by the `onemap load` command and the planner page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from onemap.errors import OneMapError

KINDS = ("boundaries", "households", "cameras", "incidents")


class LoadError(OneMapError):
    """A load was refused as a whole (unreadable file, missing column, overlaps…)."""


@dataclass(frozen=True)
class LoadOptions:
    """Everything a user can say about a file besides its path.

    ``mapping`` maps our field names (code, name, lon, lat, received_at…) to the file's column
    names, overriding the built-in Chinese and English aliases.
    """

    # of lon/lat in the file: wgs84 | gcj02 | bd09 | cgcs2000; None: not said — the file's
    # points are checked (loaders.importers.datum) and read as WGS84 unless another datum
    # fits clearly better (then the load is refused); "auto": the best fit is taken.
    datum: str | None = None
    crs: str | None = None  # boundaries: CRS of the file when it has none (or overriding it)
    encoding: str | None = None  # None: detect
    mapping: Mapping[str, str] = field(default_factory=dict)
    sheet: str | None = None  # XLSX sheet / GeoPackage or KML layer
    level: int | None = None  # boundaries: level of every unit in the file
    allow_overlaps: bool = False
    dry_run: bool = False
    rejects_path: Path | None = None  # None: <file>.rejects.csv next to the input
    snap_m: float | None = None  # None: the intake policy's (ONEMAP_SNAP_M)
    source: str | None = None  # incidents: channel when the file has no source column
    allow_unlocated: bool = False  # incidents: keep rows without coordinates (no geom)
    actor: str | None = None  # incident history actor; default 'import:<filename>'
    progress: bool | None = None  # None: on a terminal only
    secrets_dir: str | None = None  # var dir holding keys/ (sealing personal data); None: default
    on_duplicate: str = "first"  # one key on several rows: keep the first, the last, or none
    root_level: str | None = None  # boundaries: what the file's level 0 is (省, 市, 县 …)
    repair: bool = False  # boundaries: make each level a valid coverage, listing changes
    tolerance_m: float = 1.0  # boundaries --repair: slivers, gaps, jitter up to this
    level_names: tuple[str, ...] | None = None  # the deployment's level names (settings)


def parse_mapping(items: list[str] | None) -> dict[str, str]:
    """``["code=网格编码", "name=名称"]`` → ``{"code": "网格编码", "name": "名称"}``."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise LoadError(f"--map expects FIELD=COLUMN (e.g. code=网格编码), got {item!r}.")
        out[key.strip()] = value.strip()
    return out
