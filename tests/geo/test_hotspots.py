"""Getis-Ord Gi* hot spots: contiguity, z-scores against a dense reference, planted clusters."""

from __future__ import annotations

import math
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from geo.errors import GeoError
from geo.hotspots import (
    METHOD_EN,
    METHOD_ZH,
    confidence,
    contiguity,
    fdr_adjust,
    gi_star,
    hot_spots,
    method_statement,
    new_hot_spots,
    p_values,
)


def lattice(rows: int, cols: int, size: float = 0.01) -> list[shapely.Polygon]:
    """Square cells, row-major (index = r * cols + c), in degrees near Hangzhou."""
    x0, y0 = 120.0, 30.0
    return [
        box(x0 + c * size, y0 + r * size, x0 + (c + 1) * size, y0 + (r + 1) * size)
        for r in range(rows)
        for c in range(cols)
    ]


def queen_matrix(rows: int, cols: int) -> np.ndarray:
    """Dense queen adjacency of a lattice from cell coordinates alone (no geometry)."""
    n = rows * cols
    a = np.zeros((n, n))
    for r in range(rows):
        for c in range(cols):
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    rr, cc = r + dr, c + dc
                    if (dr or dc) and 0 <= rr < rows and 0 <= cc < cols:
                        a[r * cols + c, rr * cols + cc] = 1
    return a


def dense_gi_star(x: np.ndarray, adjacency: np.ndarray) -> np.ndarray:
    """Textbook Gi* (Ord & Getis 1995) with W = A + I, written with dense matrices."""
    n = len(x)
    w = adjacency + np.eye(n)
    xbar = x.sum() / n
    s = math.sqrt((x**2).sum() / n - xbar**2)
    wsum = w.sum(axis=1)
    w2sum = (w**2).sum(axis=1)
    num = w @ x - xbar * wsum
    den = s * np.sqrt((n * w2sum - wsum**2) / (n - 1))
    return num / den


# --- contiguity ------------------------------------------------------------------------------


def test_contiguity_3x3_grid_corner_3_edge_5_centre_8() -> None:
    nb = contiguity(lattice(3, 3))
    counts = [len(a) for a in nb]
    assert counts == [3, 5, 3, 5, 8, 5, 3, 5, 3]
    assert nb[4].tolist() == [0, 1, 2, 3, 5, 6, 7, 8]
    assert nb[0].tolist() == [1, 3, 4]  # 4 touches 0 at a single vertex: queen, not rook
    assert all(i not in a for i, a in enumerate(nb))


def test_contiguity_equals_coordinate_adjacency_on_20x20() -> None:
    nb = contiguity(lattice(20, 20))
    a = queen_matrix(20, 20)
    for i, row in enumerate(nb):
        assert row.tolist() == np.flatnonzero(a[i]).tolist()


def test_contiguity_vertex_touch_island_empty_and_tolerance() -> None:
    geoms = [
        box(0, 0, 1, 1),
        box(1, 1, 2, 2),  # touches the first only at (1, 1)
        box(5, 5, 6, 6),  # island
        None,  # missing geometry
        shapely.Polygon(),  # empty geometry
        box(6.001, 5, 7, 6),  # hairline gap to the island
    ]
    nb = contiguity(geoms)
    assert [a.tolist() for a in nb] == [[1], [0], [], [], [], []]
    nb_tol = contiguity(geoms, tolerance=0.01)
    assert nb_tol[2].tolist() == [5] and nb_tol[5].tolist() == [2]
    assert contiguity([]) == []
    with pytest.raises(GeoError):
        contiguity(geoms, tolerance=-1)


