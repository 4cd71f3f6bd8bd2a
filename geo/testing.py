"""Synthetic jurisdictions and points for tests and benchmarks (deterministic by seed).

Grids are Voronoi cells of clustered seeds (so sizes vary like real grids), kept inside an
irregular hull.  Every cell edge is subdivided canonically — the same points whatever the
direction a neighbour walks it — and then all vertices go through one smooth displacement
field whose Lipschitz constant is below 1.  Neighbours therefore still share bit-identical
edges (a valid coverage), while boundaries become wiggly with roughly 20-300 vertices per grid.
Communities, streets and the county are exact coverage unions of their grids.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

__all__ = ["make_points", "make_units"]

_M_PER_DEG = 111_320.0


def _hash01(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Deterministic pseudo-random number in [0, 1) from coordinates."""
    v = np.sin(x * 12.9898 + y * 78.233) * 43758.5453
    return v - np.floor(v)


def _seeds(rng: np.random.Generator, n: int, bbox: tuple[float, float, float, float]):
    x0, y0, x1, y1 = bbox
    n_clustered = int(n * 0.4)
    n_uniform = n - n_clustered
    ux = rng.uniform(x0, x1, n_uniform)
    uy = rng.uniform(y0, y1, n_uniform)
    k = max(3, n // 400)
    cx = rng.uniform(x0, x1, k)
    cy = rng.uniform(y0, y1, k)
    which = rng.integers(0, k, n_clustered)
    sx = (x1 - x0) * 0.03
    sy = (y1 - y0) * 0.03
    gx = cx[which] + rng.normal(0, sx, n_clustered)
    gy = cy[which] + rng.normal(0, sy, n_clustered)
    out = (gx < x0) | (gx > x1) | (gy < y0) | (gy > y1)  # no clipping: it would make duplicates
    gx[out] = rng.uniform(x0, x1, out.sum())
    gy[out] = rng.uniform(y0, y1, out.sum())
    xy = np.unique(np.column_stack([np.r_[ux, gx], np.r_[uy, gy]]), axis=0)
    xy = xy[rng.permutation(len(xy))]
    return xy[:, 0], xy[:, 1]


def _wiggle(
    cells: np.ndarray, size: float, rng: np.random.Generator, lat0: float, strength: float
) -> np.ndarray:
    """Subdivide every edge canonically and push all vertices through one smooth field."""
    rings, ring_of_cell = shapely.get_rings(cells, return_index=True)
    coords, ring_idx = shapely.get_coordinates(rings, return_index=True)
    same = ring_idx[1:] == ring_idx[:-1]
    a = coords[:-1][same]
    b = coords[1:][same]
    edge_ring = ring_idx[:-1][same]
    # canonical orientation so both neighbours produce the same points
    flip = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    p = np.where(flip[:, None], b, a)
    q = np.where(flip[:, None], a, b)
    mid = (p + q) / 2
    h = _hash01(mid[:, 0] * 1000, mid[:, 1] * 1000)
    kx = np.cos(np.radians(lat0))
    seg = np.hypot((q[:, 0] - p[:, 0]) * kx, q[:, 1] - p[:, 1])
    # irregular vertex density, but never coarser than the finest wave can tolerate
    n_sub = np.maximum(3 + np.floor(40 * h**2), np.ceil(seg / (0.25 * size))).astype(np.int64)
    total = n_sub.sum()
    e = np.repeat(np.arange(len(p)), n_sub)
    k = np.arange(total) - np.repeat(np.cumsum(n_sub) - n_sub, n_sub)
    n_e = n_sub[e]
    s = np.where(flip[e], n_e - k, k) / n_e  # canonical fraction from p: same for both sides
    pts = p[e] + (q[e] - p[e]) * s[:, None]
    pts[k == 0] = a[e[k == 0]]  # exact original vertex (start of the edge, walking a → b)
    # smooth displacement field, Lipschitz < 1 in metric units (so no fold-overs)
    waves = []
    # per-axis Lipschitz constant sum(2π·amp/wl) ≈ 0.44 · strength: the map stays injective
    for wl, amp in ((3.0, 0.10 * strength), (1.1, 0.03 * strength), (0.6, 0.006 * strength)):
        ang = rng.uniform(0, 2 * np.pi, 2)
        ph = rng.uniform(0, 2 * np.pi, 2)
        waves.append((wl * size, amp * size, ang, ph))

    def field(xy: np.ndarray) -> np.ndarray:
        x = xy[:, 0] * kx
        y = xy[:, 1]
        d = np.zeros_like(xy)
        for wl, amp, ang, ph in waves:
            w = 2 * np.pi / wl
            d[:, 0] += amp * np.sin(w * (np.cos(ang[0]) * x + np.sin(ang[0]) * y) + ph[0]) / kx
            d[:, 1] += amp * np.sin(w * (np.cos(ang[1]) * x + np.sin(ang[1]) * y) + ph[1])
        return xy + d

    pts = field(pts)
    pts_ring = edge_ring[e]
    # rebuild rings (close them), then polygons
    first = np.r_[True, pts_ring[1:] != pts_ring[:-1]]
    starts = np.flatnonzero(first)
    closed = np.insert(pts, np.r_[starts[1:], len(pts)], pts[starts], axis=0)
    closed_ring = np.insert(pts_ring, np.r_[starts[1:], len(pts)], pts_ring[starts])
    new_rings = shapely.linearrings(closed, indices=closed_ring)
    ring_ids = np.unique(pts_ring)
    return shapely.polygons(new_rings, indices=ring_of_cell[ring_ids])


def make_units(
    n_grids: int = 500,
    *,
    seed: int = 0,
    center: tuple[float, float] = (116.40, 39.90),
    grid_km: float = 0.5,
    grids_per_community: int = 25,
    communities_per_street: int = 8,
    drop_grids: float = 0.0,
    county_code: str = "110101",
) -> gpd.GeoDataFrame:
    """A county → street → community → grid hierarchy (levels 0-3) in WGS84.

    ``drop_grids`` removes that fraction of grids while their community keeps the area, which
    creates planners' "blank areas" (gaps).
    """
    rng = np.random.default_rng(seed)
    lat0 = center[1]
    side_km = grid_km * np.sqrt(n_grids * 2.5)
    hx = side_km / (_M_PER_DEG / 1000 * np.cos(np.radians(lat0))) / 2
    hy = side_km / (_M_PER_DEG / 1000) / 2
    bbox = (center[0] - hx, center[1] - hy, center[0] + hx, center[1] + hy)
    sx, sy = _seeds(rng, int(n_grids * 2.5), bbox)
    # keep the n_grids seeds nearest the centre in a wobbly metric: an irregular hull
    ang = np.arctan2((sy - center[1]) / hy, (sx - center[0]) / hx)
    rad = np.hypot((sx - center[0]) / hx, (sy - center[1]) / hy)
    wob = 1 + 0.15 * np.sin(3 * ang + rng.uniform(0, 6)) + 0.07 * np.sin(7 * ang)
    keep = np.argsort(rad / wob)[:n_grids]
    env = shapely.box(bbox[0] - hx, bbox[1] - hy, bbox[2] + hx, bbox[3] + hy)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(
            shapely.multipoints(np.column_stack([sx, sy])), extend_to=env, ordered=True
        )
    )[keep]
    size = grid_km * 1000 / _M_PER_DEG
    wiggle_seed = int(rng.integers(2**31))
    for strength in (1.0, 0.5, 0.25, 0.0):  # straight chords can still cut a sharp corner:
        grids = _wiggle(cells, size, np.random.default_rng(wiggle_seed), lat0, strength)
        if shapely.is_valid(grids).all():  # then bend less (strength 0 = plain Voronoi)
            break
    gx, gy = sx[keep], sy[keep]

    n_comm = max(1, n_grids // grids_per_community)
    n_street = max(1, n_comm // communities_per_street)
    cc = rng.choice(n_grids, n_comm, replace=False)
    comm_of = np.argmin((gx[:, None] - gx[cc]) ** 2 + (gy[:, None] - gy[cc]) ** 2, axis=1)
    sc = rng.choice(n_comm, n_street, replace=False)
    cgx, cgy = gx[cc], gy[cc]
    street_of = np.argmin((cgx[:, None] - cgx[sc]) ** 2 + (cgy[:, None] - cgy[sc]) ** 2, axis=1)
    used = np.unique(comm_of)
    remap = np.full(n_comm, -1)
    remap[used] = np.arange(len(used))
    comm_of = remap[comm_of]
    street_of = street_of[used]
    used_s = np.unique(street_of)
    remap_s = np.full(n_street, -1)
    remap_s[used_s] = np.arange(len(used_s))
    street_of = remap_s[street_of]
    n_comm, n_street = len(used), len(used_s)

    comm_geoms = np.array(
        [shapely.coverage_union_all(grids[comm_of == c]) for c in range(n_comm)], dtype=object
    )
    street_geoms = np.array(
        [shapely.coverage_union_all(comm_geoms[street_of == s]) for s in range(n_street)],
        dtype=object,
    )
    county = shapely.coverage_union_all(street_geoms)

    rows: list[dict] = [
        {"id": 1, "code": county_code, "level": 0, "parent_id": None, "geometry": county}
    ]
    street_ids = 100 + np.arange(n_street)
    for s in range(n_street):
        rows.append(
            {
                "id": int(street_ids[s]),
                "code": f"{county_code}{s + 1:03d}",
                "level": 1,
                "parent_id": 1,
                "geometry": street_geoms[s],
            }
        )
    comm_ids = 10_000 + np.arange(n_comm)
    comm_codes = []
    counters = np.zeros(n_street, dtype=int)
    for c in range(n_comm):
        s = street_of[c]
        counters[s] += 1
        code = f"{county_code}{s + 1:03d}{counters[s]:03d}"
        comm_codes.append(code)
        rows.append(
            {
                "id": int(comm_ids[c]),
                "code": code,
                "level": 2,
                "parent_id": int(street_ids[s]),
                "geometry": comm_geoms[c],
            }
        )
    order = np.lexsort((gy, gx, comm_of))
    drop = np.zeros(n_grids, dtype=bool)
    if drop_grids > 0:
        drop[rng.choice(n_grids, int(round(n_grids * drop_grids)), replace=False)] = True
    counters = np.zeros(n_comm, dtype=int)
    for rank, g in enumerate(order):
        c = comm_of[g]
        counters[c] += 1
        if drop[g]:
            continue
        rows.append(
            {
                "id": 1_000_000 + rank,
                "code": f"{comm_codes[c]}{counters[c]:03d}",
                "level": 3,
                "parent_id": int(comm_ids[c]),
                "geometry": grids[g],
            }
        )
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)
    gdf["parent_id"] = pd.array(gdf["parent_id"], dtype="Int64")
    gdf["id"] = gdf["id"].astype("int64")
    return gdf


def make_points(
    units: gpd.GeoDataFrame,
    n: int,
    *,
    seed: int = 0,
    outside_fraction: float = 0.01,
    n_clusters: int = 60,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` clustered WGS84 points inside the top level plus ``outside_fraction`` outside it."""
    rng = np.random.default_rng(seed)
    top = shapely.union_all(units.geometry[units["level"] == units["level"].min()].values)
    shapely.prepare(top)
    x0, y0, x1, y1 = top.bounds
    n_out = int(round(n * outside_fraction))
    n_in = n - n_out
    cx = rng.uniform(x0, x1, n_clusters)
    cy = rng.uniform(y0, y1, n_clusters)
    wx = rng.uniform(0.01, 0.08, n_clusters) * (x1 - x0)
    wy = rng.uniform(0.01, 0.08, n_clusters) * (y1 - y0)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    have = 0
    while have < n_in:
        m = int((n_in - have) * 1.5) + 16
        c = rng.integers(0, n_clusters, m)
        uniform = rng.random(m) < 0.3
        x = np.where(uniform, rng.uniform(x0, x1, m), cx[c] + rng.normal(0, 1, m) * wx[c])
        y = np.where(uniform, rng.uniform(y0, y1, m), cy[c] + rng.normal(0, 1, m) * wy[c])
        ok = shapely.contains_xy(top, x, y)
        xs.append(x[ok])
        ys.append(y[ok])
        have += int(ok.sum())
    xin = np.concatenate(xs)[:n_in]
    yin = np.concatenate(ys)[:n_in]
    xs, ys, have = [], [], 0
    dx, dy = (x1 - x0) * 0.05, (y1 - y0) * 0.05
    while have < n_out:
        m = (n_out - have) * 3 + 16
        x = rng.uniform(x0 - dx, x1 + dx, m)
        y = rng.uniform(y0 - dy, y1 + dy, m)
        ok = ~shapely.intersects_xy(top, x, y)
        xs.append(x[ok])
        ys.append(y[ok])
        have += int(ok.sum())
    xout = np.concatenate(xs + [np.empty(0)])[:n_out]
    yout = np.concatenate(ys + [np.empty(0)])[:n_out]
    perm = rng.permutation(n)
    return np.concatenate([xin, xout])[perm], np.concatenate([yin, yout])[perm]
