"""The engine's rasters kept for another process (#18): an engine built from the units and the
kept rasters answers exactly as one built from scratch, and rasters of other units, another
snapping distance or damaged arrays are refused (ValueError), never used."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo.assign import AssignmentEngine
from geo.testing import make_units


@pytest.fixture(scope="module")
def layer():
    units = make_units(300, seed=11)
    return units, AssignmentEngine.build(units)


def test_an_engine_from_kept_rasters_answers_as_a_fresh_build(layer) -> None:
    units, fresh = layer
    kept = {k: v.copy() for k, v in fresh.kept().items()}
    again = AssignmentEngine.build(units, kept=kept)
    x0, y0, x1, y1 = units.total_bounds
    rng = np.random.default_rng(3)
    w, h = x1 - x0, y1 - y0
    x = rng.uniform(x0 - 0.3 * w, x1 + 0.3 * w, 30_000)
    y = rng.uniform(y0 - 0.3 * h, y1 + 0.3 * h, 30_000)
    a, b = fresh.assign(x, y), again.assign(x, y)
    assert set(np.unique(a.reason)) >= {"inside", "snapped", "outside"}
    assert np.array_equal(a.grid_id, b.grid_id)
    assert np.array_equal(a.unit_ids, b.unit_ids)
    assert np.array_equal(a.reason, b.reason)
    assert np.allclose(a.distance_m, b.distance_m, equal_nan=True)
    # another snapping distance is derived from the kept raster as from a fresh one
    assert np.array_equal(fresh.assign(x, y, snap_m=400).grid_id,
                          again.assign(x, y, snap_m=400).grid_id)
    assert again.lookup.cells is not fresh.lookup.cells


def _moved(units):
    other = units.copy()
    g = other.index[other["level"] == other["level"].max()][0]
    other.loc[g, "geometry"] = shapely.affinity.translate(other.loc[g, "geometry"], 1e-4, 0)
    return other


@pytest.mark.parametrize("spoil, match", [
    (lambda units, kept: (_moved(units), kept), "other units"),
    (lambda units, kept: (units, {**kept, "snap_m": np.array([25.0])}), "snapping"),
    (lambda units, kept: (units, {**kept, "cand": kept["cand"][:-1]}), "do not fit"),
    (lambda units, kept: (units, {**kept, "first": kept["first"][:-1]}), "do not fit"),
    (lambda units, kept: (units, {k: v for k, v in kept.items() if k != "cells"}), "lack"),
])
def test_rasters_that_do_not_fit_are_refused(layer, spoil, match) -> None:
    units, fresh = layer
    units, kept = spoil(units, fresh.kept())
    with pytest.raises(ValueError, match=match):
        AssignmentEngine.build(units, kept=kept)


def test_the_nearest_grid_index_waits_for_its_first_use_and_answers_the_same(layer) -> None:
    """An engine from kept rasters builds no nearest-grid index (15 s for a province) until a
    point outside every grid asks, or prepare(); then it answers as an eager one, also after
    a trip through pickle (a Dask worker) and from threads asking at once."""
    import pickle
    from concurrent.futures import ThreadPoolExecutor

    from geo.nearest import NearestGrid

    units, fresh = layer
    again = AssignmentEngine.build(units, kept=fresh.kept())
    assert not again.nearest.prepared
    inside = units.geometry[units["level"] == units["level"].max()].representative_point()
    again.assign(inside.x.to_numpy(), inside.y.to_numpy())
    assert not again.nearest.prepared  # points inside grids never need it

    x0, y0, x1, y1 = units.total_bounds
    rng = np.random.default_rng(5)
    x = rng.uniform(x1 + 0.01, x1 + 0.2 * (x1 - x0), 500)
    y = rng.uniform(y0, y1, 500)
    eager = NearestGrid(fresh.grids.geoms, fresh.grids.rank, fresh.nearest._to_metric)
    assert eager.prepared
    want = eager.find(x, y)
    lazy = pickle.loads(pickle.dumps(again.nearest))
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: lazy.find(x, y), range(4)))
    assert lazy.prepared
    for d, near in got:
        assert np.array_equal(near, want[1]) and np.allclose(d, want[0])
    assert np.array_equal(again.assign(x, y).nearest_grid_id, fresh.assign(x, y).nearest_grid_id)


def test_kept_nearest_chains_rebuild_the_index_without_its_edges(layer, monkeypatch) -> None:
    """With the chains kept, the nearest-grid index is rebuilt from them (the exposed-edge
    search never runs) and answers as the original; chains that do not fit are refused."""
    import geo.nearest as gn

    units, fresh = layer
    kept = fresh.kept()
    monkeypatch.setattr(gn, "_exposed_edges", lambda *_: (_ for _ in ()).throw(
        AssertionError("the kept chains should have been used")))
    again = AssignmentEngine.build(units, kept=kept)
    x0, y0, x1, y1 = units.total_bounds
    rng = np.random.default_rng(8)
    x = rng.uniform(x0 - 0.2 * (x1 - x0), x0, 400)
    y = rng.uniform(y0, y1, 400)
    a, b = fresh.nearest.find(x, y), again.nearest.find(x, y)
    assert again.nearest.prepared
    assert np.array_equal(a[1], b[1]) and np.allclose(a[0], b[0])
    for spoil in ({"near_ring_owner": kept["near_ring_owner"] + len(fresh.grids.ids)},
                  {"near_seg_idx": kept["near_seg_idx"][:-1]},
                  {"near_ring_idx": kept["near_ring_idx"][::-1]}):
        with pytest.raises(ValueError, match="do not fit"):
            AssignmentEngine.build(units, kept={**kept, **spoil})
