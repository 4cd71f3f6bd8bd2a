"""Saving grid plans against the real PostGIS: versions, reassignment equal to the preview,
all-or-nothing, optimistic locking (sequential and concurrent), history and time travel.

The built-in sample units are rectangles: village 620981900001001 (lon 97.00-97.06, lat
40.25-40.29) holds grids …001 (97.00-97.02), …002 (97.02-97.04) and …003 (97.04-97.06).
Proposals are built by hand from those rectangles so that these tests do not depend on the
drawing tools, only on the contract of :mod:`geo.planning` (validate, assign, successors,
impact).  Most tests run in a rolled-back transaction (``conn``); the concurrency tests
commit, in a database of their own.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from shapely.geometry import Point, box
from sqlalchemy import Connection, text

from geo import planning as gp
from geo.planning import NewUnit, Proposal
from store import planning, wall
from store.planning import PlanConflict, PlanError
from tests.helpers import fresh_demo_database, sibling_database

pytestmark = pytest.mark.db

COUNTY = "620981900"
T1 = f"{COUNTY}001"
V11, V12 = f"{T1}001", f"{T1}002"
V22 = f"{COUNTY}002002"
G111, G112, G113 = f"{V11}001", f"{V11}002", f"{V11}003"
NEW = f"{V11}004"
CUT = 97.01  # splits G111 into a west and an east half
PAST = datetime(2020, 1, 1, tzinfo=UTC)
TABLES = ("unit", "household", "camera", "grid_worker", "incident", "incident_event",
          "unit_change")


# --- helpers ---------------------------------------------------------------------------------
def unit_ids(conn: Connection) -> dict[str, int]:
    return dict(conn.execute(text("SELECT code, id FROM unit WHERE valid_to IS NULL")).all())


def backdate(conn: Connection, parent_code: str, when: datetime = PAST) -> None:
    """Let the parent's grids start long ago, so a test can save at chosen past times."""
    conn.execute(text("UPDATE unit SET valid_from = :w WHERE parent_id = "
                      "(SELECT id FROM unit WHERE code = :c AND valid_to IS NULL)"),
                 {"w": when, "c": parent_code})


def split_g111(ctx: gp.PlanContext, cut: float = CUT, new_code: str = NEW) -> Proposal:
    """G111 cut at ``cut``: the west part keeps the code (next version), the east is new."""
    row = ctx.units.set_index("code").loc[G111]
    geom = row.geometry
    minx, miny, maxx, maxy = geom.bounds
    west = geom.intersection(box(minx - 1, miny - 1, cut, maxy + 1))
    east = geom.difference(west)
    gid = int(row["id"])
    return Proposal(parent_id=ctx.parent_id, kind="split", removed=(gid,),
                    added=(NewUnit(G111, row["name"], west, (gid,)),
                           NewUnit(new_code, f"{row['name']}-1", east, (gid,))),
                    versions={gid: int(row["version"])})


def merge_g112_g113(ctx: gp.PlanContext) -> Proposal:
    units = ctx.units.set_index("code")
    a, b = units.loc[G112], units.loc[G113]
    ids = (int(a["id"]), int(b["id"]))
    return Proposal(parent_id=ctx.parent_id, kind="merge", removed=ids,
                    added=(NewUnit(G112, a["name"], a.geometry.union(b.geometry), ids),),
                    versions={ids[0]: int(a["version"]), ids[1]: int(b["version"])})


def add_household(conn: Connection, code: str, lon: float, lat: float, grid: int | None,
                  size: int = 2) -> int:
    return conn.scalar(text("""
        INSERT INTO household (code, geom, address, size, grid_id)
        VALUES (:c, ST_SetSRID(ST_MakePoint(:x, :y), 4326), :a, :s, :g) RETURNING id"""),
        {"c": code, "a": f"地址{code}", "x": lon, "y": lat, "s": size, "g": grid})


