"""The wall's point and density layers (/wall/<layer>.geojson) on 玉门 with generated data:
what each zoom sends, bad parameters, and the datum shift."""

from __future__ import annotations

import gzip
import json

import pytest
from sqlalchemy import text

from dashboard import wall_routes
from dashboard.app import create_app
from geo.crs import wgs84_to_gcj02
from geo.workflow import OPEN_STATES
from tests.helpers import client_as

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def client(settings, wall_engine, wall_db_url):
    app = create_app(settings.with_(database_url=wall_db_url, escalate_every_s=0))
    return client_as(app, "commander")


@pytest.fixture(scope="module")
def gcj_client(settings, wall_engine, wall_db_url):
    app = create_app(settings.with_(database_url=wall_db_url, escalate_every_s=0,
                                    basemap_datum="gcj02"))
    return client_as(app, "commander")


@pytest.fixture(scope="module")
def busy_box(wall_engine) -> tuple[float, float, float, float]:
    """A 4 km box around the busiest grid's incidents of the last 30 days."""
    with wall_engine.connect() as conn:
        row = conn.execute(text("""
            SELECT avg(ST_X(geom)) AS x, avg(ST_Y(geom)) AS y FROM incident
            WHERE grid_id = (SELECT grid_id FROM incident WHERE geom IS NOT NULL
                             AND received_at > now() - interval '30 days'
                             GROUP BY grid_id ORDER BY count(*) DESC LIMIT 1)""")).one()
    return (row.x - 0.025, row.y - 0.02, row.x + 0.025, row.y + 0.02)


def _get(client, path: str, **params) -> dict:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    resp = client.get(f"{path}?{query}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return json.loads(resp.get_data())


def _box(b) -> str:
    return ",".join(f"{c:.6f}" for c in b)


def test_far_out_only_open_high_risk_and_overdue_incidents(client, wall_engine):
    body = _get(client, "/wall/incidents.geojson", z=9, window="30d")
    props = [f["properties"] for f in body["features"]]
    assert props, "the demo has open high-risk or overdue cases"
    assert all(p["status"] in OPEN_STATES for p in props)
    assert all(p["severity"] == "high" or p["overdue"] for p in props)


def test_close_in_every_incident_of_the_window_in_view(client, wall_engine, busy_box):
    body = _get(client, "/wall/incidents.geojson", z=14, window="30d", bbox=_box(busy_box))
    x0, y0, x1, y1 = busy_box
    with wall_engine.connect() as conn:
        expected = conn.scalar(text("""
            SELECT count(*) FROM incident WHERE duplicate_of IS NULL
              AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)
              AND (received_at > now() - interval '30 days'
                   OR (status = ANY(:open) AND due_at < now()))"""),
            {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "open": list(OPEN_STATES)})
    assert len(body["features"]) == expected > 0
    for f in body["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert x0 <= lon <= x1 and y0 <= lat <= y1


def test_filters_narrow_the_points(client, busy_box):
    every = _get(client, "/wall/incidents.geojson", z=14, window="30d", bbox=_box(busy_box))
    only = _get(client, "/wall/incidents.geojson", z=14, window="30d", bbox=_box(busy_box),
                severity="low")
    assert 0 < len(only["features"]) < len(every["features"])
    assert all(f["properties"]["severity"] == "low" for f in only["features"])


def test_density_only_at_street_zoom_and_counts_add_up(client, busy_box):
    assert _get(client, "/wall/density.geojson", z=11, bbox=_box(busy_box))["features"] == []
    cells = _get(client, "/wall/density.geojson", z=14, window="30d", bbox=_box(busy_box))
    counts = [f["properties"]["n"] for f in cells["features"]]
    assert counts and min(counts) >= 1
    assert max(counts) == cells["max"] == cells["features"][0]["properties"]["max"]
    assert wall_routes.hex_size_m(13) > wall_routes.hex_size_m(16)


def test_households_are_counts_far_out_and_homes_close_in(client, wall_engine, busy_box):
    far = _get(client, "/wall/households.geojson", z=10)
    with wall_engine.connect() as conn:
        homes = conn.scalar(text("SELECT count(*) FROM household"))
    assert {f["properties"]["kind"] for f in far["features"]} == {"grid"}
    assert sum(f["properties"]["n"] for f in far["features"]) == homes
    near = _get(client, "/wall/households.geojson", z=16, bbox=_box(busy_box))
    assert {f["properties"]["kind"] for f in near["features"]} <= {"household"}


def test_cameras_carry_status_and_stream(client, wall_engine):
    body = _get(client, "/wall/cameras.geojson", z=10)
    with wall_engine.connect() as conn:
        assert len(body["features"]) == conn.scalar(text("SELECT count(*) FROM camera"))
    props = body["features"][0]["properties"]
    assert props["status"] in ("online", "offline") and props["stream_url"]


def test_within_a_town_only_its_workers(client, wall_engine):
    with wall_engine.connect() as conn:
        town = conn.execute(text("SELECT id, name FROM unit WHERE level = 1 ORDER BY code "
                                 "LIMIT 1")).one()
        expected = conn.scalar(text("""
            SELECT count(*) FROM grid_worker w JOIN unit g ON g.id = w.grid_id
            JOIN unit v ON v.id = g.parent_id WHERE v.parent_id = :t"""), {"t": town.id})
    body = _get(client, "/wall/workers.geojson", within=f"1:{town.id}")
    assert len(body["features"]) == expected > 0


def test_gzip_when_asked(client):
    resp = client.get("/wall/cameras.geojson?z=10", headers={"Accept-Encoding": "gzip"})
    assert resp.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(resp.get_data()))["type"] == "FeatureCollection"


@pytest.mark.parametrize("query,needle", [
    ("bbox=1,2,3", "bbox"), ("bbox=5,5,1,1", "min < max"), ("z=deep", "z must be"),
    ("within=town", "within"), ("window=fortnight", "window"),
])
def test_bad_parameters_are_named(client, query, needle):
    resp = client.get(f"/wall/incidents.geojson?{query}")
    assert resp.status_code == 400
    assert needle in resp.get_json()["error"]


def test_gcj02_basemap_shifts_points(client, gcj_client):
    plain = _get(client, "/wall/cameras.geojson", z=10)["features"]
    shifted = _get(gcj_client, "/wall/cameras.geojson", z=10)["features"]
    by_code = {f["properties"]["code"]: f["geometry"]["coordinates"] for f in plain}
    for f in shifted[:20]:
        lon, lat = by_code[f["properties"]["code"]]
        gx, gy = wgs84_to_gcj02(lon, lat)
        assert f["geometry"]["coordinates"] == pytest.approx([float(gx), float(gy)], abs=2e-6)
        assert abs(f["geometry"]["coordinates"][0] - lon) > 1e-4  # hundreds of metres
