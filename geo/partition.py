"""Splitting a polygon into k parts that tile it exactly, balanced by population, with
boundaries that wander like drawn ones rather than straight Voronoi edges.

How: k-means on population sample points gives k centres (dense areas get small parts);
their Voronoi cells, extended well beyond the polygon, are densified and pushed by one smooth
displacement field (a "domain warp"), so each shared edge moves identically for both
neighbours and the cells still tile the plane; clipping the warped cells by the polygon then
tiles the polygon exactly.  Clipped cells that fall apart keep their largest piece; stray pieces
join the neighbour they share the longest border with.  Everything runs in a local frame where
x is scaled by cos(latitude), so "compact" means compact on the ground.

Used by the demo generator (county → towns → villages → grids) and by the planner's "split
this oversized grid into k balanced parts".
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPoint, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo.errors import GeometryError

Array = NDArray[np.float64]


def _frame(geom: BaseGeometry) -> float:
    """cos(latitude) of the geometry's centre: the x scale of the local frame."""
    return float(np.cos(np.radians(geom.centroid.y)))


def _scale(geom: BaseGeometry, sx: float) -> BaseGeometry:
    return shapely.transform(geom, lambda c: c * np.array([sx, 1.0]))


def kmeans(points: Array, k: int, rng: np.random.Generator, iterations: int = 20) -> Array:
    """Plain k-means (k-means++ start); deterministic for a given generator state."""
    n = len(points)
    if n < k:
        raise GeometryError(f"Need at least {k} sample points to make {k} parts, got {n}.")
    centres = np.empty((k, 2))
    centres[0] = points[rng.integers(n)]
    dist2 = np.sum((points - centres[0]) ** 2, axis=1)
    for i in range(1, k):
        total = dist2.sum()
        idx = rng.choice(n, p=dist2 / total) if total > 0 else rng.integers(n)
        centres[i] = points[idx]
        dist2 = np.minimum(dist2, np.sum((points - centres[i]) ** 2, axis=1))
    for _ in range(iterations):
        d = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        label = d.argmin(axis=1)
        counts = np.bincount(label, minlength=k)
        for j in np.flatnonzero(counts == 0):  # re-seed an empty cluster at the worst point
            far = d[np.arange(n), label].argmax()
            centres[j] = points[far]
            label[far] = j
        counts = np.bincount(label, minlength=k)
        sums = np.zeros((k, 2))
        np.add.at(sums, label, points)
        centres = sums / np.maximum(counts, 1)[:, None]
    return centres


def _warp(geoms: NDArray[np.object_], amplitude: float, wavelength: float,
          rng: np.random.Generator) -> NDArray[np.object_]:
    """Move every vertex by one smooth field; shared vertices move alike, so tilings survive.

    The field's gradient stays below 0.6, so the map is one-to-one and no edge folds over.
    """
    octaves = []
    for amp, lam in ((amplitude, wavelength), (amplitude / 3, wavelength / 3)):
        f = 2 * np.pi / lam
        octaves.append((amp, f * rng.uniform(0.8, 1.2, 4), rng.uniform(0, 2 * np.pi, 4)))

    def field(coords: Array) -> Array:
        x, y = coords[:, 0], coords[:, 1]
        dx = np.zeros_like(x)
        dy = np.zeros_like(y)
        for amp, f, ph in octaves:
            dx += amp * np.sin(x * f[0] + ph[0]) * np.cos(y * f[1] + ph[1])
            dy += amp * np.cos(x * f[2] + ph[2]) * np.sin(y * f[3] + ph[3])
        return np.column_stack([x + dx, y + dy])

    return shapely.transform(geoms, field)


def _merge_fragments(pieces: list[BaseGeometry]) -> list[BaseGeometry]:
    """Keep each part's largest piece; give stray pieces to the neighbour with the longest
    shared border (or back to their own part when they touch no main piece)."""
    main: list[BaseGeometry] = []
    strays: list[tuple[int, Polygon]] = []
    for i, geom in enumerate(pieces):
        parts = list(shapely.get_parts(geom))
        parts.sort(key=lambda p: -p.area)
        main.append(parts[0])
        strays.extend((i, p) for p in parts[1:])
    for owner, stray in sorted(strays, key=lambda s: -s[1].area):
        best, best_len = owner, 0.0
        for j, candidate in enumerate(main):
            if not candidate.intersects(stray):
                continue
            shared = shapely.length(shapely.intersection(candidate.boundary, stray.boundary))
            if shared > best_len:
                best, best_len = j, shared
        merged = shapely.union(main[best], stray)
        main[best] = merged
    return main


