"""Retiling: how the grids of a parent are cut and re-tiled so they stay an exact coverage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo.coverage import _is_dust, _polygonal, repair_invalid
from geo.errors import GeometryError
from geo.planning.model import (
    NewUnit,
    PlanContext,
    Proposal,
)

# --------------------------------------------------------------------------------------------
# helpers

_M_PER_DEG = 111_320.0
# An arrangement edge whose middle is this close to a grid boundary is that boundary (~0.01 mm).
_ON_EDGE_DEG = 1e-10


def _deg(metres: float, lat: float) -> float:
    """``metres`` in degrees of longitude at ``lat`` — the larger degree count, so a snap
    tolerance reaches at least ``metres`` in every direction (≈1.3·metres north-south at 40°N)."""
    return float(metres) / (_M_PER_DEG * max(float(np.cos(np.radians(lat))), 0.05))


@dataclass(frozen=True)
class _Grids:
    """ctx.units as arrays (positions 0..n-1)."""

    ids: np.ndarray
    codes: np.ndarray
    names: np.ndarray
    versions: np.ndarray
    geoms: np.ndarray
    parent: str

    def index(self, unit_id: int) -> int:
        hit = np.flatnonzero(self.ids == int(unit_id))
        if len(hit) == 0:
            raise GeometryError(
                f"网格 {unit_id} 不是 {self.parent} 当前的网格 / unit {unit_id} is not a current "
                f"grid of {self.parent}; reload the page and pick a grid again."
            )
        return int(hit[0])


def _grids(ctx: PlanContext) -> _Grids:
    u = ctx.units
    n = len(u)
    ids = np.asarray(u["id"], dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
    codes = np.array([str(c) for c in u["code"]] if n else [], dtype=object)
    raw = list(u["name"]) if "name" in u.columns else [None] * n
    names = np.array(
        [r if isinstance(r, str) and r else c for r, c in zip(raw, codes, strict=True)],
        dtype=object,
    )
    versions = (
        np.asarray(u["version"].fillna(1), dtype=np.int64)
        if "version" in u.columns and n
        else np.ones(n, dtype=np.int64)
    )
    geoms = np.asarray(u.geometry.values, dtype=object) if n else np.zeros(0, dtype=object)
    return _Grids(ids, codes, names, versions, geoms, f"{ctx.parent_name}({ctx.parent_code})")


def _as_polygonal(geom: BaseGeometry | None, what: str = "drawn shape") -> BaseGeometry:
    """The polygon part of ``geom`` (repaired when invalid), or GeometryError."""
    if geom is None or geom.is_empty:
        raise GeometryError(f"图形为空 / The {what} is empty; draw a polygon.")
    if not geom.is_valid:
        geom = repair_invalid(geom)
    poly = _polygonal(geom)
    if poly is None or poly.area == 0:
        raise GeometryError(
            f"不是面 / The {what} is not a polygon (got {geom.geom_type}); draw an area."
        )
    return poly


def _as_line(line: BaseGeometry | None) -> LineString:
    if line is None or line.is_empty:
        raise GeometryError("分割线为空 / The split line is empty; draw a line across the grid.")
    if line.geom_type == "MultiLineString":
        line = shapely.line_merge(line)
    if line.geom_type != "LineString":
        raise GeometryError(
            f"分割线须为一条线 / The split line must be one LineString, got {line.geom_type}; "
            "draw a single line across the grid."
        )
    line = shapely.remove_repeated_points(line, 0.0)
    if len(line.coords) < 2 or line.length == 0:
        raise GeometryError("分割线太短 / The split line has no length; draw it across the grid.")
    return line


def _snap(geom: BaseGeometry, ref: BaseGeometry | None, tol: float, *,
          to_edges: bool = True) -> BaseGeometry:
    """Move vertices of ``geom`` within ``tol`` (degrees) of the linework ``ref`` onto it:
    onto a vertex of ``ref`` when one is that close (exactly its coordinates), else onto the
    nearest point of its edges (``to_edges``)."""
    if ref is None or ref.is_empty or tol <= 0:
        return geom
    coords = shapely.get_coordinates(geom)
    pts = shapely.points(coords)
    near = np.flatnonzero(shapely.dwithin(pts, ref, tol))
    if len(near) == 0:
        return geom
    new = coords.copy()
    rv = np.unique(shapely.get_coordinates(ref), axis=0)
    tree = shapely.STRtree(shapely.points(rv))
    qi, ti = tree.query_nearest(pts[near], max_distance=tol, all_matches=False)
    new[near[qi]] = rv[ti]
    if to_edges:
        done = np.zeros(len(near), dtype=bool)
        done[qi] = True
        rest = near[~done]
        if len(rest):
            line = shapely.shortest_line(ref, pts[rest])
            new[rest] = shapely.get_coordinates(shapely.get_point(line, 0))
    out = shapely.transform(geom, lambda _c: new)
    return shapely.remove_repeated_points(out, 0.0)


def _boundaries_near(g: _Grids, geom: BaseGeometry, tol: float, skip: int | None,
                     parent: BaseGeometry | None) -> BaseGeometry | None:
    """The boundaries of the grids within ``tol`` of ``geom`` (but ``skip``) and the parent's."""
    parts = []
    if len(g.geoms):
        near = np.flatnonzero(shapely.dwithin(g.geoms, geom, tol))
        parts.extend(shapely.boundary(g.geoms[near[near != skip]]))
    if parent is not None and not parent.is_empty:
        parts.append(parent.boundary)
    return shapely.union_all(parts) if parts else None


