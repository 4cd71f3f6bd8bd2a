"""The command wall's queries against numbers worked out in Python from the rows the test
inserts (real PostGIS, every test in a rolled-back transaction).

The sample units are rectangles (one county, two towns, four villages, twelve grids between
lon 97.00-97.12 and lat 40.25-40.33), so expected memberships, bounds and distances can be
computed with shapely and pyproj independently of the SQL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from pyproj import Geod, Transformer
from shapely import wkt as shapely_wkt
from shapely.geometry import Point, Polygon, box, shape
from sqlalchemy import Connection, text

from geo.workflow import OPEN_STATES
from store import measures, wall
from store.measures import Filters, Period, Scope

pytestmark = pytest.mark.db

SH = ZoneInfo("Asia/Shanghai")
COUNTY = "620981900"
T1, T2 = f"{COUNTY}001", f"{COUNTY}002"
V11, V12, V21 = f"{T1}001", f"{T1}002", f"{T2}001"
G111, G112, G113, G121, G211 = f"{V11}001", f"{V11}002", f"{V11}003", f"{V12}001", f"{V21}001"
NOW = datetime(2026, 11, 5, 12, 0, tzinfo=SH)
P30 = Period.last_days(30, now=NOW)
COLUMN = {0: "county_id", 1: "town_id", 2: "village_id", 3: "grid_id"}
TO_3857 = Transformer.from_crs(4326, 3857, always_xy=True)
GEOD = Geod(ellps="WGS84")
LONG_TEXT = "井盖缺失，夜间行人易跌落，请尽快处理。" * 5


def sh(month: int, day: int, hour: int = 10, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=SH)


@dataclass
class World:
    unit: dict[str, int]            # code -> id
    units: pd.DataFrame             # id, code, name, level, parent_id, geom (shapely)
    incident: dict[str, int]        # label -> id
    incidents: pd.DataFrame         # every incident row in the database, read back
    households: pd.DataFrame        # every household row, read back
    cameras: pd.DataFrame           # every camera row, read back

    def geom(self, code: str) -> Polygon:
        return self.units.set_index("code").loc[code, "geom"]

    def ancestors(self, unit_id: int | None) -> list[int]:
        """The unit and all its ancestors."""
        parents = dict(zip(self.units["id"], self.units["parent_id"], strict=True))
        out = []
        while unit_id is not None and not pd.isna(unit_id):
            out.append(int(unit_id))
            unit_id = parents.get(int(unit_id))
        return out


def _point_in(world_units: pd.DataFrame, code: str, fx: float, fy: float) -> tuple[float, float]:
    """A point at fractions (fx, fy) of the unit's bounds."""
    x0, y0, x1, y1 = world_units.set_index("code").loc[code, "geom"].bounds
    return x0 + fx * (x1 - x0), y0 + fy * (y1 - y0)


