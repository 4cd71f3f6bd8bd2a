"""Distances only where needed (#17): snapping through the bounded search and the raster
pre-filter gives exactly what measuring every point gives, and the distances of the other
points, measured when first read, equal a full measurement."""

from __future__ import annotations

import numpy as np
import pytest

from geo.assign import AssignmentEngine
from geo.testing import make_units


@pytest.fixture(scope="module")
def layer():
    units = make_units(400, seed=5)
    return units, AssignmentEngine.build(units)


def _around(units, n: int, seed: int, grow: float):
    x0, y0, x1, y1 = units.total_bounds
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * grow, (y1 - y0) * grow
    rng = np.random.default_rng(seed)
    return rng.uniform(cx - w / 2, cx + w / 2, n), rng.uniform(cy - h / 2, cy + h / 2, n)


@pytest.mark.parametrize("snap_m", [5.0, 50.0, 400.0, 3000.0])
def test_snapping_equals_measuring_every_point(layer, snap_m) -> None:
    units, engine = layer
    x, y = _around(units, 20_000, seed=int(snap_m), grow=1.6)
    got = engine.assign(x, y, snap_m=snap_m)
    plain = engine.assign(x, y, snap_m=None)
    rest = plain.grid_id < 0
    d, near = engine.nearest.find(x[rest], y[rest])
    top_out = plain.reason[rest] == "outside"
    want_snap = top_out & (near >= 0) & (d <= snap_m)
    assert (got.reason[rest] == "snapped").sum() == want_snap.sum() > 0
    assert np.array_equal(got.reason[rest] == "snapped", want_snap)
    snapped = np.flatnonzero(rest)[want_snap]
    assert np.array_equal(got.grid_id[snapped], engine.grids.ids[near[want_snap]])
    assert np.allclose(got.distance_m[snapped], d[want_snap])


def test_other_distances_are_measured_when_read(layer) -> None:
    units, engine = layer
    x, y = _around(units, 5_000, seed=9, grow=2.0)
    got = engine.assign(x, y, snap_m=50.0)
    assert got._pending is not None  # nothing measured yet for the far points
    rest = np.flatnonzero(np.isin(got.reason, ["outside", "gap"]))
    d, near = engine.nearest.find(x[rest], y[rest])
    assert np.allclose(got.distance_m[rest], d)
    assert np.array_equal(got.nearest_grid_id[rest], engine.grids.ids[near])
    assert got._pending is None
    inside = got.grid_id >= 0
    assert (got.distance_m[inside & (got.reason != "snapped")] == 0).all()
