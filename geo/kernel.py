"""The assignment engine's first pass over the points, compiled (numba): one read of one
raster per point settles every point a raster can, so that only the few it cannot go on to
exact tests (GEOS) in :mod:`geo.assign`.

The raster (:func:`first_raster`) is the grid :class:`geo.lookup.Lookup` with its empty
cells told apart by the top level's raster (on the same lattice) and the snapping filter
(:func:`near_mask`); cells a grid edge crosses keep the lookup's codes, so the exact tests
and their answers are those of the lookup — nothing about exactness changes.  Codes, with
``G`` grids and ``T`` top-level units:

* ``0 … G-1``  the whole cell is in that grid;
* ``G … G+T-1`` in no grid, the whole cell in that top unit (a gap);
* ``G+T``  outside every unit, maybe within the snapping distance of a grid;
* ``G+T+1`` / ``G+T+2`` a top unit's edge crosses the cell (far from / maybe near a grid);
* ``NONE`` outside every unit and farther than the snapping distance from every grid;
* ``CHECK`` and below: the lookup's codes for cells grid edges cross.

Why compiled: in numpy the same pass was a dozen full-length array operations (bin, gather,
compare, scatter …).  Here one loop gathers the cell codes (independent loads the CPU
overlaps) and a second one acts on them; the points left over come back as index lists.
"""

from __future__ import annotations

import math
import threading

import numba
import numpy as np
import shapely
from numba import njit, prange

from geo.lookup import CHECK, NONE, Lookup

__all__ = ["GRID", "IN_TOP", "NEAR", "TOP", "TOP_NEAR", "classify", "first_raster",
           "near_mask", "warm", "with_near"]

# what the points the first pass leaves over need (keys of classify's answer)
GRID, TOP, TOP_NEAR, IN_TOP, NEAR = range(5)
INSIDE, GAP, OUTSIDE = 0, 2, 3  # geo.assign.REASONS positions
M_PER_DEG = 111_320.0


def _compile(parallel: bool):
    """The first pass, compiled serial or parallel (``prange`` is ``range`` when serial)."""

    @njit(cache=True, nogil=True, parallel=parallel)
    def first_pass(x, y, x0, y0, ix, iy, cells, g, t, snap, box, kx, far_m,
                  top_ids, anc, grid_ids, code, grid_id, units, reason, rare):
        assert parallel in (True, False)  # in the closure: numba caches the two apart
        n = x.shape[0]
        ny, nx = cells.shape
        flat = cells.ravel()
        far2 = (far_m / M_PER_DEG) ** 2 if snap else -1.0  # squared reach, in latitude degrees
        near_code = g + t
        fx, fy = nx - 1.0, ny - 1.0
        bad = 0
        # Both loops avoid branches on the data where they can (selects and arithmetic): with
        # points in random order a mispredicted branch costs more than the work it skips.
        for i in prange(n):  # gather: every point reads a cell (the edge one if beyond)
            xi = x[i]
            yi = y[i]
            fin = math.isfinite(xi) & math.isfinite(yi)
            bad += not fin
            u = (xi - x0) * ix if fin else -1.0
            v = (yi - y0) * iy if fin else -1.0
            ok = np.int32((u >= 0) & (u < nx) & (v >= 0) & (v < ny))
            iu = int(min(max(u, 0.0), fx))
            iv = int(min(max(v, 0.0), fy))
            c = flat[iv * nx + iu]
            # beyond the raster (whose rim cells touch no unit): outside every unit, and near
            # only within reach of the raster's box (NaN compares false: far)
            du = max(max(box[0] - xi, xi - box[2]), 0.0) * kx
            dv = max(max(box[1] - yi, yi - box[3]), 0.0)
            near = np.int32(du * du + dv * dv <= far2)
            code[i] = ok * c + (1 - ok) * (near * (near_code + 1) - 1)  # NONE is -1
        levels = units.shape[1]
        for i in prange(n):
            c = code[i]
            inside = (c >= 0) & (c < g)
            k1 = np.int64(inside)
            cc = min(max(c, 0), g - 1)
            grid_id[i] = k1 * (grid_ids[cc] + 1) - 1
            for k in range(levels):
                units[i, k] = k1 * (anc[cc, k] + 1) - 1
            reason[i] = OUTSIDE - (OUTSIDE - INSIDE) * k1
            # neither in a whole grid cell nor far: listed (by the caller) and sorted out
            rare[i] = not (inside | (c == NONE) | ((c == near_code) & (not snap)))
        return bad

    return first_pass


