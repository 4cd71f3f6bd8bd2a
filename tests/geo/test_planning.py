"""geo.planning: grid edits as proposals that keep the parent's grids an exact tiling.

The hand-built village (1 unit = 0.001°, near 116.0E 40.0N; cells ≈ 85 m × 111 m):

    y=3 +---+-------+---+
        | C |   E   |   |
    y=2 +   +-------+   +   (3,1)-(4,3) is a blank area of the parent
        |   |   D   |   |
    y=1 +---+---+---+---+
        |     A     | B |
    y=0 +-----------+---+
        x=0         3   4
"""

from __future__ import annotations

from collections import Counter

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import LineString, Polygon, box

from geo import planning as P
from geo.errors import GeometryError
from geo.testing import make_points, make_units

LON0, LAT0, U = 116.0, 40.0, 0.001
CELL = U * U  # area of one cell in degrees²


def pt(x: float, y: float) -> tuple[float, float]:
    return (LON0 + x * U, LAT0 + y * U)


def cells(*ij: tuple[int, int]) -> Polygon:
    """Union of unit cells: neighbours share every vertex, so the fixture is a valid coverage."""
    return shapely.coverage_union_all(
        [box(LON0 + i * U, LAT0 + j * U, LON0 + (i + 1) * U, LAT0 + (j + 1) * U) for i, j in ij]
    )


def poly(*xy: tuple[float, float]) -> Polygon:
    return Polygon([pt(x, y) for x, y in xy])


PARENT = cells(*[(i, j) for i in range(4) for j in range(3)])
GRIDS = {
    11: ("P001", "A", cells((0, 0), (1, 0), (2, 0))),
    12: ("P002", "B", cells((3, 0))),
    13: ("P003", "C", cells((0, 1), (0, 2))),
    14: ("P004", "D", cells((1, 1), (2, 1))),
    15: ("P005", "E", cells((1, 2), (2, 2))),
}


def make_ctx(grids: dict | None = None, parent: Polygon = PARENT) -> P.PlanContext:
    grids = GRIDS if grids is None else grids
    units = gpd.GeoDataFrame(
        {
            "id": list(grids),
            "code": [v[0] for v in grids.values()],
            "name": [v[1] for v in grids.values()],
            "version": [1, 1, 1, 3, 1][: len(grids)],
        },
        geometry=[v[2] for v in grids.values()],
        crs=4326,
    )
    return P.PlanContext(1, "P", "某村", parent, units)


@pytest.fixture
def ctx() -> P.PlanContext:
    return make_ctx()


def after_of(ctx: P.PlanContext, proposal: P.Proposal) -> gpd.GeoDataFrame:
    return P.apply(ctx, proposal)


def assert_tiles_like_before(ctx: P.PlanContext, proposal: P.Proposal) -> gpd.GeoDataFrame:
    """The grids after are a valid coverage covering exactly the area they covered before."""
    after = after_of(ctx, proposal)
    geoms = after.geometry.values
    assert shapely.coverage_is_valid(geoms), shapely.coverage_invalid_edges(geoms)
    before_area = shapely.union_all(ctx.units.geometry.values).area
    assert shapely.coverage_union_all(geoms).area == pytest.approx(before_area, rel=1e-9)
    assert shapely.area(geoms).sum() == pytest.approx(before_area, rel=1e-9)
    return after


def by_code(proposal: P.Proposal) -> dict[str, P.NewUnit]:
    return {a.code: a for a in proposal.added}


def test_fixture_is_a_valid_coverage(ctx: P.PlanContext) -> None:
    assert shapely.coverage_is_valid(ctx.units.geometry.values)
    assert P.validate(ctx, P.Proposal(1, "edit", (), ())).ok


# --- split -----------------------------------------------------------------------------------


def test_split_keeps_exact_tiling_and_areas_sum(ctx: P.PlanContext) -> None:
    pr = P.split(ctx, 11, LineString([pt(1, -0.2), pt(1, 1.2)]))
    assert pr.kind == "split"
    assert 11 in pr.removed and pr.versions[11] == 1
    added = by_code(pr)
    # the largest part (2 of A's 3 cells) keeps code and name; the other gets a new code
    assert added["P001"].name == "A"
    assert added["P001"].geometry.area == pytest.approx(2 * CELL, rel=1e-9)
    assert added["P006"].name == "A-1"
    assert added["P006"].geometry.area == pytest.approx(1 * CELL, rel=1e-9)
    assert added["P006"].replaces == (11,)
    after = assert_tiles_like_before(ctx, pr)
    assert sorted(after["code"]) == ["P001", "P002", "P003", "P004", "P005", "P006"]
    assert P.validate(ctx, pr).ok


