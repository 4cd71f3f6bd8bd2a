"""The demo layers are valid coverages (#17): every level of a generated region is noded (and
where a nearly collinear meeting is left, settled by one planar partition), so shared edges
match vertex for vertex (``shapely.coverage_is_valid``), children still tile their parent,
and the map simplifies them together without slivers."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo.coverage import check_coverage, node_coverage
from loaders.demo_spec import REGIONS
from loaders.generate_units import build_units


@pytest.mark.parametrize("region", ["yumen", "etuoke", "donghai", "chengguan"])
def test_every_level_of_a_demo_region_is_a_valid_coverage(region) -> None:
    units, _ = build_units(REGIONS[region])
    by_level = {lv: [u for u in units if u["level"] == lv] for lv in (0, 1, 2, 3)}
    for lv in (1, 2, 3):
        geoms = np.array([u["geom"] for u in by_level[lv]], dtype=object)
        assert shapely.coverage_is_valid(geoms), (region, lv)
    # children still tile their parent (no overlap, no gap beyond a square metre)
    parent = {u["code"]: u["geom"] for u in units}
    for lv in (1, 2):
        for code in [u["code"] for u in by_level[lv]][:10]:
            kids = [u["geom"] for u in units if u["parent_code"] == code]
            report = check_coverage(kids, parent[code])
            assert not [p for p in report.problems if p.severity == "error"], (region, code)


def test_noding_adds_the_neighbours_vertices_and_keeps_the_shapes() -> None:
    # two squares on one side of an edge, one rectangle on the other: the rectangle lacks
    # the vertex where the squares meet
    a = shapely.box(0, 0, 1, 1)
    b = shapely.box(1, 0, 2, 1)
    c = shapely.box(0, 1, 2, 2)
    before = np.array([a, b, c], dtype=object)
    assert not shapely.coverage_is_valid(before)
    after = node_coverage(before)
    assert shapely.coverage_is_valid(after)
    assert all(shapely.equals(x, y) for x, y in zip(before, after, strict=True))
    assert shapely.get_num_coordinates(after[2]) == shapely.get_num_coordinates(c) + 1
