"""Exact assignment of points to grids and to every level above, vectorised.

Semantics (one answer per point, the same every time):

* ``inside``  — covered by exactly one grid (its boundary included);
* ``edge``    — covered by several grids (shared edge or vertex): the grid with the lowest
  ``code`` (string order; then lowest id) wins;
* ``gap``     — in no grid but inside a top-level unit: ``grid_id`` is -1, each higher level
  is filled by its own polygons ("blank areas" of the planners);
* ``outside`` — in no grid and no top-level unit: every unit id is -1 and ``distance_m`` is
  the distance to the nearest grid (``nearest_grid_id``; ties → lowest code), measured when
  first read;
* ``snapped`` — outside, but within ``snap_m`` of a grid: that grid and its ancestors.

Ancestor ids of a grid come from the hierarchy (``parent_id``), not from polygon tests, so a
grid's row is always consistent.  Distances are planar in the CGCS2000 3° Gauss-Krüger zone of
the layer's centre (scale error < 0.03 % inside that zone); gap points get theirs too.
Snapping needs distances only within ``snap_m``: a bounded search in metres finds those
points, and every other distance waits until a caller reads it.

Speed: a raster :class:`geo.lookup.Lookup` answers points in cells wholly inside one grid
with no polygon test; a point in a cell that an edge crosses is tested exactly (GEOS prepared
point-in-polygon, ``shapely.intersects_xy``) against that cell's few candidate grids only, so
the answers are those of the exact test.  One compiled pass (:mod:`geo.kernel`) reads, per
point, one raster that also tells empty cells apart (in a gap of a top unit, outside near a
grid, outside and far), so most points need nothing more; higher levels are tested only for
the few points no raster settles, and :class:`geo.nearest.NearestGrid` measures distances.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geo import kernel
from geo.crs import (
    WGS84_EPSG,
    CheckedLonLat,
    Datum,
    area_m2,
    check_lonlat,
    metric_crs_for,
    to_wgs84,
)
from geo.errors import CoordinateError
from geo.lookup import CANDIDATES, CHECK, Lookup, build_lookup
from geo.nearest import KEPT as NEAREST_KEPT
from geo.nearest import NearestGrid
from geo.units import Hierarchy, read_hierarchy

__all__ = ["REASONS", "Assignment", "AssignmentEngine", "assign_points"]

REASONS = ("inside", "edge", "gap", "outside", "snapped")
INSIDE, EDGE, GAP, OUTSIDE, SNAPPED = range(5)
_REASON_ARRAY = np.array(REASONS)
_M_PER_DEG = 111_320.0


@dataclass(frozen=True)
class _Pending:
    """What measuring the distances of gap and outside points (not snapped) needs, on first
    use of ``distance_m`` or ``nearest_grid_id``: all the points as assigned (the arrays
    passed to :meth:`AssignmentEngine.assign`, not copied — do not change them in place
    before reading distances) and the nearest-grid index."""

    x: np.ndarray
    y: np.ndarray
    nearest: NearestGrid
    grid_ids: np.ndarray


@dataclass(frozen=True)
class Assignment:
    """Per-point result arrays (length N); ``unit_ids[:, k]`` is the unit at level k.

    ``distance_m`` (0 in a grid, else metres to the nearest grid) and ``nearest_grid_id``
    (the grid itself, or the nearest one for gap/outside points) are exact like the rest;
    for points no grid covers they are measured when first read, so a bulk assignment that
    never asks pays nothing for them.
    """

    grid_id: np.ndarray  # int64, -1 when no grid
    unit_ids: np.ndarray  # int64 (N, n_levels), -1 when none
    reason_code: np.ndarray  # int8 index into REASONS
    _snapped: tuple[np.ndarray, np.ndarray] = field(repr=False, compare=False)  # rows, m
    _pending: _Pending | None = field(default=None, repr=False, compare=False)
    _measured: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False,
                                                           compare=False)

    def __len__(self) -> int:
        return len(self.grid_id)

    def _measure(self) -> tuple[np.ndarray, np.ndarray]:
        """(distance_m, nearest_grid_id), filled on first use: 0 and the grid itself for
        points in a grid (snapped ones: the distance snapped over), measured for the rest."""
        if self._measured is None:
            distance = np.zeros(len(self.grid_id), dtype=np.float64)
            nearest = self.grid_id.copy()
            rows, d = self._snapped
            distance[rows] = d
            p = self._pending
            rows = np.flatnonzero((self.reason_code == GAP) | (self.reason_code == OUTSIDE))
            if p is not None and len(rows):
                d, near = p.nearest.find(p.x[rows], p.y[rows])
                distance[rows] = d
                nearest[rows] = np.where(near >= 0, p.grid_ids[np.maximum(near, 0)], -1)
            object.__setattr__(self, "_measured", (distance, nearest))
            object.__setattr__(self, "_pending", None)
        return self._measured  # type: ignore[return-value]

    @property
    def distance_m(self) -> np.ndarray:
        return self._measure()[0]

    @property
    def nearest_grid_id(self) -> np.ndarray:
        return self._measure()[1]

    @property
    def reason(self) -> np.ndarray:
        """Reason strings, one of :data:`REASONS` per point."""
        return _REASON_ARRAY[self.reason_code]

    def counts(self) -> dict[str, int]:
        """How many points got each reason (all reasons present, zeros included)."""
        c = np.bincount(self.reason_code, minlength=len(REASONS))
        return {r: int(n) for r, n in zip(REASONS, c, strict=True)}

    def to_frame(self) -> pd.DataFrame:
        """One row per point: grid_id, level_<k>_id …, reason (categorical), distance_m."""
        data: dict[str, Any] = {"grid_id": self.grid_id}
        for k in range(self.unit_ids.shape[1]):
            data[f"level_{k}_id"] = self.unit_ids[:, k]
        data["reason"] = pd.Categorical.from_codes(self.reason_code, categories=list(REASONS))
        data["distance_m"] = self.distance_m
        data["nearest_grid_id"] = self.nearest_grid_id
        return pd.DataFrame(data)

    def to_geodataframe(self, lon: Any, lat: Any) -> gpd.GeoDataFrame:
        """:meth:`to_frame` with the points as geometry (EPSG:4326), ready to draw."""
        x = np.asarray(lon, dtype=np.float64).ravel()
        y = np.asarray(lat, dtype=np.float64).ravel()
        return gpd.GeoDataFrame(self.to_frame(), geometry=shapely.points(x, y), crs=WGS84_EPSG)


@dataclass(frozen=True)
class _LevelIndex:
    """Polygons of one level, prepared, with an STRtree and tie-break ranks."""

    ids: np.ndarray
    codes: np.ndarray
    geoms: np.ndarray
    rank: np.ndarray  # rank by (code, id): lower wins ties
    tree: shapely.STRtree

    @classmethod
    def of(cls, ids: np.ndarray, codes: np.ndarray, geoms: np.ndarray) -> _LevelIndex:
        geoms = geoms.copy()
        shapely.prepare(geoms)
        # GEOS builds each prepared polygon's point-in-area index on first use; do it now so
        # that build() pays for it once and every assign() runs at steady speed.
        ring = shapely.get_exterior_ring(shapely.get_geometry(geoms, 0))
        first = shapely.get_coordinates(shapely.get_point(ring, 0))
        if len(first) == len(geoms):
            shapely.intersects_xy(geoms, first[:, 0], first[:, 1])
        order = np.lexsort((ids, codes))
        rank = np.empty(len(ids), dtype=np.int64)
        rank[order] = np.arange(len(ids))
        return cls(ids, codes, geoms, rank, shapely.STRtree(geoms))

    def covering(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact covers test: (winning position or -1, number of polygons covering) per point."""
        n = len(x)
        win = np.full(n, -1, dtype=np.int64)
        if n == 0 or len(self.ids) == 0:
            return win, np.zeros(n, dtype=np.int64)
        if len(self.ids) <= 16:  # a few big polygons (upper levels): bbox pairs in numpy
            b = shapely.bounds(self.geoms)
            inb = (
                (x[:, None] >= b[:, 0])
                & (x[:, None] <= b[:, 2])
                & (y[:, None] >= b[:, 1])
                & (y[:, None] <= b[:, 3])
            )
            pi, gi = np.nonzero(inb)
        else:
            pi, gi = self.tree.query(shapely.points(x, y))
        return self.test_pairs(x, y, pi, gi)

    def locate(self, lookup: Lookup, x: np.ndarray, y: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`covering`, through a raster of this level's polygons: whole cells answer
        without a test, boundary cells test their few candidates."""
        return self.locate_codes(lookup, x, y, lookup.find(x, y))

    def locate_codes(self, lookup: Lookup, x: np.ndarray, y: np.ndarray, codes: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`locate` for points whose cell codes in ``lookup`` are already read."""
        pos = codes.astype(np.int64)
        hits = (pos >= 0).astype(np.int64)
        cand = np.flatnonzero(pos <= CANDIDATES)
        if len(cand):
            which, gi = lookup.candidates(pos[cand])
            pos[cand], hits[cand] = self.test_pairs(x[cand], y[cand], which, gi)
        chk = np.flatnonzero(pos == CHECK)
        if len(chk):
            pos[chk], hits[chk] = self.covering(x[chk], y[chk])
        pos[pos < 0] = -1
        return pos, hits

    def test_pairs(
        self, x: np.ndarray, y: np.ndarray, pi: np.ndarray, gi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact covers test of candidate pairs (point pi, polygon gi); as :meth:`covering`."""
        n = len(x)
        win = np.full(n, -1, dtype=np.int64)
        # same polygon in a row: ~3x faster (GEOS's prepared-geometry cache); a radix sort
        # on 16-bit keys when the polygons are few enough
        key = gi.astype(np.uint16) if len(self.ids) <= 65_536 else gi
        by_geom = np.argsort(key, kind="stable")
        pi, gi = pi[by_geom], gi[by_geom]
        hit = shapely.intersects_xy(self.geoms[gi], x[pi], y[pi])
        pi, gi = pi[hit], gi[hit]
        hits = np.bincount(pi, minlength=n)
        if len(pi):
            many = hits[pi] > 1  # most points are covered once: no sort needed for them
            win[pi[~many]] = gi[~many]
            if many.any():
                pm, gm = pi[many], gi[many]
                order = np.lexsort((self.rank[gm], pm))
                pm, gm = pm[order], gm[order]
                first = np.r_[True, pm[1:] != pm[:-1]]
                win[pm[first]] = gm[first]
        return win, hits


def units_fingerprint(h: Hierarchy) -> np.ndarray:
    """A digest of the units (ids, levels, codes, parents, every vertex of the polygons the
    rasters are made from: the grids and the top level): kept rasters are used only for the
    units they were made from."""
    drawn = h.geoms[(h.levels == 0) | (h.levels == h.grid_level)]
    digest = hashlib.sha256()
    for part in (h.ids, h.levels, h.ancestors, shapely.get_num_coordinates(drawn),
                 shapely.get_coordinates(drawn)):
        digest.update(np.ascontiguousarray(part).tobytes())
    digest.update("\0".join(map(str, h.codes)).encode())
    return np.frombuffer(digest.digest(), dtype=np.uint8).copy()


def _read_kept(kept: Mapping[str, np.ndarray], h: Hierarchy, snap_m: float
               ) -> tuple[Lookup, np.ndarray]:
    """The grid raster and first raster kept by :meth:`AssignmentEngine.kept`, checked."""
    try:
        if not np.array_equal(kept["fingerprint"], units_fingerprint(h)):
            raise ValueError("they were made from other units")
        if float(kept["snap_m"][0]) != snap_m:
            raise ValueError(f"they are for snapping {kept['snap_m'][0]} m, not {snap_m} m")
        x0, y0, dx, dy = (float(v) for v in kept["lattice"])
        cells, first = kept["cells"], kept["first"]
        cand_ptr, cand = kept["cand_ptr"], kept["cand"]
        n_grids = int(np.count_nonzero(h.levels == h.grid_level))
        if (cells.ndim != 2 or first.shape != cells.shape or cells.dtype != np.int32
                or first.dtype != np.int32 or cand.dtype != np.int32
                or cand_ptr.dtype != np.int64 or int(cand_ptr[-1]) != len(cand)
                or (len(cand) and int(cand.max()) >= n_grids)
                or int(cells.max(initial=-1)) >= n_grids
                or len(cand_ptr) - 1 < CANDIDATES - int(cells.min(initial=CANDIDATES))):
            raise ValueError("their arrays do not fit together")
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"they lack a part ({exc})") from exc
    return Lookup(x0, y0, dx, dy, np.ascontiguousarray(cells), cand_ptr, cand), \
        np.ascontiguousarray(first)


class AssignmentEngine:
    """Built once from the unit polygons of all levels (:meth:`build`), reused for many calls."""

    def __init__(self, hierarchy: Hierarchy, lookup: Lookup, crs: pyproj.CRS,
                 snap_m: float = 50.0, first: np.ndarray | None = None,
                 nearest: Mapping[str, np.ndarray] | None = None) -> None:
        h = hierarchy
        self.hierarchy = h
        self.lookup = lookup
        self.metric_crs = crs
        grid = np.flatnonzero(h.levels == h.grid_level)
        self._grid_rows = grid
        self.grids = _LevelIndex.of(h.ids[grid], h.codes[grid], h.geoms[grid])
        self.levels = [
            _LevelIndex.of(h.ids[sel], h.codes[sel], h.geoms[sel])
            for sel in (np.flatnonzero(h.levels == k) for k in range(h.grid_level))
        ]
        self._grid_ancestors = h.ancestors[grid]
        to_metric = pyproj.Transformer.from_crs(WGS84_EPSG, crs, always_xy=True)
        # the nearest-grid index only when first needed (a report outside every grid) or
        # prepared (the server's warm-up, after everything a first page needs)
        self.nearest = NearestGrid(self.grids.geoms, self.grids.rank, to_metric, eager=False,
                                   kept=None if nearest is None else dict(nearest))
        # the first pass's raster (geo.kernel) for the usual snapping distance: the grid
        # raster's empty cells told apart by the top level's raster on the same lattice
        # (gap or outside) and by the snapping filter; another distance gets its own on
        # first use.  The top raster is needed only for this.
        # (``first``: that raster as kept from an earlier build of the same units)
        self._snap_m = snap_m
        if first is None:
            top = build_lookup(self.levels[0].geoms, like=lookup) if self.levels else None
            first = kernel.first_raster(
                lookup, top, len(self.grids.ids), len(self.levels[0].ids) if self.levels
                else 0, kernel.near_mask(lookup, self.nearest.to_metric,
                                         self.nearest.edge_tree, snap_m))
        self._first = {snap_m: first}
        kernel.warm()

    @classmethod
    def build(
        cls,
        units: gpd.GeoDataFrame,
        *,
        cell_m: float | None = None,
        cells_per_grid: float = 1500.0,
        max_cell_m: float = 100.0,
        snap_m: float = 50.0,
        max_cells: int = 30_000_000,
        kept: Mapping[str, np.ndarray] | None = None,
    ) -> AssignmentEngine:
        """Validate ``units`` (WGS84; id, code, level, parent_id, geometry) and index them.

        The lookup cell is ``cell_m`` metres, or sized so that an average grid spans about
        ``cells_per_grid`` cells but no larger than ``max_cell_m`` (capped at ``max_cells``
        cells in all, ~4 bytes each).
        ``snap_m`` is the snapping distance whose raster filter is built now (another one
        is built on its first use).
        ``kept``: the rasters of an earlier build of the same units (:meth:`kept`), used
        instead of rasterising again; ValueError if they are not of these units.
        """
        h = read_hierarchy(units)
        grid_geoms = h.geoms[h.levels == h.grid_level]
        xmin, ymin, xmax, ymax = shapely.total_bounds(grid_geoms)
        if kept is not None:
            lookup, first = _read_kept(kept, h, snap_m)
            near = {k: kept[k] for k in NEAREST_KEPT} if all(k in kept for k in NEAREST_KEPT) \
                else None  # (kept before the nearest-grid chains were: built on first use)
            return cls(h, lookup, metric_crs_for((xmin + xmax) / 2, (ymin + ymax) / 2),
                       snap_m, first, near)
        # grids and the top level are rasterised on one lattice over both of them
        bounds = tuple(shapely.total_bounds(h.geoms[(h.levels == 0)
                                                    | (h.levels == h.grid_level)]))
        lat0 = (ymin + ymax) / 2
        kx = max(np.cos(np.radians(lat0)), 0.01)
        if cell_m is None:
            area = float(shapely.area(grid_geoms).sum()) * kx * _M_PER_DEG**2
            cell_m = max(np.sqrt(area / (len(grid_geoms) * cells_per_grid)), 0.01)
            # large units (a county cut in a hundred) still get cells fine enough that few
            # points fall where an edge passes
            cell_m = min(cell_m, max_cell_m)
        dy = cell_m / _M_PER_DEG
        lookup = build_lookup(grid_geoms, cell_dx=dy / kx, cell_dy=dy, max_cells=max_cells,
                              bounds=bounds)
        return cls(h, lookup, metric_crs_for((xmin + xmax) / 2, lat0), snap_m)

    def kept(self) -> dict[str, np.ndarray]:
        """The rasters :meth:`build` made and the nearest-grid index's chains, as plain
        arrays, for ``build(units, kept=...)`` of the same units in another process (most of
        a build's time; a province's is about a minute)."""
        lk = self.lookup
        return {"fingerprint": units_fingerprint(self.hierarchy),
                "lattice": np.array([lk.x0, lk.y0, lk.dx, lk.dy]), "cells": lk.cells,
                "cand_ptr": lk.cand_ptr, "cand": lk.cand,
                "snap_m": np.array([self._snap_m]), "first": self._first[self._snap_m],
                **self.nearest.kept()}  # (builds the nearest-grid index if not yet)

    @property
    def n_levels(self) -> int:
        return self.hierarchy.n_levels

    @property
    def grid_level(self) -> int:
        return self.hierarchy.grid_level

    def assign(self, lon: Any, lat: Any, *, snap_m: float | None = 50.0) -> Assignment:
        """Assign WGS84 points (arrays or scalars) to grids and all levels; see module doc."""
        x = np.ascontiguousarray(lon, dtype=np.float64).ravel()
        y = np.ascontiguousarray(lat, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise CoordinateError(f"lon and lat differ in length: {len(x)} vs {len(y)}.")
        snapping = snap_m is not None and snap_m > 0
        top = self.levels[0] if self.levels else None
        # one compiled pass settles every point a raster can (geo.kernel); the rest follow
        r = kernel.classify(x, y, self.lookup, self._first_raster(
            snap_m if snapping else self._snap_m), len(top.ids) if top is not None else 0,
            top.ids if top is not None else self.grids.ids, self._grid_ancestors,
            self.grids.ids, snap_m if snapping else None)
        if r["bad"]:
            idx = np.flatnonzero(~(np.isfinite(x) & np.isfinite(y)))[:5]
            rows = "; ".join(f"row {i}: lon={x[i]}, lat={y[i]}" for i in idx)
            raise CoordinateError(
                f"{r['bad']} point(s) have a missing coordinate ({rows}). "
                "Drop them or fix them before assignment."
            )
        grid_id, unit_ids, reason = r["grid_id"], r["unit_ids"], r["reason"]
        grid, top_far, top_near = r[kernel.GRID], r[kernel.TOP], r[kernel.TOP_NEAR]
        ancestors, ids = self._grid_ancestors, self.grids.ids
        if len(grid):  # cells grid edges cross: the exact test
            win, hits = self.grids.locate_codes(self.lookup, x[grid], y[grid], r["grid_codes"])
            got = win >= 0
            g, w = grid[got], win[got]
            grid_id[g] = ids[w]
            unit_ids[g] = ancestors[w]
            reason[g] = INSIDE
            reason[grid[hits >= 2]] = EDGE
            top_near = np.concatenate([top_near, grid[~got]])  # a grid touches their cell
        gaps, nears = [r[kernel.IN_TOP]], [r[kernel.NEAR]]
        for rows_, close in ((top_far, False), (top_near, True)):
            if len(rows_) and top is not None:  # a top unit's edge: the exact test
                win, _ = top.covering(x[rows_], y[rows_])
                has = win >= 0
                unit_ids[rows_[has], 0] = top.ids[win[has]]
                reason[rows_[has]] = GAP
                gaps.append(rows_[has])
                rows_ = rows_[~has]
            if close and snapping:
                nears.append(rows_)
        gap = np.concatenate(gaps)
        if len(gap):  # gap points: lower levels by their own polygons
            for k, level in enumerate(self.levels[1:], start=1):
                win, _ = level.covering(x[gap], y[gap])
                unit_ids[gap, k] = np.where(win >= 0, level.ids[np.maximum(win, 0)], -1)
        near = np.concatenate(nears)
        snapped = (near[:0], np.zeros(0))
        if len(near):
            # only outside points within snap_m of a grid need a distance now: a bounded
            # search (prepared dwithin in metres) measures those the raster let through
            d, hit = self.nearest.within(x[near], y[near], snap_m)
            snap = hit >= 0
            s, h = near[snap], hit[snap]
            reason[s] = SNAPPED
            grid_id[s] = ids[h]
            unit_ids[s] = ancestors[h]
            snapped = (s, d[snap])
        # gap and outside points (not snapped) get their distance when it is first read
        return Assignment(grid_id, unit_ids, reason, snapped, _Pending(x, y, self.nearest, ids))

    def _first_raster(self, snap_m: float) -> np.ndarray:
        """The first pass's raster for snapping distance ``snap_m`` (built on first use from
        the usual distance's)."""
        cells = self._first.get(snap_m)
        if cells is None:
            mask = kernel.near_mask(self.lookup, self.nearest.to_metric,
                                    self.nearest.edge_tree, snap_m)
            cells = self._first[snap_m] = kernel.with_near(
                self._first[self._snap_m], len(self.grids.ids),
                len(self.levels[0].ids) if self.levels else 0, mask)
        return cells

    def explain(self, result: Assignment, i: int) -> str:
        """One sentence telling an operator why point ``i`` landed where it did."""
        r = REASONS[int(result.reason_code[i])]
        code_of = self._code_of
        g = int(result.grid_id[i])
        d = float(result.distance_m[i])
        if r == "inside":
            return f"Point {i} is inside grid {code_of[g]} (id {g})."
        if r == "edge":
            return (
                f"Point {i} lies on a boundary shared by several grids; grid {code_of[g]} "
                f"(id {g}) was chosen because it has the lowest code."
            )
        if r == "snapped":
            return (
                f"Point {i} is {d:.1f} m outside the jurisdiction; it was snapped to the "
                f"nearest grid {code_of[g]} (id {g})."
            )
        ng = int(result.nearest_grid_id[i])
        near = f"nearest grid {code_of[ng]} (id {ng}) is {d:.1f} m away" if ng >= 0 else ""
        if r == "gap":
            lv = [int(v) for v in result.unit_ids[i] if v >= 0]
            return (
                f"Point {i} is inside the jurisdiction (unit ids {lv}) but in no grid "
                f"(a blank area); {near}."
            )
        return f"Point {i} is outside the jurisdiction; {near}."

    @property
    def leaving_parent(self) -> gpd.GeoDataFrame:
        """Units not covered by their parent (part outside ≥ 0.01 m²), computed on first use.

        Columns id, code, level, parent_id, outside_m2 and the outside part as geometry.  The
        grids' ancestors still follow ``parent_id``; this tells the operator where the
        drawn boundaries disagree with the hierarchy.
        """
        return self.find_leaving_parent(0.01)

    def find_leaving_parent(self, min_m2: float) -> gpd.GeoDataFrame:
        """:attr:`leaving_parent` with another threshold (``min_m2`` hides numerical dust)."""
        df = self._leaving_parent_all
        return df[df["outside_m2"] >= min_m2].reset_index(drop=True)

    @cached_property
    def _code_of(self) -> dict[int, str]:
        return dict(zip(self.grids.ids.tolist(), self.grids.codes.tolist(), strict=True))

    @cached_property
    def _leaving_parent_all(self) -> gpd.GeoDataFrame:
        h = self.hierarchy
        child = np.flatnonzero(h.parent_index >= 0)
        parent = h.parent_index[child]
        pg = h.geoms[parent].copy()
        shapely.prepare(pg)
        out = child[~shapely.covers(pg, h.geoms[child])]
        par = h.parent_index[out]
        diff = shapely.difference(h.geoms[out], h.geoms[par])
        return gpd.GeoDataFrame(
            {
                "id": h.ids[out],
                "code": h.codes[out],
                "level": h.levels[out],
                "parent_id": h.ids[par],
                "outside_m2": area_m2(diff) if len(out) else np.zeros(0),
            },
            geometry=gpd.GeoSeries(diff, crs=WGS84_EPSG),
            crs=WGS84_EPSG,
        )

    def stats(self) -> dict[str, float]:
        """Index facts for logs and benchmarks."""
        ny, nx = self.lookup.shape
        return {
            "grids": float(len(self.grids.ids)),
            "levels": float(self.n_levels),
            "lookup_cells": float(nx * ny),
            "lookup_boundary_fraction": self.lookup.boundary_fraction(),
            "lookup_cell_m": self.lookup.dy * _M_PER_DEG,
        }


def assign_points(
    engine: AssignmentEngine,
    lon: Any,
    lat: Any,
    *,
    datum: Datum | str = Datum.WGS84,
    snap_m: float | None = 50.0,
    require_china: bool = True,
) -> tuple[Assignment, CheckedLonLat]:
    """Assign raw coordinates as they arrive: fix swapped lat/lon, convert the datum, assign.

    Returns the assignment and the checked WGS84 coordinates (``swapped[i]`` says that row i
    arrived as lat/lon — tell the sender).  Impossible rows raise :class:`CoordinateError`
    naming them.
    """
    checked = check_lonlat(lon, lat, require_china=require_china)
    x, y = to_wgs84(checked.lon, checked.lat, datum)
    wgs = CheckedLonLat(lon=x, lat=y, swapped=checked.swapped)
    return engine.assign(x, y, snap_m=snap_m), wgs