def test_split_crossing_a_shared_edge_gives_the_neighbour_the_vertex(ctx: P.PlanContext) -> None:
    # the line leaves A through its top edge at x=1.5, inside D's bottom edge
    pr = P.split(ctx, 11, LineString([pt(0.5, -0.3), pt(1.5, 1.3)]))
    assert 14 in pr.removed  # D gets the crossing point as a new vertex, nothing else
    d = by_code(pr)["P004"]
    assert d.geometry.area == pytest.approx(GRIDS[14][2].area, rel=1e-12)
    n_before = len(shapely.get_coordinates(GRIDS[14][2]))
    assert len(shapely.get_coordinates(d.geometry)) == n_before + 1
    assert_tiles_like_before(ctx, pr)


def test_split_with_a_line_that_misses_raises(ctx: P.PlanContext) -> None:
    with pytest.raises(GeometryError, match="does not cut"):
        P.split(ctx, 11, LineString([pt(0.3, 0.3), pt(0.6, 0.6)]))
    with pytest.raises(GeometryError, match="does not cut"):  # entirely outside the grid
        P.split(ctx, 11, LineString([pt(0.5, 1.5), pt(0.5, 2.5)]))


def test_split_line_ends_short_of_the_boundary_get_extended(ctx: P.PlanContext) -> None:
    # ends stop 0.04 units (≈4.4 m) short of the bottom and top edges
    line = LineString([pt(1, 0.04), pt(1, 0.96)])
    pr = P.split(ctx, 11, line)  # snap_m=2 → extended by 10 m
    assert len(pr.added) == 2
    assert_tiles_like_before(ctx, pr)
    with pytest.raises(GeometryError, match="does not cut"):
        P.split(ctx, 11, line, snap_m=0.5)  # extended by 2.5 m only


def test_split_end_near_a_corner_snaps_onto_it(ctx: P.PlanContext) -> None:
    # the line ends ≈1.4 m from A's corner (3,1), beyond A: it snaps onto the corner, so the
    # small part is the exact triangle and D (above) gets no new vertex
    pr = P.split(ctx, 11, LineString([pt(2, -0.3), pt(2.99, 1.01)]))
    small = by_code(pr)["P006"].geometry
    assert small.area == pytest.approx(0.5 * (1 - 0.3 / 1.3) * CELL, rel=1e-9)
    assert len(shapely.get_coordinates(small)) == 4  # closed triangle
    assert pr.removed == (11,)
    assert_tiles_like_before(ctx, pr)
    # with a tiny snap distance the same line cuts a sliver of D's edge: D gains a vertex
    pr = P.split(ctx, 11, LineString([pt(2, -0.3), pt(2.99, 1.01)]), snap_m=0.1)
    assert 14 in pr.removed
    assert_tiles_like_before(ctx, pr)


# --- merge -----------------------------------------------------------------------------------


def test_merge_of_neighbours_keeps_code_of_largest(ctx: P.PlanContext) -> None:
    pr = P.merge(ctx, [14, 11, 13])
    assert pr.kind == "merge"
    assert set(pr.removed) == {11, 13, 14}
    assert len(pr.added) == 1
    merged = pr.added[0]
    assert (merged.code, merged.name) == ("P001", "A")  # A has 3 cells, C and D have 2
    assert set(merged.replaces) == {11, 13, 14}
    assert merged.geometry.geom_type == "Polygon"
    assert merged.geometry.area == pytest.approx(7 * CELL, rel=1e-9)
    assert_tiles_like_before(ctx, pr)


def test_merge_of_non_neighbours_raises(ctx: P.PlanContext) -> None:
    with pytest.raises(GeometryError, match="connected"):
        P.merge(ctx, [12, 13])  # B and C share no edge
    with pytest.raises(GeometryError, match="at least two"):
        P.merge(ctx, [12, 12])
    with pytest.raises(GeometryError, match="not a current grid"):
        P.merge(ctx, [12, 999])