def add_camera(conn: Connection, code: str, lon: float, lat: float, grid: int | None) -> int:
    return conn.scalar(text("""
        INSERT INTO camera (code, name, geom, kind, grid_id)
        VALUES (:c, :n, ST_SetSRID(ST_MakePoint(:x, :y), 4326), 'xueliang', :g) RETURNING id"""),
        {"c": code, "n": f"摄像头{code}", "x": lon, "y": lat, "g": grid})


def add_incident(conn: Connection, ext: str, lon: float | None, lat: float | None,
                 grid: int | None, *, closed: bool = False) -> int:
    return conn.scalar(text("""
        INSERT INTO incident (source, external_id, category, geom, status, grid_id, closed_at)
        VALUES ('other', :e, '测试',
                CASE WHEN CAST(:x AS float8) IS NULL THEN NULL
                     ELSE ST_SetSRID(ST_MakePoint(:x, :y), 4326) END,
                :s, :g, CASE WHEN :closed THEN now() END) RETURNING id"""),
        {"e": ext, "x": lon, "y": lat, "g": grid, "closed": closed,
         "s": "closed" if closed else "received"})


def add_worker(conn: Connection, code: str, grid: int | None) -> int:
    return conn.scalar(text("INSERT INTO grid_worker (code, name, grid_id) "
                            "VALUES (:c, :n, :g) RETURNING id"),
                       {"c": code, "n": f"网格员{code}", "g": grid})


def snapshot(conn: Connection) -> dict[str, tuple]:
    """A fingerprint of every table a save writes (content, not just counts)."""
    return {t: tuple(conn.execute(text(
        f"SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x.id), '')) "
        f"FROM {t} x")).one()) for t in TABLES}


@pytest.fixture()
def world(conn: Connection) -> dict:
    """Points in and around G111 and G112 (the rolled-back transaction of ``conn``)."""
    ids = unit_ids(conn)
    g1, g2 = ids[G111], ids[G112]
    rng = np.random.default_rng(7)
    hh = []
    for k, (x, y) in enumerate(zip(rng.uniform(97.0005, 97.0195, 60),
                                   rng.uniform(40.2505, 40.2895, 60), strict=True)):
        hh.append(add_household(conn, f"H{k}", float(x), float(y), g1, size=1 + k % 4))
    hh.append(add_household(conn, "H-on-cut", CUT, 40.27, g1))
    hh.append(add_household(conn, "H-G112", 97.03, 40.27, g2))
    hh.append(add_household(conn, "H-null-in", 97.015, 40.26, None))      # in the east half
    hh.append(add_household(conn, "H-null-out", 97.5, 40.5, None))        # far away
    cams = [add_camera(conn, "C-west", 97.005, 40.26, g1),
            add_camera(conn, "C-east", 97.015, 40.28, g1),
            add_camera(conn, "C-null", 97.016, 40.281, None)]
    inc = {
        "open-west": add_incident(conn, "open-west", 97.005, 40.27, g1),
        "open-east": add_incident(conn, "open-east", 97.015, 40.27, g1),
        "open-east2": add_incident(conn, "open-east2", 97.019, 40.255, g1),
        "closed-east": add_incident(conn, "closed-east", 97.015, 40.27, g1, closed=True),
        "open-null-in": add_incident(conn, "open-null-in", 97.012, 40.28, None),
        "unlocated": add_incident(conn, "unlocated", None, None, g1),
        "open-g112": add_incident(conn, "open-g112", 97.03, 40.27, g2),
    }
    workers = [add_worker(conn, "W1", g1), add_worker(conn, "W2", g1), add_worker(conn, "W3", g2)]
    return {"ids": ids, "households": hh, "cameras": cams, "incidents": inc,
            "workers": workers, "parent": ids[V11]}


def preview(conn: Connection, ctx: gp.PlanContext, proposal: Proposal) -> gp.Impact:
    pts = planning.plan_points(conn, proposal)
    return gp.impact(ctx, proposal, households=pts["households"], cameras=pts["cameras"],
                     incidents=pts["incidents"], workers=pts["workers"], band=(20, 40))