_SERIAL, _PARALLEL = _compile(False), _compile(True)
#: the parallel pass pays off from this many points; numba's default threading layer
#: (workqueue) must not be entered by two threads at once, hence the lock
PARALLEL_FROM = 20_000
_PARALLEL_LOCK = threading.Lock()


def classify(x: np.ndarray, y: np.ndarray, lookup: Lookup, cells: np.ndarray, n_top: int,
             top_ids: np.ndarray, ancestors: np.ndarray, grid_ids: np.ndarray,
             snap_m: float | None, parallel: bool | None = None) -> dict:
    """One compiled pass over WGS84 points ``x``, ``y`` with :func:`first_raster`'s
    ``cells`` (on ``lookup``'s lattice).  Returns the arrays ``grid_id``, ``unit_ids`` and
    ``reason`` (final for points in a whole grid cell, and for those outside and far:
    ``outside``), ``bad`` (how many points are not finite) and the index arrays of the
    points left over, by what they need: :data:`GRID` (with ``grid_codes``, their cell
    codes), :data:`TOP`, :data:`TOP_NEAR`, :data:`IN_TOP` (``unit_ids[:, 0]`` and reason
    ``gap`` written) and :data:`NEAR`.  ``snap_m`` None or 0: no snapping (nothing is
    near).  ``parallel``: on every core numba has (default: from :data:`PARALLEL_FROM`
    points on)."""
    n = len(x)
    out: dict = {"grid_id": np.empty(n, dtype=np.int64),
                 "unit_ids": np.empty((n, ancestors.shape[1]), dtype=np.int64),
                 "reason": np.empty(n, dtype=np.int8)}
    code = np.empty(n, dtype=np.int32)
    rare = np.empty(n, dtype=np.bool_)
    lk = lookup
    ny, nx = cells.shape
    box = np.array([lk.x0, lk.y0, lk.x0 + nx * lk.dx, lk.y0 + ny * lk.dy])
    snap = bool(snap_m and snap_m > 0)
    g, t = len(grid_ids), n_top
    args = (x, y, float(lk.x0), float(lk.y0), 1.0 / lk.dx, 1.0 / lk.dy, cells, g, t, snap,
            box, float(lk.dy / lk.dx), 1.01 * snap_m if snap else 0.0, top_ids, ancestors,
            grid_ids, code, out["grid_id"], out["unit_ids"], out["reason"], rare)
    if parallel is None:
        parallel = n >= PARALLEL_FROM and numba.get_num_threads() > 1
    if parallel:
        with _PARALLEL_LOCK:
            out["bad"] = int(_PARALLEL(*args))
    else:
        out["bad"] = int(_SERIAL(*args))
    # the few left over, sorted out in numpy
    left = np.flatnonzero(rare)
    c = code[left]
    top = (c >= g) & (c < g + t)
    if top.any():
        out["unit_ids"][left[top], 0] = top_ids[c[top] - g]
        out["reason"][left[top]] = GAP
    near_code = g + t
    out[GRID] = left[c < 0]  # CHECK or a candidate list: the exact test
    out["grid_codes"] = c[c < 0]
    out[IN_TOP] = left[top]
    out[NEAR] = left[c == near_code]
    out[TOP] = left[(c == near_code + 1) | ((c == near_code + 2) & (not snap))]
    out[TOP_NEAR] = left[(c == near_code + 2) & snap]
    return out


