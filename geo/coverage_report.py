"""The result of a coverage check: problems with where they are and how big.

Kept apart from the checks so loaders, the API and the map can import the report types
without the geometry machinery.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
from shapely.geometry.base import BaseGeometry

from geo.crs import WGS84_EPSG

__all__ = ["KINDS", "CoverageReport", "Problem", "Severity"]

KINDS = ("invalid", "overlap", "gap", "sliver", "outside_parent")
Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One coverage problem, with where it is (``geometry``, WGS84) and how big (m²)."""

    kind: str
    severity: Severity
    unit_ids: tuple[int, ...]
    geometry: BaseGeometry | None
    area_m2: float
    message: str


@dataclass
class CoverageReport:
    """The problems found; ``ok`` means no errors (warnings allowed)."""

    problems: list[Problem] = field(default_factory=list)
    checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def of_kind(self, kind: str) -> list[Problem]:
        return [p for p in self.problems if p.kind == kind]

    def extend(self, other: CoverageReport) -> None:
        self.problems.extend(other.problems)
        self.checked += other.checked

    def to_geodataframe(self) -> gpd.GeoDataFrame:
        """One row per problem (kind, severity, unit_ids, area_m2, message), EPSG:4326."""
        rows = {
            "kind": [p.kind for p in self.problems],
            "severity": [p.severity for p in self.problems],
            "unit_ids": [",".join(str(i) for i in p.unit_ids) for p in self.problems],
            "area_m2": [p.area_m2 for p in self.problems],
            "message": [p.message for p in self.problems],
        }
        geoms = [p.geometry for p in self.problems]
        return gpd.GeoDataFrame(rows, geometry=gpd.GeoSeries(geoms, crs=WGS84_EPSG))

    def to_geojson(self) -> dict[str, Any]:
        """A GeoJSON FeatureCollection (dict) of the problems, for the map."""
        return json.loads(self.to_geodataframe().to_json(drop_id=True))

    def summary(self, limit: int = 20) -> str:
        """Text for loaders to print: counts per kind, then the first ``limit`` problems."""
        if not self.problems:
            return f"Coverage OK: {self.checked} unit(s) checked, no problems."
        counts = Counter(p.kind for p in self.problems)
        head = (
            f"Coverage: {len(self.errors)} error(s), {len(self.warnings)} warning(s) in "
            f"{self.checked} unit(s) — " + ", ".join(f"{k}: {n}" for k, n in sorted(counts.items()))
        )
        order = sorted(self.problems, key=lambda p: (p.severity != "error", -p.area_m2))
        lines = [head] + [f"  [{p.severity}] {p.message}" for p in order[:limit]]
        if len(order) > limit:
            lines.append(f"  … and {len(order) - limit} more (see to_geodataframe()).")
        return "\n".join(lines)
