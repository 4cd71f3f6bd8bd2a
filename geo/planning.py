"""Grid planning: edits of the grids of one parent unit, as proposals that can be checked,
previewed and then saved as new boundary versions.

Pure: functions on shapely geometries and numpy arrays; the database side is
:mod:`store.planning`, the page is :mod:`dashboard.planner`.

A :class:`Proposal` says which current grids of one parent are retired and which new grids
replace them.  A new grid with the code of a retired one is that grid's next version; other
codes are new grids.  Every edit (split, merge, reshape, create, suggested split, file
import) produces a proposal, so validation, impact preview and saving are one path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo.coverage import _is_dust, _polygonal, check_coverage, repair_invalid
from geo.coverage_report import CoverageReport, Problem
from geo.crs import WGS84_EPSG, area_m2
from geo.errors import GeometryError
from geo.partition import kmeans, sample_in_polygon

KINDS = ("edit", "split", "merge", "create", "suggest", "import")
MEASURES = ("households", "persons", "cameras", "workers", "open_incidents")
BANDS = ("under", "within", "over")

__all__ = [
    "BANDS",
    "KINDS",
    "MEASURES",
    "Impact",
    "NewUnit",
    "PlanContext",
    "PointSet",
    "Proposal",
    "UnitImpact",
    "Validation",
    "applied",
    "apply",
    "assign",
    "band_for",
    "band_status",
    "compose",
    "create",
    "impact",
    "merge",
    "next_code",
    "reshape",
    "split",
    "successors",
    "suggest_split",
    "validate",
]


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


# --------------------------------------------------------------------------------------------
# edits


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


# --------------------------------------------------------------------------------------------
# checking and previewing


def apply(ctx: PlanContext, proposal: Proposal) -> gpd.GeoDataFrame:
    """The parent's grids after the change: columns id (negative temporary ids -1, -2, … for
    added rows), code, name, version (what saving would write) and geometry."""
    g = _grids(ctx)
    removed = {int(i) for i in proposal.removed}
    keep = np.array([int(i) not in removed for i in g.ids], dtype=bool)
    old_version = {str(c): int(v) for c, v, r in zip(g.codes, g.versions, g.ids, strict=True)
                   if int(r) in removed}
    rows_id = [int(i) for i in g.ids[keep]] + [-(j + 1) for j in range(len(proposal.added))]
    codes = [str(c) for c in g.codes[keep]] + [a.code for a in proposal.added]
    names = [str(n) for n in g.names[keep]] + [a.name for a in proposal.added]
    versions = [int(v) for v in g.versions[keep]] + [
        old_version.get(a.code, 0) + 1 for a in proposal.added
    ]
    geoms = list(g.geoms[keep]) + [a.geometry for a in proposal.added]
    return gpd.GeoDataFrame(
        {"id": rows_id, "code": codes, "name": names, "version": versions},
        geometry=gpd.GeoSeries(geoms, crs=WGS84_EPSG),
        crs=WGS84_EPSG,
    )


def applied(ctx: PlanContext, proposal: Proposal) -> PlanContext:
    """The parent as ``proposal`` leaves it, to edit further before saving (a suggested split
    the planner then adjusts, a split followed by a vertex move…): the added grids get the
    temporary ids of :func:`apply` (-1, -2, … in ``proposal.added`` order).  Combine the next
    edit with :func:`compose`."""
    return PlanContext(ctx.parent_id, ctx.parent_code, ctx.parent_name, ctx.parent_geometry,
                       apply(ctx, proposal), ctx.retired_codes)


def compose(ctx: PlanContext, first: Proposal, second: Proposal) -> Proposal:
    """One proposal on ``ctx`` doing ``first`` and then ``second`` (made on
    ``applied(ctx, first)``), so the pair is checked, previewed and saved as one change.

    Temporary ids in ``second`` are resolved: an added grid of ``first`` that ``second``
    retires is dropped, and what replaced it counts as replacing the real grids it took over.
    """
    virtual = {-(j + 1): unit for j, unit in enumerate(first.added)}
    unknown = [i for i in second.removed if i < 0 and i not in virtual]
    if unknown:
        raise GeometryError(f"编辑引用了不存在的临时网格 {unknown} / the edit refers to "
                            f"temporary grids {unknown} that the first change does not add.")
    dropped = {i for i in second.removed if i < 0}

    def real(ids: Sequence[int]) -> tuple[int, ...]:
        out: list[int] = []
        for i in ids:
            out.extend(virtual[i].replaces if i < 0 else (int(i),))
        return tuple(dict.fromkeys(out))

    kept = [unit for i, unit in virtual.items() if i not in dropped]
    later = [NewUnit(u.code, u.name, u.geometry, real(u.replaces)) for u in second.added]
    removed = tuple(dict.fromkeys([*first.removed, *(i for i in second.removed if i > 0)]))
    versions = {**first.versions, **{i: v for i, v in second.versions.items() if i > 0}}
    kind = first.kind if second.kind == first.kind else "edit"
    note = "; ".join(n for n in (first.note, second.note) if n)
    return Proposal(first.parent_id, kind, removed, (*kept, *later), versions, note)


def _same_problem(p: Problem, q: Problem, id_map: dict[int, int]) -> bool:
    if p.kind != q.kind:
        return False
    pg, qg = p.geometry, q.geometry
    if pg is not None and qg is not None and pg.area > 0 and qg.area > 0:
        try:
            inter = shapely.intersection(pg, qg).area
        except shapely.errors.GEOSException:
            return False
        return inter >= 0.9 * pg.area
    if pg is not None and qg is not None and not pg.is_empty and not qg.is_empty:
        return bool(shapely.dwithin(pg, qg, 1e-9))
    return tuple(id_map.get(i, i) for i in p.unit_ids) == q.unit_ids


def validate(ctx: PlanContext, proposal: Proposal, *, sliver_m2: float = 1.0) -> Validation:
    """Coverage check of the parent's grids after the change against before: problems the
    change introduces (errors block saving) and ones that were already there.  Also every new
    grid must be a valid polygon, codes unique and removed ids current children."""
    g = _grids(ctx)
    extra: list[Problem] = []
    current = {int(i) for i in g.ids}
    if proposal.parent_id != ctx.parent_id:
        extra.append(Problem(
            "not_current", "error", (), None, 0.0,
            f"上级不符 / The proposal is for parent {proposal.parent_id}, not "
            f"{ctx.parent_id}; reload the page.",
        ))
    stale = [int(i) for i in proposal.removed if int(i) not in current]
    for rid in stale:
        extra.append(Problem(
            "not_current", "error", (rid,), None, 0.0,
            f"已过期 / Unit {rid} is not a current grid of {ctx.parent_code} (someone changed "
            "it, or it belongs elsewhere); reload the page and redo the edit.",
        ))
    after = apply(ctx, proposal)
    polygonal = np.ones(len(after), dtype=bool)
    n_keep = len(after) - len(proposal.added)
    for j, a in enumerate(proposal.added):
        geom = a.geometry
        if (geom is None or geom.is_empty
                or geom.geom_type not in ("Polygon", "MultiPolygon")):
            polygonal[n_keep + j] = False
            kind = "empty" if geom is None or geom.is_empty else geom.geom_type
            extra.append(Problem(
                "invalid", "error", (-(j + 1),), None, 0.0,
                f"无效 invalid: new grid {a.code} is {kind}, not a polygon; redraw it.",
            ))
    counts = Counter(after["code"])
    for code, n in sorted(counts.items()):
        if n > 1:
            ids = tuple(int(i) for i in after.loc[after["code"] == code, "id"])
            extra.append(Problem(
                "duplicate_code", "error", ids, None, 0.0,
                f"编码重复 / Code {code} is used by {n} grids ({', '.join(map(str, ids))}); "
                "give each grid its own code.",
            ))
    parent = ctx.parent_geometry
    kw = {"sliver_m2": sliver_m2, "parent_id": ctx.parent_id}
    before = check_coverage(ctx.units, parent, **kw) if len(ctx.units) else CoverageReport()
    checked = after[polygonal]
    report = check_coverage(checked, parent, **kw) if len(checked) else CoverageReport()
    introduced: list[Problem] = list(extra)
    existing: list[Problem] = []
    for p in report.problems:
        if any(_same_problem(p, q, {}) for q in before.problems):
            existing.append(p)
        else:
            introduced.append(p)
    report.problems = extra + report.problems
    return Validation(report=report, introduced=introduced, existing=existing)


def successors(ctx: PlanContext, proposal: Proposal) -> dict[int, str | None]:
    """For every removed id, the code of the added grid that carries it on (workers follow):
    the same code when present, else the added grid replacing it with the largest overlap."""
    g = _grids(ctx)
    code_of = {int(i): str(c) for i, c in zip(g.ids, g.codes, strict=True)}
    geom_of = {int(i): geom for i, geom in zip(g.ids, g.geoms, strict=True)}
    added_codes = {a.code for a in proposal.added}
    out: dict[int, str | None] = {}
    for rid in (int(i) for i in proposal.removed):
        if code_of.get(rid) in added_codes:
            out[rid] = code_of[rid]
            continue
        best, best_area = None, -1.0
        old = geom_of.get(rid)
        for a in proposal.added:
            if rid not in a.replaces:
                continue
            ar = float(shapely.intersection(old, a.geometry).area) if old is not None else 0.0
            if ar > best_area:
                best, best_area = a.code, ar
        out[rid] = best
    return out


def assign(added: Sequence[NewUnit] | gpd.GeoDataFrame, xy: np.ndarray) -> np.ndarray:
    """Code of the grid covering each point (boundary included; several → lowest code, the
    rule of :mod:`geo.assign`), None in none.  Object array of length n."""
    if isinstance(added, gpd.GeoDataFrame):
        codes = [str(c) for c in added["code"]]
        geoms = list(added.geometry.values)
    else:
        codes = [a.code for a in added]
        geoms = [a.geometry for a in added]
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    out = np.full(len(pts), None, dtype=object)
    if len(pts) == 0 or not codes:
        return out
    x, y = pts[:, 0], pts[:, 1]
    for j in sorted(range(len(codes)), key=lambda j: codes[j]):
        geom = geoms[j]
        if geom is None or geom.is_empty:
            continue
        todo = np.flatnonzero(out == None)  # noqa: E711 - elementwise on an object array
        if len(todo) == 0:
            break
        b = geom.bounds
        cand = todo[(x[todo] >= b[0]) & (x[todo] <= b[2]) & (y[todo] >= b[1]) & (y[todo] <= b[3])]
        if len(cand) == 0:
            continue
        shapely.prepare(geom)
        hit = cand[shapely.intersects_xy(geom, x[cand], y[cand])]
        out[hit] = codes[j]
    return out


def band_status(households: int, band: tuple[int, int]) -> str:
    """'under', 'within' or 'over' the households band (lo, hi) a grid should stay in."""
    lo, hi = band
    if households < lo:
        return "under"
    if households > hi:
        return "over"
    return "within"


def band_for(parent_name: str, urban: tuple[int, int], rural: tuple[int, int]) -> tuple[int, int]:
    """The households band for grids of a parent: urban for communities (name ends with
    社区 or 居委会), else rural (villages)."""
    return urban if str(parent_name or "").strip().endswith(("社区", "居委会")) else rural


def _zeros() -> dict[str, int]:
    return dict.fromkeys(MEASURES, 0)


def impact(ctx: PlanContext, proposal: Proposal, *, households: PointSet, cameras: PointSet,
           incidents: PointSet, workers: dict[int, int], band: tuple[int, int]) -> Impact:
    """Before/after counts per touched code, incidents that change grid and points left in no
    grid.  Points of removed grids and of no grid (-1) are re-assigned with :func:`assign`;
    points of other grids are not touched."""
    g = _grids(ctx)
    code_of = {int(i): str(c) for i, c in zip(g.ids, g.codes, strict=True)}
    name_of = {str(c): str(n) for c, n in zip(g.codes, g.names, strict=True)}
    id_of = {str(c): int(i) for i, c in zip(g.ids, g.codes, strict=True)}
    removed = {int(i) for i in proposal.removed}
    moving_ids = np.array(sorted(removed | {-1}), dtype=np.int64)

    def split_set(ps: PointSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        gid = np.asarray(ps.grid_id, dtype=np.int64).ravel()
        xy = np.asarray(ps.xy, dtype=np.float64).reshape(-1, 2)
        move = np.isin(gid, moving_ids)
        new = np.full(len(gid), None, dtype=object)
        new[move] = assign(proposal.added, xy[move])
        return gid, move, new

    hh_gid, hh_move, hh_new = split_set(households)
    hh_w = (np.asarray(households.weight, dtype=np.float64).ravel()
            if households.weight is not None else np.ones(len(hh_gid)))
    cam_gid, cam_move, cam_new = split_set(cameras)
    inc_gid, inc_move, inc_new = split_set(incidents)
    succ = successors(ctx, proposal)

    added_codes = [a.code for a in proposal.added]
    added_names = {a.code: a.name for a in proposal.added}
    removed_codes = [code_of[i] for i in sorted(removed) if i in code_of]
    codes = list(dict.fromkeys(added_codes + removed_codes))
    units: list[UnitImpact] = []
    for code in codes:
        old_id = id_of.get(code)
        before = _zeros()
        if old_id is not None:
            before["households"] = int((hh_gid == old_id).sum())
            before["persons"] = int(round(float(hh_w[hh_gid == old_id].sum())))
            before["cameras"] = int((cam_gid == old_id).sum())
            before["workers"] = int(workers.get(old_id, 0))
            before["open_incidents"] = int((inc_gid == old_id).sum())
        after = _zeros()
        if code in added_names:
            sel = hh_move & (hh_new == code)
            after["households"] = int(sel.sum())
            after["persons"] = int(round(float(hh_w[sel].sum())))
            after["cameras"] = int((cam_move & (cam_new == code)).sum())
            after["open_incidents"] = int((inc_move & (inc_new == code)).sum())
            after["workers"] = int(sum(workers.get(r, 0) for r, c in succ.items() if c == code))
            if old_id is not None and old_id not in removed:  # an untouched grid's own points
                after["households"] += before["households"]
                after["persons"] += before["persons"]
                after["cameras"] += before["cameras"]
                after["open_incidents"] += before["open_incidents"]
                after["workers"] += before["workers"]
            status = "changed" if old_id is not None else "new"
            name = added_names[code]
        else:
            status = "retired"
            name = name_of.get(code, code)
        units.append(UnitImpact(code, name, old_id, status, before, after,
                                band_status(after["households"], band)))
    order = {"changed": 0, "new": 1, "retired": 2}
    units.sort(key=lambda x: (order[x.status], x.code))

    inc_ids = (np.asarray(incidents.ids).ravel() if incidents.ids is not None
               else np.arange(len(inc_gid)))
    moved: list[tuple[int, int | None, str | None]] = []
    for i in np.flatnonzero(inc_move):
        old = int(inc_gid[i])
        new_code = inc_new[i]
        old_code = code_of.get(old) if old >= 0 else None
        if new_code != old_code:
            moved.append((int(inc_ids[i]), old if old >= 0 else None, new_code))
    unassigned = {
        "households": int((hh_move & (hh_new == None)).sum()),  # noqa: E711
        "cameras": int((cam_move & (cam_new == None)).sum()),  # noqa: E711
        "incidents": int((inc_move & (inc_new == None)).sum()),  # noqa: E711
    }
    return Impact(units=units, moved_incidents=moved, unassigned=unassigned)