def split_polygon(polygon: Polygon | MultiPolygon, samples: Array, k: int, *,
                  rng: np.random.Generator, warp: float = 0.05) -> list[BaseGeometry]:
    """Split ``polygon`` (lon/lat) into ``k`` parts balanced by the sample points (lon/lat,
    population-weighted: denser areas get smaller parts).  The parts tile the polygon exactly.

    ``warp`` is the boundary wiggle as a share of a typical part's size (0 = straight edges).
    Fewer than ``k`` parts come back only when the samples cannot support k clusters.
    """
    if k < 1:
        raise GeometryError(f"Cannot split into {k} parts; give k ≥ 1.")
    if polygon.is_empty or not polygon.is_valid:
        raise GeometryError("Cannot split an empty or invalid polygon; repair it first.")
    if k == 1:
        return [polygon]
    sx = _frame(polygon)
    local = _scale(polygon, sx)
    pts = np.column_stack([samples[:, 0] * sx, samples[:, 1]])
    centres = kmeans(pts, k, rng)
    size = float(np.sqrt(local.area / k))
    x0, y0, x1, y1 = local.bounds
    pad = 2 * size + 0.2 * max(x1 - x0, y1 - y0)
    frame = shapely.box(x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    cells = np.asarray(shapely.get_parts(shapely.voronoi_polygons(
        MultiPoint(centres), extend_to=frame, ordered=True)))
    # One noded arrangement of all edges (cell edges + the polygon's boundary): every face
    # then shares exactly the same vertices with its neighbours, so the parts tile exactly.
    edges = shapely.union_all(shapely.boundary(cells))
    if warp > 0:
        seed = int(rng.integers(2**32))
        edges = _warp(np.asarray([shapely.segmentize(edges, size / 12)]), warp * size,
                      0.9 * size, np.random.default_rng(seed))[0]
        # The same field moves the cells, which serve only to label the faces below.
        cells = _warp(shapely.segmentize(cells, size / 12), warp * size, 0.9 * size,
                      np.random.default_rng(seed))
    # Node the full edges with the boundary in one overlay (clipping first would leave edge
    # ends a hair off the boundary, and polygonize would drop them as dangles).
    arrangement = shapely.union_all([edges, local.boundary])
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(arrangement))))
    reps = shapely.point_on_surface(faces)
    faces = faces[shapely.contains(local, reps)]
    reps = reps[shapely.contains(local, reps)]
    tree = shapely.STRtree(cells)
    rep_idx, cell_idx = tree.query(reps, predicate="within")
    label = np.full(len(faces), -1)
    label[rep_idx] = cell_idx
    if (label < 0).any():  # a face on a warped edge: take the nearest cell
        missing = np.flatnonzero(label < 0)
        label[missing] = tree.query_nearest(reps[missing], return_distance=False)[1]
    polys = [shapely.coverage_union_all(faces[label == j]) for j in np.unique(label)]
    parts = _merge_fragments(polys)
    return [_scale(p, 1.0 / sx) for p in parts]


def sample_in_polygon(polygon: Polygon | MultiPolygon, n: int, rng: np.random.Generator,
                      centres: Array | None = None, spreads: Array | None = None,
                      weights: Array | None = None, background: float = 0.2) -> Array:
    """``n`` points inside ``polygon`` from a population density: Gaussian settlements at
    ``centres`` (lon/lat) with ``spreads`` (degrees) and ``weights``, plus a ``background``
    share spread uniformly.  Rejection sampling, vectorised."""
    x0, y0, x1, y1 = polygon.bounds
    shapely.prepare(polygon)
    prepared = polygon
    out: list[Array] = []
    have = 0
    n_centres = 0 if centres is None else len(centres)
    while have < n:
        m = max(2 * (n - have), 256)
        if n_centres:
            w = np.asarray(weights, dtype=float) if weights is not None else np.ones(n_centres)
            probs = np.append(w / w.sum() * (1 - background), background)
            comp = rng.choice(n_centres + 1, size=m, p=probs)
            pts = np.column_stack([rng.uniform(x0, x1, m), rng.uniform(y0, y1, m)])
            urban = comp < n_centres
            c = comp[urban]
            sx = np.cos(np.radians(centres[c, 1]))
            pts[urban, 0] = centres[c, 0] + rng.normal(0, 1, urban.sum()) * spreads[c] / sx
            pts[urban, 1] = centres[c, 1] + rng.normal(0, 1, urban.sum()) * spreads[c]
        else:
            pts = np.column_stack([rng.uniform(x0, x1, m), rng.uniform(y0, y1, m)])
        inside = shapely.contains_xy(prepared, pts[:, 0], pts[:, 1])
        out.append(pts[inside])
        have += int(inside.sum())
    return np.concatenate(out)[:n]