# --- reshape ---------------------------------------------------------------------------------


def test_reshape_with_adjust_neighbours_keeps_tiling(ctx: P.PlanContext) -> None:
    # D grows into the blank cell (3,1) and down into A and B by half a cell
    pr = P.reshape(ctx, 14, poly((1, 0.5), (4, 0.5), (4, 2), (1, 2)))
    assert pr.kind == "edit"
    assert set(pr.removed) == {11, 12, 14}
    assert pr.versions == {11: 1, 12: 1, 14: 3}
    added = by_code(pr)
    assert set(added) == {"P001", "P002", "P004"}  # neighbours are new versions, same codes
    assert added["P001"].geometry.area == pytest.approx(2 * CELL, rel=1e-9)
    assert added["P002"].geometry.area == pytest.approx(0.5 * CELL, rel=1e-9)
    assert added["P004"].geometry.area == pytest.approx(4.5 * CELL, rel=1e-9)
    assert set(added["P004"].replaces) == {14, 11, 12}
    after = after_of(ctx, pr)
    assert shapely.coverage_is_valid(after.geometry.values)
    # the blank cell (3,1) is now D's: the grids cover one more cell than before
    before_area = shapely.union_all(ctx.units.geometry.values).area
    assert shapely.union_all(after.geometry.values).area == pytest.approx(before_area + CELL)
    assert dict(zip(after["code"], after["version"], strict=True))["P004"] == 4
    v = P.validate(ctx, pr)
    assert v.ok, [p.message for p in v.introduced]


def test_reshape_without_adjust_neighbours_introduces_an_overlap(ctx: P.PlanContext) -> None:
    pr = P.reshape(ctx, 14, poly((1, 0.5), (4, 0.5), (4, 2), (1, 2)), adjust_neighbours=False)
    assert pr.removed == (14,)
    v = P.validate(ctx, pr)
    assert not v.ok
    kinds = Counter(p.kind for p in v.introduced if p.severity == "error")
    assert kinds["overlap"] == 2  # with A and with B
    assert not v.existing or all(p.kind == "gap" for p in v.existing)


def test_reshape_gives_up_a_piece_to_the_longest_border(ctx: P.PlanContext) -> None:
    # D keeps x ≥ 1.5; the piece [1,1.5]×[1,2] borders C for 1 unit, A and E for 0.5 each
    pr = P.reshape(ctx, 14, poly((1.5, 1), (3, 1), (3, 2), (1.5, 2)))
    # A and E only gain the vertices where D's new edge x=1.5 meets theirs
    assert set(pr.removed) == {11, 13, 14, 15}
    added = by_code(pr)
    assert added["P001"].geometry.area == pytest.approx(3 * CELL, rel=1e-9)
    assert added["P005"].geometry.area == pytest.approx(2 * CELL, rel=1e-9)
    assert added["P003"].geometry.area == pytest.approx(2.5 * CELL, rel=1e-9)
    assert 14 in added["P003"].replaces
    assert_tiles_like_before(ctx, pr)


def test_reshape_piece_touching_no_sibling_becomes_a_gap(ctx: P.PlanContext) -> None:
    d = GRIDS[14][2]
    hole = poly((1.5, 1.3), (2.5, 1.3), (2.5, 1.7), (1.5, 1.7))
    pr = P.reshape(ctx, 14, d.difference(hole))
    assert pr.removed == (14,)
    before_area = shapely.union_all(ctx.units.geometry.values).area
    after = after_of(ctx, pr)
    assert shapely.union_all(after.geometry.values).area == pytest.approx(
        before_area - 0.4 * CELL, rel=1e-9
    )
    v = P.validate(ctx, pr)
    assert v.ok  # gaps are warnings: blank areas are allowed
    assert [p.kind for p in v.introduced] == ["gap"]


