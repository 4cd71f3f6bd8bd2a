"""A town user sees their town only — API, Open311, layers, units, monthly — compared with
SQL on 玉门; an id from another town answers 404 (#15)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from accounts import service
from accounts.bootstrap import SETUP
from dashboard.app import create_app
from tests.helpers import client_as, make_user

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def app(settings, wall_engine, wall_db_url):
    return create_app(settings.with_(database_url=wall_db_url, escalate_every_s=0))


@pytest.fixture(scope="module")
def town(wall_engine) -> dict:
    """The town with the most incidents, its code, and its incidents' ids (by SQL)."""
    with wall_engine.connect() as conn:
        row = conn.execute(text("""
            SELECT u.id, u.code FROM incident i JOIN unit u ON u.id = i.town_id
            GROUP BY u.id, u.code ORDER BY count(*) DESC LIMIT 1""")).one()
        ids = {r[0] for r in conn.execute(text("SELECT id FROM incident WHERE town_id = :t"),
                                          {"t": row.id})}
        other = conn.scalar(text("SELECT min(id) FROM incident WHERE town_id <> :t"),
                            {"t": row.id})
        villages = {r[0] for r in conn.execute(text(
            "SELECT id FROM unit WHERE parent_id = :t AND valid_to IS NULL"), {"t": row.id})}
    return {"id": row.id, "code": row.code, "incidents": ids, "other": other,
            "villages": villages}


@pytest.fixture(scope="module")
def token(app, town) -> str:
    rt = app.server.extensions["onemap"]
    user = make_user(rt, "commander", town["code"])
    return service.issue_token(rt.acting_as(SETUP), user["username"], 7)


def test_the_api_lists_only_the_towns_cases(app, token, town) -> None:
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
    assert seen == town["incidents"]  # exactly the town's cases, by SQL
    inside = next(iter(town["incidents"]))
    assert client.get(f"/api/v1/incidents/{inside}",
                      headers={"X-API-Key": token}).status_code == 200
    assert client.get(f"/api/v1/incidents/{town['other']}",
                      headers={"X-API-Key": token}).status_code == 404


def test_open311_with_the_token_is_scoped_and_without_it_public(app, token, town) -> None:
    client = app.server.test_client()
    scoped = client.get(f"/open311/v2/requests.json?api_key={token}&page_size=500")
    assert scoped.status_code == 200
    ids = {int(r["service_request_id"]) for r in scoped.json}
    assert ids and ids <= town["incidents"]
    public = client.get("/open311/v2/requests.json?page_size=500")
    assert len(public.json) > len(ids)  # the public read is not narrowed…
    assert all("phone" not in r and "email" not in r for r in public.json)  # …nor personal


def test_layers_units_and_monthly_hold_only_the_town(app, town, wall_engine) -> None:
    client = client_as(app, "commander", town["code"])
    points = client.get("/wall/incidents.geojson?z=14&window=30d"
                        "&bbox=96.0,39.0,99.0,42.0").json["features"]
    assert points and {f["properties"]["id"] for f in points} <= town["incidents"]
    villages = client.get("/wall/units.geojson?level=2").json["features"]
    assert {f["properties"]["id"] for f in villages} == town["villages"]
    towns = client.get("/wall/units.geojson?level=1").json["features"]
    assert [f["properties"]["id"] for f in towns] == [town["id"]]
    with wall_engine.connect() as conn:
        other_town = conn.scalar(text("SELECT id FROM unit WHERE level = 1 AND id <> :t "
                                      "AND valid_to IS NULL LIMIT 1"), {"t": town["id"]})
    assert client.get(f"/wall/units/bounds?id={other_town}").status_code == 404
    assert client.get(f"/wall/units.geojson?parent={other_town}").status_code == 404
    month = client.get("/monthly/units.geojson?month=2026-10&level=1").json["features"]
    assert [f["properties"]["id"] for f in month] == [town["id"]]
    workers = client.get("/wall/workers.geojson").json["features"]
    assert workers and all("****" in f["properties"]["phone"] for f in workers)


def test_unmask_of_another_towns_case_is_404(app, town) -> None:
    client = client_as(app, "commander", town["code"])
    assert client.post("/unmask", json={"id": town["other"], "reason": "核实情况"}
                       ).status_code == 404


def test_a_town_key_reports_only_inside_its_town(app, town, wall_engine) -> None:
    from store import api_keys

    with wall_engine.begin() as conn:
        key = api_keys.create_key(conn, "镇热线", "hotline_12345", "reporter", town["code"])
        points = {inside: conn.execute(text(f"""
            SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(g.geom) AS p
              FROM unit g JOIN unit v ON v.id = g.parent_id
              WHERE g.level = 3 AND g.valid_to IS NULL AND v.parent_id {op} :t
              ORDER BY g.code LIMIT 1) s"""), {"t": town["id"]}).one()
            for inside, op in ((True, "="), (False, "<>"))}
    client = app.server.test_client()

    def post(external_id: str, lon: float, lat: float):
        return client.post("/api/v1/reports", headers={"X-API-Key": key}, json={
            "source": "hotline_12345", "external_id": external_id, "category": "other",
            "description": "范围测试", "location": {"lon": lon, "lat": lat}})

    outside = post("SCOPE-OUT-1", *points[False])
    assert outside.status_code == 403 and outside.json["error"]["code"] == "out_of_scope"
    inside = post("SCOPE-IN-1", *points[True])
    assert inside.status_code == 201, inside.json
    with wall_engine.connect() as conn:
        stored = {r[0]: r[1] for r in conn.execute(text(
            "SELECT external_id, town_id FROM incident WHERE external_id LIKE 'SCOPE-%'"))}
    assert stored == {"SCOPE-IN-1": town["id"]}  # nothing of the refused one