def _multi(geom: BaseGeometry) -> MultiPolygon:
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon(list(shapely.get_parts(geom)))


def _same(a: BaseGeometry, b: BaseGeometry) -> bool:
    """Identical vertex for vertex (ring start and orientation aside)."""
    return bool(shapely.equals_exact(shapely.normalize(_multi(a)), shapely.normalize(_multi(b)), 0))


def _drop_vertices(geom: BaseGeometry, removable: set[tuple[float, float]]) -> BaseGeometry:
    """Remove the listed (collinear, artificial) vertices from every ring of ``geom``."""
    if not removable:
        return geom
    polys = []
    changed = False
    for poly in shapely.get_parts(geom):
        rings = []
        for ring in (poly.exterior, *poly.interiors):
            c = np.asarray(ring.coords)[:-1]
            keep = np.fromiter((tuple(p) not in removable for p in c), bool, len(c))
            if not keep.all() and keep.sum() >= 3:
                c = c[keep]
                changed = True
            rings.append(np.vstack([c, c[:1]]))
        polys.append(Polygon(rings[0], rings[1:]))
    if not changed:
        return geom
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def _invalid_lengths(geoms: Sequence[BaseGeometry]) -> np.ndarray:
    """Per polygon, the length of its edges that do not match its neighbours' exactly."""
    arr = np.asarray(list(geoms), dtype=object)
    if len(arr) == 0:
        return np.zeros(0)
    try:
        return shapely.length(shapely.coverage_invalid_edges(arr))
    except shapely.errors.GEOSException:
        return np.zeros(len(arr))


def _ends(edges: np.ndarray) -> list[tuple[float, float]]:
    if len(edges) == 0:
        return []
    a = shapely.get_coordinates(shapely.get_point(edges, 0))
    b = shapely.get_coordinates(shapely.get_point(edges, -1))
    return [tuple(p) for p in np.vstack([a, b])]


# A labelling: (faces, interior points of the faces, own[f, j] = face f lies in grid aff[j],
# aff) → bool matrix (faces × (len(aff) + n_new)): which targets get each face.
Labeller = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
KeepExtra = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class _Retiled:
    aff: np.ndarray  # grid positions rebuilt
    geoms: list[BaseGeometry | None]  # per target (aff first, then new)
    owners: list[set[int]]  # per target: grid positions whose area it holds