def test_contiguity_equals_pairwise_check_on_irregular_tiling() -> None:
    """Voronoi cells (irregular, with vertex-only contacts) against an all-pairs loop."""
    rng = np.random.default_rng(11)
    frame = box(120.0, 30.0, 120.5, 30.5)
    pts = shapely.multipoints(
        np.column_stack([rng.uniform(120, 120.5, 300), rng.uniform(30, 30.5, 300)])
    )
    cells = shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=frame))
    cells = shapely.intersection(cells, frame)
    nb = contiguity(cells)
    for i, row in enumerate(nb):
        brute = [j for j in range(len(cells)) if j != i and not cells[i].disjoint(cells[j])]
        assert row.tolist() == brute


def test_contiguity_accepts_geoseries() -> None:
    gs = gpd.GeoSeries(lattice(2, 2), crs="EPSG:4490")
    assert [len(a) for a in contiguity(gs)] == [3, 3, 3, 3]
    gdf = gpd.GeoDataFrame({"v": range(4)}, geometry=gs)
    assert [len(a) for a in contiguity(gdf)] == [3, 3, 3, 3]


# --- Gi* -------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gi_star_equals_dense_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows, cols = 7, 9
    x = rng.poisson(3.0, rows * cols).astype(float)
    z = gi_star(x, contiguity(lattice(rows, cols)))
    np.testing.assert_allclose(z, dense_gi_star(x, queen_matrix(rows, cols)), rtol=1e-10)


def test_gi_star_on_irregular_neighbours_equals_dense_reference() -> None:
    rng = np.random.default_rng(7)
    n = 30
    a = (rng.random((n, n)) < 0.15).astype(float)
    a = np.triu(a, 1)
    a = a + a.T
    a[5, :] = a[:, 5] = 0  # an island
    nb = [np.flatnonzero(a[i]) for i in range(n)]
    x = rng.normal(10, 3, n)
    np.testing.assert_allclose(gi_star(x, nb), dense_gi_star(x, a), rtol=1e-10)


def test_gi_star_island_is_its_own_standardised_value() -> None:
    x = np.array([1.0, 4.0, 2.0, 9.0, 3.0])
    nb = [np.array([1]), np.array([0]), np.array([], dtype=int), np.array([4]), np.array([3])]
    z = gi_star(x, nb)
    assert z[2] == pytest.approx((x[2] - x.mean()) / x.std())


def test_gi_star_self_listed_counts_once() -> None:
    x = np.array([1.0, 5.0, 2.0, 8.0])
    nb = [np.array([1]), np.array([0, 2]), np.array([1, 3]), np.array([2])]
    nb_self = [np.append(a, i) for i, a in enumerate(nb)]
    np.testing.assert_allclose(gi_star(x, nb), gi_star(x, nb_self))


def test_gi_star_edge_cases_give_zero() -> None:
    assert gi_star([], []).tolist() == []
    assert gi_star([5.0], [np.array([], dtype=int)]).tolist() == [0.0]
    assert gi_star([1.0, 9.0], [np.array([1]), np.array([0])]).tolist() == [0.0, 0.0]
    nb = contiguity(lattice(4, 4))
    assert gi_star(np.full(16, 0.1), nb).tolist() == [0.0] * 16
    assert gi_star(np.zeros(16), nb).tolist() == [0.0] * 16
    # a unit whose neighbourhood is the whole layer has no variance: z = 0, not a division error
    z = gi_star([1.0, 2.0, 9.0], [np.array([1, 2]), np.array([0]), np.array([0])])
    assert z[0] == 0.0 and np.all(np.isfinite(z))


def test_gi_star_rejects_bad_input() -> None:
    with pytest.raises(GeoError, match="row 1"):
        gi_star([1.0, np.nan, 2.0], [np.array([], dtype=int)] * 3)
    with pytest.raises(GeoError, match="neighbour lists"):
        gi_star([1.0, 2.0, 3.0], [np.array([], dtype=int)] * 2)
    with pytest.raises(GeoError, match="outside"):
        gi_star([1.0, 2.0, 3.0], [np.array([7]), np.array([]), np.array([])])


# --- p-values, bins, FDR --------------------------------------------------------------------


