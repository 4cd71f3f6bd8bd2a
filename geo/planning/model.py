"""The planning model: kinds, measures, the context of one parent and the proposal."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo.coverage_report import CoverageReport, Problem

KINDS = ("edit", "split", "merge", "create", "suggest", "import", "repair")
MEASURES = ("households", "persons", "cameras", "workers", "open_incidents")
BANDS = ("under", "within", "over")



@dataclass(frozen=True)
class PlanContext:
    """The parent unit and its current children (the grids a planner edits together).

    ``units`` columns: id (int), code (str), name (str), version (int), geometry (WGS84).
    ``retired_codes``: codes of the parent's former grids, never handed out again (a code
    names one grid through all its versions).
    """

    parent_id: int
    parent_code: str
    parent_name: str
    parent_geometry: BaseGeometry
    units: gpd.GeoDataFrame
    retired_codes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class NewUnit:
    """A grid after the change; ``replaces`` are the retired ids whose area it takes over."""

    code: str
    name: str
    geometry: Polygon | MultiPolygon
    replaces: tuple[int, ...] = ()


@dataclass(frozen=True)
class Proposal:
    """Retire ``removed`` (current ids of ``parent_id``'s children) and add ``added``.

    ``versions`` maps every removed id to the version the planner saw (optimistic locking).
    """

    parent_id: int
    kind: str
    removed: tuple[int, ...]
    added: tuple[NewUnit, ...]
    versions: dict[int, int] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Validation:
    """A proposal's coverage check: ``introduced`` problems block saving when errors;
    ``existing`` ones were already there before the edit (shown, never blocking)."""

    report: CoverageReport
    introduced: list[Problem]
    existing: list[Problem]

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.introduced)


@dataclass(frozen=True)
class PointSet:
    """Points bound to grids: ``xy`` (n×2 lon/lat), ``grid_id`` (n, -1 = none),
    optional ``weight`` (persons per household) and ``ids`` (row ids, e.g. incident ids)."""

    xy: np.ndarray
    grid_id: np.ndarray
    weight: np.ndarray | None = None
    ids: np.ndarray | None = None



@dataclass(frozen=True)
class UnitImpact:
    """Before/after counts of one grid code a proposal touches."""

    code: str
    name: str
    old_id: int | None  # the current id with this code (None for a new code)
    status: str  # 'changed' | 'new' | 'retired'
    before: dict[str, int]  # households, persons, cameras, workers, open_incidents
    after: dict[str, int]  # same keys (zeros for retired)
    band: str  # 'under' | 'within' | 'over' (after households vs band)


@dataclass(frozen=True)
class Impact:
    """What saving a proposal would move, for the preview before anyone presses save."""

    units: list[UnitImpact]
    moved_incidents: list[tuple[int, int | None, str | None]]  # (id, old grid id, new code)
    unassigned: dict[str, int]  # households / cameras / incidents left in no grid after