def _retile(g: _Grids, aff: np.ndarray, extra: list[BaseGeometry], keep_extra: KeepExtra,
            label: Labeller, n_new: int) -> _Retiled:
    """Node the boundaries of the grids ``aff`` with the ``extra`` linework in ONE arrangement,
    polygonize it, label the faces and dissolve them per target.  Every target is a union of
    faces of the same arrangement, so neighbours share exactly the same vertices."""
    ag = g.geoms[aff]
    bounds = list(shapely.boundary(ag)) if len(ag) else []
    bound_union = shapely.union_all(bounds) if bounds else None
    lines = bounds + [e.boundary if e.geom_type in ("Polygon", "MultiPolygon") else e
                      for e in extra]
    try:
        noded = shapely.union_all(lines)
    except shapely.errors.GEOSException as exc:  # pragma: no cover - GEOS robustness failure
        raise GeometryError(
            f"无法计算 / The edit cannot be computed ({exc}); simplify the drawing and retry."
        ) from exc
    edges = shapely.get_parts(noded)
    edges = edges[shapely.get_type_id(edges) == 1]
    mids = shapely.line_interpolate_point(edges, 0.5, normalized=True)
    on_bound = (
        shapely.dwithin(mids, bound_union, _ON_EDGE_DEG)
        if bound_union is not None
        else np.zeros(len(edges), dtype=bool)
    )
    keep = on_bound.copy()
    if (~on_bound).any():
        keep[~on_bound] = keep_extra(mids[~on_bound], aff)
    kept = edges[keep]
    # A node on a boundary edge that is no original vertex and meets no kept new edge is an
    # artefact (a dropped piece of the new linework crossed or ran along it there): drop it.
    degree = Counter(_ends(kept))
    fixed = {tuple(p) for p in shapely.get_coordinates(ag)} if len(ag) else set()
    fixed |= {tuple(p) for p in shapely.get_coordinates(edges[keep & ~on_bound])}
    removable = {p for p, n in degree.items() if n == 2 and p not in fixed}

    n_targets = len(aff) + n_new
    faces = shapely.get_parts(shapely.polygonize(kept)) if len(kept) else np.zeros(0, object)
    if len(faces) == 0:
        return _Retiled(aff, [None] * n_targets, [set() for _ in range(n_targets)])
    dust = _is_dust(faces)
    real = np.flatnonzero(~dust)
    rf = faces[real]
    reps = shapely.point_on_surface(rf)
    own = np.zeros((len(rf), len(aff)), dtype=bool)
    if len(aff):
        ri, gi = shapely.STRtree(ag).query(reps, predicate="within")
        own[ri, gi] = True
    lab = np.zeros((len(faces), n_targets), dtype=bool)
    lab[real] = label(rf, reps, own, aff)
    # Dust (zero-width faces left by snapping) joins the face it shares the longest border with.
    if dust.any() and len(rf):
        tree = shapely.STRtree(rf)
        for f in np.flatnonzero(dust):
            cand = tree.query(faces[f], predicate="intersects")
            if len(cand) == 0:
                continue
            shared = shapely.length(shapely.intersection(faces[f].boundary, rf[cand]))
            lab[f] = lab[real[cand[int(np.argmax(shared))]]]
    geoms: list[BaseGeometry | None] = []
    owners: list[set[int]] = []
    for t in range(n_targets):
        sel = lab[:, t]
        if not sel.any():
            geoms.append(None)
            owners.append(set())
            continue
        geom = shapely.coverage_union_all(faces[sel])
        geoms.append(_polygonal(_drop_vertices(geom, removable)))
        owners.append({int(aff[j]) for j in np.flatnonzero(own[lab[real, t]].any(axis=0))})
    return _Retiled(aff, geoms, owners)


def _solve(g: _Grids, aff0: set[int], extra: list[BaseGeometry], keep_extra: KeepExtra,
           label: Labeller, n_new: int) -> _Retiled:
    """:func:`_retile`, growing the rebuilt set until no untouched grid is left with an edge
    that no longer matches (a new vertex of a neighbour lying on it): such a grid is rebuilt
    too, so the saved layer stays a valid coverage."""
    before = _invalid_lengths(g.geoms)
    aff = set(aff0)
    for _ in range(6):
        order = np.array(sorted(aff), dtype=np.int64)
        out = _retile(g, order, extra, keep_extra, label, n_new)
        rest = np.array([i for i in range(len(g.geoms)) if i not in aff], dtype=np.int64)
        new = [x for x in out.geoms if x is not None]
        if len(rest) == 0 or not new:
            return out
        after = _invalid_lengths(list(g.geoms[rest]) + new)[: len(rest)]
        grow = {int(i) for i, a in zip(rest, after, strict=True) if a > before[i] + 1e-12}
        if not grow:
            return out
        aff |= grow
    return out


def _versions(g: _Grids, positions: Sequence[int]) -> dict[int, int]:
    return {int(g.ids[i]): int(g.versions[i]) for i in positions}