@pytest.fixture()
def world(conn: Connection) -> World:
    rows = conn.execute(text("SELECT id, code, name, level, parent_id, ST_AsText(geom) AS wkt "
                             "FROM unit WHERE valid_to IS NULL")).mappings().all()
    units = pd.DataFrame([{**r, "geom": shapely_wkt.loads(r["wkt"])} for r in rows])
    unit = {c: int(i) for c, i in zip(units["code"], units["id"], strict=True)}
    parents = {int(i): (None if pd.isna(p) else int(p))
               for i, p in zip(units["id"], units["parent_id"], strict=True)}

    def at(code: str, fx: float, fy: float) -> tuple[float, float]:
        return _point_in(units, code, fx, fy)

    # Households: (grid, fx, fy, size, rental, elderly, special); one without a grid.
    homes = [(G111, .2, .2, 2, True, False, False), (G111, .5, .5, 3, False, True, False),
             (G111, .8, .3, 1, False, False, True), (G112, .4, .4, 4, False, False, False),
             (G112, .6, .7, 1, True, True, False), (G121, .5, .5, 5, False, False, False),
             (G211, .1, .1, 1, False, False, False), (G211, .3, .3, 1, False, True, True),
             (G211, .5, .6, 2, False, False, False), (G211, .9, .9, 2, True, False, False),
             (None, .5, .5, 3, False, False, False)]
    for n, (grid, fx, fy, size, rental, elderly, special) in enumerate(homes):
        lon, lat = at(grid or G113, fx, fy)
        hid = conn.scalar(text("""
            INSERT INTO household (code, geom, address, size, is_rental, is_elderly_alone,
                                   is_special_care, grid_id)
            VALUES (:code, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :addr, :size, :r, :e,
                    :s, :g) RETURNING id"""), {
            "code": f"WALL-H{n}", "lon": lon, "lat": lat, "addr": f"示例路{n}号", "size": size,
            "r": rental, "e": elderly, "s": special, "g": unit[grid] if grid else None})
        conn.execute(text("INSERT INTO household_person (household_id, name, phone_sealed) "
                          "VALUES (:h, '张三', '\\x00')"), {"h": hid})

    # Cameras: (code, grid, lon, lat, status); positions chosen for the nearest-camera test.
    base_lon, base_lat = at(G112, .5, .5)
    cams = [("CAM-E", G112, base_lon + 0.0095, base_lat, "online"),    # ~810 m east
            ("CAM-N", G112, base_lon, base_lat + 0.009, "offline"),    # ~1000 m north
            ("CAM-W", G111, base_lon - 0.016, base_lat, "online"),     # ~1360 m west
            ("CAM-T2", G211, *at(G211, .5, .5), "online"),
            ("CAM-V12", G121, *at(G121, .5, .5), "online")]
    for code, grid, lon, lat, status in cams:
        conn.execute(text("""
            INSERT INTO camera (code, name, geom, kind, status, stream_url, grid_id)
            VALUES (:code, :name, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 'xueliang',
                    :status, :url, :g)"""), {
            "code": code, "name": f"摄像头{code}", "lon": lon, "lat": lat, "status": status,
            "url": f"rtsp://cam/{code}", "g": unit[grid]})

    for code, grid in (("W-111", G111), ("W-211", G211), ("W-NONE", None)):
        conn.execute(text("INSERT INTO grid_worker (code, name, phone, grid_id) "
                          "VALUES (:c, :n, '139', :g)"),
                     {"c": code, "n": f"网格员{code}", "g": unit[grid] if grid else None})

    ids: dict[str, int] = {}

    def add(label: str, grid: str | None, received_at: datetime, *, fx: float = .5,
            fy: float = .5, category: str = "道路", severity: str = "medium",
            source: str = "grid_app", status: str = "received", due_at: datetime | None = None,
            closed_at: datetime | None = None, handling_level: int | None = 3,
            duplicate_of: str | None = None, updated_at: datetime | None = None,
            description: str | None = None, escalated_at: datetime | None = None) -> None:
        chain: list[int | None] = [None, None, None, None]  # grid, village, town, county
        if grid is not None:
            chain[0] = unit[grid]
            for k in range(1, 4):
                chain[k] = parents[chain[k - 1]]
        lon, lat = at(grid, fx, fy) if grid else (None, None)
        ids[label] = conn.scalar(text("""
            INSERT INTO incident (source, external_id, category, severity, description, geom,
                                  received_at, status, grid_id, village_id, town_id, county_id,
                                  handling_level, due_at, closed_at, duplicate_of, updated_at)
            VALUES (:source, :ext, :category, :severity, :description,
                    CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL
                         ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) END,
                    :received_at, :status, :g, :v, :t, :c, :hl, :due, :closed, :dup, :upd)
            RETURNING id"""), {
            "source": source, "ext": f"WALL-{label}", "category": category,
            "severity": severity, "description": description or f"事件{label}", "lon": lon,
            "lat": lat, "received_at": received_at, "status": status, "g": chain[0],
            "v": chain[1], "t": chain[2], "c": chain[3], "hl": handling_level, "due": due_at,
            "closed": closed_at, "dup": ids[duplicate_of] if duplicate_of else None,
            "upd": updated_at or received_at})
        if escalated_at is not None:
            conn.execute(text("INSERT INTO incident_event (incident_id, at, actor, action) "
                              "VALUES (:i, :at, 'test', 'escalate')"),
                         {"i": ids[label], "at": escalated_at})

    add("a", G111, sh(11, 5, 9), fx=.3, fy=.3, severity="high", due_at=sh(11, 6))
    add("b", G111, sh(11, 4), fx=.31, fy=.31, source="hotline_12345", status="closed",
        closed_at=sh(11, 5, 8), due_at=sh(11, 5), updated_at=NOW + timedelta(seconds=5))
    add("c", G112, sh(10, 20), category="噪音", severity="low", source="citizen_app",
        status="in_progress", due_at=sh(10, 25), handling_level=2,
        updated_at=NOW - timedelta(seconds=20), escalated_at=sh(10, 26))
    add("d", G211, sh(8, 1), category="噪音", severity="high", source="hotline_12345",
        status="returned", due_at=sh(8, 5), escalated_at=sh(10, 27))
    add("e", G211, sh(10, 30), fx=.52, fy=.52, severity="high", status="resolved",
        closed_at=sh(11, 1), handling_level=1, due_at=sh(11, 2), escalated_at=sh(10, 31))
    add("f", G121, sh(10, 10), category="噪音", status="rated", closed_at=sh(10, 12),
        handling_level=2, due_at=sh(10, 13))
    add("g", None, sh(11, 5, 10), severity="low", source="citizen_app", status="unlocated",
        due_at=sh(11, 5, 11), handling_level=None)
    add("dup", G111, sh(11, 5, 9, 30), fx=.3, fy=.3, due_at=sh(11, 1), duplicate_of="a",
        updated_at=NOW + timedelta(seconds=1), escalated_at=sh(11, 2))
    add("h", G111, sh(11, 5, 11), fx=.7, fy=.6, category="噪音", source="police_110",
        status="closed", closed_at=sh(11, 5, 11, 30), due_at=sh(11, 5, 20),
        updated_at=NOW - timedelta(seconds=10), description=LONG_TEXT)
    add("old_closed", G112, sh(9, 1), fx=.2, fy=.8, status="closed", closed_at=sh(11, 5, 1),
        due_at=sh(9, 10))
    add("i", G113, sh(11, 3), fx=.4, fy=.6, status="dispatched", due_at=sh(11, 4))

    incidents = pd.DataFrame(conn.execute(text("""
        SELECT id, category, severity, source, status, received_at, due_at, closed_at,
               handling_level, duplicate_of, grid_id, village_id, town_id, county_id,
               ST_X(geom) AS lon, ST_Y(geom) AS lat, updated_at, description
        FROM incident""")).mappings().all())
    households = pd.DataFrame(conn.execute(text(
        "SELECT id, grid_id, size, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM household"
    )).mappings().all())
    cameras = pd.DataFrame(conn.execute(text(
        "SELECT id, code, grid_id, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM camera"
    )).mappings().all())
    return World(unit, units, ids, incidents, households, cameras)


