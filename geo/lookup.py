"""A raster lookup that answers point-in-polygon for interior points without a polygon test.

Why: an exact point-in-polygon test costs about a microsecond per point, a raster read a few
nanoseconds.  Each cell of a regular lon/lat raster holds the index of the one polygon that
contains the *whole* cell, :data:`NONE` if no polygon touches it, or — when a polygon edge
passes through (or within ``EPS`` of) the cell — a reference to the cell's *candidates*: the
polygons whose edges touch it plus the one holding its centre.  Any polygon covering part of
a cell either has an edge in it or covers the whole cell (hence its centre), so testing the
candidates exactly gives exactly the answer of a full exact test, with no tree search.  Cells
where several polygons hold the centre (overlapping input) are :data:`CHECK`: ask the STRtree.

How (all vectorised numpy, no per-cell or per-point Python loop):

* boundary cells: every edge is cut into pieces shorter than 0.9 cell in both axes; a piece
  touches only cells in the (at most 3 x 3) range of its bounding box widened by ``EPS``;
  those (cell, polygon) pairs become the candidate lists.  Widening guards against rounding
  when a point is binned.
* interior cells: an even-odd scanline fill at each row's centre line gives, per polygon,
  spans of cell centres inside it; a difference array counts how many polygons hold each
  centre and which one.  A cell with no edge in it lies wholly in the polygon holding its
  centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

__all__ = ["CANDIDATES", "CHECK", "NONE", "Lookup", "build_lookup"]

NONE = -1  # no polygon touches this cell
CHECK = -2  # overlapping polygons: test exactly against the STRtree
CANDIDATES = -3  # values <= -3: boundary cell, candidate list row (CANDIDATES - value)
EPS = 1e-6  # in cell units; far above float rounding of the binning (~1e-12 cells)


@dataclass(frozen=True)
class Lookup:
    """Raster of polygon indexes; ``cells[row, col]`` covers the box starting at x0 + col*dx."""

    x0: float
    y0: float
    dx: float
    dy: float
    cells: np.ndarray  # int32 (ny, nx)
    cand_ptr: np.ndarray  # int64 (n_rows + 1,): CSR row starts of the candidate lists
    cand: np.ndarray  # int32: candidate polygon indexes, row after row

    @property
    def shape(self) -> tuple[int, int]:
        return self.cells.shape  # type: ignore[return-value]

    def find(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Cell value for each point (``NONE`` outside the raster)."""
        ny, nx = self.cells.shape
        u = (x - self.x0) * (1.0 / self.dx)
        v = (y - self.y0) * (1.0 / self.dy)
        # truncation equals floor for u, v >= 0; anything left of or below the raster fails
        # the >= 0 test first, so one comparison per bound and no floor
        ok = (u >= 0) & (u < nx) & (v >= 0) & (v < ny)
        if ok.all():
            return np.take(self.cells, v.astype(np.int64) * nx + u.astype(np.int64))
        out = np.full(x.shape, NONE, dtype=np.int32)
        out[ok] = np.take(self.cells, v[ok].astype(np.int64) * nx + u[ok].astype(np.int64))
        return out

    def candidates(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For cell values <= CANDIDATES: (position in ``values``, polygon index) pairs."""
        row = CANDIDATES - values.astype(np.int64)
        start = self.cand_ptr[row]
        n = self.cand_ptr[row + 1] - start
        which = np.repeat(np.arange(len(values)), n)
        k = np.arange(len(which)) - np.repeat(np.cumsum(n) - n, n)
        return which, self.cand[start[which] + k].astype(np.int64)

    def boundary_fraction(self) -> float:
        """Share of cells whose points need an exact test."""
        return float(np.count_nonzero(self.cells <= CHECK)) / self.cells.size


def _edges(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ring edges as (start xy, end xy, polygon index)."""
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, idx = shapely.get_coordinates(rings, return_index=True)
    same = idx[1:] == idx[:-1]
    poly = part_of[ring_of[idx[:-1][same]]]
    return coords[:-1][same], coords[1:][same], poly


def build_lookup(
    geoms: np.ndarray, *, cell_dx: float = 0.0, cell_dy: float = 0.0,
    max_cells: int = 30_000_000, bounds: tuple[float, float, float, float] | None = None,
    like: Lookup | None = None,
) -> Lookup:
    """Rasterise ``geoms`` (polygons / multipolygons) into a :class:`Lookup` over their
    bounds, or over ``bounds`` (which must hold them), or on the very lattice of ``like``
    (same origin, cells and shape; ``geoms`` must lie within it)."""
    if like is not None:
        x0, y0, cell_dx, cell_dy = like.x0, like.y0, like.dx, like.dy
        ny, nx = like.cells.shape
        xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
        if xmin < x0 + cell_dx or ymin < y0 + cell_dy or xmax > x0 + (nx - 1) * cell_dx \
                or ymax > y0 + (ny - 1) * cell_dy:
            raise ValueError("geoms reach beyond the lattice they are to share")
    else:
        if cell_dx <= 0 or cell_dy <= 0:
            raise ValueError("cell_dx and cell_dy must be positive (or give a lattice: like=)")
        xmin, ymin, xmax, ymax = bounds if bounds is not None else shapely.total_bounds(geoms)
        n_cells = ((xmax - xmin) / cell_dx + 3) * ((ymax - ymin) / cell_dy + 3)
        if n_cells > max_cells:  # keep memory bounded: coarsen uniformly
            f = float(np.sqrt(n_cells / max_cells))
            cell_dx, cell_dy = cell_dx * f, cell_dy * f
        x0, y0 = xmin - cell_dx, ymin - cell_dy
        nx = int(np.ceil((xmax - x0) / cell_dx)) + 2
        ny = int(np.ceil((ymax - y0) / cell_dy)) + 2
    a, b, poly = _edges(geoms)
    ua, va = (a[:, 0] - x0) / cell_dx, (a[:, 1] - y0) / cell_dy
    ub, vb = (b[:, 0] - x0) / cell_dx, (b[:, 1] - y0) / cell_dy

    count, cells = _fill_spans(ua, va, ub, vb, poly, nx, ny)
    cells -= 1  # owner index where exactly one polygon holds the centre, -1 (NONE) where none
    cells[count > 1] = CHECK  # overlapping polygons
    del count
    cell_of, cand = _boundary_pairs(ua, va, ub, vb, poly, nx)
    new_row = np.r_[True, cell_of[1:] != cell_of[:-1]] if len(cell_of) else np.zeros(0, bool)
    row_cell = cell_of[new_row]
    row_of_pair = np.cumsum(new_row) - 1
    flat = cells.reshape(-1)  # a view: writes go to ``cells``
    centre = flat[row_cell].astype(np.int64)  # the centre's owner, NONE, or CHECK
    # whole-cell cover: add the centre's owner where none of its edges is in the cell
    listed = np.zeros(len(row_cell), dtype=bool)
    listed[row_of_pair[cand == centre[row_of_pair]]] = True
    extra = np.flatnonzero((centre >= 0) & ~listed)
    cand = np.concatenate([cand, centre[extra].astype(np.int32)])
    row_of_pair = np.concatenate([row_of_pair, extra])
    cand = cand[np.argsort(row_of_pair, kind="stable")]
    ptr = np.zeros(len(row_cell) + 1, dtype=np.int64)
    np.cumsum(np.bincount(row_of_pair, minlength=len(row_cell)), out=ptr[1:])
    flat[row_cell] = (CANDIDATES - np.arange(len(row_cell))).astype(np.int32)
    flat[row_cell[centre == CHECK]] = CHECK
    return Lookup(x0, y0, cell_dx, cell_dy, cells, ptr, cand)


def _boundary_pairs(
    ua: np.ndarray, va: np.ndarray, ub: np.ndarray, vb: np.ndarray, poly: np.ndarray, nx: int
) -> tuple[np.ndarray, np.ndarray]:
    """Unique (cell, polygon) pairs for every cell an edge touches, sorted by cell."""
    du, dv = ub - ua, vb - va
    n = np.maximum(np.ceil(np.maximum(np.abs(du), np.abs(dv)) / 0.9), 1).astype(np.int64)
    e = np.repeat(np.arange(len(ua)), n)
    k = np.arange(len(e)) - np.repeat(np.cumsum(n) - n, n)
    t0 = k / n[e]
    t1 = (k + 1) / n[e]
    pu0, pu1 = ua[e] + du[e] * t0, ua[e] + du[e] * t1
    pv0, pv1 = va[e] + dv[e] * t0, va[e] + dv[e] * t1
    ulo = np.floor(np.minimum(pu0, pu1) - EPS).astype(np.int64)
    uhi = np.floor(np.maximum(pu0, pu1) + EPS).astype(np.int64)
    vlo = np.floor(np.minimum(pv0, pv1) - EPS).astype(np.int64)
    vhi = np.floor(np.maximum(pv0, pv1) + EPS).astype(np.int64)
    su, sv = uhi - ulo, vhi - vlo  # 0, 1 or 2 (the raster has a margin, no clipping needed)
    n_poly = int(poly.max()) + 1 if len(poly) else 1
    key0 = (vlo * nx + ulo) * n_poly + poly[e]
    keys = [key0]
    for i in range(3):
        for j in range(3):
            if i or j:
                sel = (su >= i) & (sv >= j)
                keys.append(key0[sel] + (j * nx + i) * n_poly)
    key = np.concatenate(keys)
    del keys
    key.sort()
    key = key[np.r_[True, key[1:] != key[:-1]]]
    return key // n_poly, (key % n_poly).astype(np.int32)


def _fill_spans(
    ua: np.ndarray,
    va: np.ndarray,
    ub: np.ndarray,
    vb: np.ndarray,
    poly: np.ndarray,
    nx: int,
    ny: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per cell centre: how many polygons hold it (even-odd) and the sum of their index + 1."""
    lo = np.minimum(va, vb)
    hi = np.maximum(va, vb)
    # rows whose centre line r + 0.5 lies in [lo, hi): half-open, so vertices count once
    r0 = np.ceil(lo - 0.5).astype(np.int64)
    r1 = np.ceil(hi - 0.5).astype(np.int64)
    n = np.maximum(r1 - r0, 0)
    e = np.repeat(np.arange(len(ua)), n)
    r = r0[e] + (np.arange(len(e)) - np.repeat(np.cumsum(n) - n, n))
    yc = r + 0.5
    u = ua[e] + (yc - va[e]) * (ub[e] - ua[e]) / (vb[e] - va[e])
    p = poly[e]
    order = np.lexsort((u, r, p))
    u, r, p = u[order], r[order], p[order]
    u_in, u_out = u[0::2], u[1::2]
    r_s, p_s = r[0::2], p[0::2]
    c0 = np.clip(np.ceil(u_in - 0.5), 0, nx).astype(np.int64)
    c1 = np.clip(np.ceil(u_out - 0.5), 0, nx).astype(np.int64)
    keep = c1 > c0
    r_s, p_s, c0, c1 = r_s[keep], p_s[keep], c0[keep], c1[keep]
    width = nx + 1
    cnt = np.zeros(ny * width, dtype=np.int32)
    own = np.zeros(ny * width, dtype=np.int32)
    i0 = r_s * width + c0
    i1 = r_s * width + c1
    one = np.ones(len(i0), dtype=np.int32)
    val = (p_s + 1).astype(np.int32)
    np.add.at(cnt, i0, one)  # same dtypes everywhere: numpy's fast path
    np.add.at(cnt, i1, -one)
    np.add.at(own, i0, val)
    np.add.at(own, i1, -val)
    cnt = np.cumsum(cnt.reshape(ny, width), axis=1, dtype=np.int32)[:, :nx]
    own = np.ascontiguousarray(np.cumsum(own.reshape(ny, width), axis=1, dtype=np.int32)[:, :nx])
    return cnt, own