def test_reshape_snaps_vertices_near_neighbour_boundaries(ctx: P.PlanContext) -> None:
    # D's right edge redrawn 1 m short of x=3 (inside D): it snaps back onto x=3
    off = 1.0 / (111_320 * np.cos(np.radians(40)))  # 1 m in degrees of longitude
    x3 = 3 - off / U
    pr = P.reshape(ctx, 14, poly((1, 1), (x3, 1), (x3, 2), (1, 2)))
    assert pr.removed == () and pr.added == ()  # snapped back: nothing changes
    pr = P.reshape(ctx, 14, poly((1, 1), (x3, 1), (x3, 2), (1, 2)), snap_m=0.1)
    shrunk = by_code(pr)["P004"].geometry.area
    assert shrunk == pytest.approx(2 * CELL * (1 - off / (2 * U)), rel=1e-6)  # no snap


def test_drawing_outside_the_parent_is_an_outside_parent_error(ctx: P.PlanContext) -> None:
    pr = P.reshape(ctx, 12, poly((3, 0), (4.5, 0), (4.5, 1), (3, 1)))
    v = P.validate(ctx, pr)
    assert not v.ok
    outside = [p for p in v.introduced if p.kind == "outside_parent"]
    assert len(outside) == 1 and outside[0].severity == "error"
    assert outside[0].area_m2 == pytest.approx(0.5 * 85.4 * 111.0, rel=0.05)


# --- create ----------------------------------------------------------------------------------


def test_create_in_a_blank_area_is_clipped_to_parent_minus_grids(ctx: P.PlanContext) -> None:
    pr = P.create(ctx, poly((2.5, 0.5), (4.5, 0.5), (4.5, 2.6), (2.5, 2.6)), name="新区")
    assert pr.kind == "create"
    new = by_code(pr)["P006"]
    assert new.name == "新区" and new.replaces == ()
    # blank (3,1)-(4,3) cut at y=2.6; nothing outside the parent, nothing over D, E, A, B
    assert new.geometry.area == pytest.approx(1.6 * CELL, rel=1e-9)
    assert shapely.covers(PARENT, new.geometry)
    for _, _, g in GRIDS.values():
        assert shapely.intersection(g, new.geometry).area < 1e-15
    assert set(pr.removed) <= {14, 15}  # neighbours only gain shared vertices
    after = after_of(ctx, pr)
    assert shapely.coverage_is_valid(after.geometry.values)
    assert P.validate(ctx, pr).ok


def test_create_over_existing_grids_only_raises(ctx: P.PlanContext) -> None:
    with pytest.raises(GeometryError, match="no blank area"):
        P.create(ctx, poly((0.2, 0.2), (2.8, 0.2), (2.8, 1.8), (0.2, 1.8)))
    with pytest.raises(GeometryError, match="no blank area"):  # outside the parent
        P.create(ctx, poly((5, 0), (6, 0), (6, 1), (5, 1)))
    with pytest.raises(GeometryError, match="already used"):
        P.create(ctx, poly((3, 1), (4, 1), (4, 2), (3, 2)), code="P002")


def test_create_in_a_hole_of_the_parent_grids() -> None:
    # the parent's middle is not covered by any grid: a ring of grids around a hole
    ring = {
        21: ("Q001", "R1", cells((0, 0), (1, 0), (2, 0))),
        22: ("Q002", "R2", cells((0, 1), (0, 2))),
        23: ("Q003", "R3", cells((2, 1), (2, 2), (1, 2))),
    }
    c = make_ctx(ring, cells(*[(i, j) for i in range(3) for j in range(3)]))
    pr = P.create(c, poly((0.5, 0.5), (2.5, 0.5), (2.5, 2.5), (0.5, 2.5)))
    new = pr.added[-1]
    assert new.geometry.area == pytest.approx(CELL, rel=1e-9)  # exactly the hole (1,1)
    assert shapely.coverage_is_valid(P.apply(c, pr).geometry.values)


# --- validate --------------------------------------------------------------------------------


def test_validate_separates_existing_from_introduced_problems() -> None:
    grids = dict(GRIDS)
    # E already overlaps D by a strip (an existing problem)
    grids[15] = ("P005", "E", cells((1, 2), (2, 2)).union(poly((1, 1.8), (3, 1.8), (3, 2), (1, 2))))
    c = make_ctx(grids)
    pr = P.split(c, 11, LineString([pt(1, -0.2), pt(1, 1.2)]))
    v = P.validate(c, pr)
    assert v.ok
    assert [p.kind for p in v.existing if p.severity == "error"] == ["overlap"]
    assert not [p for p in v.introduced if p.severity == "error"]
    # a new overlap elsewhere is introduced even though an old one exists
    pr2 = P.reshape(c, 12, poly((2.5, 0), (4, 0), (4, 1), (2.5, 1)), adjust_neighbours=False)
    v2 = P.validate(c, pr2)
    assert not v2.ok
    assert [p.kind for p in v2.introduced if p.severity == "error"] == ["overlap"]
    assert [p.kind for p in v2.existing if p.severity == "error"] == ["overlap"]


