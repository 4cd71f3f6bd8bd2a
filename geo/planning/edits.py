"""Edits: split, merge, reshape, create and the suggested balanced split, each a proposal."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.coverage import _polygonal
from geo.crs import area_m2
from geo.errors import GeometryError
from geo.partition import kmeans, sample_in_polygon
from geo.planning.model import (
    NewUnit,
    PlanContext,
    PointSet,
    Proposal,
)
from geo.planning.retiling import (
    _as_line,
    _as_polygonal,
    _boundaries_near,
    _build,
    _cut_faces,
    _deg,
    _extend,
    _grids,
    _merge_strays,
    _new_codes,
    _Retiled,
    _snap,
    _solve,
    _versions,
    next_code,
)

# --------------------------------------------------------------------------------------------
# edits




def split(ctx: PlanContext, unit_id: int, line: BaseGeometry, *, snap_m: float = 2.0) -> Proposal:
    """Split one grid by a drawn line (ends may stop up to ``5·snap_m`` short of the boundary).

    The largest part keeps the code (next version) and name; the others get new codes and
    names ``f"{name}-{i}"``.  Neighbours only gain the vertices where the line meets their
    shared edge, which keeps the layer an exact coverage.
    """
    g = _grids(ctx)
    u = g.index(unit_id)
    poly = g.geoms[u]
    lat = float(poly.centroid.y)
    tol = _deg(snap_m, lat)
    line = _as_line(line)
    line = _snap(line, poly.boundary, tol, to_edges=False)
    line = _extend(line, poly, 5 * snap_m, lat)
    parts = _cut_faces(poly, line)
    if len(parts) <= len(shapely.get_parts(poly)):
        raise GeometryError(
            f"分割线没有把网格 {g.codes[u]} 分成两块 / The line does not cut grid {g.codes[u]} "
            f"into two or more parts: draw it across the grid from edge to edge (its ends may "
            f"stop up to {5 * snap_m:g} m short of the boundary)."
        )
    # Parts the line does not touch (other islands of a multi-part grid) stay with the largest.
    touched = shapely.intersects(parts, line)
    cut = parts[touched][np.argsort(-shapely.area(parts[touched]))]
    islands = parts[~touched]
    m = len(cut)
    part_tree = shapely.STRtree(cut)
    island_tree = shapely.STRtree(islands) if len(islands) else None
    shapely.prepare(poly)

    def keep_extra(mids: np.ndarray, aff: np.ndarray) -> np.ndarray:
        return shapely.contains(poly, mids)

    def label(faces: np.ndarray, reps: np.ndarray, own: np.ndarray, aff: np.ndarray) -> np.ndarray:
        col = int(np.flatnonzero(aff == u)[0])
        lab = np.zeros((len(faces), len(aff) + m), dtype=bool)
        lab[:, : len(aff)] = own
        inu = np.flatnonzero(own[:, col])
        lab[inu, col] = False
        which = np.full(len(inu), -1)
        ri, pi = part_tree.query(reps[inu], predicate="within")
        which[ri] = pi
        if island_tree is not None:
            ri, _ = island_tree.query(reps[inu], predicate="within")
            which[ri] = 0
        lost = which < 0
        if lost.any():
            which[lost] = part_tree.query_nearest(reps[inu[lost]], all_matches=False)[1]
        lab[inu, len(aff) + which] = True
        return lab

    out = _solve(g, {u}, [line], keep_extra, label, m)
    col = int(np.flatnonzero(out.aff == u)[0])
    # the largest part is the grid's next version
    out.geoms[col] = out.geoms[len(out.aff)]
    out.owners[col] = out.owners[len(out.aff)] | {u}
    out.geoms[len(out.aff)] = None
    codes = _new_codes(ctx, m - 1)
    names = [(c, f"{g.names[u]}-{i + 1}") for i, c in enumerate(codes)]
    return _build(ctx, g, "split", _drop_first_new(out), names)


def _drop_first_new(out: _Retiled) -> _Retiled:
    n = len(out.aff)
    return _Retiled(out.aff, out.geoms[:n] + out.geoms[n + 1:], out.owners[:n] + out.owners[n + 1:])


def merge(ctx: PlanContext, unit_ids: Sequence[int]) -> Proposal:
    """Merge ≥2 grids that form one connected area (sharing edges) into one; it keeps the code
    and name of the largest."""
    g = _grids(ctx)
    ids = list(dict.fromkeys(int(i) for i in unit_ids))
    if len(ids) < 2:
        raise GeometryError("合并至少需要两个网格 / Pick at least two grids to merge.")
    pos = [g.index(i) for i in ids]
    geoms = g.geoms[pos]
    n = len(pos)
    adj = np.zeros((n, n), dtype=bool)
    for a in range(n):
        for b in range(a + 1, n):
            rel = shapely.relate(geoms[a], geoms[b])
            adj[a, b] = adj[b, a] = rel[0] == "2" or rel[4] == "1"
    seen = {0}
    todo = [0]
    while todo:
        a = todo.pop()
        for b in np.flatnonzero(adj[a]):
            if int(b) not in seen:
                seen.add(int(b))
                todo.append(int(b))
    if len(seen) < n:
        apart = ", ".join(str(g.codes[pos[i]]) for i in range(n) if i not in seen)
        raise GeometryError(
            f"网格不相连 / The grids to merge do not form one connected area: {apart} share no "
            "edge with the others; merge neighbours only (or merge in steps)."
        )
    union = (
        shapely.coverage_union_all(geoms)
        if shapely.coverage_is_valid(geoms)
        else shapely.union_all(geoms)
    )
    keep = pos[int(np.argmax(area_m2(geoms)))]
    replaces = (int(g.ids[keep]), *[int(g.ids[p]) for p in pos if p != keep])
    return Proposal(
        parent_id=ctx.parent_id,
        kind="merge",
        removed=tuple(int(g.ids[p]) for p in pos),
        added=(NewUnit(str(g.codes[keep]), str(g.names[keep]), _polygonal(union), replaces),),
        versions=_versions(g, pos),
    )


def reshape(ctx: PlanContext, unit_id: int, geometry: BaseGeometry, *, snap_m: float = 2.0,
            adjust_neighbours: bool = True) -> Proposal:
    """A redrawn grid.  Vertices within ``snap_m`` of a neighbour's or the parent's boundary
    snap onto it.  With ``adjust_neighbours`` neighbours lose what the grid gains, and each
    piece it gives up goes to the neighbour sharing the longest border with it (pieces that
    touch no other grid stay blank); changed neighbours are new versions in the proposal.
    Without it only this grid changes (overlaps then show up in :func:`validate`)."""
    g = _grids(ctx)
    u = g.index(unit_id)
    drawn = _as_polygonal(geometry)
    lat = float(drawn.centroid.y)
    tol = _deg(snap_m, lat)
    ref = _boundaries_near(g, drawn, tol, u, ctx.parent_geometry)
    new = _as_polygonal(_snap(drawn, ref, tol), "redrawn grid")
    if not adjust_neighbours:
        return Proposal(
            parent_id=ctx.parent_id,
            kind="edit",
            removed=(int(unit_id),),
            added=(NewUnit(str(g.codes[u]), str(g.names[u]), new, (int(unit_id),)),),
            versions=_versions(g, [u]),
        )
    shapely.prepare(new)

    def keep_extra(mids: np.ndarray, aff: np.ndarray) -> np.ndarray:
        return np.ones(len(mids), dtype=bool)

    def label(faces: np.ndarray, reps: np.ndarray, own: np.ndarray, aff: np.ndarray) -> np.ndarray:
        col = int(np.flatnonzero(aff == u)[0])
        lab = own.copy()
        inside = shapely.contains(new, reps)
        lab[inside] = False
        lab[inside, col] = True
        given = own[:, col] & ~inside
        lab[given, col] = False
        orphan = given & ~lab.any(axis=1)
        if orphan.any():
            pieces = shapely.get_parts(shapely.coverage_union_all(faces[orphan]))
            whole = {c: shapely.coverage_union_all(faces[lab[:, c]])
                     for c in range(len(aff)) if c != col and lab[:, c].any()}
            for piece in pieces:
                best, best_len = -1, 0.0
                for c, other in whole.items():
                    shared = shapely.length(shapely.intersection(piece.boundary, other.boundary))
                    if shared > best_len:
                        best, best_len = c, float(shared)
                if best >= 0:
                    lab[orphan & shapely.within(reps, piece), best] = True
        return lab

    near = shapely.intersects(g.geoms, new) | shapely.intersects(g.geoms, g.geoms[u])
    aff0 = {u} | {int(i) for i in np.flatnonzero(near)}
    out = _solve(g, aff0, [new], keep_extra, label, 0)
    col = int(np.flatnonzero(out.aff == u)[0])
    if out.geoms[col] is None:
        raise GeometryError(
            f"网格 {g.codes[u]} 重画后为空 / The redrawn grid {g.codes[u]} has no area left; "
            "draw it again."
        )
    return _build(ctx, g, "edit", out, [])


def create(ctx: PlanContext, geometry: BaseGeometry, *, code: str | None = None,
           name: str | None = None, snap_m: float = 2.0) -> Proposal:
    """A new grid in a blank area: the drawn shape snapped, clipped to the parent, minus the
    existing grids.  Grids it touches only gain the shared vertices."""
    g = _grids(ctx)
    drawn = _as_polygonal(geometry)
    if code is not None and str(code) in set(g.codes):
        raise GeometryError(
            f"编码已被使用 / Code {code} is already used by a current grid; pick another."
        )
    parent = ctx.parent_geometry
    lat = float(drawn.centroid.y)
    tol = _deg(snap_m, lat)
    ref = _boundaries_near(g, drawn, tol, None, parent)
    shape = _as_polygonal(_snap(drawn, ref, tol))
    shapely.prepare(shape)
    shapely.prepare(parent)

    def keep_extra(mids: np.ndarray, aff: np.ndarray) -> np.ndarray:
        ok = shapely.covers(parent, mids) & shapely.covers(shape, mids)
        if len(aff):
            hit, _ = shapely.STRtree(g.geoms[aff]).query(mids, predicate="within")
            ok[hit] = False
        return ok

    def label(faces: np.ndarray, reps: np.ndarray, own: np.ndarray, aff: np.ndarray) -> np.ndarray:
        lab = np.zeros((len(faces), len(aff) + 1), dtype=bool)
        lab[:, : len(aff)] = own
        blank = ~own.any(axis=1) & shapely.contains(shape, reps) & shapely.contains(parent, reps)
        lab[blank, len(aff)] = True
        return lab

    aff0 = {int(i) for i in np.flatnonzero(shapely.intersects(g.geoms, shape))}
    out = _solve(g, aff0, [shape, parent], keep_extra, label, 1)
    geom = out.geoms[-1]
    if geom is None or area_m2([geom])[0] < 1.0:
        raise GeometryError(
            "新网格没有空白区域 / The drawn area covers no blank area of "
            f"{ctx.parent_name}: it lies on existing grids or outside the parent. Draw it over "
            "a blank area, or reshape a grid instead."
        )
    code = str(code) if code is not None else next_code(ctx)
    return _build(ctx, g, "create", out, [(code, name or f"新网格 {code}")])


def _power_cells(centres: np.ndarray, w: np.ndarray, box: tuple[float, float, float, float]
                 ) -> list[np.ndarray]:
    """Cells of the power diagram (|x-c|² - w minimal) clipped to ``box``, as vertex arrays."""
    x0, y0, x1, y1 = box
    cells = []
    sq = (centres**2).sum(axis=1)
    for j in range(len(centres)):
        poly = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
        for i in range(len(centres)):
            if i == j or len(poly) == 0:
                continue
            a = 2 * (centres[i] - centres[j])
            b = sq[i] - sq[j] - w[i] + w[j]
            s = poly @ a - b  # ≤ 0 inside
            nxt = np.roll(poly, -1, axis=0)
            sn = np.roll(s, -1)
            out = []
            for p, q, sp, sq_ in zip(poly, nxt, s, sn, strict=True):
                if sp <= 0:
                    out.append(p)
                if (sp < 0 < sq_) or (sq_ < 0 < sp):
                    out.append(p + (q - p) * (sp / (sp - sq_)))
            poly = np.array(out) if out else np.zeros((0, 2))
        cells.append(poly)
    return cells


def _balance(pts: np.ndarray, k: int, rng: np.random.Generator
             ) -> tuple[np.ndarray, np.ndarray]:
    """k centres and power weights whose cells hold about n/k points each (k-means start,
    then weights and centres nudged until the counts are within a few per cent)."""
    centres = kmeans(pts, k, rng)
    n = len(pts)
    target = n / k
    w = np.zeros(k)
    d0 = ((centres[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d0, np.inf)
    scale = float(np.mean(d0.min(axis=1)))
    if not np.isfinite(scale) or scale <= 0:
        scale = float(pts.var(axis=0).sum()) or 1e-12
    step = 0.25 * scale
    best = (np.inf, centres.copy(), w.copy())
    prev_sign = np.zeros(k)
    for it in range(300):
        d = ((pts[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2) - w[None, :]
        lab = d.argmin(axis=1)
        cnt = np.bincount(lab, minlength=k)
        dev = float(np.abs(cnt - target).max() / target)
        if dev < best[0]:
            best = (dev, centres.copy(), w.copy())
        if dev <= 0.02:
            break
        err = (target - cnt) / target
        sign = np.sign(err)
        if np.any(sign * prev_sign < 0):
            step *= 0.85
        prev_sign = sign
        w += step * err
        if it % 10 == 9:  # pull centres to their points' middle: keeps the parts compact
            for j in range(k):
                if cnt[j]:
                    centres[j] = 0.5 * centres[j] + 0.5 * pts[lab == j].mean(axis=0)
    return best[1], best[2]


def suggest_split(ctx: PlanContext, unit_id: int, households: PointSet, k: int, *,
                  seed: int = 0) -> Proposal:
    """Split a grid into ``k`` compact parts holding about the same number of households
    (by area when it holds fewer than 3·k): balanced power-diagram cells (k-means centres,
    weights adjusted until the counts even out), noded with the grid's boundary so the parts
    tile the grid exactly.  The largest part keeps the code."""
    g = _grids(ctx)
    u = g.index(unit_id)
    k = int(k)
    if k < 2:
        raise GeometryError(f"至少分成两块 / Cannot split into {k} parts; give k ≥ 2.")
    poly = g.geoms[u]
    rng = np.random.default_rng(seed)
    xy = np.asarray(households.xy, dtype=np.float64).reshape(-1, 2)
    inside = shapely.intersects_xy(poly, xy[:, 0], xy[:, 1]) if len(xy) else np.zeros(0, bool)
    pts = xy[inside]
    note = f"{k} parts balanced by households"
    if len(pts) < 3 * k:
        pts = sample_in_polygon(poly, 60 * k, rng)
        note = f"{k} parts balanced by area (too few households)"
    sx = max(float(np.cos(np.radians(poly.centroid.y))), 0.05)
    scale = np.array([sx, 1.0])
    local = pts * scale
    centres, w = _balance(local, k, rng)
    x0, y0, x1, y1 = poly.bounds
    pad = 1.37 * max(x1 - x0, y1 - y0)  # box edges well clear of any boundary
    box = (x0 * sx - pad, y0 - pad, x1 * sx + pad, y1 + pad)
    rings = [c / scale for c in _power_cells(centres, w, box) if len(c) >= 3]
    lines = shapely.union_all([shapely.linearrings(r) for r in rings])
    shapely.prepare(poly)

    def keep_extra(mids: np.ndarray, aff: np.ndarray) -> np.ndarray:
        return shapely.contains(poly, mids)

    def label(faces: np.ndarray, reps: np.ndarray, own: np.ndarray, aff: np.ndarray) -> np.ndarray:
        col = int(np.flatnonzero(aff == u)[0])
        lab = np.zeros((len(faces), len(aff) + k), dtype=bool)
        lab[:, : len(aff)] = own
        inu = np.flatnonzero(own[:, col])
        lab[inu, col] = False
        rxy = shapely.get_coordinates(reps[inu]) * scale
        power = ((rxy[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2) - w[None, :]
        lab[inu, len(aff) + power.argmin(axis=1)] = True
        _merge_strays(faces, lab, range(len(aff), len(aff) + k))
        return lab

    out = _solve(g, {u}, [lines], keep_extra, label, k)
    n = len(out.aff)
    col = int(np.flatnonzero(out.aff == u)[0])
    parts = [(t, geom) for t, geom in enumerate(out.geoms[n:]) if geom is not None]
    parts.sort(key=lambda tg: -float(tg[1].area))
    out.geoms[col] = parts[0][1]
    out.owners[col] = out.owners[n + parts[0][0]] | {u}
    rest = parts[1:]
    new = _Retiled(out.aff, out.geoms[:n] + [geom for _, geom in rest],
                   out.owners[:n] + [out.owners[n + t] for t, _ in rest])
    codes = _new_codes(ctx, len(rest))
    names = [(c, f"{g.names[u]}-{i + 1}") for i, c in enumerate(codes)]
    return _build(ctx, g, "suggest", new, names, note=note)


