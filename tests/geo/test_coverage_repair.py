"""Coverage repair (#17): a messy layer made from a valid one — jittered vertices (unmatched
shared edges), a grid grown over its neighbours (overlaps), a grid shrunk (slivers of gap) —
comes back a valid coverage; every household keeps its grid unless it lay in a repaired
area, and those areas are listed."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import shapely

from geo.coverage_repair import repair_coverage
from geo.testing import make_units

DEG = 1 / 111_320


def _jitter(p, s: float):
    """Move every vertex by up to ``s`` (the same coordinate the same way, so rings stay
    closed)."""
    def f(c):
        return c + s * np.column_stack([np.sin(c[:, 0] * 7e5 + c[:, 1] * 3e5),
                                        np.cos(c[:, 0] * 5e5 - c[:, 1] * 9e5)])
    return shapely.transform(p, f)


def messy_layer(seed: int = 3):
    units = make_units(60, seed=seed)
    valid = np.asarray(units[units.level == 3].geometry.values, dtype=object)
    messy = valid.copy()
    for i in range(0, len(messy), 3):  # a third of the grids drawn 0.2 m off
        messy[i] = shapely.make_valid(_jitter(messy[i], 0.2 * DEG))
    messy[5] = shapely.buffer(messy[5], 0.5 * DEG, join_style="mitre")  # overlaps
    messy[7] = shapely.buffer(messy[7], -0.4 * DEG, join_style="mitre")  # gaps around it
    return valid, messy


def grid_of(geoms: np.ndarray, pts: np.ndarray) -> np.ndarray:
    tree = shapely.STRtree(geoms)
    pi, gi = tree.query(pts, predicate="covered_by")
    out = np.full(len(pts), -1)
    order = np.lexsort((gi, pi))
    pi, gi = pi[order], gi[order]
    first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.zeros(0, bool)
    out[pi[first]] = gi[first]
    return out


def test_a_messy_layer_is_repaired_and_every_change_listed() -> None:
    valid, messy = messy_layer()
    assert shapely.coverage_is_valid(valid) and not shapely.coverage_is_valid(messy)
    fixed, changes = repair_coverage(messy, tolerance_m=1.0)
    assert shapely.coverage_is_valid(fixed) and shapely.is_valid(fixed).all()
    kinds = Counter(c.kind for c in changes)
    assert kinds["snapped"] >= 20 and kinds["overlap_taken"] >= 1 and kinds["gap_filled"] >= 1
    assert all(c.area_m2 >= 0 and np.isfinite([c.lon, c.lat]).all() for c in changes)
    # the layer still covers what it covered (no new holes, nothing lost beyond slivers)
    assert abs(shapely.area(shapely.union_all(fixed)) - shapely.area(shapely.union_all(valid))) \
        < 1e-3 * shapely.area(shapely.union_all(valid))
    # households: each keeps the grid it had in the layer as drawn unless it lies in a
    # listed repaired area
    rng = np.random.default_rng(0)
    x0, y0, x1, y1 = shapely.total_bounds(valid)
    pts = shapely.points(rng.uniform(x0, x1, 20_000), rng.uniform(y0, y1, 20_000))
    before, after = grid_of(messy, pts), grid_of(fixed, pts)
    moved = np.flatnonzero(before != after)
    repaired = shapely.union_all([c.geom for c in changes])
    shapely.prepare(repaired)
    assert len(moved) < 0.01 * len(pts)
    near = shapely.dwithin(repaired, pts[moved], 1.0 * DEG)
    assert near.all(), f"{int((~near).sum())} households moved outside any listed repair"


def test_a_wide_gap_is_kept_and_reported() -> None:
    valid, _ = messy_layer()
    hull = shapely.boundary(shapely.union_all(valid))
    inner = next(i for i in range(len(valid)) if not shapely.intersects(valid[i], hull))
    holed = valid.copy()
    holed[inner] = shapely.buffer(holed[inner], -20 * DEG)  # a 20 m ring: not a sliver
    fixed, changes = repair_coverage(holed, tolerance_m=1.0)
    kept = [c for c in changes if c.kind == "gap_kept"]
    assert len(kept) == 1 and kept[0].area_m2 > 100
    assert shapely.coverage_is_valid(fixed)
    assert shapely.area(fixed[inner]) == pytest.approx(shapely.area(holed[inner]), rel=1e-6)


def test_the_planner_repair_is_a_proposal() -> None:
    """修复拓扑 in the planner: the changed grids retired and re-added (same code and name),
    the proposal valid, its note listing the changes; a valid village has nothing to do."""
    import geopandas as gpd

    from geo import planning as gp
    from geo.errors import GeometryError

    valid, messy = messy_layer()
    n = len(messy)
    parent = shapely.union_all(valid)

    def ctx_of(geoms):
        units = gpd.GeoDataFrame({"id": np.arange(1, n + 1), "code": [f"G{i:03d}" for i in
                                                                       range(n)],
                                  "name": [f"网格{i}" for i in range(n)], "version": 1},
                                 geometry=list(geoms), crs=4326)
        return gp.PlanContext(1, "V", "某村", parent, units)

    proposal, changes = gp.repair(ctx_of(messy), 1.0)
    assert proposal.kind == "repair" and changes
    assert set(proposal.removed) == {u.replaces[0] for u in proposal.added}
    assert all(u.code == f"G{u.replaces[0] - 1:03d}" for u in proposal.added)
    assert proposal.note.startswith("修复拓扑") and "m² @" in proposal.note
    after = gp.applied(ctx_of(messy), proposal)
    assert shapely.coverage_is_valid(np.asarray(after.units.geometry.values, dtype=object))
    assert gp.validate(ctx_of(messy), proposal).ok
    with pytest.raises(GeometryError, match="无需修复"):
        gp.repair(ctx_of(valid), 1.0)