# --- the reference -------------------------------------------------------------------------------
def _nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value)


def ref_incidents(w: World, filters: Filters | None = None,
                  within: tuple[int, int] | None = None) -> list[dict]:
    """Non-duplicate incident rows matching the filters and the unit."""
    f = filters or Filters()
    out = []
    for r in w.incidents.to_dict("records"):
        if not _nan(r["duplicate_of"]):
            continue
        if ((f.categories and r["category"] not in f.categories)
                or (f.severities and r["severity"] not in f.severities)
                or (f.sources and r["source"] not in f.sources)
                or (f.statuses and r["status"] not in f.statuses)):
            continue
        if within is not None and (_nan(r[COLUMN[within[0]]])
                                   or int(r[COLUMN[within[0]]]) != within[1]):
            continue
        out.append(r)
    return out


def is_overdue(r: dict, now: datetime) -> bool:
    return r["status"] in OPEN_STATES and not _nan(r["due_at"]) and r["due_at"] < now


def within_period(value, period: Period) -> bool:
    return not _nan(value) and period.start <= value < period.end


def households_of(w: World, unit_id: int) -> int:
    return sum(1 for g in w.households["grid_id"]
               if not _nan(g) and unit_id in w.ancestors(int(g)))


# --- Filters and the measures ------------------------------------------------------------------
def test_filters_fragment_and_validation():
    assert Filters().sql() == ("TRUE", {})
    assert Filters().empty and not Filters(categories=("道路",)).empty
    cond, params = Filters(categories=["道路", "噪音"], statuses=("closed",)).sql("x")
    assert cond == ("x.category = ANY(CAST(:f_categories AS text[])) AND "
                    "x.status = ANY(CAST(:f_statuses AS text[]))")
    assert params == {"f_categories": ["道路", "噪音"], "f_statuses": ["closed"]}
    assert hash(Filters(categories=["道路"])) == hash(Filters(categories=("道路",)))
    with pytest.raises(ValueError, match="allowed: high, medium, low"):
        Filters(severities=("urgent",))
    with pytest.raises(ValueError, match="tuple of strings"):
        Filters(categories="道路")
    with pytest.raises(ValueError, match="unknown value 'fax'"):
        Filters(sources=("fax",))
    with pytest.raises(ValueError, match="filters must be"):
        measures.received(None, Scope(3), P30, filters={"categories": ("道路",)})


def test_measures_with_filters_match_the_reference(conn, world):
    f = Filters(categories=("噪音",))
    scope = Scope(3)
    got = measures.received(conn, scope, P30, filters=f)
    overdue = measures.overdue_now(conn, scope, NOW, filters=f)
    esc = measures.escalations(conn, scope, P30, filters=f)
    rows = ref_incidents(world, f)
    assert got.sum() > 0 and got.sum() < measures.received(conn, scope, P30).sum()
    for uid in got.index:
        mine = [r for r in rows if r["grid_id"] == uid]
        assert got[uid] == sum(within_period(r["received_at"], P30) for r in mine)
        assert overdue[uid] == sum(is_overdue(r, NOW) for r in mine)
    # Escalations dated in the period of 噪音 incidents: c (10-26) and d (10-27); d was
    # received in August but its event counts.
    assert esc[world.unit[G112]] == 1 and esc[world.unit[G211]] == 1 and esc.sum() == 2
    # No filters and empty filters are the same thing.
    pd.testing.assert_frame_equal(measures.summary(conn, Scope(1), P30, NOW),
                                  measures.summary(conn, Scope(1), P30, NOW, filters=Filters()))
    high = measures.summary(conn, Scope(1), P30, NOW, filters=Filters(severities=("high",)))
    # High in the period: a (T1, open), e (T2, resolved at town level).
    assert high.loc[world.unit[T1], "received"] == 1
    assert high.loc[world.unit[T2], "resolved"] == 1
    assert high.loc[world.unit[T2], "closed_share_town"] == 1.0