def counts_by_code(conn: Connection) -> dict[str, dict[str, int]]:
    """Households, persons, cameras, workers and open incidents per current grid code."""
    out: dict[str, dict[str, int]] = {}
    for key, sql in {
        "households": "SELECT u.code, count(*) FROM household h JOIN unit u ON u.id = h.grid_id",
        "persons": "SELECT u.code, sum(h.size) FROM household h JOIN unit u ON u.id = h.grid_id",
        "cameras": "SELECT u.code, count(*) FROM camera c JOIN unit u ON u.id = c.grid_id",
        "workers": "SELECT u.code, count(*) FROM grid_worker w JOIN unit u ON u.id = w.grid_id",
        "open_incidents": "SELECT u.code, count(*) FROM incident i JOIN unit u "
                          "ON u.id = i.grid_id AND i.closed_at IS NULL AND i.geom IS NOT NULL",
    }.items():
        for code, n in conn.execute(text(sql + " WHERE u.valid_to IS NULL GROUP BY u.code")):
            out.setdefault(code, {})[key] = int(n)
    return out


# --- reading ---------------------------------------------------------------------------------
def test_plan_context_and_parent_of(conn):
    ids = unit_ids(conn)
    assert planning.parent_of(conn, ids[G111]) == ids[V11]
    ctx = planning.plan_context(conn, ids[V11])
    assert ctx.parent_code == V11 and ctx.parent_id == ids[V11]
    assert list(ctx.units["code"]) == [G111, G112, G113]
    assert set(ctx.units.columns) >= {"id", "code", "name", "version", "geometry"}
    assert (ctx.units["version"] == 1).all()
    assert ctx.units.union_all().symmetric_difference(ctx.parent_geometry).area < 1e-12

    with pytest.raises(PlanError, match="deepest level"):
        planning.plan_context(conn, ids[T1])  # a town: its children are villages
    with pytest.raises(PlanError, match="no parent"):
        planning.parent_of(conn, ids[COUNTY])
    with pytest.raises(PlanError, match="does not exist"):
        planning.plan_context(conn, 10**12)


def test_plan_points_take_removed_grids_and_unassigned_points_in_the_bbox(conn, world):
    ctx = planning.plan_context(conn, world["parent"])
    proposal = split_g111(ctx)
    pts = planning.plan_points(conn, proposal)
    g1 = world["ids"][G111]

    hh = pts["households"]
    assert len(hh.ids) == 62  # 61 of G111 + the unassigned one in the bbox
    assert set(hh.grid_id.tolist()) == {g1, -1}
    assert hh.weight is not None and len(hh.weight) == len(hh.ids)
    assert hh.xy.shape == (62, 2)
    # ids and positions line up with the rows
    i = int(np.flatnonzero(hh.grid_id == -1)[0])
    assert tuple(hh.xy[i]) == pytest.approx((97.015, 40.26))
    assert set(pts["cameras"].ids.tolist()) == set(world["cameras"])
    inc = world["incidents"]
    assert set(pts["incidents"].ids.tolist()) == {inc["open-west"], inc["open-east"],
                                                  inc["open-east2"], inc["open-null-in"]}
    assert pts["workers"] == {g1: 2}

    # the (removed_ids, bbox) form: no bbox → no unassigned points
    pts = planning.plan_points(conn, ([g1], None))
    assert set(pts["households"].grid_id.tolist()) == {g1}
    assert len(pts["incidents"].ids) == 3