def test_p_values_two_sided_normal() -> None:
    p = p_values([0.0, 1.959963984540054, -1.959963984540054, 2.5758293035489, 10.0])
    np.testing.assert_allclose(p[:4], [1.0, 0.05, 0.05, 0.01], rtol=1e-9)
    assert 0 < p[4] < 1e-20


def test_confidence_bins() -> None:
    z = [0.0, 1.6, 1.645, 1.96, 2.575, 2.576, 5.0, -1.7, -2.0, -3.0, -1.0]
    assert confidence(z).tolist() == [0, 0, 90, 95, 95, 99, 99, -90, -95, -99, 0]
    assert set(confidence(np.linspace(-4, 4, 81)).tolist()) == {-99, -95, -90, 0, 90, 95, 99}


def test_fdr_adjust_matches_step_up_definition() -> None:
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(0, 0.01, 5), rng.uniform(0, 1, 45)])
    q = fdr_adjust(p)
    m = len(p)
    for alpha in (0.01, 0.05, 0.1):
        ranked = np.sort(p)
        passing = np.flatnonzero(ranked <= np.arange(1, m + 1) / m * alpha)
        k = passing.max() + 1 if len(passing) else 0
        expected = p <= ranked[k - 1] if k else np.zeros(m, bool)
        assert ((q <= alpha) == expected).all()
    assert (q >= p).all() and (q <= 1).all()
    assert fdr_adjust([]).tolist() == []


# --- hot_spots -------------------------------------------------------------------------------


def planted(high: bool, seed: int = 0) -> tuple[np.ndarray, list[int], list[int]]:
    """20×20 noise with a 4×4 block (rows 3–6, cols 12–15) of very high or zero counts."""
    rng = np.random.default_rng(seed)
    x = rng.poisson(5.0, 400).astype(float)
    block = [r * 20 + c for r in range(3, 7) for c in range(12, 16)]
    x[block] = 30.0 if high else 0.0
    core = [r * 20 + c for r in range(4, 6) for c in range(13, 15)]
    return x, block, core


def test_planted_high_cluster_is_hot_at_95() -> None:
    x, block, core = planted(high=True)
    res = hot_spots(lattice(20, 20), x)
    assert list(res.columns) == ["z", "p", "q", "confidence", "hot", "cold"]
    assert res.loc[core, "hot"].all()
    assert (res.loc[block, "confidence"] >= 95).all()
    assert (res.loc[block, "p"] < 0.05).all()
    far = [r * 20 + c for r in range(12, 20) for c in range(0, 8)]
    assert not res.loc[far, "hot"].any()
    assert not res["cold"].loc[block].any()
    assert res["hot"].sum() <= 60  # the block and its ring, not the whole map
    assert hot_spots(lattice(20, 20), x, fdr=True).loc[core, "hot"].all()


def test_planted_low_cluster_is_cold() -> None:
    x, block, core = planted(high=False)
    x = x + 10.0  # a busy background around a quiet block
    x[block] = 0.0
    res = hot_spots(lattice(20, 20), x)
    assert res.loc[core, "cold"].all()
    assert (res.loc[core, "confidence"] <= -95).all()
    assert not res.loc[block, "hot"].any()


def test_uniform_values_find_nothing() -> None:
    for value in (0.0, 3.0):
        res = hot_spots(lattice(20, 20), np.full(400, value))
        assert (res["z"] == 0).all()
        assert (res["p"] == 1).all()
        assert (res["confidence"] == 0).all()
        assert not res["hot"].any() and not res["cold"].any()