def test_jurisdiction_total_with_filters_and_within(conn, world):
    t1 = world.unit[T1]
    cases = [(None, None), (Filters(categories=("道路",)), None), (None, (1, t1)),
             (Filters(statuses=("closed",)), (3, world.unit[G111])),
             (Filters(sources=("hotline_12345", "citizen_app")), (0, world.unit[COUNTY]))]
    for filters, within in cases:
        got = measures.jurisdiction_total(conn, P30, NOW, filters=filters, within=within)
        rows = ref_incidents(world, filters, within)
        received = [r for r in rows if within_period(r["received_at"], P30)]
        resolved = [r for r in received if not _nan(r["closed_at"])]
        assert got["received"] == len(received), (filters, within)
        assert got["resolved"] == len(resolved), (filters, within)
        assert got["overdue_now"] == sum(is_overdue(r, NOW) for r in rows), (filters, within)
    everything = measures.jurisdiction_total(conn, P30, NOW)
    in_t1 = measures.jurisdiction_total(conn, P30, NOW, within=(1, t1))
    assert in_t1["received"] < everything["received"]
    # Escalations in the period: c (T1), d and e (T2); the duplicate's is left out.
    assert (everything["escalations"], in_t1["escalations"]) == (3, 1)
    noise = measures.jurisdiction_total(conn, P30, NOW, filters=Filters(categories=("噪音",)))
    assert noise["escalations"] == 2
    with pytest.raises(ValueError, match="level 5"):
        measures.jurisdiction_total(conn, P30, within=(5, t1))
    with pytest.raises(ValueError, match="within must be"):
        measures.jurisdiction_total(conn, P30, within=t1)


# --- units ---------------------------------------------------------------------------------------
def test_unit_tree(conn, world):
    tree = wall.unit_tree(conn)
    assert len(tree) == len(world.units) == 19
    by_id = {u["id"]: u for u in tree}
    for row in world.units.to_dict("records"):
        got = by_id[int(row["id"])]
        assert (got["code"], got["name"], got["level"]) == (row["code"], row["name"],
                                                            row["level"])
        assert got["parent_id"] == (None if _nan(row["parent_id"]) else int(row["parent_id"]))
        assert got["bbox"] == pytest.approx(row["geom"].bounds, abs=1e-9)
        assert row["geom"].contains(Point(got["label_lon"], got["label_lat"]))
        assert got["households"] == households_of(world, int(row["id"]))
    assert by_id[world.unit[G111]]["households"] == 3
    assert by_id[world.unit[T1]]["households"] == 6
    assert by_id[world.unit[COUNTY]]["households"] == 10  # not the one without a grid
    assert by_id[world.unit[G113]]["households"] == 0


def test_units_signature_moves_with_every_unit_change(conn, world):
    first = wall.units_signature(conn)
    assert wall.units_signature(conn) == first
    conn.execute(text("UPDATE unit SET geom = ST_Multi(ST_Buffer(geom, 0)) WHERE code = :c"),
                 {"c": G113})  # an in-place edit
    edited = wall.units_signature(conn)
    assert edited != first
    conn.execute(text("""
        INSERT INTO unit (code, name, level, parent_id, geom, area_m2)
        VALUES ('WALL-NEW', '新网格', 3, :p,
                ST_Multi(ST_MakeEnvelope(97.0, 40.25, 97.01, 40.26, 4326)), 1)"""),
                 {"p": world.unit[V11]})
    added = wall.units_signature(conn)
    assert added != edited and added[0] == first[0] + 1
    conn.execute(text("UPDATE unit SET valid_to = now() + interval '1 second' "
                      "WHERE code = 'WALL-NEW'"))
    retired = wall.units_signature(conn)
    assert retired != added and retired[0] == first[0]


# --- choropleth -----------------------------------------------------------------------------------
def ref_choropleth(w: World, level: int, unit_ids: list[int], measure: str,
                   filters: Filters | None = None) -> dict[int, float | None]:
    rows = ref_incidents(w, filters)
    out: dict[int, float | None] = {}
    levels = dict(zip(w.units["id"].astype(int), w.units["level"], strict=True))
    for uid in unit_ids:
        if levels.get(uid) != level:
            out[uid] = None
            continue
        mine = [r for r in rows if not _nan(r[COLUMN[level]]) and int(r[COLUMN[level]]) == uid]
        got = [r for r in mine if within_period(r["received_at"], P30)]
        done = [r for r in got if not _nan(r["closed_at"])]
        homes = households_of(w, uid)
        out[uid] = {
            "received": float(len(got)),
            "per_1000_households": len(got) / homes * 1000 if homes else None,
            "overdue": float(sum(is_overdue(r, NOW) for r in mine)),
            "resolution_rate": len(done) / len(got) if got else None,
            "closed_share_grid": (sum(r["handling_level"] == 3 for r in done) / len(done)
                               if done else None),
        }[measure]
    return out