# --- saving ----------------------------------------------------------------------------------
def test_save_split_matches_the_preview(conn, world):
    ids, inc = world["ids"], world["incidents"]
    ctx = planning.plan_context(conn, world["parent"])
    proposal = split_g111(ctx)
    impact = preview(conn, ctx, proposal)
    signature = wall.units_signature(conn)

    result = save_plan(conn, proposal, actor="张规划", note="拆分测试")

    assert set(result.added) == {G111, NEW}
    now_ids = unit_ids(conn)
    assert now_ids[G111] == result.added[G111] != ids[G111]
    assert now_ids[NEW] == result.added[NEW]
    old, new = planning.versions(conn, G111)
    assert (old["version"], new["version"]) == (1, 2)
    assert old["valid_to"] == new["valid_from"] == result.effective
    assert new["valid_to"] is None and new["parent_id"] == ids[V11] and new["level"] == 3
    assert new["area_m2"] == pytest.approx(old["area_m2"] / 2, rel=1e-3)
    assert planning.versions(conn, NEW)[0]["version"] == 1

    # The database now holds exactly what the preview said, code by code.
    found = counts_by_code(conn)
    for unit in impact.units:
        after = {k: v for k, v in unit.after.items() if v}
        got = {k: v for k, v in found.get(unit.code, {}).items() if v}
        if unit.status == "retired":
            assert unit.code not in found
        else:
            assert got == after, unit.code
    moved_ids = {i for i, _, _ in impact.moved_incidents}
    assert moved_ids == {inc["open-east"], inc["open-east2"], inc["open-null-in"]}
    assert result.moved["incidents_moved"] == len(impact.moved_incidents)
    assert result.unassigned["households"] == impact.unassigned.get("households", 0)

    # Closed incidents keep the grid they were handled in (that row still exists, retired).
    closed_grid = conn.scalar(text("SELECT grid_id FROM incident WHERE id = :i"),
                              {"i": inc["closed-east"]})
    assert closed_grid == ids[G111]
    assert conn.scalar(text("SELECT valid_to FROM unit WHERE id = :i"),
                       {"i": closed_grid}) == result.effective
    # Open ones moved, one 'reassign' event each naming old → new code.
    events = conn.execute(text("""
        SELECT incident_id, actor, note FROM incident_event WHERE action = 'reassign'
        ORDER BY incident_id""")).all()
    regridded = {inc[k] for k in ("open-west", "open-east", "open-east2", "open-null-in",
                                  "unlocated")}
    assert [e.incident_id for e in events] == sorted(regridded)
    assert {e.actor for e in events} == {"张规划"}
    note = {e.incident_id: e.note for e in events}
    assert f"{G111} v1 → {NEW} v1" in note[inc["open-east"]]
    assert f"{G111} v1 → {G111} v2" in note[inc["open-west"]]
    assert f"→ {NEW} v1" in note[inc["open-null-in"]]
    grid_of = dict(conn.execute(text("SELECT id, grid_id FROM incident")).all())
    assert grid_of[inc["open-east"]] == result.added[NEW]
    assert grid_of[inc["open-west"]] == result.added[G111]
    assert grid_of[inc["unlocated"]] == result.added[G111]  # successor: same code
    assert grid_of[inc["open-g112"]] == ids[G112]  # other grids untouched
    # Workers follow the successor (the kept code).
    workers = dict(conn.execute(text("SELECT code, grid_id FROM grid_worker")).all())
    assert workers == {"W1": result.added[G111], "W2": result.added[G111], "W3": ids[G112]}
    # The unassigned household outside the new grids stays unassigned.
    assert conn.scalar(text("SELECT grid_id FROM household WHERE code = 'H-null-out'")) is None
    assert conn.scalar(text("SELECT grid_id FROM household WHERE code = 'H-null-in'")) \
        == result.added[NEW]

    # The change log.
    (change,) = planning.history(conn, parent_id=ids[V11])
    assert change["id"] == result.change_id and change["actor"] == "张规划"
    assert change["kind"] == "split" and change["note"] == "拆分测试"
    assert change["removed_codes"] == [G111] and change["added_codes"] == [G111, NEW]
    assert change["effective_from"] == result.effective
    assert change["summary"]["households"] == result.moved["households"] == 62
    assert change["summary"]["workers"] == 2
    # The caches of the wall and intake see a new signature.
    assert wall.units_signature(conn) != signature


