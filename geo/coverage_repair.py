"""Coverage repair for imported grid layers (#17): the planners' pain of the 东海 document —
blank slivers and overlaps between neighbours drawn by hand.

:func:`repair_coverage` takes sibling polygons (WGS84) and a tolerance in metres and

1. snaps near-coincident vertices and nodes shared edges (each polygon takes the vertices of
   its neighbours within the tolerance: jittered shared edges become one line);
2. clips overlaps: a piece two polygons both cover goes to the one whose outline runs along
   it the longest (the "longest shared edge" rule), and leaves the other;
3. fills gaps narrower than the tolerance (holes in the layer's union that vanish when
   shrunk by half the tolerance) by the same rule;
4. builds the result from one planar partition of all outlines, so it is a valid coverage
   (``shapely.coverage_is_valid``) by construction.

Every change is reported: the unit, the kind (``snapped``, ``overlap_taken``,
``overlap_clipped``, ``gap_filled``, ``outside_clipped``), its area in m² and where it is.
Gaps wider than the tolerance are not filled (they are reported as ``gap_kept`` — a
planner decides).  Pure: no database.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from geo.coverage import node_coverage
from geo.crs import area_m2

M_PER_DEG = 111_320.0


@dataclass(frozen=True)
class Change:
    index: int  # position of the unit in the input
    kind: str  # snapped | overlap_taken | overlap_clipped | gap_filled | gap_kept
    area_m2: float
    lon: float
    lat: float
    geom: object  # the piece that moved (WGS84)


def _deg(m: float, lat: float) -> float:
    """Metres → degrees, generous (the longitude scale) so nothing within ``m`` is missed."""
    return m / (M_PER_DEG * max(np.cos(np.radians(lat)), 0.05))


def _narrow(piece: object, tolerance_m: float, lat: float) -> bool:
    """Narrower than ``tolerance_m`` everywhere (it vanishes when shrunk by half of it),
    measured in metres (longitude scaled by the latitude)."""
    k = max(np.cos(np.radians(lat)), 0.05)
    iso = shapely.transform(piece, lambda c: c * np.array([k, 1.0]))
    return bool(shapely.is_empty(shapely.buffer(iso, -1.0001 * tolerance_m / M_PER_DEG / 2)))


def _where(piece: object) -> tuple[float, float]:
    p = shapely.point_on_surface(piece)
    return float(shapely.get_x(p)), float(shapely.get_y(p))


def _longest_contact(piece: object, geoms: np.ndarray, candidates: np.ndarray,
                     reach: float) -> int:
    """Of ``candidates``, the polygon whose outline runs along ``piece`` the longest."""
    ring = shapely.boundary(piece)
    best, best_len = int(candidates[0]), -1.0
    for c in candidates:
        shared = shapely.length(shapely.intersection(
            ring, shapely.buffer(shapely.boundary(geoms[c]), reach)))
        if shared > best_len:
            best, best_len = int(c), float(shared)
    return best


def repair_coverage(geoms: np.ndarray, tolerance_m: float = 1.0, parent: object = None
                    ) -> tuple[np.ndarray, list[Change]]:
    """Repaired polygons (same order) and the list of changes; see the module doc.  With
    ``parent`` (the unit they tile) its outline counts too: vertices snap to it, slivers
    between the polygons and it are gaps, and slivers poking out of it are cut off
    (``outside_clipped``)."""
    arr = np.asarray(geoms, dtype=object).copy()
    changes: list[Change] = []
    if len(arr) == 0:
        return arr, changes
    lat = float(np.mean(shapely.total_bounds(arr)[[1, 3]]))
    tol = _deg(tolerance_m, lat)
    reach = tol / 100  # "along" a piece: within a hundredth of the tolerance

    # 1. near-coincident vertices: a vertex of a neighbour (or of the parent) within a
    # hundredth of the tolerance of an outline is put on it — the usual rounding of a
    # shared edge digitised twice.  Bigger offsets are left to the partition below (they
    # become thin overlaps and gaps, settled piece by piece); snapping them would fold
    # legitimately close vertices of a wiggly edge onto each other.
    before = arr.copy()
    framed = arr if parent is None else np.r_[arr, np.array([parent], dtype=object)]
    arr = node_coverage(framed, tolerance=tol / 100, grid_size=min(1e-11, tol / 1000),
                        merge=tol / 1000, max_change=1e-4)[:len(before)]
    for i in np.flatnonzero(~shapely.equals(before, arr)):
        moved = shapely.symmetric_difference(before[i], arr[i])
        if not _narrow(moved, tolerance_m, lat):  # a snap that folded the outline
            arr[i] = before[i]  # (the partition below still settles it)
            continue
        if not shapely.is_empty(moved) and area_m2([moved])[0] > 0:
            changes.append(Change(int(i), "snapped", float(area_m2([moved])[0]),
                                  *_where(arr[i]), moved))

    # 2-3. one planar partition of everyone's outlines: each face goes to the one polygon
    # covering it; a face two cover (overlap) or none covers (a gap inside the layer, if
    # narrower than the tolerance) goes to the polygon running along it the longest.  All
    # faces come from one noded linework, so the result is a valid coverage by construction.
    outlines = shapely.boundary(arr)
    if parent is not None:
        outlines = np.r_[outlines, np.array([shapely.boundary(parent)], dtype=object)]
    lines = shapely.union_all(outlines)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    faces = faces[shapely.area(faces) > 0]
    probe = shapely.point_on_surface(faces)
    tree = shapely.STRtree(arr)
    fi, pi = tree.query(probe, predicate="intersects")
    cover = np.bincount(fi, minlength=len(faces))
    owner = np.full(len(faces), -1, dtype=np.int64)
    single = cover[fi] == 1
    owner[fi[single]] = pi[single]
    for f in np.flatnonzero(cover >= 2):  # overlaps
        cands = pi[fi == f]
        keep = _longest_contact(faces[f], arr, cands, reach)
        owner[f] = keep
        a = float(area_m2([faces[f]])[0])
        x, y = _where(faces[f])
        changes.append(Change(keep, "overlap_taken", a, x, y, faces[f]))
        changes += [Change(int(c), "overlap_clipped", a, x, y, faces[f])
                    for c in cands if c != keep]
    if parent is not None:  # slivers poking out of the parent: cut off when narrow
        shapely.prepare(parent)
        out_of = ~shapely.within(probe, parent)
        for f in np.flatnonzero(out_of & (cover >= 1)):
            if not _narrow(faces[f], tolerance_m, lat):
                continue  # a real part outside the parent: the coverage check says so
            a = float(area_m2([faces[f]])[0])
            x, y = _where(faces[f])
            changes += [Change(int(c), "outside_clipped", a, x, y, faces[f])
                        for c in pi[fi == f]]
            owner[f] = -1
        cover[out_of & (cover == 0)] = -1  # beyond the parent: not a gap
    for f in np.flatnonzero(cover == 0):  # gaps (inside the layer: polygonize found them)
        a = float(area_m2([faces[f]])[0])
        x, y = _where(faces[f])
        near = tree.query(faces[f], predicate="dwithin", distance=reach)
        if not len(near) or not _narrow(faces[f], tolerance_m, lat):
            changes.append(Change(int(near[0]) if len(near) else -1, "gap_kept", a, x, y,
                                  faces[f]))
            continue
        to = _longest_contact(faces[f], arr, near, reach)
        owner[f] = to
        changes.append(Change(to, "gap_filled", a, x, y, faces[f]))
    out = arr.copy()
    for i in range(len(arr)):
        mine = faces[owner == i]
        if len(mine):
            out[i] = shapely.coverage_union_all(mine)
    arr = out
    return arr, changes
