"""The native API as a third-party client meets it (#17): JSON errors for every unknown
path, ``Allow`` on 405, constraints stated in the OpenAPI document itself, no control
characters or bidi overrides in text, JSON bodies only, strict types."""

from __future__ import annotations

import json

import pytest

from tests.intake.conftest import headers, new_report

pytestmark = pytest.mark.db


@pytest.mark.parametrize("path", ["/api/v1/nonexistent", "/api/v1/incidents/abc",
                                  "/api/v1/incidents/-1", "/api/nothing", "/api/v2/reports"])
def test_unknown_api_paths_are_json_404(client, keys, path) -> None:
    resp = client.get(path, headers=headers(keys["operator"]))
    assert resp.status_code == 404
    assert resp.content_type.startswith("application/json")
    assert resp.get_json()["error"]["code"] == "not_found"


def test_unknown_open311_paths_are_spec_404(client) -> None:
    resp = client.get("/open311/v3/services.json")
    assert resp.status_code == 404 and resp.get_json()[0]["code"] == 404
    resp = client.get("/open311/nothing")
    assert resp.status_code == 404 and "<errors>" in resp.get_data(as_text=True)


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("get", "/api/v1/reports", {"POST"}),
    ("delete", "/api/v1/incidents/1", {"GET", "HEAD"}),
    ("put", "/api/v1/incidents", {"GET", "HEAD"}),
    ("get", "/api/v1/incidents/1/actions", {"POST"}),
])
def test_405_says_what_is_allowed(client, keys, method, path, allow) -> None:
    resp = getattr(client, method)(path, headers=headers(keys["operator"]))
    assert resp.status_code == 405, resp.get_data(as_text=True)
    assert {m.strip() for m in resp.headers["Allow"].split(",")} >= allow
    assert resp.get_json()["error"]["code"] == "method_not_allowed"


def test_openapi_states_the_constraints(client) -> None:
    doc = client.get("/api/openapi.json").get_json()
    report = doc["components"]["schemas"]["ReportIn"]["properties"]
    location = doc["components"]["schemas"]["Location"]["properties"]
    assert "grid_app" in report["source"]["enum"] and "sanitation" in report["category"]["enum"]
    assert report["description"]["maxLength"] == 4000
    assert (location["lon"]["minimum"], location["lon"]["maximum"]) == (-180, 180)
    assert (location["lat"]["minimum"], location["lat"]["maximum"]) == (-90, 90)
    assert report["external_id"]["pattern"].startswith("^")
    action = doc["components"]["schemas"]["ActionIn"]["properties"]
    assert "checkin" in json.dumps(action["action"])


@pytest.mark.parametrize(("field", "value"), [
    ("description", "门口\x07有垃圾"), ("description", "垃圾\x1b[31m"),
    ("description", "垃圾\x0b堆放"), ("description", "付款\u202e1234"),
    ("address", "幸福路\u2066 8 号"), ("subcategory", "垃圾\x00")])
def test_control_characters_and_bidi_overrides_are_refused(client, keys, field,
                                                           value) -> None:
    body = new_report(**{field: value})
    resp = client.post("/api/v1/reports", data=json.dumps(body),
                       headers=headers(keys["operator"]), content_type="application/json")
    assert resp.status_code == 422, resp.get_data(as_text=True)
    fields = [f["field"] for f in resp.get_json()["error"]["fields"]]
    assert any(field in f for f in fields), fields
    assert "U+" in json.dumps(resp.get_json(), ensure_ascii=False)


def test_tabs_newlines_and_crlf_are_kept(client, keys) -> None:
    body = new_report(description="第一行\r\n第二行\t附注")
    resp = client.post("/api/v1/reports", data=json.dumps(body),
                       headers=headers(keys["operator"]), content_type="application/json")
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["description"] == "第一行\n第二行\t附注"


def test_json_bodies_only_and_strict_numbers(client, keys) -> None:
    body = new_report()
    as_text = client.post("/api/v1/reports", data=json.dumps(body),
                          headers=headers(keys["operator"]), content_type="text/plain")
    assert as_text.status_code == 415
    assert "application/json" in as_text.get_json()["error"]["message"]
    body["location"]["lat"] = str(body["location"]["lat"])
    string_lat = client.post("/api/v1/reports", data=json.dumps(body),
                             headers=headers(keys["operator"]),
                             content_type="application/json")
    assert string_lat.status_code == 422
    assert any("lat" in f["field"] for f in string_lat.get_json()["error"]["fields"])