def test_merge_moves_workers_to_the_successor(conn, world):
    ids = world["ids"]
    add_worker(conn, "W4", ids[G113])
    add_household(conn, "H-G113", 97.05, 40.27, ids[G113])
    ctx = planning.plan_context(conn, world["parent"])
    proposal = merge_g112_g113(ctx)
    assert gp.successors(ctx, proposal) == {ids[G112]: G112, ids[G113]: G112}
    result = save_plan(conn, proposal, actor="李")
    assert set(result.added) == {G112}
    workers = dict(conn.execute(text("SELECT code, grid_id FROM grid_worker")).all())
    assert workers["W3"] == workers["W4"] == result.added[G112]
    assert result.moved["workers"] == 2
    assert G113 not in unit_ids(conn)
    (v,) = planning.versions(conn, G113)
    assert v["valid_to"] == result.effective
    households = dict(conn.execute(text(
        "SELECT code, grid_id FROM household WHERE code IN ('H-G112', 'H-G113')")).all())
    assert set(households.values()) == {result.added[G112]}
    # the merged-away code stays retired: the next new grid of the parent gets another
    after = planning.plan_context(conn, world["parent"])
    assert G113 in after.retired_codes and G112 not in after.retired_codes
    assert gp.next_code(after) != G113


def test_removing_a_grid_leaves_its_points_in_no_grid(conn, world):
    ids = world["ids"]
    ctx = planning.plan_context(conn, world["parent"])
    gid = ids[G112]
    proposal = Proposal(parent_id=ctx.parent_id, kind="edit", removed=(gid,), added=(),
                        versions={gid: 1})
    result = save_plan(conn, proposal, actor="王")
    assert result.added == {}
    assert conn.scalar(text("SELECT grid_id FROM household WHERE code = 'H-G112'")) is None
    assert conn.scalar(text("SELECT grid_id FROM grid_worker WHERE code = 'W3'")) is None
    assert conn.scalar(text("SELECT grid_id FROM incident WHERE id = :i"),
                       {"i": world["incidents"]["open-g112"]}) is None
    assert result.unassigned == {"households": 1, "cameras": 0, "incidents": 1}


# --- time travel -----------------------------------------------------------------------------
def test_grid_at_units_at_and_versions_across_a_save(conn, world):
    backdate(conn, V11)
    ctx = planning.plan_context(conn, world["parent"])
    effective = datetime(2025, 3, 1, tzinfo=UTC)
    result = save_plan(conn, split_g111(ctx), actor="赵", effective=effective)
    assert result.effective == effective

    before, after = effective - timedelta(days=30), effective + timedelta(days=30)
    point = (97.015, 40.27)  # the east half: G111 before, the new grid after
    was = planning.grid_at(conn, *point, before)
    now = planning.grid_at(conn, *point, after)
    assert (was["code"], was["version"]) == (G111, 1)
    assert (now["code"], now["version"]) == (NEW, 1)
    assert planning.grid_at(conn, *point)["id"] == result.added[NEW]  # default: now
    assert planning.grid_at(conn, 97.005, 40.27, after)["code"] == G111
    assert planning.grid_at(conn, 97.005, 40.27, after)["version"] == 2
    # a loaded row counts from the start of records (its valid_from is only its load time)
    early = planning.grid_at(conn, 97.015, 40.27, datetime(2019, 1, 1, tzinfo=UTC))
    assert (early["code"], early["version"]) == (G111, 1)
    assert planning.grid_at(conn, 98.5, 41.0) is None  # outside every grid
    # exactly at the effective time the new grid counts (valid_from <= at < valid_to)
    assert planning.grid_at(conn, *point, effective)["code"] == NEW

    old = planning.units_at(conn, V11, before)
    new = planning.units_at(conn, world["parent"], after)
    assert list(old["code"]) == [G111, G112, G113]
    assert list(new["code"]) == [G111, G112, G113, NEW]
    assert old.crs.to_epsg() == 4326
    assert abs(old.union_all().area - new.union_all().area) < 1e-12
    assert set(new["version"]) == {1, 2}
    with pytest.raises(PlanError):
        planning.units_at(conn, "no-such-code", after)

    # A second save later on: three versions of G111, history newest first.
    ctx = planning.plan_context(conn, world["parent"])
    second = save_plan(conn, split_g111(ctx, cut=97.005, new_code=f"{V11}005"),
                                actor="钱", effective=effective + timedelta(days=60))
    assert [v["version"] for v in planning.versions(conn, G111)] == [1, 2, 3]
    changes = planning.history(conn, parent_id=world["parent"])
    assert [c["id"] for c in changes] == [second.change_id, result.change_id]
    assert [c["id"] for c in planning.history(conn, parent_id=world["parent"], limit=1,
                                              offset=1)] == [result.change_id]
    assert planning.history(conn, parent_id=10**12) == []

    detail = planning.change_detail(conn, result.change_id)
    assert [u["code"] for u in detail["removed"]] == [G111]
    assert sorted(u["code"] for u in detail["added"]) == [G111, NEW]
    assert detail["added"][0]["geometry"]["type"] == "MultiPolygon"
    assert detail["removed"][0]["valid_to"] == effective
    assert planning.change_detail(conn, 10**12) is None