def test_validate_flags_codes_stale_ids_and_non_polygons(ctx: P.PlanContext) -> None:
    dup = P.Proposal(1, "import", (11,), (P.NewUnit("P002", "x", GRIDS[11][2], (11,)),))
    v = P.validate(ctx, dup)
    assert not v.ok and [p.kind for p in v.introduced] == ["duplicate_code"]
    stale = P.Proposal(1, "edit", (999,), ())
    assert [p.kind for p in P.validate(ctx, stale).introduced] == ["not_current"]
    line = P.Proposal(1, "edit", (12,), (P.NewUnit("P002", "B", LineString([pt(3, 0), pt(4, 1)])),))
    v = P.validate(ctx, line)
    assert not v.ok and "invalid" in [p.kind for p in v.introduced]
    bowtie = poly((3, 0), (4, 1), (4, 0), (3, 1))
    v = P.validate(ctx, P.Proposal(1, "edit", (12,), (P.NewUnit("P002", "B", bowtie, (12,)),)))
    assert not v.ok and "invalid" in [p.kind for p in v.introduced]


# --- successors, assign, impact --------------------------------------------------------------


def test_successors_for_split_merge_and_replacement(ctx: P.PlanContext) -> None:
    sp = P.split(ctx, 11, LineString([pt(1, -0.2), pt(1, 1.2)]))
    assert P.successors(ctx, sp) == {11: "P001"}
    mg = P.merge(ctx, [11, 14])
    assert P.successors(ctx, mg) == {11: "P001", 14: "P001"}
    # D retired into two new codes: the larger overlap carries it on; E replaced by nothing
    d = GRIDS[14][2]
    left, right = poly((1, 1), (1.4, 1), (1.4, 2), (1, 2)), poly((1.4, 1), (3, 1), (3, 2), (1.4, 2))
    pr = P.Proposal(
        1,
        "import",
        (14, 15),
        (P.NewUnit("P010", "x", d.intersection(left), (14,)),
         P.NewUnit("P011", "y", d.intersection(right), (14,))),
    )
    assert P.successors(ctx, pr) == {14: "P011", 15: None}


def test_assign_shared_edge_goes_to_lowest_code() -> None:
    units = [
        P.NewUnit("B2", "b", cells((1, 0))),
        P.NewUnit("A9", "a", cells((0, 0))),
    ]
    xy = np.array([pt(1, 0.5), pt(0.5, 0.5), pt(1.5, 0.5), pt(5, 5), pt(1, 1)])
    assert list(P.assign(units, xy)) == ["A9", "A9", "B2", None, "A9"]
    frame = gpd.GeoDataFrame({"code": ["B2", "A9"]}, geometry=[u.geometry for u in units])
    assert list(P.assign(frame, xy)) == ["A9", "A9", "B2", None, "A9"]
    assert P.assign(units, np.zeros((0, 2))).shape == (0,)