def _build(ctx: PlanContext, g: _Grids, kind: str, out: _Retiled,
           new_units: list[tuple[str, str]], note: str = "") -> Proposal:
    """A proposal from a retiling: rebuilt grids whose vertices changed become new versions
    (same code and name); targets after them are the new grids ``new_units`` (code, name)."""
    removed: list[int] = []
    added: list[NewUnit] = []
    for j, i in enumerate(out.aff):
        geom = out.geoms[j]
        if geom is not None and _same(geom, g.geoms[i]):
            continue
        removed.append(int(i))
        if geom is not None:
            reps = sorted(out.owners[j] - {int(i)})
            added.append(
                NewUnit(str(g.codes[i]), str(g.names[i]), geom,
                        tuple(int(g.ids[r]) for r in [int(i), *reps]))
            )
    for t, (code, name) in enumerate(new_units):
        geom = out.geoms[len(out.aff) + t]
        if geom is None:
            continue
        added.append(NewUnit(code, name, geom,
                             tuple(int(g.ids[r]) for r in sorted(out.owners[len(out.aff) + t]))))
    for nu in added:  # whatever a new grid takes over is retired too
        for rid in nu.replaces:
            pos = g.index(rid)
            if pos not in removed:
                removed.append(pos)
    return Proposal(
        parent_id=ctx.parent_id,
        kind=kind,
        removed=tuple(int(g.ids[i]) for i in removed),
        added=tuple(added),
        versions=_versions(g, removed),
        note=note,
    )


def _cut_faces(poly: BaseGeometry, lines: BaseGeometry) -> np.ndarray:
    """Faces of ``poly`` cut by ``lines`` (one noding of boundary and lines)."""
    noded = shapely.union_all([poly.boundary, lines])
    edges = shapely.get_parts(noded)
    faces = shapely.get_parts(shapely.polygonize(edges))
    if len(faces) == 0:
        return faces
    faces = faces[~_is_dust(faces)]
    shapely.prepare(poly)
    return faces[shapely.contains(poly, shapely.point_on_surface(faces))]


def _extend(line: LineString, poly: BaseGeometry, ext_m: float, lat: float) -> LineString:
    """Lengthen the ends of ``line`` that stop inside ``poly`` by ``ext_m`` metres, straight on,
    so a line drawn almost to the boundary still cuts."""
    c = np.asarray(line.coords, dtype=np.float64)
    kx = max(float(np.cos(np.radians(lat))), 0.05)
    boundary_vertices = {tuple(p) for p in shapely.get_coordinates(poly)}
    out = [c]
    for end, prev in ((0, 1), (-1, -2)):
        p, q = c[end], c[prev]
        if tuple(p) in boundary_vertices or not shapely.intersects_xy(poly, p[0], p[1]):
            continue
        d = (p - q) * np.array([kx, 1.0])
        norm = float(np.hypot(*d))
        if norm == 0:
            continue
        step = d / norm * (ext_m / _M_PER_DEG) / np.array([kx, 1.0])
        if end == 0:
            out.insert(0, (p + step)[None, :])
        else:
            out.append((p + step)[None, :])
    return LineString(np.vstack(out))


def _merge_strays(faces: np.ndarray, lab: np.ndarray, cols: Sequence[int]) -> None:
    """Among the targets ``cols``, keep each one's largest connected piece; the other pieces
    join the target they share the longest border with (in place on ``lab``)."""
    reps = shapely.point_on_surface(faces)
    for _ in range(3):
        moved = False
        whole = {c: shapely.coverage_union_all(faces[lab[:, c]]) for c in cols if lab[:, c].any()}
        for c, geom in whole.items():
            parts = list(shapely.get_parts(geom))
            if len(parts) < 2:
                continue
            parts.sort(key=lambda p: -p.area)
            for piece in parts[1:]:
                best, best_len = c, 0.0
                for o, other in whole.items():
                    if o == c:
                        continue
                    shared = shapely.length(shapely.intersection(piece.boundary, other.boundary))
                    if shared > best_len:
                        best, best_len = o, float(shared)
                if best != c:
                    members = lab[:, c] & shapely.within(reps, piece)
                    lab[members, c] = False
                    lab[members, best] = True
                    moved = True
        if not moved:
            return


def _new_codes(ctx: PlanContext, n: int) -> list[str]:
    taken: set[str] = set()
    out = []
    for _ in range(n):
        code = next_code(ctx, taken)
        taken.add(code)
        out.append(code)
    return out


def next_code(ctx: PlanContext, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A fresh grid code under the parent: parent code + a serial (3 digits or more) above the
    highest one in use, never a current or retired code nor one in ``taken`` (codes handed
    out already)."""
    used = {str(c) for c in ctx.units["code"]} if len(ctx.units) else set()
    used |= {str(c) for c in taken} | set(ctx.retired_codes)
    prefix = str(ctx.parent_code)
    serials = [
        int(c[len(prefix):]) for c in used if c.startswith(prefix) and c[len(prefix):].isdigit()
    ]
    n = max(serials, default=0) + 1
    while True:
        code = f"{prefix}{n:03d}"
        if code not in used:
            return code
        n += 1