def first_raster(lookup: Lookup, top: Lookup | None, n_grids: int, n_top: int,
                 mask: np.ndarray) -> np.ndarray:
    """The first pass's raster (codes in the module doc) from the grid ``lookup``, the top
    level's raster ``top`` on the same lattice (None: a layer of grids alone) and
    :func:`near_mask` ``mask``."""
    cells = lookup.cells.copy()
    g, t = n_grids, n_top
    if top is not None:
        if top.cells.shape != cells.shape or (top.x0, top.y0, top.dx, top.dy) != (
                lookup.x0, lookup.y0, lookup.dx, lookup.dy):
            raise ValueError("the top level's raster is not on the grid raster's lattice")
        tc = top.cells
        empty = cells == NONE
        whole = empty & (tc >= 0)
        cells[whole] = g + tc[whole]
        cells[empty & (tc <= CHECK)] = g + t + 1
    return with_near(cells, g, t, mask)


def with_near(cells: np.ndarray, n_grids: int, n_top: int, mask: np.ndarray) -> np.ndarray:
    """A copy of a first raster marked for another snapping filter ``mask``."""
    g, t = n_grids, n_top
    out = np.where(cells == g + t, NONE, cells).astype(np.int32)
    out[out == g + t + 2] = g + t + 1
    out[(out == NONE) & mask] = g + t
    out[(out == g + t + 1) & mask] = g + t + 2
    return np.ascontiguousarray(out)


def near_mask(lookup: Lookup, to_metric, edge_tree: shapely.STRtree, snap_m: float
              ) -> np.ndarray:
    """Per cell of ``lookup``: False where every point is certainly farther than ``snap_m``
    from every grid — cells more than ``snap_m`` (plus a cell) from any cell a grid touches,
    and empty cells of that band that no exposed grid edge comes within ``snap_m`` of (cell
    boxes in metres against the edge chains).  True may still be far (the exact test
    decides)."""
    lk = lookup
    cell_m = lk.dy * M_PER_DEG
    k = int(np.ceil(snap_m / cell_m)) + 1
    mask = lk.cells != NONE
    ny, nx = mask.shape
    for axis, size in ((0, ny), (1, nx)):  # square (Chebyshev) dilation by k cells
        grown = mask.copy()
        for step in range(1, min(k, size) + 1):
            if axis == 0:
                grown[step:] |= mask[:-step]
                grown[:-step] |= mask[step:]
            else:
                grown[:, step:] |= mask[:, :-step]
                grown[:, :-step] |= mask[:, step:]
        mask = grown
    band = np.flatnonzero(mask.ravel() & (lk.cells.ravel() == NONE))
    if len(band):
        row, col = np.divmod(band, nx)
        xs = lk.x0 + np.stack([col, col + 1, col, col + 1]) * lk.dx
        ys = lk.y0 + np.stack([row, row, row + 1, row + 1]) * lk.dy
        mx, my = to_metric(xs.ravel(), ys.ravel())
        mx, my = mx.reshape(4, -1), my.reshape(4, -1)
        boxes = shapely.box(mx.min(0), my.min(0), mx.max(0), my.max(0))
        near, _ = edge_tree.query(boxes, predicate="dwithin", distance=1.01 * snap_m)
        keep = np.zeros(len(band), dtype=bool)
        keep[near] = True
        flat = mask.ravel()
        flat[band[~keep]] = False
    return np.ascontiguousarray(mask)


def warm() -> None:
    """Compile (or load from numba's on-disk cache) now, so no assignment pays for it."""
    lk = Lookup(0.0, 0.0, 1.0, 1.0, np.full((2, 2), NONE, dtype=np.int32),
                np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32))
    one = np.zeros(1)
    ids = np.zeros(1, dtype=np.int64)
    for parallel in (False, True):
        classify(one, one, lk, lk.cells, 1, ids, np.zeros((1, 1), dtype=np.int64), ids, 50.0,
                 parallel=parallel)
