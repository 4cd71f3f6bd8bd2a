"""Validation of a unit layer (id, code, level, parent_id, geometry) and its hierarchy.

The layer is the input of :class:`geo.assign.AssignmentEngine` and
:func:`geo.coverage.check_hierarchy`; checking it in one place gives the same actionable
messages everywhere (naming the unit ids and the column at fault).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import DatumError, GeometryError, HierarchyError

__all__ = ["REQUIRED_COLUMNS", "Hierarchy", "read_hierarchy", "require_wgs84"]

REQUIRED_COLUMNS = ("id", "code", "level", "parent_id", "geometry")
_ACCEPTED_EPSG = (4326, 4490)  # CGCS2000 is taken as WGS84


def _ids(values: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" … ({len(values)} in all)" if len(values) > limit else "")


def require_wgs84(gdf: gpd.GeoDataFrame, what: str = "units") -> None:
    """Raise :class:`DatumError` unless ``gdf`` is in WGS84 / CGCS2000 lon/lat (or unset)."""
    crs = gdf.crs
    if crs is None:
        return
    epsg = crs.to_epsg()
    if epsg not in _ACCEPTED_EPSG:
        raise DatumError(
            f"The {what} layer is in {crs.name!r} (EPSG:{epsg}); OneMap needs WGS84 lon/lat. "
            "Reproject it first, e.g. gdf.to_crs(4326)."
        )


@dataclass(frozen=True)
class Hierarchy:
    """Unit arrays sorted as given, with each unit's ancestor id at every level."""

    ids: np.ndarray  # int64 (n,)
    codes: np.ndarray  # str (n,)
    levels: np.ndarray  # int64 (n,)
    parent_index: np.ndarray  # int64 (n,), -1 for none
    geoms: np.ndarray  # shapely (n,)
    ancestors: np.ndarray  # int64 (n, n_levels): id at level k, -1 if none

    @property
    def n_levels(self) -> int:
        return self.ancestors.shape[1]

    @property
    def grid_level(self) -> int:
        return self.n_levels - 1


def read_hierarchy(units: gpd.GeoDataFrame) -> Hierarchy:
    """Validate ``units`` and resolve parent links; raise with the offending ids."""
    if not isinstance(units, gpd.GeoDataFrame):
        raise GeometryError(
            "units must be a GeoDataFrame with columns "
            + ", ".join(REQUIRED_COLUMNS)
            + f"; got {type(units).__name__}."
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in units.columns]
    if missing:
        raise GeometryError(
            f"The units layer lacks column(s) {', '.join(missing)}; "
            f"required: {', '.join(REQUIRED_COLUMNS)}."
        )
    if len(units) == 0:
        raise GeometryError("The units layer is empty: load at least one grid.")
    require_wgs84(units)
    try:
        ids = units["id"].to_numpy(dtype=np.int64)
        levels = units["level"].to_numpy(dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise GeometryError(
            "Columns id and level must be integers without missing values.", detail=str(exc)
        ) from exc
    codes = units["code"].astype(str).to_numpy()
    geoms = np.asarray(units.geometry.values, dtype=object)

    dup = pd.Index(ids).duplicated()
    if dup.any():
        raise HierarchyError(
            f"Duplicate unit id(s): {_ids(np.unique(ids[dup]))}. Ids must be unique."
        )
    if levels.min() != 0 or (levels < 0).any():
        raise HierarchyError(
            f"Levels must start at 0 (the top, e.g. county); found levels {sorted(set(levels))}."
        )
    none = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if none.any():
        raise GeometryError(f"Unit(s) with an empty or missing geometry: {_ids(ids[none])}.")
    kind = shapely.get_type_id(geoms)
    wrong = ~np.isin(kind, (3, 6))
    if wrong.any():
        raise GeometryError(
            f"Unit(s) whose geometry is not a Polygon/MultiPolygon: {_ids(ids[wrong])}."
        )
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        first = int(np.flatnonzero(invalid)[0])
        raise GeometryError(
            f"Unit(s) with an invalid geometry: {_ids(ids[invalid])} "
            f"(first: {shapely.is_valid_reason(geoms[first])}). "
            "Repair them with geo.coverage.repair_invalid (make_valid) and re-check coverage.",
        )

    parent_raw = pd.array(units["parent_id"], dtype="Int64")
    has_parent = ~np.asarray(parent_raw.isna())
    parent_ids = np.asarray(parent_raw.fillna(-1), dtype=np.int64)
    pos = pd.Index(ids).get_indexer(parent_ids)
    orphan = has_parent & (pos < 0)
    if orphan.any():
        raise HierarchyError(
            f"Unit(s) whose parent_id is not a unit id: {_ids(ids[orphan])} "
            f"(parent_id {_ids(parent_ids[orphan])})."
        )
    parent_index = np.where(has_parent, pos, -1)
    top_with_parent = has_parent & (levels == 0)
    if top_with_parent.any():
        raise HierarchyError(f"Level-0 unit(s) must have no parent: {_ids(ids[top_with_parent])}.")
    no_parent = ~has_parent & (levels > 0)
    if no_parent.any():
        raise HierarchyError(f"Unit(s) below level 0 without parent_id: {_ids(ids[no_parent])}.")
    up = has_parent & (levels[np.maximum(parent_index, 0)] >= levels)
    if up.any():
        raise HierarchyError(
            f"Unit(s) whose parent is not on a higher level (smaller level number): "
            f"{_ids(ids[up])}."
        )

    n_levels = int(levels.max()) + 1
    anc = np.full((len(ids), n_levels), -1, dtype=np.int64)
    cur = np.arange(len(ids))
    rows = np.arange(len(ids))
    for _ in range(n_levels):  # levels strictly decrease along parents: at most n_levels steps
        live = cur >= 0
        anc[rows[live], levels[cur[live]]] = ids[cur[live]]
        cur = np.where(live, parent_index[np.maximum(cur, 0)], -1)
    return Hierarchy(ids, codes, levels, parent_index, geoms, anc)