def test_impact_counts_before_and_after(ctx: P.PlanContext) -> None:
    # households: 3 in A's left cell, 5 in A's two right cells, 2 in B (untouched), 1 blank
    hh_xy = np.array(
        [pt(0.5, 0.5)] * 3 + [pt(1.5, 0.5), pt(2.5, 0.5), pt(2.2, 0.2), pt(1.1, 0.9), pt(2.9, 0.1)]
        + [pt(3.5, 0.5)] * 2 + [pt(3.5, 1.5)]
    )
    hh = P.PointSet(hh_xy, np.array([11] * 8 + [12] * 2 + [-1]), weight=np.arange(1.0, 12.0))
    cams = P.PointSet(np.array([pt(0.2, 0.2), pt(2.5, 0.5)]), np.array([11, 11]))
    inc = P.PointSet(
        np.array([pt(0.7, 0.3), pt(2.0, 0.5), pt(3.5, 1.2)]),
        np.array([11, 11, -1]),
        ids=np.array([501, 502, 503]),
    )
    pr = P.split(ctx, 11, LineString([pt(1, -0.2), pt(1, 1.2)]))
    im = P.impact(ctx, pr, households=hh, cameras=cams, incidents=inc, workers={11: 2, 12: 1},
                  band=(2, 4))
    units = {u.code: u for u in im.units}
    assert set(units) == {"P001", "P006"}
    a, new = units["P001"], units["P006"]
    assert (a.status, a.old_id, new.status, new.old_id) == ("changed", 11, "new", None)
    assert a.before == {"households": 8, "persons": 36, "cameras": 2, "workers": 2,
                        "open_incidents": 2}
    assert a.after == {"households": 5, "persons": 30, "cameras": 1, "workers": 2,
                       "open_incidents": 1}
    assert new.before == dict.fromkeys(P.MEASURES, 0)
    assert new.after == {"households": 3, "persons": 6, "cameras": 1, "workers": 0,
                         "open_incidents": 1}
    assert (a.band, new.band) == ("over", "within")
    assert im.moved_incidents == [(501, 11, "P006")]
    assert im.unassigned == {"households": 1, "cameras": 0, "incidents": 1}

    # a new grid over the blank area picks up the blank household and incident
    cr = P.create(ctx, poly((3, 1), (4, 1), (4, 3), (3, 3)))
    im2 = P.impact(ctx, cr, households=hh, cameras=cams, incidents=inc, workers={}, band=(1, 5))
    new2 = {u.code: u for u in im2.units}["P006"]
    assert new2.after["households"] == 1 and new2.after["persons"] == 11
    assert im2.moved_incidents == [(503, None, "P006")]
    assert im2.unassigned == {"households": 0, "cameras": 0, "incidents": 0}

    # merge retires D and E's codes disappear into A's
    mg = P.merge(ctx, [11, 12])
    im3 = P.impact(ctx, mg, households=hh, cameras=cams, incidents=inc, workers={11: 2, 12: 1},
                   band=(1, 20))
    u3 = {u.code: u for u in im3.units}
    assert u3["P002"].status == "retired" and u3["P002"].after == dict.fromkeys(P.MEASURES, 0)
    assert u3["P001"].after["households"] == 10 and u3["P001"].after["workers"] == 3


def test_band_status_and_band_for() -> None:
    assert P.band_status(299, (300, 500)) == "under"
    assert P.band_status(300, (300, 500)) == "within"
    assert P.band_status(500, (300, 500)) == "within"
    assert P.band_status(501, (300, 500)) == "over"
    urban, rural = (300, 500), (100, 300)
    assert P.band_for("幸福社区", urban, rural) == urban
    assert P.band_for("东关居委会", urban, rural) == urban
    assert P.band_for("王家村", urban, rural) == rural
    assert P.band_for("社区村", urban, rural) == rural


# --- suggest_split, next_code ----------------------------------------------------------------


