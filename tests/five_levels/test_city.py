"""A five-level deployment (市 → 区县 → 街道乡镇 → 社区村 → 网格), end to end: the synthetic
province cut into cities, cases carrying their city, escalation up to the city's backstop, the
wall drilling from a city to its counties and towns, monthly maps at city and county level,
a city account's scope, and level names from settings.

The levels are read when a process starts, so this module runs in a pytest of its own with
``ONEMAP_LEVELS=city,county,town,village,grid`` (``tests/test_five_levels.py`` starts it); in
the four-level run it is not collected (``tests/conftest.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import shapely
from sqlalchemy import create_engine, text

from geo import levels as lv
from store import migrate
from store.engine import ensure_database
from tests.helpers import client_as, sibling_database

pytestmark = pytest.mark.db

CITY, COUNTY, TOWN, VILLAGE, GRID = 0, 1, 2, 3, 4
NAMES = ("地级市", "区县", "街道乡镇", "社区村", "网格")


def test_the_registry_has_five_levels() -> None:
    assert [level.key for level in lv.LEVELS] == ["city", "county", "town", "village", "grid"]
    assert (lv.CITY, lv.COUNTY, lv.GRID, lv.TOP, lv.BOTTOM) == (CITY, COUNTY, GRID, CITY, GRID)
    assert lv.LEVEL_COLUMNS[CITY] == "city_id"
    assert lv.parse_level("city") == CITY and lv.parse_level("4") == GRID


@pytest.fixture(scope="module")
def city_url(db_url) -> str:
    return sibling_database(db_url, "city")


@pytest.fixture(scope="module")
def city_engine(city_url, tmp_path_factory):
    from loaders.province import load_province

    url = city_url
    ensure_database(url, fresh=True)
    engine = create_engine(url, pool_pre_ping=True)
    migrate.upgrade(engine)
    # 3 counties in 2 cities, each county 2 towns, 20 villages, 116 grids; 1,160 cases each
    load_province(engine, scale=0.03, people=0.01, size=0.1,
                  var_dir=str(tmp_path_factory.mktemp("var")))
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def app(settings, city_engine, city_url):
    from dashboard.app import create_app

    return create_app(settings.with_(database_url=city_url, escalate_every_s=0,
                                     level_names=NAMES))


def _units(engine) -> dict[int, dict]:
    with engine.connect() as conn:
        return {r.id: dict(r._mapping) for r in conn.execute(text(
            "SELECT id, code, level, parent_id, geom FROM unit WHERE valid_to IS NULL"))}


def test_cities_are_cut_into_counties_and_every_level_tiles_the_province(city_engine):
    from store.repository import load_units_frame

    with city_engine.connect() as conn:
        units = load_units_frame(conn)
    by_level = units.groupby("level").size().to_dict()
    assert by_level[CITY] == 2 and by_level[COUNTY] == 3 and by_level[TOWN] == 6
    for level in range(5):
        geoms = units[units["level"] == level].geometry.to_numpy()
        assert shapely.coverage_is_valid(geoms), f"level {level} is not a valid coverage"
    cities = units[units["level"] == CITY].set_index("id")
    counties = units[units["level"] == COUNTY]
    assert set(counties["parent_id"]) == set(cities.index)  # every county under a city
    for city_id, city in cities.iterrows():
        mine = shapely.union_all(counties[counties["parent_id"] == city_id].geometry)
        assert abs(mine.area - city.geometry.area) / city.geometry.area < 1e-9
    assert units[units["level"] > CITY]["parent_id"].notna().all()


def test_every_case_carries_its_city_and_some_are_handled_there(city_engine):
    with city_engine.connect() as conn:
        wrong = conn.scalar(text("""
            SELECT count(*) FROM incident i JOIN unit c ON c.id = i.county_id
            WHERE i.city_id IS DISTINCT FROM c.parent_id"""))
        located = conn.scalar(text("SELECT count(*) FROM incident WHERE grid_id IS NOT NULL"))
        at_city = conn.scalar(text("SELECT count(*) FROM incident WHERE handling_level = 0"))
        climbed = conn.scalar(text("""
            SELECT count(*) FROM incident_event WHERE action = 'escalate'
              AND note = '上报至市级指挥中心'"""))
    assert located > 3000 and wrong == 0
    assert at_city > 0 and climbed >= at_city  # each case handled by the city climbed to it


def test_an_overdue_county_case_goes_up_to_the_city_and_stops_there(city_engine, city_url,
                                                                     settings):
    from intake import service
    from store.runtime import build_runtime

    with city_engine.begin() as conn:
        ids = [r[0] for r in conn.execute(text(
            "SELECT id FROM incident WHERE grid_id IS NOT NULL ORDER BY id LIMIT 2"))]
        conn.execute(text("""
            UPDATE incident SET status = 'accepted', closed_at = NULL, duplicate_of = NULL,
                   handling_level = CASE WHEN id = :a THEN 1 ELSE 0 END,
                   due_at = now() - interval '1 hour', missed_due_at = NULL
            WHERE id = ANY(:ids)"""), {"a": ids[0], "ids": ids})
        conn.execute(text("UPDATE incident SET due_at = now() + interval '30 days' "
                          "WHERE closed_at IS NULL AND NOT (id = ANY(:ids))"), {"ids": ids})
    lenient = (("high", 30), ("medium", 30), ("low", 30))  # so the level's days decide
    rt = build_runtime(settings.with_(database_url=city_url, severity_deadline_days=lenient),
                       engine=city_engine)
    before = datetime.now(UTC)
    run = service.escalate_overdue(rt)
    assert (run.escalated, run.marked_at_top) == (1, 1)
    with city_engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(text(
            "SELECT id, handling_level, due_at, status FROM incident WHERE id = ANY(:ids)"),
            {"ids": ids})}
        notes = {r.incident_id: r.note for r in conn.execute(text(
            "SELECT incident_id, note FROM incident_event WHERE incident_id = ANY(:ids) "
            "AND action IN ('escalate', 'overdue') ORDER BY at"), {"ids": ids})}
    up, top = rows[ids[0]], rows[ids[1]]
    assert (up.handling_level, up.status) == (CITY, "escalated")
    # the city's 10 days (a county has 7), counted to the end of the local day
    assert before + timedelta(days=10) <= up.due_at <= before + timedelta(days=11)
    assert "自动上报至市级" in notes[ids[0]]
    assert top.handling_level == CITY and "最高层级" in notes[ids[1]]


def test_the_wall_drills_from_a_city_to_its_counties_and_their_towns(app, city_engine):
    units = _units(city_engine)
    city = min((u for u in units.values() if u["level"] == CITY), key=lambda u: u["code"])
    counties = {i for i, u in units.items() if u["parent_id"] == city["id"]}
    client = client_as(app, "commander", city["code"])
    shown = client.get("/wall/units.geojson?level=1&z=8")
    assert shown.status_code == 200
    assert {f["properties"]["id"] for f in shown.json["features"]} == counties
    county = min(counties)
    towns = client.get(f"/wall/units.geojson?level=2&parent={county}&z=10").json["features"]
    assert {f["properties"]["id"] for f in towns} == {
        i for i, u in units.items() if u["parent_id"] == county}
    other = next(i for i, u in units.items() if u["level"] == COUNTY and i not in counties)
    assert client.get(f"/wall/units.geojson?level=2&parent={other}&z=10").status_code == 404


def test_the_wall_opens_a_city_on_its_counties_and_a_county_on_its_towns(app, city_engine):
    from dashboard.pages import wall
    from tests.helpers import acting

    units = _units(city_engine)
    codes = {lvl: min(u["code"] for u in units.values() if u["level"] == lvl)
             for lvl in (CITY, COUNTY)}
    for home, expected in ((CITY, COUNTY), (COUNTY, TOWN)):
        with acting(app, "commander", codes[home]):
            page = str(wall.layout())
        assert f"'value': {expected}" in page.replace('"', "'")  # the level switch's choice
        assert NAMES[CITY] in page and NAMES[COUNTY] in page  # names from settings


def test_registry_json_names_the_levels_from_settings(app):
    client = client_as(app, "commander", None, level=CITY)
    levels = client.get("/registry.json").json["levels"]
    assert [(x["key"], x["zh"]) for x in levels] == list(zip(
        ("city", "county", "town", "village", "grid"), NAMES, strict=True))


def test_monthly_maps_at_city_level_and_a_citys_counties(city_engine, settings):
    from reports import monthly

    with city_engine.connect() as conn:
        month = conn.scalar(text(
            "SELECT to_char(max(received_at) AT TIME ZONE 'Asia/Shanghai' - interval '1 month',"
            " 'YYYY-MM') FROM incident"))
        per_city = {r[0]: r[1] for r in conn.execute(text("""
            SELECT city_id, count(*) FROM incident
            WHERE to_char(received_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') = :m
              AND city_id IS NOT NULL GROUP BY city_id"""), {"m": month})}
        per_county = {r[0]: r[1] for r in conn.execute(text("""
            SELECT county_id, count(*) FROM incident
            WHERE to_char(received_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') = :m
              AND county_id IS NOT NULL GROUP BY county_id"""), {"m": month})}
    report = monthly.build(city_engine, month, "city", settings.with_(level_names=()))
    assert report.level == CITY and report.level_name_en == "city"
    assert report.level_name_zh == "市(州)"  # no settings names: the registry's
    got = {int(k): int(v) for k, v in report.units["received"].items() if v}
    assert got == per_city
    city_id = max(per_city, key=per_city.get)
    inside = monthly.build(city_engine, month, "county", settings, within=(CITY, city_id))
    counties = {int(k): int(v) for k, v in inside.units["received"].items() if v}
    units = _units(city_engine)
    assert counties == {k: v for k, v in per_county.items()
                        if units[k]["parent_id"] == city_id}


def test_a_city_account_reads_its_citys_cases_only(app, city_engine):
    from accounts import service
    from accounts.bootstrap import SETUP
    from tests.helpers import make_user

    units = _units(city_engine)
    city = min((u for u in units.values() if u["level"] == CITY), key=lambda u: u["code"])
    rt = app.server.extensions["onemap"]
    user = make_user(rt, "commander", city["code"])
    token = service.issue_token(rt.acting_as(SETUP), user["username"], 7)
    client = app.server.test_client()
    seen, cursor = set(), None
    while True:
        url = "/api/v1/incidents?limit=500" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers={"X-API-Key": token})
        assert page.status_code == 200, page.json
        seen |= {i["id"] for i in page.json["items"]}
        cursor = page.json.get("next_cursor")
        if not cursor:
            break
    with city_engine.connect() as conn:
        mine = {r[0] for r in conn.execute(text(
            "SELECT id FROM incident WHERE city_id = :c"), {"c": city["id"]})}
        other = conn.scalar(text("SELECT min(id) FROM incident WHERE city_id <> :c"),
                            {"c": city["id"]})
    assert seen == mine
    assert client.get(f"/api/v1/incidents/{other}",
                      headers={"X-API-Key": token}).status_code == 404
