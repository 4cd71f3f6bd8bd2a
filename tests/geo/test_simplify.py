"""Coverage-preserving simplification per zoom level."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo.errors import GeometryError
from geo.simplify import simplified_layers, simplify_coverage, tolerance_for_zoom
from geo.testing import make_units


@pytest.fixture(scope="module")
def units():
    return make_units(150, seed=21, drop_grids=0.03)


def test_tolerance_follows_web_map_pixels() -> None:
    # one 256-px tile spans 360° at zoom 0: half a pixel on the equator is 0.703125°
    assert tolerance_for_zoom(0, 0.0) == pytest.approx(0.5 * 360 / 256)
    assert tolerance_for_zoom(11, 0.0) == pytest.approx(tolerance_for_zoom(10, 0.0) / 2)
    assert tolerance_for_zoom(10, 60.0) == pytest.approx(tolerance_for_zoom(10, 0.0) / 2)
    # web-mercator ground resolution at zoom 0: 156 543.03 m per pixel
    assert tolerance_for_zoom(0, 0.0, pixels=1, unit="m") == pytest.approx(156543.03, rel=1e-6)
    with pytest.raises(GeometryError, match="Zoom"):
        tolerance_for_zoom(40, 0.0)


def test_neighbours_keep_shared_edges(units) -> None:
    grids = units[units["level"] == 3]
    tol = tolerance_for_zoom(12, 39.9)
    out = simplify_coverage(grids, tol)
    geoms = np.asarray(out.geometry.values)
    assert shapely.is_valid(geoms).all()
    assert shapely.coverage_is_valid(geoms)  # no overlaps, shared edges still identical
    before = shapely.get_num_coordinates(np.asarray(grids.geometry.values)).sum()
    assert shapely.get_num_coordinates(geoms).sum() < before / 2
    # no slivers opened between neighbours: the union has the same holes as before
    u0 = shapely.coverage_union_all(np.asarray(grids.geometry.values))
    u1 = shapely.coverage_union_all(geoms)
    holes = lambda u: sum(shapely.get_num_interior_rings(shapely.get_parts(u)))  # noqa: E731
    assert holes(u1) == holes(u0)
    assert abs(u1.area - u0.area) / u0.area < 0.01
    assert list(out["id"]) == list(grids["id"])  # rows and attributes kept


def test_keeping_the_outer_boundary(units) -> None:
    grids = np.asarray(units[units["level"] == 3].geometry.values)
    out = simplify_coverage(grids, tolerance_for_zoom(10, 39.9), simplify_boundary=False)
    assert shapely.coverage_union_all(out).equals(shapely.coverage_union_all(grids))


def test_overlapping_input_is_refused() -> None:
    boxes = [shapely.box(0, 0, 1, 1), shapely.box(0.5, 0, 1.5, 1)]
    with pytest.raises(GeometryError, match="check_coverage"):
        simplify_coverage(boxes, 0.01)


def test_layers_per_zoom_get_lighter_at_low_zoom(units) -> None:
    layers = simplified_layers(units, zooms=(8, 11, 14))
    counts = [
        shapely.get_num_coordinates(np.asarray(layers[z].geometry.values)).sum()
        for z in (8, 11, 14)
    ]
    assert counts[0] < counts[1] < counts[2]
    full = shapely.get_num_coordinates(np.asarray(units.geometry.values)).sum()
    assert counts[2] < full
    for z, layer in layers.items():
        for lv in np.unique(layer["level"]):
            g = np.asarray(layer[layer["level"] == lv].geometry.values)
            assert shapely.coverage_is_valid(g), (z, lv)
            assert not shapely.is_empty(g).any()