def test_noise_gives_few_false_positives_with_fdr() -> None:
    geoms = lattice(20, 20)
    nb_false_fdr = []
    nb_false_raw = []
    for seed in range(10):
        x = np.random.default_rng(100 + seed).poisson(5.0, 400).astype(float)
        raw = hot_spots(geoms, x)
        adj = hot_spots(geoms, x, fdr=True)
        nb_false_raw.append(int(raw["hot"].sum() + raw["cold"].sum()))
        nb_false_fdr.append(int(adj["hot"].sum() + adj["cold"].sum()))
        assert (adj["hot"] <= raw["hot"]).all()
        assert (np.abs(adj["confidence"]) <= np.abs(raw["confidence"])).all()
        # FDR-corrected bins are only kept where the grid passes BH at that level
        assert (adj.loc[adj["confidence"].abs() >= 95, "q"] <= 0.05).all()
    assert sum(nb_false_fdr) <= 10  # ≤ 1 per map on average, out of 400 tests each
    assert sum(nb_false_fdr) <= sum(nb_false_raw)


def test_hot_spots_keeps_series_index_and_alpha() -> None:
    x, _block, core = planted(high=True)
    ids = pd.Index(range(1000, 1400), name="grid_id")
    res = hot_spots(gpd.GeoSeries(lattice(20, 20)), pd.Series(x, index=ids))
    assert res.index.equals(ids)
    strict = hot_spots(lattice(20, 20), x, alpha=0.001)
    loose = hot_spots(lattice(20, 20), x, alpha=0.10)
    assert strict["hot"].sum() <= res["hot"].sum() <= loose["hot"].sum()
    with pytest.raises(GeoError, match="alpha"):
        hot_spots(lattice(2, 2), [1, 2, 3, 4], alpha=5)
    with pytest.raises(GeoError, match="geometries"):
        hot_spots(lattice(2, 2), [1, 2, 3])


def test_hot_spots_small_layers() -> None:
    assert hot_spots([], []).empty
    res = hot_spots(lattice(1, 2), [1, 50])
    assert (res["z"] == 0).all() and not res["hot"].any()


# --- new hot spots ---------------------------------------------------------------------------


def test_new_hot_spots_arrays() -> None:
    now = np.array([True, True, True, False, True])
    before = [
        np.array([True, False, False, True, False]),
        np.array([False, False, True, False, False]),
        np.array([False, False, False, False, None], dtype=object),  # unit 4 did not exist
    ]
    assert new_hot_spots(now, before).tolist() == [False, True, False, False, True]
    assert new_hot_spots(now, []).tolist() == now.tolist()
    with pytest.raises(GeoError, match="align"):
        new_hot_spots(now, [np.array([True, False])])


def test_new_hot_spots_series_align_by_unit_id() -> None:
    now = pd.Series([True, True, True], index=[10, 11, 12])
    before = [
        pd.Series([True, False], index=[10, 11]),  # grid 12 did not exist then
        pd.Series([False, np.nan], index=[11, 99]),
    ]
    out = new_hot_spots(now, before)
    assert isinstance(out, pd.Series)
    assert out.to_dict() == {10: False, 11: True, 12: True}
    with pytest.raises(GeoError, match="Series"):
        new_hot_spots(now, [np.array([True, False, False])])


# --- method statement and purity ------------------------------------------------------------


def test_method_statements_name_method_weights_and_significance() -> None:
    for text in (METHOD_ZH, METHOD_EN):
        assert "Gi*" in text and "5%" in text and "95%" in text
    assert (
        "后" in METHOD_ZH and "邻接" in METHOD_ZH and "自身" in METHOD_ZH and "核密度" in METHOD_ZH
    )
    assert "queen" in METHOD_EN and "kernel density" in METHOD_EN
    assert "FDR" in method_statement(fdr=True) and "1%" in method_statement(alpha=0.01)
    assert "Benjamini" in method_statement(fdr=True, lang="en")
    with pytest.raises(GeoError):
        method_statement(lang="fr")


def test_hotspots_module_is_pure() -> None:
    forbidden = ("sqlalchemy", "geoalchemy2", "psycopg", "dash", "flask", "folium", "scipy")
    code = (
        "import geo.hotspots, sys; "
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""
