"""Open311 GeoReport v2, rule by rule from the spec's text (wiki.open311.org/GeoReport_v2),
each test quoting the sentence it checks."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from geo.catalog import CATEGORIES
from intake.open311 import PRIVATE_CATEGORIES
from tests.intake.test_open311 import V2, assert_error, count, created_id, get_json, post

pytestmark = pytest.mark.db


def top_code(engine: Engine) -> str:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT code FROM unit WHERE parent_id IS NULL "
                                "AND valid_to IS NULL ORDER BY code LIMIT 1"))


def test_unknown_service_code_is_404(client, keys, api_engine) -> None:
    """POST Service Request, errors: "404 - service_code or service_request_id not found"."""
    before = count(api_engine)
    assert_error(post(client, key=keys["hotline"], service_code="potholes"), 404,
                 "service_code", "'potholes'")
    assert_error(post(client, "xml", key=keys["hotline"], service_code="potholes"), 404,
                 "service_code", fmt="xml")
    assert count(api_engine) == before  # nothing stored
    assert_error(client.get(f"{V2}/services/potholes.json"), 404, "potholes")
    assert_error(client.get(f"{V2}/requests/999999998.json"), 404, "999999998")


def test_post_answers_either_the_id_or_a_token(client, keys) -> None:
    """POST response: service_request_id — "This should not be returned if the token is
    returned"; token — "This should not be returned if the service_request_id is returned"."""
    (body,) = post(client, key=keys["hotline"]).get_json()
    assert ("service_request_id" in body) != ("token" in body)
    assert body["service_request_id"].isdigit()


def test_requests_default_to_the_last_90_days(client, keys, api_engine) -> None:
    """GET Service Requests, start_date/end_date: "the default query should return … the
    most recent 90 days" ("Some implementations may limit … up to 1000 requests")."""
    recent, old = created_id(client, keys["hotline"]), created_id(client, keys["hotline"])
    with api_engine.begin() as conn:
        conn.execute(text("UPDATE incident SET received_at = now() - interval '100 days', "
                          "reported_at = now() - interval '100 days' WHERE id = :i"),
                     {"i": int(old)})
        public = [c.code for c in CATEGORIES if c.code not in PRIVATE_CATEGORIES]
        in_window = conn.scalar(text(
            "SELECT count(*) FROM incident WHERE received_at >= now() - interval '90 days' "
            "AND category = ANY(:c)"), {"c": public})
    listed = {r["service_request_id"] for r in get_json(client, "requests")}
    assert recent in listed and old not in listed
    assert len(listed) == min(in_window, 1000)  # no smaller default page
    assert len(get_json(client, "requests", page_size=1000)) == min(in_window, 1000)
    assert_error(client.get(f"{V2}/requests.json?page_size=1001"), 400, "page_size")


def test_jurisdiction_id_is_checked(client, keys, api_engine) -> None:
    """jurisdiction_id: "This is only required if the endpoint serves multiple
    jurisdictions" — a value that names another jurisdiction is not found here (404)."""
    mine = top_code(api_engine)
    assert get_json(client, "services", jurisdiction_id=mine)
    assert_error(client.get(f"{V2}/services.json?jurisdiction_id=san-francisco"), 404,
                 "jurisdiction_id", mine)
    assert_error(client.get(f"{V2}/requests.xml?jurisdiction_id=sf"), 404, "jurisdiction_id",
                 fmt="xml")
    before = count(api_engine)
    assert_error(post(client, key=keys["hotline"], jurisdiction_id="sf"), 404,
                 "jurisdiction_id")
    assert count(api_engine) == before
    resp = post(client, key=keys["hotline"], jurisdiction_id=mine)
    assert resp.status_code == 201, resp.get_data(as_text=True)


def test_a_configured_jurisdiction_id(api_engine, api_settings) -> None:
    """ONEMAP_JURISDICTION_ID names the one value this server answers to."""
    from dashboard.app import create_app

    app = create_app(api_settings.with_(jurisdiction_id="gansu.yumen", escalate_every_s=0))
    client = app.server.test_client()
    assert client.get(f"{V2}/services.json?jurisdiction_id=gansu.yumen").status_code == 200
    assert_error(client.get(f"{V2}/services.json?jurisdiction_id={top_code(api_engine)}"),
                 404, "gansu.yumen")