@pytest.mark.parametrize("measure", wall.MEASURES)
def test_choropleth_matches_the_reference(conn, world, measure):
    grids = sorted(int(i) for i in world.units.loc[world.units["level"] == 3, "id"])
    towns = [world.unit[T2], world.unit[T1], world.unit[G111]]  # a grid id at level 1: None
    for level, ids in ((3, grids), (1, towns)):
        for filters in (None, Filters(categories=("道路",))):
            got = wall.choropleth(conn, level, ids, P30, measure, filters=filters, now=NOW)
            expected = ref_choropleth(world, level, ids, measure, filters)
            assert list(got) == ids
            for uid in ids:
                if expected[uid] is None:
                    assert got[uid] is None, (measure, level, uid)
                else:
                    assert got[uid] == pytest.approx(expected[uid]), (measure, level, uid)
    # Some values are None (no households / nothing received) and some numbers.
    values = wall.choropleth(conn, 3, grids, P30, measure, now=NOW).values()
    assert any(v is not None and v > 0 for v in values)


def test_choropleth_hand_counted_and_errors(conn, world):
    g111, g113 = world.unit[G111], world.unit[G113]
    # G111 in the 30 days: a, b, h (dup left out); 3 households.
    got = wall.choropleth(conn, 3, [g111, g113], P30, "per_1000_households", now=NOW)
    assert got == {g111: pytest.approx(1000.0), g113: None}  # G113 has no households
    rate = wall.choropleth(conn, 3, [g111], P30, "resolution_rate", now=NOW)
    assert rate[g111] == pytest.approx(2 / 3)
    assert wall.choropleth(conn, 3, [], P30, "received") == {}
    with pytest.raises(ValueError, match="received, per_1000_households, overdue, "
                                         "resolution_rate, closed_share_grid"):
        wall.choropleth(conn, 3, [g111], P30, "heat")
    with pytest.raises(ValueError, match="level 4"):
        wall.choropleth(conn, 4, [g111], P30, "received")


# --- KPI tiles ------------------------------------------------------------------------------------
def ref_kpis(w: World, now: datetime, tz: str, filters=None, within=None) -> dict:
    rows = ref_incidents(w, filters, within)
    day = now.astimezone(ZoneInfo(tz)).date()
    start = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz))
    today = Period(start, start + timedelta(days=1))
    got = [r for r in rows if within_period(r["received_at"], P30)]
    done = [r for r in got if not _nan(r["closed_at"])]
    return {
        "received_today": sum(within_period(r["received_at"], today) for r in rows),
        "handled_today": sum(within_period(r["closed_at"], today) for r in rows),
        "overdue_now": sum(is_overdue(r, now) for r in rows),
        "received": len(got),
        "resolution_rate": len(done) / len(got) if got else None,
        "closed_within_grid_village": (
            sum(r["handling_level"] in (2, 3) for r in done) / len(done) if done else None),
    }


def test_kpis_match_the_reference(conn, world):
    t1, g211 = world.unit[T1], world.unit[G211]
    cases = [({}, "Asia/Shanghai"), ({}, "UTC"),
             ({"filters": Filters(categories=("噪音",))}, "Asia/Shanghai"),
             ({"within": (1, t1)}, "Asia/Shanghai"), ({"within": (3, g211)}, "Asia/Shanghai")]
    for kw, tz in cases:
        got = wall.kpis(conn, P30, now=NOW, tz=tz, **kw)
        expected = ref_kpis(world, NOW, tz, **kw)
        assert list(got) == list(expected)
        for key, value in expected.items():
            if value is None:
                assert got[key] is None, (kw, tz, key)
            else:
                assert got[key] == pytest.approx(value), (kw, tz, key)
    sh_day = wall.kpis(conn, P30, now=NOW)
    # Shanghai's 5 November: received a, g, h; handled b (08:00), h, old_closed (01:00).
    assert (sh_day["received_today"], sh_day["handled_today"]) == (3, 3)
    # UTC's 5 November starts at 08:00 Shanghai: b (closed at exactly 00:00 UTC) counts,
    # old_closed (17:00 UTC on the 4th) does not.
    assert wall.kpis(conn, P30, now=NOW, tz="UTC")["handled_today"] == 2
    with pytest.raises(ValueError, match="time zone"):
        wall.kpis(conn, P30, now=NOW, tz="Mars/Olympus")


def test_kpis_default_to_the_database_clock(conn, world):
    db_now = conn.scalar(text("SELECT now()"))
    assert wall.kpis(conn, P30) == wall.kpis(conn, P30, now=db_now)


# --- incident lists ------------------------------------------------------------------------------
LIST_KEYS = {"id", "received_at", "due_at", "category", "severity", "status", "source",
             "grid_name", "village_name", "town_name", "lon", "lat", "overdue", "description"}