# --- all or nothing --------------------------------------------------------------------------
def _overlapping(ctx: gp.PlanContext) -> Proposal:
    """G111 grown into G112: an overlap, which validation refuses."""
    proposal = split_g111(ctx)
    grown = proposal.added[0].geometry.union(box(97.0, 40.25, 97.03, 40.29))
    return Proposal(parent_id=proposal.parent_id, kind="edit", removed=proposal.removed,
                    added=(NewUnit(G111, "大", grown, proposal.removed),),
                    versions=proposal.versions)


def _stale(ctx: gp.PlanContext) -> Proposal:
    p = split_g111(ctx)
    return Proposal(p.parent_id, p.kind, p.removed, p.added, {p.removed[0]: 0})


def _taken_code(ctx: gp.PlanContext) -> Proposal:
    return split_g111(ctx, new_code=f"{V12}001")  # a current grid of another village


def _duplicate_codes(ctx: gp.PlanContext) -> Proposal:
    return split_g111(ctx, new_code=G111)


def _foreign_parent(ctx: gp.PlanContext) -> Proposal:
    p = split_g111(ctx)
    return Proposal(p.parent_id + 1, p.kind, p.removed, p.added, p.versions)


@pytest.mark.parametrize(("make", "error", "match"), [
    (_overlapping, PlanError, "error"),
    (_stale, PlanConflict, "reload"),
    (_taken_code, PlanError, "another current unit"),
    (_duplicate_codes, PlanError, "duplicate"),
    (_foreign_parent, PlanError, "not children"),
])
def test_a_refused_plan_writes_nothing(conn, world, make, error, match):
    ctx = planning.plan_context(conn, world["parent"])
    before = snapshot(conn)
    with pytest.raises(error, match=match):
        save_plan(conn, make(ctx), actor="测")
    assert snapshot(conn) == before


