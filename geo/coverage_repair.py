"""Coverage repair for imported grid layers (#17): the planners' pain of the 东海 document —
blank slivers and overlaps between neighbours drawn by hand.

:func:`repair_coverage` takes sibling polygons (WGS84) and a tolerance in metres and

1. snaps near-coincident vertices and nodes shared edges (each polygon takes the vertices of
   its neighbours within the tolerance: jittered shared edges become one line);
2. clips overlaps: a piece two polygons both cover goes to the one whose outline runs along
   it the longest (the "longest shared edge" rule), and leaves the other;
3. fills gaps narrower than the tolerance (holes in the layer's union that vanish when
   shrunk by half the tolerance) by the same rule;
4. nodes the result again, so it is a valid coverage (``shapely.coverage_is_valid``).

Every change is reported: the unit, the kind (``snapped``, ``overlap_taken``,
``overlap_clipped``, ``gap_filled``), its area in m² and where it is.  Gaps wider than the
tolerance are not filled (they are reported as ``gap_kept`` — a planner decides).  Pure:
no database.
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


def repair_coverage(geoms: np.ndarray, tolerance_m: float = 1.0
                    ) -> tuple[np.ndarray, list[Change]]:
    """Repaired polygons (same order) and the list of changes; see the module doc."""
    arr = np.asarray(geoms, dtype=object).copy()
    changes: list[Change] = []
    if len(arr) == 0:
        return arr, changes
    lat = float(np.mean(shapely.total_bounds(arr)[[1, 3]]))
    tol = _deg(tolerance_m, lat)
    reach = tol / 100  # "along" a piece: within a hundredth of the tolerance

    # 1. snap near-coincident vertices, node shared edges
    before = arr.copy()
    arr = node_coverage(arr, tolerance=tol, grid_size=min(1e-11, tol / 1000), merge=tol / 100,
                        max_change=1e-2)
    for i in np.flatnonzero(~shapely.equals(before, arr)):
        moved = shapely.symmetric_difference(before[i], arr[i])
        if not shapely.is_empty(moved) and area_m2([moved])[0] > 0:
            changes.append(Change(int(i), "snapped", float(area_m2([moved])[0]),
                                  *_where(arr[i]), moved))

    # 2-3. one planar partition of everyone's outlines: each face goes to the one polygon
    # covering it; a face two cover (overlap) or none covers (a gap inside the layer, if
    # narrower than the tolerance) goes to the polygon running along it the longest.  All
    # faces come from one noded linework, so the result is a valid coverage by construction.
    lines = shapely.union_all(shapely.boundary(arr))
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
    for f in np.flatnonzero(cover == 0):  # gaps (inside the layer: polygonize found them)
        a = float(area_m2([faces[f]])[0])
        x, y = _where(faces[f])
        near = tree.query(faces[f], predicate="dwithin", distance=reach)
        if not len(near) or not shapely.is_empty(shapely.buffer(faces[f], -tol / 2)):
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
    lat = float(np.mean(shapely.total_bounds(arr)[[1, 3]]))
    tol = _deg(tolerance_m, lat)
    reach = tol / 100  # "along" a piece: within a hundredth of the tolerance

    # 1. snap near-coincident vertices, node shared edges
    before = arr.copy()
    arr = node_coverage(arr, tolerance=tol, grid_size=min(1e-11, tol / 1000), merge=tol / 100,
                        max_change=1e-2)
    for i in np.flatnonzero(~shapely.equals(before, arr)):
        moved = shapely.symmetric_difference(before[i], arr[i])
        if not shapely.is_empty(moved) and area_m2([moved])[0] > 0:
            changes.append(Change(int(i), "snapped", float(area_m2([moved])[0]),
                                  *_where(arr[i]), moved))

    # 2. overlaps: the longest contact keeps the piece
    tree = shapely.STRtree(arr)
    left, right = tree.query(arr, predicate="overlaps")
    for i, j in zip(left, right, strict=True):
        if i >= j:
            continue
        piece = shapely.intersection(arr[i], arr[j])
        piece = shapely.union_all([p for p in shapely.get_parts(piece)
                                   if shapely.get_type_id(p) in (3, 6)]) \
            if not shapely.is_empty(piece) else piece
        if shapely.is_empty(piece) or shapely.area(piece) == 0:
            continue
        # contact of each with the piece, measured on the rest of each polygon
        rest = np.array([shapely.difference(arr[i], piece), shapely.difference(arr[j], piece)],
                        dtype=object)
        keep = (i, j)[_longest_contact(piece, rest, np.array([0, 1]), reach)]
        lose = j if keep == i else i
        arr[lose] = shapely.difference(arr[lose], piece)
        arr[keep] = shapely.union(arr[keep], piece)
        a = float(area_m2([piece])[0])
        x, y = _where(piece)
        changes.append(Change(int(keep), "overlap_taken", a, x, y, piece))
        changes.append(Change(int(lose), "overlap_clipped", a, x, y, piece))

    # 3. gaps: holes of the union narrower than the tolerance go to the longest contact
    union = shapely.union_all(arr)
    holes = [shapely.Polygon(shapely.get_interior_ring(part, k))
             for part in shapely.get_parts(union)
             for k in range(shapely.get_num_interior_rings(part))] \
        if not shapely.is_empty(union) else []
    tree = shapely.STRtree(arr)
    for hole in holes:
        narrow = shapely.is_empty(shapely.buffer(hole, -tol / 2))
        a = float(area_m2([hole])[0])
        x, y = _where(hole)
        near = tree.query(hole, predicate="dwithin", distance=reach)
        if not narrow or not len(near):
            changes.append(Change(int(near[0]) if len(near) else -1, "gap_kept", a, x, y, hole))
            continue
        to = _longest_contact(hole, arr, near, reach)
        arr[to] = shapely.union(arr[to], hole)
        changes.append(Change(to, "gap_filled", a, x, y, hole))

    # 4. one more noding: the unions above add vertices the neighbours lack
    arr = shapely.make_valid(node_coverage(arr, tolerance=tol,
                                           grid_size=min(1e-11, tol / 1000), merge=tol / 100,
                        max_change=1e-2))
    return arr, changes