def test_latest_incidents(conn, world):
    db_now = conn.scalar(text("SELECT now()"))
    got = wall.latest_incidents(conn, limit=100)
    expected = sorted(ref_incidents(world), key=lambda r: (r["received_at"], r["id"]),
                      reverse=True)
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    assert world.incident["dup"] not in {r["id"] for r in got}
    assert all(set(r) == LIST_KEYS for r in got)
    assert [r["overdue"] for r in got] == [is_overdue(r, db_now) for r in expected]
    by_id = {r["id"]: r for r in got}
    h = by_id[world.incident["h"]]
    assert h["description"] == LONG_TEXT[:60] and len(LONG_TEXT) > 60
    assert (h["grid_name"], h["village_name"], h["town_name"]) == tuple(
        world.units.set_index("code").loc[c, "name"] for c in (G111, V11, T1))
    assert world.geom(G111).contains(Point(h["lon"], h["lat"]))
    g = by_id[world.incident["g"]]
    assert (g["lon"], g["lat"], g["grid_name"], g["town_name"]) == (None, None, None, None)
    assert [r["id"] for r in wall.latest_incidents(conn, limit=2)] == [r["id"] for r in got[:2]]
    # Within T2 and filters.
    t2 = wall.latest_incidents(conn, within=(1, world.unit[T2]))
    assert [r["id"] for r in t2] == [world.incident["e"], world.incident["d"]]
    noise = wall.latest_incidents(conn, filters=Filters(categories=("噪音",),
                                                        severities=("low", "medium")))
    assert [r["id"] for r in noise] == [world.incident[k] for k in ("h", "c", "f")]
    with pytest.raises(ValueError, match="limit"):
        wall.latest_incidents(conn, limit=0)


def test_overdue_incidents(conn, world):
    got = wall.overdue_incidents(conn, now=NOW, limit=100)
    expected = sorted((r for r in ref_incidents(world) if is_overdue(r, NOW)),
                      key=lambda r: (r["due_at"], r["id"]))
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    # d (due 8-5), c (10-25), i (11-4), g (11-5 11:00); not a (due 11-6), not the duplicate.
    assert [r["id"] for r in got] == [world.incident[k] for k in ("d", "c", "i", "g")]
    assert all(r["overdue"] for r in got) and all(set(r) == LIST_KEYS for r in got)
    in_v11 = wall.overdue_incidents(conn, now=NOW, within=(2, world.unit[V11]))
    assert [r["id"] for r in in_v11] == [world.incident[k] for k in ("c", "i")]
    high = wall.overdue_incidents(conn, now=NOW, filters=Filters(severities=("high",)))
    assert [r["id"] for r in high] == [world.incident["d"]]
    assert len(wall.overdue_incidents(conn, now=NOW, limit=1)) == 1
    # At an earlier moment, fewer are late.
    early = wall.overdue_incidents(conn, now=sh(10, 1))
    assert [r["id"] for r in early] == [world.incident["d"]]


def test_incidents_changed_since(conn, world):
    rows, mark = wall.incidents_changed_since(conn, None)
    assert rows == [] and mark == world.incidents["updated_at"].max()
    # Since NOW: b (+5 s) and, thanks to the 15 s overlap, h (-10 s); not c (-20 s), not the
    # duplicate (+1 s).
    rows, mark = wall.incidents_changed_since(conn, NOW)
    expected = sorted((r for r in ref_incidents(world)
                       if r["updated_at"] > NOW - timedelta(seconds=15)),
                      key=lambda r: (r["updated_at"], r["id"]))
    assert [r["id"] for r in rows] == [r["id"] for r in expected]
    assert {world.incident["h"], world.incident["b"]} <= {r["id"] for r in rows}
    assert world.incident["c"] not in {r["id"] for r in rows}
    assert world.incident["dup"] not in {r["id"] for r in rows}
    assert mark == max(r["updated_at"] for r in expected)
    assert all(set(r) == LIST_KEYS for r in rows)
    # Nothing newer: the watermark stays where it was.
    later = NOW + timedelta(days=365)
    assert wall.incidents_changed_since(conn, later) == ([], later)
    # A full page ends at its last row; polling again from there moves on.
    first, mark1 = wall.incidents_changed_since(conn, NOW, limit=1)
    assert [r["id"] for r in first] == [expected[0]["id"]]
    assert mark1 == max(NOW, expected[0]["updated_at"])
    # A row written after the poll shows up at the next poll, however the clocks stand.
    conn.execute(text("UPDATE incident SET updated_at = :t, status = 'accepted' WHERE id = :i"),
                 {"t": later + timedelta(seconds=3), "i": world.incident["a"]})
    rows, mark2 = wall.incidents_changed_since(conn, later)
    assert [(r["id"], r["status"]) for r in rows] == [(world.incident["a"], "accepted")]
    assert mark2 == later + timedelta(seconds=3)
    with pytest.raises(ValueError, match="timezone-aware"):
        wall.incidents_changed_since(conn, datetime(2026, 11, 5))


