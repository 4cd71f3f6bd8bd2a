"""Coverage checks: do sibling polygons tile their parent?

Loaders run these before a boundary change goes live; every problem carries the unit ids, an
area in m² and a geometry that says *where* (an overlap polygon, a gap polygon, the part
outside the parent, or the point where a geometry is invalid), so loaders can print them and
the map can draw them.

Kinds: ``invalid`` (error; :func:`repair_invalid` offers a make_valid repair), ``overlap``
(error), ``gap`` (warning by default: planners leave "blank areas" on purpose), ``sliver``
(warning: an overlap, gap or outside part, or a whole unit, smaller than ``sliver_m2``),
``outside_parent`` (error).  Areas are measured in the CGCS2000 Gauss-Krüger zone of each
piece (:func:`geo.crs.area_m2`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.coverage_report import KINDS, CoverageReport, Problem, Severity
from geo.crs import area_m2
from geo.errors import GeometryError

__all__ = [
    "KINDS",
    "CoverageReport",
    "Problem",
    "check_coverage",
    "check_hierarchy",
    "repair_invalid",
]


def _polygonal(geom: BaseGeometry | None) -> BaseGeometry | None:
    """Only the polygon parts of ``geom`` (intersections also yield lines and points)."""
    if geom is None or geom.is_empty:
        return None
    parts = shapely.get_parts(geom)
    polys = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
    if len(polys) == 0:
        return None
    return shapely.union_all(polys) if len(polys) > 1 else polys[0]


def repair_invalid(geom: BaseGeometry) -> BaseGeometry:
    """``make_valid`` repair that keeps only the polygonal result (Polygon or MultiPolygon)."""
    fixed = shapely.make_valid(geom, method="structure", keep_collapsed=False)
    poly = _polygonal(fixed)
    if poly is None:
        raise GeometryError(
            "The geometry collapses to nothing when repaired (zero area); redraw it.",
            detail=shapely.is_valid_reason(geom),
        )
    return poly


_WHERE = re.compile(r"\[\s*([-0-9.eE+]+)\s+([-0-9.eE+]+)")


def _where(geom: BaseGeometry) -> str:
    c = shapely.point_on_surface(geom) if not geom.is_empty else None
    return f"near ({c.x:.5f}, {c.y:.5f})" if c is not None else ""


def _ids_and_geoms(children: Any, id_column: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(children, gpd.GeoDataFrame):
        ids = children[id_column] if id_column in children.columns else children.index
        return np.asarray(ids, dtype=np.int64), np.asarray(children.geometry.values, dtype=object)
    geoms = np.asarray(children, dtype=object)
    return np.arange(len(geoms), dtype=np.int64), geoms


def check_coverage(
    children: gpd.GeoDataFrame | Iterable[BaseGeometry],
    parent: BaseGeometry | None = None,
    *,
    sliver_m2: float = 1.0,
    gap_severity: Severity = "warning",
    find_gaps: bool = True,
    id_column: str = "id",
    parent_id: int | None = None,
) -> CoverageReport:
    """Validate sibling polygons (WGS84) against each other and against ``parent``.

    Without ``parent`` gaps are the holes enclosed by the siblings' union.  Pieces smaller than
    ``sliver_m2`` are reported as ``sliver`` warnings instead of overlaps / gaps / outside.
    """
    ids, geoms = _ids_and_geoms(children, id_column)
    report = CoverageReport(checked=len(ids))
    if len(ids) == 0:
        return report
    geoms = geoms.copy()
    add = report.problems.append

    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for i in np.flatnonzero(missing):
        add(
            Problem(
                "invalid",
                "error",
                (int(ids[i]),),
                None,
                0.0,
                f"无效 invalid: unit {ids[i]} has no geometry — draw or drop it.",
            )
        )
    bad = ~missing & ~shapely.is_valid(geoms)
    for i in np.flatnonzero(bad):
        reason = shapely.is_valid_reason(geoms[i])
        m = _WHERE.search(reason)
        at = shapely.Point(float(m.group(1)), float(m.group(2))) if m else None
        add(
            Problem(
                "invalid",
                "error",
                (int(ids[i]),),
                at,
                0.0,
                f"无效 invalid: unit {ids[i]}: {reason}; repair with "
                "geo.coverage.repair_invalid (make_valid) and check the result.",
            )
        )
        try:
            geoms[i] = repair_invalid(geoms[i])
        except GeometryError:
            missing[i] = True
    keep = np.flatnonzero(~missing)
    ids, geoms = ids[keep], geoms[keep]
    if len(ids) == 0:
        return report

    areas = area_m2(geoms)
    for i in np.flatnonzero(areas < sliver_m2):
        add(
            Problem(
                "sliver",
                "warning",
                (int(ids[i]),),
                geoms[i],
                float(areas[i]),
                f"碎片 sliver: unit {ids[i]} is only {areas[i]:.2f} m² {_where(geoms[i])}; "
                "merge it into a neighbour or delete it.",
            )
        )

    valid_coverage = bool(shapely.coverage_is_valid(geoms))
    if not valid_coverage:
        _check_overlaps(ids, geoms, sliver_m2, add)

    if parent is not None:
        _check_outside(ids, geoms, parent, sliver_m2, parent_id, add)
    if find_gaps:
        union = shapely.coverage_union_all(geoms) if valid_coverage else shapely.union_all(geoms)
        if parent is not None:  # covers() first: an exact test, the overlay leaves dust
            gap = (
                None
                if shapely.covers(union, parent)
                else _polygonal(shapely.difference(parent, union))
            )
        else:  # holes enclosed by the siblings
            holes = (
                shapely.get_parts(
                    [
                        shapely.polygons(r)
                        for p in shapely.get_parts(union)
                        for r in shapely.get_rings(p)[1:]
                    ]
                )
                if union is not None and not union.is_empty
                else []
            )
            gap = _polygonal(shapely.union_all(holes)) if len(holes) else None
        if gap is not None:
            _report_gaps(gap, ids, geoms, parent_id, sliver_m2, gap_severity, add)
    return report


# Overlay operations in floating point leave "dust": zero-width spikes where a vertex sits a few
# ulps off its neighbour's edge.  In lon/lat such a part has no area, but measured in a
# projected CRS a straight lon/lat edge bows, so the same spike can show tens of m² over a long
# rural edge.  Parts thinner than this (mean width in degrees, ~1 mm) are not real problems.
DUST_WIDTH_DEG = 1e-8


def _is_dust(parts: Any) -> np.ndarray:
    """True for parts whose mean width (2·area / perimeter, in degrees) is below the dust size."""
    parts = np.asarray(parts, dtype=object)
    perimeter = shapely.length(parts)
    width = np.where(perimeter > 0, 2 * shapely.area(parts) / np.maximum(perimeter, 1e-300), 0)
    return width < DUST_WIDTH_DEG


def _check_overlaps(ids: np.ndarray, geoms: np.ndarray, sliver_m2: float, add: Any) -> None:
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    sel = a < b
    a, b = a[sel], b[sel]
    inner = shapely.relate_pattern(geoms[a], geoms[b], "T********")  # interiors meet
    a, b = a[inner], b[inner]
    if len(a) == 0:
        return
    pieces = [_polygonal(g) for g in shapely.intersection(geoms[a], geoms[b])]
    has = np.array([p is not None and not _is_dust([p])[0] for p in pieces])
    a, b = a[has], b[has]
    pieces = np.array([p for p, h in zip(pieces, has, strict=True) if h], dtype=object)
    if len(pieces) == 0:
        return
    areas = area_m2(pieces)
    for i, j, g, ar in zip(a, b, pieces, areas, strict=True):
        pair = (int(ids[i]), int(ids[j]))
        if ar >= sliver_m2:
            add(
                Problem(
                    "overlap",
                    "error",
                    pair,
                    g,
                    float(ar),
                    f"重叠 overlap: units {pair[0]} and {pair[1]} overlap by {ar:.1f} m² "
                    f"{_where(g)}; fix their shared boundary.",
                )
            )
        else:
            add(
                Problem(
                    "sliver",
                    "warning",
                    pair,
                    g,
                    float(ar),
                    f"碎片 sliver: units {pair[0]} and {pair[1]} overlap by only {ar:.3f} m² "
                    f"{_where(g)}; snap their shared boundary.",
                )
            )


def _check_outside(
    ids: np.ndarray,
    geoms: np.ndarray,
    parent: BaseGeometry,
    sliver_m2: float,
    parent_id: int | None,
    add: Any,
) -> None:
    shapely.prepare(parent)
    out = np.flatnonzero(~shapely.covers(parent, geoms))
    if len(out) == 0:
        return
    pieces = [_polygonal(g) for g in shapely.difference(geoms[out], parent)]
    of = f" {parent_id}" if parent_id is not None else ""
    for i, g in zip(out, pieces, strict=True):
        if g is None or _is_dust([g])[0]:
            continue
        ar = float(area_m2([g])[0])
        if ar >= sliver_m2:
            add(
                Problem(
                    "outside_parent",
                    "error",
                    (int(ids[i]),),
                    g,
                    ar,
                    f"越界 outside parent: unit {ids[i]} has {ar:.1f} m² outside its parent"
                    f"{of} {_where(g)}; clip it or fix the parent.",
                )
            )
        elif ar > 0:
            add(
                Problem(
                    "sliver",
                    "warning",
                    (int(ids[i]),),
                    g,
                    ar,
                    f"碎片 sliver: unit {ids[i]} sticks out of its parent{of} by {ar:.3f} m² "
                    f"{_where(g)}; snap it to the parent boundary.",
                )
            )


def _report_gaps(
    gap: BaseGeometry,
    ids: np.ndarray,
    geoms: np.ndarray,
    parent_id: int | None,
    sliver_m2: float,
    severity: Severity,
    add: Any,
) -> None:
    parts = shapely.get_parts(gap)
    parts = parts[~_is_dust(parts)]
    if len(parts) == 0:
        return
    areas = area_m2(parts)
    tree = shapely.STRtree(geoms)
    of = f" of {parent_id}" if parent_id is not None else ""
    for g, ar in zip(parts, areas, strict=True):
        if ar <= 0:
            continue
        near = tuple(int(ids[k]) for k in tree.query(g, predicate="intersects"))
        if ar >= sliver_m2:
            add(
                Problem(
                    "gap",
                    severity,
                    near,
                    g,
                    float(ar),
                    f"空白 gap: {ar:.1f} m²{of} belongs to no unit {_where(g)}"
                    f"{' (next to ' + ', '.join(map(str, near[:4])) + ')' if near else ''}; "
                    "assign it to a unit or confirm it is a blank area.",
                )
            )
        else:
            add(
                Problem(
                    "sliver",
                    "warning",
                    near,
                    g,
                    float(ar),
                    f"碎片 sliver: gap of {ar:.3f} m²{of} {_where(g)}; snap the neighbours.",
                )
            )


def check_hierarchy(units: gpd.GeoDataFrame, *, sliver_m2: float = 1.0) -> CoverageReport:
    """Check every parent's children, and the top level's siblings, of a unit layer.

    ``units`` has the columns of :meth:`geo.assign.AssignmentEngine.build`.  Invalid
    geometries are reported (and repaired copies used as parents); broken parent links raise
    :class:`geo.errors.HierarchyError` through :func:`geo.units.read_hierarchy`.
    """
    from geo.units import read_hierarchy

    units = units.reset_index(drop=True)
    geoms = np.asarray(units.geometry.values, dtype=object).copy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    for k in np.flatnonzero(present & ~shapely.is_valid(geoms)):
        try:
            geoms[k] = repair_invalid(geoms[k])
        except GeometryError:
            present[k] = False
    if present.all():  # structural checks (ids, levels, parent links) raise with the ids
        read_hierarchy(units.set_geometry(gpd.GeoSeries(geoms, crs=units.crs)))
    report = CoverageReport()
    levels = units["level"].to_numpy(dtype=np.int64)
    report.extend(
        check_coverage(units[levels == levels.min()], None, sliver_m2=sliver_m2, find_gaps=False)
    )
    ids = units["id"].to_numpy(dtype=np.int64)
    parent_of = np.asarray(units["parent_id"].astype("Int64").fillna(-1), dtype=np.int64)
    by_id = dict(zip(ids.tolist(), geoms, strict=True))
    for pid in np.unique(parent_of[parent_of >= 0]).tolist():
        parent = by_id.get(pid)
        report.extend(
            check_coverage(
                units[parent_of == pid],
                parent if parent is not None and not parent.is_empty else None,
                sliver_m2=sliver_m2,
                parent_id=pid,
            )
        )
    return report


def node_coverage(geoms: Any, tolerance: float = 1e-9, grid_size: float = 1e-11,
                  merge: float | None = None, max_change: float = 1e-7) -> np.ndarray:
    """The same polygons with matching vertices on every shared edge: each polygon gets the
    vertices of its neighbours that lie on its own edges (within ``tolerance``, in the
    geometries' units; vertices closer than ``merge``, default ten grid cells, become one),
    so that ``shapely.coverage_is_valid`` holds (a polygon whose area would change by more
    than ``max_change`` of itself, or that would become invalid, is left as it was) for a
    layer whose neighbours meet exactly but were cut separately (children of different
    parents).  The
    shapes do not change; only vertices are added.  Returns an object array."""
    arr = np.asarray(geoms, dtype=object)
    if len(arr) < 2:
        return arr.copy()
    # one fixed grid far below a millimetre first: vertices that differ only by rounding
    # (a junction computed twice) become one
    arr = shapely.set_precision(arr, grid_size)
    tree = shapely.STRtree(arr)
    left, right = tree.query(arr, predicate="intersects")
    pairs = left != right
    left, right = left[pairs], right[pairs]
    out = arr.copy()
    order = np.argsort(left, kind="stable")
    left, right = left[order], right[order]
    starts = np.r_[0, np.flatnonzero(left[1:] != left[:-1]) + 1]
    # twice: a second pass merges vertices the first one inserted next to near twins
    for s, e in [*zip(starts, np.r_[starts[1:], len(left)], strict=True)] * 2:
        i = int(left[s])
        # the neighbours as already noded: one pass settles each shared edge on one set
        # of coordinates (snapping both sides to each other's originals would swap them)
        points = shapely.multipoints(shapely.get_coordinates(
            shapely.boundary(out[right[s:e]])))
        # near twins (a junction computed twice, a grid cell apart) first become one
        # vertex, then snap onto the neighbours' vertices
        twins = 10 * grid_size if merge is None else merge
        own = shapely.remove_repeated_points(out[i], twins)
        snapped = shapely.remove_repeated_points(shapely.snap(own, points, tolerance), twins)
        if shapely.is_valid(snapped) and abs(shapely.area(snapped) - shapely.area(arr[i])) \
                <= max_change * max(shapely.area(arr[i]), 1e-30):
            out[i] = snapped
    return out