def test_suggest_split_is_balanced_and_tiles(ctx: P.PlanContext) -> None:
    rng = np.random.default_rng(7)
    n = 2000
    # clustered: a dense spot in A's left cell plus a uniform background
    dense = np.column_stack([rng.normal(0.5, 0.15, n // 2), rng.normal(0.5, 0.15, n // 2)])
    flat = np.column_stack([rng.uniform(0, 3, n // 2), rng.uniform(0, 1, n // 2)])
    uv = np.vstack([dense, flat])
    uv = uv[(uv[:, 0] > 0) & (uv[:, 0] < 3) & (uv[:, 1] > 0) & (uv[:, 1] < 1)]
    xy = np.column_stack([LON0 + uv[:, 0] * U, LAT0 + uv[:, 1] * U])
    hh = P.PointSet(xy, np.full(len(xy), 11))
    for k in (2, 3, 4, 6):
        pr = P.suggest_split(ctx, 11, hh, k)
        assert pr.kind == "suggest"
        parts = [a for a in pr.added if 11 in a.replaces and a.code not in ("P002", "P003",
                                                                            "P004", "P005")]
        assert len(parts) == k
        counts = Counter(P.assign(pr.added, xy))
        mean = len(xy) / k
        got = [counts[a.code] for a in parts]
        assert sum(got) == len(xy)
        assert max(abs(c - mean) for c in got) <= 0.25 * mean, got
        assert_tiles_like_before(ctx, pr)
        assert all(a.geometry.geom_type == "Polygon" for a in parts)  # compact, one piece each


def test_suggest_split_without_households_balances_area(ctx: P.PlanContext) -> None:
    pr = P.suggest_split(ctx, 11, P.PointSet(np.zeros((0, 2)), np.zeros(0, dtype=int)), 3)
    areas = sorted(a.geometry.area for a in pr.added if a.code not in ("P002", "P003", "P004"))
    assert len(areas) == 3 and max(areas) / min(areas) < 1.6
    assert "area" in pr.note
    assert_tiles_like_before(ctx, pr)
    with pytest.raises(GeometryError):
        P.suggest_split(ctx, 11, P.PointSet(np.zeros((0, 2)), np.zeros(0)), 1)


def test_next_code_is_unique(ctx: P.PlanContext) -> None:
    assert P.next_code(ctx) == "P006"
    assert P.next_code(ctx, {"P006"}) == "P007"
    assert P.next_code(ctx, {"P006", "P009"}) == "P010"
    codes = set(ctx.units["code"])
    taken: set[str] = set()
    for _ in range(20):
        c = P.next_code(ctx, taken)
        assert c not in codes and c not in taken and c.startswith("P")
        taken.add(c)
    # split parts never share a code, also with several parts at once
    pr = P.suggest_split(ctx, 11, P.PointSet(np.zeros((0, 2)), np.zeros(0)), 4)
    new_codes = [a.code for a in pr.added]
    assert len(new_codes) == len(set(new_codes))


def test_codes_of_retired_grids_are_not_handed_out_again(ctx: P.PlanContext) -> None:
    """A code names one grid through its versions: a retired grid's code stays retired."""
    old = P.PlanContext(ctx.parent_id, ctx.parent_code, ctx.parent_name, ctx.parent_geometry,
                        ctx.units, frozenset({"P006", "P007"}))
    assert P.next_code(old) == "P008"
    split = P.split(old, 11, LineString([pt(1, -0.2), pt(1, 1.2)]))
    assert {a.code for a in split.added} == {"P001", "P008"}
    assert P.applied(old, split).retired_codes == old.retired_codes


# --- a realistic village: wiggly grids, thousands of points ----------------------------------


@pytest.fixture(scope="module")
def village() -> tuple[P.PlanContext, np.ndarray, np.ndarray]:
    u = make_units(60, seed=3, center=(116.0, 40.0), grids_per_community=10)
    comm = u[u.level == 2].iloc[0]
    kids = u[u.parent_id == comm.id].reset_index(drop=True)
    kids = kids.assign(name=kids["code"], version=1)[["id", "code", "name", "version", "geometry"]]
    c = P.PlanContext(int(comm.id), str(comm.code), "某社区", comm.geometry, kids)
    x, y = make_points(u[u.level >= 2], 20_000, seed=1, outside_fraction=0)
    xy = np.column_stack([x, y])[shapely.intersects_xy(comm.geometry, x, y)][:5000]
    ids = dict(zip(kids["code"], kids["id"], strict=True))
    gid = np.array([ids.get(code, -1) for code in P.assign(kids, xy)], dtype=np.int64)
    return c, xy, gid


def test_village_edits_keep_a_valid_coverage(village) -> None:
    c, xy, gid = village
    assert len(c.units) >= 8 and shapely.coverage_is_valid(c.units.geometry.values)
    big = int(Counter(gid.tolist()).most_common(1)[0][0])
    g = c.units.set_index("id").geometry[big]
    b, mid = g.bounds, g.centroid
    sp = P.split(c, big, LineString([(b[0] - 1e-4, mid.y), (b[2] + 1e-4, mid.y)]))
    assert_tiles_like_before(c, sp)
    hh = P.PointSet(xy, gid)
    sg = P.suggest_split(c, big, hh, 4)
    assert_tiles_like_before(c, sg)
    counts = Counter(P.assign(sg.added, xy[gid == big]))
    mean = (gid == big).sum() / 4
    assert max(abs(v - mean) for v in counts.values()) <= 0.25 * mean
    # move one vertex of the grid a little inward: neighbours absorb it, still a tiling
    shell = np.asarray(shapely.get_exterior_ring(shapely.get_geometry(g, 0)).coords)
    i = len(shell) // 2
    moved = shell.copy()
    moved[i] = shell[i] + (np.asarray(mid.coords[0]) - shell[i]) * 0.2
    rs = P.reshape(c, big, Polygon(moved))
    assert big in rs.removed
    after = P.apply(c, rs)
    assert shapely.coverage_is_valid(after.geometry.values)
    assert shapely.union_all(after.geometry.values).area == pytest.approx(
        shapely.union_all(c.units.geometry.values).area, rel=1e-9
    )
    assert P.validate(c, rs).ok


def test_village_validate_and_impact_account_for_every_point(village) -> None:
    c, xy, gid = village
    big = int(Counter(gid.tolist()).most_common(1)[0][0])
    hh = P.PointSet(xy, gid, weight=np.full(len(xy), 3.0))
    inc = P.PointSet(xy[::10], gid[::10], ids=np.arange(len(xy[::10])))
    pr = P.suggest_split(c, big, hh, 3)
    kw = {"households": hh, "cameras": hh, "incidents": inc, "workers": {big: 2}, "band": (1, 9)}
    v = P.validate(c, pr)  # speed: bench/planner.py, not a test
    im = P.impact(c, pr, **kw)
    assert v.ok
    moved_hh = sum(u.after["households"] for u in im.units)
    touched = int(np.isin(gid, [*pr.removed, -1]).sum())
    assert moved_hh + im.unassigned["households"] == touched
    assert im.unassigned["households"] == int((gid == -1).sum())
    assert sum(u.after["workers"] for u in im.units) == 2


# --- editing a proposal further (applied + compose) ------------------------------------------


def test_a_suggested_split_edited_further_is_one_proposal(ctx: P.PlanContext) -> None:
    """Accept-or-edit: split A in three, then merge two of the parts: one change from the
    current grids, A retired once, what the pair replaces points at the real grid ids."""
    rng = np.random.default_rng(3)
    uv = np.column_stack([rng.uniform(0, 3, 600), rng.uniform(0, 1, 600)])
    xy = np.column_stack([LON0 + uv[:, 0] * U, LAT0 + uv[:, 1] * U])
    first = P.suggest_split(ctx, 11, P.PointSet(xy, np.full(len(xy), 11)), 3)
    step = P.applied(ctx, first)
    parts = [int(i) for i, c in zip(step.units["id"], step.units["code"], strict=True)
             if i < 0 and c not in ("P002", "P003", "P004", "P005")]
    assert len(parts) == 3
    areas = {int(i): g.area for i, g in zip(step.units["id"], step.units.geometry, strict=True)}
    pair = None
    for a in parts:  # two parts that share an edge
        for b in parts:
            ga = step.units.set_index("id").loc[a].geometry
            gb = step.units.set_index("id").loc[b].geometry
            if a < b and shapely.length(shapely.intersection(ga.boundary, gb.boundary)) > 0:
                pair = (a, b)
    assert pair is not None
    second = P.merge(step, list(pair))
    both = P.compose(ctx, first, second)
    assert all(i > 0 for i in both.removed) and 11 in both.removed
    assert all(r > 0 for u in both.added for r in u.replaces)
    assert len({u.code for u in both.added}) == len(both.added)  # codes stay unique
    after = assert_tiles_like_before(ctx, both)
    a_parts = [g.area for c, g in zip(after["code"], after.geometry, strict=True)
               if c not in ("P002", "P003", "P004", "P005")]
    assert len(a_parts) == 2  # three parts, two of them merged
    assert sum(a_parts) == pytest.approx(3 * CELL, rel=1e-9)
    assert max(a_parts) == pytest.approx(areas[pair[0]] + areas[pair[1]], rel=1e-9)
    assert P.validate(ctx, both).ok
    assert both.versions[11] == 1


def test_compose_refuses_unknown_temporary_ids(ctx: P.PlanContext) -> None:
    first = P.split(ctx, 11, LineString([pt(1, -0.2), pt(1, 1.2)]))
    bogus = P.Proposal(1, "merge", (-9,), ())
    with pytest.raises(GeometryError):
        P.compose(ctx, first, bogus)