# --- map layers -----------------------------------------------------------------------------------
def test_incident_points(conn, world):
    county_box = world.geom(COUNTY).bounds
    for bbox in (county_box, world.geom(T1).bounds, world.geom(G111).bounds):
        for filters in (None, Filters(severities=("high", "low"))):
            got = wall.incident_points(conn, bbox, P30, filters, now=NOW)
            area = box(*bbox)
            expected = sorted(
                (r for r in ref_incidents(world, filters)
                 if not _nan(r["lon"]) and area.intersects(Point(r["lon"], r["lat"]))
                 and (within_period(r["received_at"], P30) or is_overdue(r, NOW))),
                key=lambda r: (r["received_at"], r["id"]), reverse=True)
            assert [r["id"] for r in got] == [r["id"] for r in expected]
            assert [r["overdue"] for r in got] == [is_overdue(r, NOW) for r in expected]
    got = wall.incident_points(conn, county_box, P30, now=NOW)
    ids = {r["id"] for r in got}
    assert world.incident["d"] in ids              # from August, but open and overdue
    assert world.incident["old_closed"] not in ids  # from September and closed
    assert world.incident["dup"] not in ids and world.incident["g"] not in ids
    assert set(got[0]) == {"id", "lon", "lat", "status", "severity", "category", "overdue"}
    assert len(wall.incident_points(conn, county_box, P30, now=NOW, limit=2)) == 2
    in_t2 = wall.incident_points(conn, county_box, P30, now=NOW, within=(1, world.unit[T2]))
    assert [r["id"] for r in in_t2] == [world.incident["e"], world.incident["d"]]
    for bad in ((97.1, 40.3, 97.0, 40.4), (97.0, 40.3, 97.1), ("a", 1, 2, 3),
                (97.0, 40.3, 97.1, float("nan")), (200, 40, 201, 41)):
        with pytest.raises(ValueError, match="bbox"):
            wall.incident_points(conn, bad, P30)


def test_hex_density_counts_each_incident_in_its_hexagon(conn, world):
    bbox = world.geom(COUNTY).bounds
    size = 500.0
    for filters in (None, Filters(categories=("道路",))):
        got = wall.hex_density(conn, bbox, size, P30, filters)
        area = box(*bbox)
        points = [Point(*TO_3857.transform(r["lon"], r["lat"]))
                  for r in ref_incidents(world, filters)
                  if not _nan(r["lon"]) and area.intersects(Point(r["lon"], r["lat"]))
                  and within_period(r["received_at"], P30)]
        assert sum(h["n"] for h in got) == len(points) > 0
        for hexagon in got:
            ring = shape(hexagon["geometry"]).exterior.coords
            assert hexagon["geometry"]["type"] == "Polygon" and len(ring) == 7
            assert all(round(c, 6) == c for xy in ring for c in xy)  # 6 decimals
            poly = Polygon([TO_3857.transform(x, y) for x, y in ring])
            edges = [math.dist(ring_a, ring_b) for ring_a, ring_b in
                     zip(poly.exterior.coords, list(poly.exterior.coords)[1:], strict=False)]
            assert edges == pytest.approx([size] * 6, rel=1e-3)
            assert hexagon["n"] == sum(poly.buffer(0.5).contains(p) for p in points)
    everything = wall.hex_density(conn, bbox, size, P30)
    # a, b and h lie within ~250 m of each other in G111: a and b share a hexagon.
    assert max(h["n"] for h in everything) >= 2
    assert len(everything) < sum(h["n"] for h in everything)
    with pytest.raises(ValueError, match="hexagons"):
        wall.hex_density(conn, (73.0, 18.0, 135.0, 53.0), 100, P30)
    with pytest.raises(ValueError, match="size_m"):
        wall.hex_density(conn, bbox, 0, P30)
    assert wall.hexagon_count((97.0, 40.25, 97.12, 40.33), 500) < 400


def test_households_per_grid_and_in_bbox(conn, world):
    got = wall.households_per_grid(conn)
    grids = world.units[world.units["level"] == 3]
    assert sorted(r["grid_id"] for r in got) == sorted(int(i) for i in grids["id"])
    homes = world.households
    for r in got:
        mine = homes[homes["grid_id"] == r["grid_id"]]
        assert (r["households"], r["persons"]) == (len(mine), int(mine["size"].sum()))
        assert world.units.set_index("id").loc[r["grid_id"], "geom"].contains(
            Point(r["label_lon"], r["label_lat"]))
    assert set(got[0]) == {"grid_id", "name", "label_lon", "label_lat", "households",
                           "persons"}
    g111 = world.geom(G111)
    inner = g111.buffer(-0.001).bounds  # strictly inside G111: no neighbour touches it
    assert [r["grid_id"] for r in wall.households_per_grid(conn, inner)] == [world.unit[G111]]
    points = wall.households_in_bbox(conn, g111.bounds)
    expected = homes[homes.apply(lambda h: box(*g111.bounds).intersects(Point(h["lon"], h["lat"])),
                                 axis=1)]
    assert sorted(r["id"] for r in points) == sorted(int(i) for i in expected["id"])
    assert len(points) == 3
    assert set(points[0]) == {"id", "lon", "lat", "address", "size", "is_rental",
                              "is_elderly_alone", "is_special_care"}
    flags = sorted((r["size"], r["is_rental"], r["is_elderly_alone"], r["is_special_care"])
                   for r in points)
    assert flags == [(1, False, False, True), (2, True, False, False), (3, False, True, False)]
    assert "张三" not in repr(points) + repr(got)
    assert len(wall.households_in_bbox(conn, world.geom(COUNTY).bounds, limit=4)) == 4