def test_a_failure_midway_rolls_everything_back(conn, world, monkeypatch):
    """Units retired, new ones inserted, households re-pointed … then the incidents fail."""
    ctx = planning.plan_context(conn, world["parent"])
    before = snapshot(conn)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(planning, "_move_incidents", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_plan(conn, split_g111(ctx), actor="测")
    assert snapshot(conn) == before
    monkeypatch.undo()
    save_plan(conn, split_g111(ctx), actor="测")  # the same plan saves afterwards
    assert snapshot(conn) != before


def test_effective_time_is_checked(conn, world):
    backdate(conn, V11, datetime(2024, 1, 1, tzinfo=UTC))
    ctx = planning.plan_context(conn, world["parent"])
    before = snapshot(conn)
    with pytest.raises(PlanError, match="future"):
        save_plan(conn, split_g111(ctx), actor="测",
                           effective=datetime.now(UTC) + timedelta(days=1))
    with pytest.raises(PlanError, match="not after"):
        save_plan(conn, split_g111(ctx), actor="测",
                           effective=datetime(2023, 12, 31, tzinfo=UTC))
    with pytest.raises(PlanError, match="timezone"):
        save_plan(conn, split_g111(ctx), actor="测", effective=datetime(2025, 1, 1))
    with pytest.raises(PlanError, match="actor"):
        save_plan(conn, split_g111(ctx), actor=" ")
    assert snapshot(conn) == before


def test_second_planner_on_the_same_version_conflicts(conn, world):
    ctx = planning.plan_context(conn, world["parent"])  # both planners load version 1
    first, second = split_g111(ctx), merge_g112_g113(ctx)
    overlapping = split_g111(ctx, cut=97.015)
    save_plan(conn, first, actor="甲", effective=None)
    save_plan(conn, second, actor="乙")  # other grids: no conflict
    before = snapshot(conn)
    with pytest.raises(PlanConflict) as err:
        save_plan(conn, overlapping, actor="丙")
    message = str(err.value)
    assert G111 in message and "甲" in message and "reload" in message and "重新加载" in message
    when = conn.scalar(text("SELECT at FROM unit_change WHERE actor = '甲'"))
    assert when.isoformat(sep=" ", timespec="seconds") in message
    assert snapshot(conn) == before


# --- concurrency (committed, in a database of its own) ---------------------------------------
@pytest.fixture(scope="module")
def committed_engine(db_url):
    engine = fresh_demo_database(sibling_database(db_url, "planning"))
    yield engine
    engine.dispose()


def test_concurrent_saves_one_wins_the_other_conflicts(committed_engine):
    engine = committed_engine
    with engine.connect() as c:
        ctx = planning.plan_context(c, planning.parent_of(c, unit_ids(c)[f"{V12}001"]))
    # Both planners loaded version 1 of V12's first grid and split it differently.
    units = ctx.units.set_index("code")
    target = units.iloc[0]
    gid = int(target["id"])
    minx, miny, maxx, maxy = target.geometry.bounds

    def halves(x: float, code: str) -> Proposal:
        west = target.geometry.intersection(box(minx - 1, miny - 1, x, maxy + 1))
        return Proposal(ctx.parent_id, "split", (gid,),
                        (NewUnit(units.index[0], target["name"], west, (gid,)),
                         NewUnit(code, "新", target.geometry.difference(west), (gid,))),
                        {gid: 1})

    a = halves(minx + (maxx - minx) / 3, f"{V12}004")
    b = halves(minx + 2 * (maxx - minx) / 3, f"{V12}005")
    outcome: dict[str, object] = {}

    conn_a = engine.connect()
    tx = conn_a.begin()
    save_plan(conn_a, a, actor="甲")  # holds the locks, not yet committed

    def planner_b():
        try:
            outcome["b"] = save_plan(engine, b, actor="乙")
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome["b"] = exc

    thread = threading.Thread(target=planner_b)
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive()  # B waits for A's locks
    tx.commit()
    conn_a.close()
    thread.join(timeout=30)
    assert isinstance(outcome["b"], PlanConflict), outcome["b"]
    assert "甲" in str(outcome["b"])
    with engine.connect() as c:
        assert f"{V12}004" in unit_ids(c) and f"{V12}005" not in unit_ids(c)
        assert [r["actor"] for r in planning.history(c, parent_id=ctx.parent_id)] == ["甲"]


def test_concurrent_creates_in_one_parent_are_serialised(committed_engine):
    """Two planners draw overlapping new grids: without removed rows to lock, the parent's
    lock makes the second re-validate against the first and refuse the overlap."""
    engine = committed_engine
    with engine.connect() as c:
        parent = unit_ids(c)[V22]
        ctx = planning.plan_context(c, parent)
        gid = int(ctx.units.iloc[-1]["id"])
    # Free a blank area first: retire the village's last grid.
    save_plan(engine, Proposal(parent, "edit", (gid,), (), {gid: 1}), actor="清")
    with engine.connect() as c:
        blank = ctx.units.iloc[-1].geometry
        ctx = planning.plan_context(c, parent)
    a = Proposal(parent, "create", (), (NewUnit(f"{V22}007", "甲", blank),))
    b = Proposal(parent, "create", (), (NewUnit(f"{V22}008", "乙", blank),))
    conn_a = engine.connect()
    tx = conn_a.begin()
    save_plan(conn_a, a, actor="甲")
    outcome: dict[str, object] = {}

    def planner_b():
        try:
            outcome["b"] = save_plan(engine, b, actor="乙")
        except Exception as exc:  # noqa: BLE001
            outcome["b"] = exc

    thread = threading.Thread(target=planner_b)
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive()
    tx.commit()
    conn_a.close()
    thread.join(timeout=30)
    assert isinstance(outcome["b"], PlanError), outcome["b"]
    with engine.connect() as c:
        codes = unit_ids(c)
        assert f"{V22}007" in codes and f"{V22}008" not in codes


def test_point_helpers_agree_with_shapely(conn):
    """grid_at's boundary rule: a point on a shared edge goes to the lowest code."""
    edge = planning.grid_at(conn, 97.02, 40.27)
    assert edge["code"] == G111
    ctx = planning.plan_context(conn, unit_ids(conn)[V11])
    inside = ctx.units[ctx.units.covers(Point(97.02, 40.27))]
    assert sorted(inside["code"])[0] == edge["code"]


# --- speed on a real region ------------------------------------------------------------------
@pytest.fixture(scope="module")
def donghai_engine(db_url):
    """东海's real boundaries (1,076 grids) with a tenth of its people and incidents."""
    engine = fresh_demo_database(sibling_database(db_url, "planning_donghai"), "donghai",
                                 scale=0.1)
    yield engine
    engine.dispose()


@pytest.mark.slow
def test_split_on_a_real_region_matches_the_preview(donghai_engine):
    from shapely.geometry import LineString

    with donghai_engine.connect() as c:
        gid = c.scalar(text("SELECT grid_id FROM household WHERE grid_id IS NOT NULL "
                            "GROUP BY grid_id ORDER BY count(*) DESC, grid_id LIMIT 1"))
        ctx = planning.plan_context(c, planning.parent_of(c, gid))
        grid = ctx.units.set_index("id").loc[gid].geometry
        minx, miny, maxx, maxy = grid.bounds
        mid = grid.representative_point()
        proposal = gp.split(ctx, gid, LineString([(mid.x, miny - 0.01), (mid.x, maxy + 0.01)]))

        pts = planning.plan_points(c, proposal)  # speed: bench/planner.py, not a test
        impact = gp.impact(ctx, proposal, households=pts["households"], cameras=pts["cameras"],
                           incidents=pts["incidents"], workers=pts["workers"], band=(300, 600))

        tx = c.begin() if not c.in_transaction() else c.get_transaction()
        try:
            result = save_plan(c, proposal, actor="东海")
            hh = pts["households"]
            placed = np.array([c is not None for c in gp.assign(proposal.added, hh.xy)])
            # every household of a retired grid gets a new id; unassigned ones only if placed
            assert result.moved["households"] == int(((hh.grid_id != -1) | placed).sum())
            found = counts_by_code(c)
            for unit in impact.units:
                if unit.status != "retired":
                    got = {k: v for k, v in found.get(unit.code, {}).items() if v}
                    assert got == {k: v for k, v in unit.after.items() if v}, unit.code
            assert result.moved["incidents_moved"] == len(impact.moved_incidents)
        finally:
            tx.rollback()


def save_plan(db, proposal, **kw):
    """Save through the planning service (the one way to save), on this test's database."""
    from sqlalchemy import Engine

    from onemap.settings import Settings
    from planning import service
    from store.runtime import build_runtime

    engine = db if isinstance(db, Engine) else db.engine
    from onemap.access import cli_actor

    rt = build_runtime(Settings(), engine=engine, actor=cli_actor("test"))
    return service.save(rt, proposal, db=db, **kw)
