"""Distance from points outside every grid to the nearest grid, in metres.

Why not just ``STRtree.query_nearest`` on the grid polygons: for a point a few kilometres out,
GEOS must compute full polygon distances to dozens of candidates whose bounding boxes are
about equally far.  The nearest point of a set of polygons to a point outside all of them lies
on an *exposed* edge — one with no grid on its other side — and a tiling has few of those
(the outer hull and the rims of gaps).  So we first find the nearest exposed edge segment (cheap
segment distances), then ask the polygon tree only for polygons within that distance, which
yields the exact nearest grids and lets ties go to the lowest code.

An edge is interior when the same segment occurs in the opposite direction (polygons oriented
counter-clockwise); any edge not matched that way is kept, so non-conforming layers
(T-junctions, overlaps) only make the exposed set larger, never wrong.
"""

from __future__ import annotations

import threading

import numpy as np
import pyproj
import shapely

__all__ = ["KEPT", "NearestGrid"]


def _exposed_edges(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end coordinates of the edges not shared with an opposite-direction twin."""
    oriented = shapely.orient_polygons(geoms)
    parts = shapely.get_parts(oriented)
    rings = shapely.get_rings(parts)
    coords, idx = shapely.get_coordinates(rings, return_index=True)
    same = idx[1:] == idx[:-1]
    a = coords[:-1][same]
    b = coords[1:][same]
    # canonical (lexicographically smaller first) endpoints + direction flag
    flip = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    p = np.where(flip[:, None], b, a)
    q = np.where(flip[:, None], a, b)
    # sort by a 64-bit hash of the canonical edge (one key instead of four); equal edges
    # become neighbours.  Groups also require equal coordinates, so a hash collision can only
    # split a group — keeping more edges "exposed", which is safe.
    bits = np.ascontiguousarray(np.column_stack([p, q])).view(np.uint64)
    mult = np.array(
        [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93],
        dtype=np.uint64,
    )
    h = np.bitwise_xor.reduce(bits * mult, axis=1)
    order = np.argsort(h)
    ps, qs, fs = p[order], q[order], flip[order]
    new = np.r_[True, np.any(ps[1:] != ps[:-1], axis=1) | np.any(qs[1:] != qs[:-1], axis=1)]
    group = np.cumsum(new) - 1
    has_fwd = np.bincount(group, weights=~fs, minlength=group[-1] + 1 if len(group) else 0) > 0
    has_rev = np.bincount(group, weights=fs, minlength=group[-1] + 1 if len(group) else 0) > 0
    interior = (has_fwd & has_rev)[group]
    keep = np.sort(order[~interior])  # back in ring order, so chains can be rebuilt
    return a[keep], b[keep]


def _chains(a: np.ndarray, b: np.ndarray, max_edges: int = 16,
            owner: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Join consecutive edges (end of one = start of next) into short linestrings; with
    ``owner`` (one per edge) a chain never spans two owners.  Returns the linestrings and the
    index of each one's first edge.

    Fewer, slightly longer items make the nearest-neighbour search much cheaper than one item
    per 2-point segment, while each item's bounding box stays tight.
    """
    n = len(a)
    if n == 0:
        return np.empty(0, dtype=object), np.zeros(0, dtype=np.int64)
    joined = np.all(a[1:] == b[:-1], axis=1)
    if owner is not None:
        joined &= owner[1:] == owner[:-1]
    cont = np.r_[False, joined]
    run = np.cumsum(~cont) - 1
    pos = np.arange(n) - np.flatnonzero(~cont)[run]
    chain = np.cumsum(~cont | (pos % max_edges == 0)) - 1
    last = np.r_[chain[1:] != chain[:-1], True]
    # coordinates: every edge's start, plus the end of each chain's last edge
    coords = np.empty((n + int(last.sum()), 2))
    idx = np.empty(len(coords), dtype=np.int64)
    where = np.arange(n) + np.r_[0, np.cumsum(last)[:-1]]
    coords[where], idx[where] = a, chain
    ends = where[last] + 1
    coords[ends], idx[ends] = b[last], chain[last]
    first = np.flatnonzero(np.r_[True, chain[1:] != chain[:-1]])
    return shapely.linestrings(coords, indices=idx), first


#: the arrays :meth:`NearestGrid.kept` gives
KEPT = ("near_seg_xy", "near_seg_idx", "near_ring_xy", "near_ring_idx", "near_ring_owner")


def _checked(kept: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Kept chains that fit ``n`` polygons, else ValueError (never used half-fitting)."""
    missing = [k for k in KEPT if k not in kept]
    if missing:
        raise ValueError(f"the kept nearest-grid chains lack {', '.join(missing)}")
    out = {k: np.asarray(kept[k]) for k in KEPT}
    for name in ("seg", "ring"):
        xy, idx = out[f"near_{name}_xy"], out[f"near_{name}_idx"]
        if xy.ndim != 2 or xy.shape[1:] != (2,) or idx.shape != (len(xy),) or (
                len(idx) and (idx.min() < 0 or np.any(np.diff(idx) < 0))):
            raise ValueError(f"the kept nearest-grid {name} chains do not fit")
    owner, idx = out["near_ring_owner"], out["near_ring_idx"]
    chains = int(idx.max()) + 1 if len(idx) else 0
    if owner.shape != (chains,) or (len(owner) and (owner.min() < 0 or owner.max() >= n)):
        raise ValueError("the kept nearest-grid ring chains do not fit these grids")
    return out


class NearestGrid:
    """Nearest grid (position, metric distance) for points that no grid covers.

    ``eager=False`` defers the indexes (the exposed edges, every polygon's boundary chains)
    to their first use or :meth:`prepare`: a province's 100,000 grids take 15 s, which an
    engine rebuilt from kept rasters needs only for a report outside every grid.  Thread-safe:
    concurrent first uses build them once."""

    def __init__(self, geoms: np.ndarray, rank: np.ndarray, to_metric: pyproj.Transformer,
                 *, eager: bool = True, kept: dict[str, np.ndarray] | None = None) -> None:
        self._rank = rank
        self._to_metric = to_metric
        self._geoms_ll = geoms
        self._seg_tree: shapely.STRtree | None = None
        self._ring_tree: shapely.STRtree | None = None
        self._lock = threading.Lock()
        self._kept = None if kept is None else _checked(kept, len(geoms))
        if eager:  # build() pays, assign() does not
            self.prepare()

    def kept(self) -> dict[str, np.ndarray]:
        """Both indexes' chains as plain arrays (:data:`KEPT`), for ``NearestGrid(…,
        kept=…)`` of the same grids in another process: the trees are then rebuilt from
        them, without the 15 s of a province's edges and rings."""
        self.prepare()
        seg_xy, seg_idx = shapely.get_coordinates(self._seg_tree.geometries, return_index=True)
        ring_xy, ring_idx = shapely.get_coordinates(self._ring_chains, return_index=True)
        return {"near_seg_xy": seg_xy, "near_seg_idx": seg_idx, "near_ring_xy": ring_xy,
                "near_ring_idx": ring_idx, "near_ring_owner": self._ring_owner}

    def __getstate__(self) -> dict:  # a Dask worker receives the engine pickled
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def prepared(self) -> bool:
        return self._ring_tree is not None and self._seg_tree is not None

    def prepare(self) -> None:
        """Build both indexes now (once)."""
        self._segments()
        self._ring_index()

    def _release_kept(self) -> None:
        """Once both trees stand, the kept arrays they were made from are copies (a
        province's are about 100 MB per worker): let them go.  Called under the lock."""
        if self._seg_tree is not None and self._ring_tree is not None:
            self._kept = None

    def _ring_index(self) -> shapely.STRtree:
        if self._ring_tree is None:
            with self._lock:
                if self._ring_tree is None:
                    self._rings()
                    self._release_kept()
        return self._ring_tree

    def _rings(self) -> None:
        """Every polygon's boundary as short chains (≤ 16 edges) with their polygon: the
        distance from a point outside a polygon to it is the least distance to its chains,
        and a chain is cheap to measure where a polygon of thousands of vertices is not."""
        if self._kept is not None:
            k = self._kept
            self._ring_chains = shapely.linestrings(k["near_ring_xy"],
                                                    indices=k["near_ring_idx"])
            self._ring_owner = k["near_ring_owner"]
            self._ring_tree = shapely.STRtree(self._ring_chains)
            return
        to_metric = self._to_metric
        geoms_m = shapely.transform(
            self._geoms_ll, lambda c: np.column_stack(to_metric.transform(c[:, 0], c[:, 1])))
        parts, part_of = shapely.get_parts(geoms_m, return_index=True)
        rings, ring_of = shapely.get_rings(parts, return_index=True)
        coords, idx = shapely.get_coordinates(rings, return_index=True)
        same = idx[1:] == idx[:-1]
        a, b = coords[:-1][same], coords[1:][same]
        owner = part_of[ring_of[idx[:-1][same]]]
        self._ring_chains, first = _chains(a, b, owner=owner)
        self._ring_owner = owner[first]
        self._ring_tree = shapely.STRtree(self._ring_chains)  # last: it says "built"

    def _nearest_of(self, pts: np.ndarray, reach: np.ndarray | float, n: int
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(distance, polygon or -1) per point: the nearest polygon among those whose
        boundary comes within ``reach`` (points outside every polygon); ties → lowest
        rank."""
        dist = np.full(n, np.inf)
        near = np.full(n, -1, dtype=np.int64)
        pi, ci = self._ring_index().query(pts, predicate="dwithin", distance=reach)
        if not len(pi):
            return dist, near
        d = shapely.distance(self._ring_chains[ci], pts[pi])
        gi = self._ring_owner[ci]
        order = np.lexsort((self._rank[gi], d, pi))
        pi, gi, d = pi[order], gi[order], d[order]
        first = np.r_[True, pi[1:] != pi[:-1]]
        near[pi[first]] = gi[first]
        dist[pi[first]] = d[first]
        return dist, near

    def _segments(self) -> shapely.STRtree:
        if self._seg_tree is None:
            with self._lock:
                if self._seg_tree is None and self._kept is not None:
                    self._seg_tree = shapely.STRtree(shapely.linestrings(
                        self._kept["near_seg_xy"], indices=self._kept["near_seg_idx"]))
                if self._seg_tree is None:
                    a, b = _exposed_edges(self._geoms_ll)
                    ax, ay = self._to_metric.transform(a[:, 0], a[:, 1])
                    bx, by = self._to_metric.transform(b[:, 0], b[:, 1])
                    segs, _ = _chains(np.column_stack([ax, ay]), np.column_stack([bx, by]))
                    self._seg_tree = shapely.STRtree(segs)
                self._release_kept()
        return self._seg_tree

    def to_metric(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """WGS84 → the metric CRS of the distances."""
        x, y = self._to_metric.transform(lon, lat)
        return np.asarray(x), np.asarray(y)

    @property
    def edge_tree(self) -> shapely.STRtree:
        """STRtree of the exposed edges (short chains), in the metric CRS."""
        return self._segments()

    def _metric_points(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray | None:
        """The points in the metric CRS, or None when there is nothing to measure."""
        if len(lon) == 0 or len(self._geoms_ll) == 0:
            return None
        mx, my = self._to_metric.transform(lon, lat)
        return shapely.points(mx, my)

    def within(self, lon: np.ndarray, lat: np.ndarray, max_m: float
               ) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`find`, for points that no grid covers, but only for those with a grid
        within ``max_m`` metres (the others get inf and -1): a bounded search that costs
        little for points far from every grid."""
        n = len(lon)
        pts = self._metric_points(lon, lat)
        if pts is None:
            return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
        dist, near = self._nearest_of(pts, max_m, n)
        far = dist > max_m
        dist[far], near[far] = np.inf, -1
        return dist, near

    def find(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distance in m, grid position or -1) for each WGS84 point; ties → lowest rank."""
        n = len(lon)
        pts = self._metric_points(lon, lat)
        if pts is None:
            return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
        (pi, _), d_seg = self._segments().query_nearest(pts, return_distance=True)
        bound = np.full(n, np.inf)
        bound[pi] = d_seg
        # exact: every polygon whose boundary comes within the nearest exposed edge's
        # distance, measured on its boundary chains; this also catches grids touching the
        # nearest point only at a vertex whose own edges there are interior.
        slack = 1e-6 + 1e-9 * bound
        return self._nearest_of(pts, bound + slack, n)