def test_cameras_and_workers_within_a_unit(conn, world):
    everything = wall.cameras(conn)
    assert sorted(r["id"] for r in everything) == sorted(int(i) for i in world.cameras["id"])
    assert set(everything[0]) == {"id", "code", "name", "kind", "status", "stream_url", "lon",
                                  "lat", "grid_id"}
    codes = {"t1": {"CAM-E", "CAM-N", "CAM-W", "CAM-V12"}, "v11": {"CAM-E", "CAM-N", "CAM-W"},
             "g112": {"CAM-E", "CAM-N"}, "t2": {"CAM-T2"}}
    for key, within in (("t1", (1, world.unit[T1])), ("v11", (2, world.unit[V11])),
                        ("g112", (3, world.unit[G112])), ("t2", (1, world.unit[T2]))):
        assert {r["code"] for r in wall.cameras(conn, within=within)} == codes[key]
    # A unit id given with the wrong level matches nothing.
    assert wall.cameras(conn, within=(2, world.unit[T1])) == []
    in_view = wall.cameras(conn, bbox=world.geom(G112).buffer(-1e-4).bounds)
    assert {r["code"] for r in in_view} == {"CAM-E", "CAM-N"}
    both = wall.cameras(conn, bbox=world.geom(G112).buffer(-1e-4).bounds,
                        within=(1, world.unit[T2]))
    assert both == []

    people = wall.workers(conn)
    assert {r["code"] for r in people} >= {"W-111", "W-211", "W-NONE"}
    w111 = next(r for r in people if r["code"] == "W-111")
    assert w111["grid_name"] == world.units.set_index("code").loc[G111, "name"]
    assert world.geom(G111).contains(Point(w111["lon"], w111["lat"]))
    nobody = next(r for r in people if r["code"] == "W-NONE")
    assert (nobody["lon"], nobody["grid_name"]) == (None, None)
    assert [r["code"] for r in wall.workers(conn, within=(1, world.unit[T2]))] == ["W-211"]
    assert [r["code"] for r in wall.workers(conn, within=(3, world.unit[G111]))] == ["W-111"]
    with pytest.raises(ValueError, match="level 9"):
        wall.workers(conn, within=(9, 1))


def test_nearest_cameras_by_distance_on_the_ellipsoid(conn, world):
    lon, lat = _point_in(world.units, G112, .5, .5)
    expected = sorted(
        (GEOD.inv(lon, lat, r["lon"], r["lat"])[2], r["code"])
        for r in world.cameras.to_dict("records"))
    for k in (1, 2, 3, len(expected) + 2):
        got = wall.nearest_cameras(conn, lon, lat, k=k)
        assert [r["code"] for r in got] == [c for _, c in expected[:k]]
        for r, (dist, _) in zip(got, expected, strict=False):
            assert r["distance_m"] == pytest.approx(dist, abs=0.06)
            assert r["distance_m"] == round(r["distance_m"], 1)
    # CAM-N is nearer in degrees (0.009 vs 0.0095) but CAM-E is nearer on the ground.
    assert wall.nearest_cameras(conn, lon, lat, k=1)[0]["code"] == "CAM-E"
    assert set(wall.nearest_cameras(conn, lon, lat)[0]) == {
        "id", "code", "name", "status", "stream_url", "lon", "lat", "distance_m"}
    with pytest.raises(ValueError, match="k must be"):
        wall.nearest_cameras(conn, lon, lat, k=0)
    with pytest.raises(ValueError, match="lat"):
        wall.nearest_cameras(conn, lon, 95.0)


def test_nearest_cameras_without_cameras(conn):
    conn.execute(text("DELETE FROM camera"))
    assert wall.nearest_cameras(conn, 97.0, 40.3) == []


def test_accepts_an_engine(db_engine):
    """With an Engine each function opens its own connection (committed data only)."""
    with db_engine.connect() as c:
        units = c.scalar(text("SELECT count(*) FROM unit WHERE valid_to IS NULL"))
    assert len(wall.unit_tree(db_engine)) == units
    assert isinstance(wall.units_signature(db_engine), tuple)
    p = Period(datetime(1999, 1, 1, tzinfo=UTC), datetime(1999, 2, 1, tzinfo=UTC))
    assert wall.kpis(db_engine, p)["received"] == 0
    assert wall.hex_density(db_engine, (97.0, 40.25, 97.12, 40.33), 500, p) == []
