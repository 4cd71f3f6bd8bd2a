"""Open311 GeoReport v2 under /open311/v2: both formats against the spec's example shapes,
posting through the same intake as the native API, reading back, errors in the spec's form."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from geo.catalog import CATEGORIES, CATEGORY_BY_CODE
from tests.intake.conftest import HOUSEHOLDS, OUTSIDE, headers

pytestmark = pytest.mark.db

V2 = "/open311/v2"
# This file's own place (town 2, north village, away from the points the other API tests use),
# so that its reports are not near-duplicates of theirs, nor theirs of these.
HERE = (97.085, 40.305)
# Field names and order of the spec's example responses.
REQUEST_FIELDS = ["service_request_id", "status", "status_notes", "service_name",
                  "service_code", "description", "agency_responsible", "service_notice",
                  "requested_datetime", "updated_datetime", "expected_datetime", "address",
                  "address_id", "zipcode", "lat", "long", "media_url"]
SERVICE_FIELDS = ["service_code", "service_name", "description", "metadata", "type",
                  "keywords", "group"]
ATTRIBUTE_FIELDS = ["variable", "code", "datatype", "required", "datatype_description",
                    "order", "description", "values"]
# citizen_url: an extension field, the reporter's progress and rating page (#16).
POST_FIELDS = ["service_request_id", "service_notice", "account_id", "citizen_url"]


# -- helpers ---------------------------------------------------------------------------------

def get_json(client, path: str, expect: int = 200, **query: Any) -> Any:
    resp = client.get(f"{V2}/{path}.json", query_string=query)
    assert resp.status_code == expect, resp.get_data(as_text=True)
    assert resp.content_type == "application/json; charset=utf-8"
    return resp.get_json()


def get_xml(client, path: str, expect: int = 200, **query: Any) -> ET.Element:
    resp = client.get(f"{V2}/{path}.xml", query_string=query)
    assert resp.status_code == expect, resp.get_data(as_text=True)
    return parse_xml(resp)


def parse_xml(resp) -> ET.Element:
    assert resp.content_type == "text/xml; charset=utf-8"
    data = resp.get_data()
    assert data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(data)


def tags(elem: ET.Element) -> list[str]:
    return [child.tag for child in elem]


def post(client, fmt: str = "json", key: str | None = None, idem: str | None = None,
         as_json: bool = False, **form: Any):
    data = {"service_code": "sanitation", "lat": str(HERE[1]), "long": str(HERE[0]),
            "description": f"小区门口垃圾堆放三天无人清理 {uuid.uuid4().hex[:6]}"}
    if key is not None:
        data["api_key"] = key
    data.update(form)
    data = {k: v for k, v in data.items() if v is not None}
    hdrs = {"Idempotency-Key": idem} if idem else {}
    if as_json:
        return client.post(f"{V2}/requests.{fmt}", data=json.dumps(data), headers=hdrs,
                           content_type="application/json")
    return client.post(f"{V2}/requests.{fmt}", data=data, headers=hdrs)


def created_id(client, key: str, **form: Any) -> str:
    resp = post(client, key=key, **form)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()[0]["service_request_id"]


def count(engine: Engine, where: str = "true", **params: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM incident WHERE {where}"),
                            params).scalar()


def grid_code_at(engine: Engine, lon: float, lat: float) -> str:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT code FROM unit WHERE level = 3 AND valid_to IS NULL AND ST_Intersects("
            "geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) ORDER BY code LIMIT 1"),
            {"x": lon, "y": lat}).scalar()


def act(client, key: str, incident_id: str, action: str, **extra: Any) -> None:
    resp = client.post(f"/api/v1/incidents/{incident_id}/actions",
                       data=json.dumps({"action": action, **extra}), headers=headers(key),
                       content_type="application/json")
    assert resp.status_code == 200, resp.get_data(as_text=True)


def assert_error(resp, status: int, *needles: str, fmt: str = "json") -> str:
    assert resp.status_code == status, resp.get_data(as_text=True)
    if fmt == "json":
        body = resp.get_json()
        assert isinstance(body, list) and len(body) == 1
        assert list(body[0]) == ["code", "description"]
        assert body[0]["code"] == status
        description = body[0]["description"]
    else:
        root = parse_xml(resp)
        assert root.tag == "errors" and tags(root) == ["error"]
        assert tags(root[0]) == ["code", "description"]
        assert root[0].findtext("code") == str(status)
        description = root[0].findtext("description")
    for needle in needles:
        assert needle in description, description
    return description


@pytest.fixture()
def since(api_engine: Engine) -> str:
    """The moment the test starts (the database's clock): filters its own requests by
    updated_after, whatever other tests stored before."""
    with api_engine.connect() as conn:
        return conn.execute(text("SELECT clock_timestamp()")).scalar().isoformat()


# -- discovery and services ------------------------------------------------------------------

def test_discovery_both_formats(client) -> None:
    doc = get_json(client, "discovery")
    assert list(doc) == ["changeset", "contact", "key_service", "endpoints"]
    (endpoint,) = doc["endpoints"]
    assert endpoint == {"specification": "http://wiki.open311.org/GeoReport_v2",
                        "url": "http://localhost/open311/v2", "changeset": doc["changeset"],
                        "type": "production", "formats": ["text/xml", "application/json"]}
    root = get_xml(client, "discovery")
    assert root.tag == "discovery"
    assert tags(root) == ["changeset", "contact", "key_service", "endpoints"]
    assert tags(root.find("endpoints")) == ["endpoint"]
    ep = root.find("endpoints/endpoint")
    assert tags(ep) == ["specification", "url", "changeset", "type", "formats"]
    assert [f.text for f in ep.find("formats")] == ["text/xml", "application/json"]
    assert tags(ep.find("formats")) == ["format", "format"]


def test_services_are_the_catalogue(client) -> None:
    body = get_json(client, "services")
    assert [s["service_code"] for s in body] == [c.code for c in CATEGORIES]
    assert [s["service_name"] for s in body] == [c.zh for c in CATEGORIES]
    for s in body:
        assert list(s) == SERVICE_FIELDS
        assert s["type"] == "realtime" and s["metadata"] is True
    assert body[4]["group"] == "城市管理综合执法局"  # sanitation's department
    english = get_json(client, "services", lang="en")
    assert [s["service_name"] for s in english] == [c.en for c in CATEGORIES]
    root = get_xml(client, "services")
    assert root.tag == "services" and set(tags(root)) == {"service"}
    assert len(root) == len(CATEGORIES)
    assert tags(root[0]) == SERVICE_FIELDS
    assert root[0].findtext("service_code") == CATEGORIES[0].code
    assert root[0].findtext("metadata") == "true"


def test_service_definition(client) -> None:
    body = get_json(client, "services/sanitation")
    assert list(body) == ["service_code", "attributes"]
    assert body["service_code"] == "sanitation"
    sub, sev = body["attributes"]
    assert list(sub) == ATTRIBUTE_FIELDS
    assert (sub["code"], sub["datatype"], sub["required"], sub["order"]) == (
        "subcategory", "singlevaluelist", False, 1)
    assert [v["key"] for v in sub["values"]] == list(CATEGORY_BY_CODE["sanitation"]
                                                     .subcategories)
    assert (sev["code"], sev["order"], sev["required"]) == ("severity", 2, False)
    assert [(v["key"], v["name"]) for v in sev["values"]] == [("high", "高"), ("medium", "中"),
                                                              ("low", "低")]
    english = get_json(client, "services/sanitation", lang="en")
    assert english["attributes"][1]["values"][0] == {"key": "high", "name": "High"}
    other = get_json(client, "services/other")  # no subcategories: severity only
    assert [a["code"] for a in other["attributes"]] == ["severity"]

    root = get_xml(client, "services/sanitation")
    assert root.tag == "service_definition"
    assert tags(root) == ["service_code", "attributes"]
    assert tags(root.find("attributes")) == ["attribute", "attribute"]
    attr = root.find("attributes/attribute")
    assert tags(attr) == ATTRIBUTE_FIELDS
    assert attr.findtext("variable") == "true" and attr.findtext("required") == "false"
    assert attr.find("datatype_description").text is None
    value = attr.find("values/value")
    assert tags(value) == ["key", "name"] and value.findtext("key") == "垃圾堆放"

    assert_error(client.get(f"{V2}/services/potholes.json"), 404, "potholes")
    assert_error(client.get(f"{V2}/services/potholes.xml"), 404, "potholes", fmt="xml")


def test_unknown_format_or_resource_is_404(client) -> None:
    assert_error(client.get(f"{V2}/services.csv"), 404, "formats", fmt="xml")
    assert_error(client.get(f"{V2}/requests/1.yaml"), 404, fmt="xml")
    assert_error(client.get(f"{V2}/nothing.json"), 404, "nothing")
    assert_error(client.get(f"{V2}/services"), 404, ".json", fmt="xml")
    assert_error(client.delete(f"{V2}/requests/1.json"), 405, "DELETE")
    assert_error(client.put(f"{V2}/requests.xml"), 405, "PUT", fmt="xml")


# -- posting ---------------------------------------------------------------------------------

def test_post_lat_long_then_read_it_back(client, keys, api_engine) -> None:
    before = count(api_engine)
    resp = post(client, key=keys["hotline"], phone="13900001111", email="a@example.cn",
                first_name="三", last_name="张", device_id="dev-1",
                **{"attribute[subcategory]": "垃圾堆放", "attribute[severity]": "high"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    (body,) = resp.get_json()
    assert list(body) == POST_FIELDS
    assert body["account_id"] is None
    assert "城市管理综合执法局" in body["service_notice"]
    assert count(api_engine) == before + 1
    rid = body["service_request_id"]
    with api_engine.connect() as conn:
        row = conn.execute(text("SELECT source, external_id, subcategory, severity, reporter "
                                "FROM incident WHERE id = :i"), {"i": int(rid)}).one()
    assert row.source == "hotline_12345"
    assert row.external_id.startswith("o311-") and len(row.external_id) == 37  # its token
    assert (row.subcategory, row.severity) == ("垃圾堆放", "high")
    assert row.reporter == {"name": "张三", "phone": "13900001111", "email": "a@example.cn"}

    (req,) = get_json(client, f"requests/{rid}", extensions="true")
    assert list(req) == REQUEST_FIELDS + ["extended_attributes"]
    assert req["service_request_id"] == rid and req["status"] == "open"
    assert req["service_code"] == "sanitation" and req["service_name"] == "环境卫生"
    assert req["status_notes"].startswith("已受理")
    assert req["agency_responsible"] == "城市管理综合执法局"
    assert (req["lat"], req["long"]) == pytest.approx((HERE[1], HERE[0]))
    assert req["requested_datetime"].endswith("+08:00")
    assert datetime.fromisoformat(req["expected_datetime"]) > datetime.fromisoformat(
        req["requested_datetime"])
    ext = req["extended_attributes"]
    assert ext["grid_code"] == grid_code_at(api_engine, *HERE)
    assert ext["workflow_status"] == "received" and ext["handling_level"] == "grid"
    assert ext["overdue_now"] is False and "duplicate_of" in ext
    assert "village_name" in ext and "county_code" in ext
    (plain,) = get_json(client, f"requests/{rid}")
    assert "extended_attributes" not in plain
    # Reporter contact data never leaves: neither format, neither endpoint.
    for fmt in ("json", "xml"):
        for path in (f"requests/{rid}.{fmt}?extensions=true",
                     f"requests.{fmt}?service_request_id={rid}&extensions=true"):
            text_ = client.get(f"{V2}/{path}").get_data(as_text=True)
            assert "13900001111" not in text_ and "a@example.cn" not in text_
            assert "张三" not in text_

    root = get_xml(client, f"requests/{rid}", extensions="true")
    assert root.tag == "service_requests" and tags(root) == ["request"]
    assert tags(root[0]) == REQUEST_FIELDS + ["extended_attributes"]
    assert root[0].findtext("status") == "open"
    assert root[0].findtext("extended_attributes/grid_code") == ext["grid_code"]
    assert root[0].findtext("extended_attributes/overdue_now") == "false"


def test_post_xml_and_json_body(client, keys) -> None:
    resp = post(client, "xml", key=keys["hotline"], description="井盖 & 路灯 \"坏了\" > 3 天",
                service_code="infrastructure")
    assert resp.status_code == 201, resp.get_data(as_text=True)
    root = parse_xml(resp)
    assert root.tag == "service_requests" and tags(root) == ["request"]
    assert tags(root[0]) == POST_FIELDS
    assert root[0].find("account_id").text is None
    rid = root[0].findtext("service_request_id")
    req = get_xml(client, f"requests/{rid}")[0]
    assert req.findtext("description") == "井盖 & 路灯 \"坏了\" > 3 天"  # escaped, round trip

    resp = post(client, key=keys["citizen"], as_json=True, lat=HERE[1], long=HERE[0],
                attribute={"severity": "low"}, service_code="cityscape")
    assert resp.status_code == 201, resp.get_data(as_text=True)
    (req,) = get_json(client, f"requests/{resp.get_json()[0]['service_request_id']}",
                      extensions="true")
    assert req["extended_attributes"]["severity"] == "low"


def test_post_address_string_on_the_register(client, keys, api_engine) -> None:
    address, lon, lat = HOUSEHOLDS[2]
    resp = post(client, key=keys["hotline"], lat=None, long=None, address_string=address)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    rid = resp.get_json()[0]["service_request_id"]
    (req,) = get_json(client, f"requests/{rid}", extensions="true")
    assert req["address"] == address and req["status"] == "open"
    assert (req["lat"], req["long"]) == pytest.approx((lat, lon))
    assert req["extended_attributes"]["grid_code"] == grid_code_at(api_engine, lon, lat)
    assert req["extended_attributes"]["location_reason"] == "address"
    # address_id: the register's household code
    resp = post(client, key=keys["hotline"], lat=None, long=None, address_id="HAPI000")
    assert resp.status_code == 201, resp.get_data(as_text=True)
    (req,) = get_json(client, f"requests/{resp.get_json()[0]['service_request_id']}")
    assert req["address"] == HOUSEHOLDS[0][0]
    assert_error(post(client, key=keys["hotline"], lat=None, long=None, address_id="NOPE"),
                 400, "address_id")


def test_unmatched_address_is_stored_unlocated(client, keys) -> None:
    resp = post(client, key=keys["hotline"], lat=None, long=None,
                address_string="某个不存在的小区99号楼")
    assert resp.status_code == 201
    (req,) = get_json(client, f"requests/{resp.get_json()[0]['service_request_id']}",
                      extensions="true")
    assert req["status"] == "open" and req["lat"] is None
    assert req["extended_attributes"]["workflow_status"] == "unlocated"


def test_post_without_or_with_a_bad_key_is_403_and_stores_nothing(client, api_engine
                                                                    ) -> None:
    before = count(api_engine)
    assert_error(post(client), 403, "api_key")
    assert_error(post(client, "xml"), 403, "api_key", fmt="xml")
    assert_error(post(client, key="om_nope_nope"), 403, "api_key")
    assert count(api_engine) == before


@pytest.mark.parametrize(("form", "needles"), [
    ({"service_code": None}, ("service_code", "required")),
    ({"lat": "200"}, ("lat: 200.0 is not a latitude",)),
    ({"lat": "north"}, ("lat", "not a number")),
    ({"long": None}, ("long", "required")),
    ({"lat": None, "long": None}, ("location is required",)),
    ({"lat": str(OUTSIDE[0]), "long": str(OUTSIDE[1])}, ("look swapped",)),
    ({"description": "x" * 4001}, ("description", "4001", "4000")),
    ({"description": "<script>alert(1)</script>"}, ("description", "plain text")),
    ({"attribute[severity]": "urgent"}, ("attribute[severity]", "urgent")),
    ({"attribute[subcategory]": "婚姻家庭"}, ("attribute[subcategory]",)),
    ({"attribute[colour]": "red"}, ("attribute[colour]",)),
    ({"phone": "call me"}, ("phone",)),
    ({"media_url": "javascript:alert(1)"}, ("media_url",)),
])
def test_post_refusals_name_the_parameter(client, keys, api_engine, form, needles) -> None:
    before = count(api_engine)
    assert_error(post(client, key=keys["hotline"], **form), 400, *needles)
    assert_error(post(client, "xml", key=keys["hotline"], **form), 400, *needles, fmt="xml")
    assert count(api_engine) == before


def test_description_of_4000_characters_is_accepted(client, keys) -> None:
    resp = post(client, key=keys["hotline"], description="长" * 4000)
    assert resp.status_code == 201, resp.get_data(as_text=True)


def test_oversized_body_is_413(client, keys, api_engine) -> None:
    before = count(api_engine)
    assert_error(post(client, key=keys["hotline"], description="x" * 300_000), 413, "bytes")
    assert count(api_engine) == before


def test_idempotency_key_retry_maps_to_the_same_request(client, keys, api_engine) -> None:
    idem = f"retry-{uuid.uuid4().hex}"
    form = {"description": "路灯不亮", "service_code": "infrastructure"}
    first = post(client, key=keys["hotline"], idem=idem, **form)
    assert first.status_code == 201, first.get_data(as_text=True)
    again = post(client, key=keys["hotline"], idem=idem, **form)
    assert again.status_code == 200, again.get_data(as_text=True)
    a, b = first.get_json()[0], again.get_json()[0]
    assert a["service_request_id"] == b["service_request_id"]
    assert count(api_engine, "idempotency_key = :k", k=f"hotline_12345:{idem}") == 1
    again_xml = post(client, "xml", key=keys["hotline"], idem=idem, **form)
    assert again_xml.status_code == 200
    assert parse_xml(again_xml).findtext("request/service_request_id") == a["service_request_id"]
    # The same key for a different request is refused, not silently answered.
    other = post(client, key=keys["hotline"], idem=idem, description="另一件事",
                 service_code="infrastructure")
    assert_error(other, 422, "Idempotency-Key")
    assert count(api_engine, "idempotency_key = :k", k=f"hotline_12345:{idem}") == 1
    # Without a key every post is a new request with a new token.
    c = post(client, key=keys["hotline"], **form).get_json()[0]
    d = post(client, key=keys["hotline"], **form).get_json()[0]
    assert c["service_request_id"] != d["service_request_id"]


# -- reading ---------------------------------------------------------------------------------

def test_tokens(client, keys, api_engine) -> None:
    rid = post(client, key=keys["hotline"]).get_json()[0]["service_request_id"]
    with api_engine.connect() as conn:  # the request's token is its external id
        token = conn.scalar(text("SELECT external_id FROM incident WHERE id = :i"),
                            {"i": int(rid)})
    assert get_json(client, f"tokens/{token}") == [{"service_request_id": rid, "token": token}]
    root = get_xml(client, f"tokens/{token}")
    assert root.tag == "service_requests" and tags(root) == ["request"]
    assert tags(root[0]) == ["service_request_id", "token"]
    assert root[0].findtext("service_request_id") == rid
    assert_error(client.get(f"{V2}/tokens/o311-{'0' * 32}.json"), 404, "token")
    assert_error(client.get(f"{V2}/tokens/T-123.xml"), 404, "token", fmt="xml")


def test_unknown_request_is_404_in_both_formats(client) -> None:
    assert_error(client.get(f"{V2}/requests/999999999.json"), 404, "999999999")
    assert_error(client.get(f"{V2}/requests/999999999.xml"), 404, "999999999", fmt="xml")
    assert_error(client.get(f"{V2}/requests/abc.json"), 404)


def test_get_requests_list_shape_and_ids(client, keys, since) -> None:
    ids = [created_id(client, keys["hotline"]) for _ in range(2)]
    body = get_json(client, "requests", service_request_id=",".join(ids),
                    status="closed", service_code="fire")  # ignored with ids
    assert sorted(r["service_request_id"] for r in body) == sorted(ids)
    assert all(list(r) == REQUEST_FIELDS for r in body)
    root = get_xml(client, "requests", service_request_id=ids[0])
    assert root.tag == "service_requests" and tags(root) == ["request"]
    assert tags(root[0]) == REQUEST_FIELDS
    mine = get_json(client, "requests", updated_after=since, service_code="sanitation")
    assert set(ids) <= {r["service_request_id"] for r in mine}
    assert get_json(client, "requests", updated_after=since, service_code="fire") == []
    assert_error(client.get(f"{V2}/requests.json?service_code=potholes"), 400, "potholes")
    assert_error(client.get(f"{V2}/requests.json?status=pending"), 400, "status")
    assert_error(client.get(f"{V2}/requests.json?service_request_id=1,x"), 400,
                 "service_request_id")


def test_date_range_is_at_most_90_days(client, keys) -> None:
    rid = created_id(client, keys["hotline"])
    now = datetime.now(UTC)
    start, end = (now - timedelta(days=91)).isoformat(), now.isoformat()
    assert_error(client.get(f"{V2}/requests.json", query_string={
        "start_date": start, "end_date": end}), 400, "90")
    root_resp = client.get(f"{V2}/requests.xml", query_string={"start_date": start,
                                                                "end_date": end})
    assert_error(root_resp, 400, "90", fmt="xml")
    ok = get_json(client, "requests", start_date=(now - timedelta(days=90)).isoformat(),
                  end_date=end, page_size=500)  # exactly 90 days: allowed
    assert rid in {r["service_request_id"] for r in ok}
    old = get_json(client, "requests", start_date=(now - timedelta(days=30)).isoformat(),
                   end_date=(now - timedelta(days=29)).isoformat())
    assert rid not in {r["service_request_id"] for r in old}
    # Offsets as w3 times: "Z" and "+08:00" (an unencoded "+" arrives as a space).
    zulu = [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in (now - timedelta(days=1),
                                                       now + timedelta(minutes=1))]
    assert rid in {r["service_request_id"] for r in get_json(
        client, "requests", start_date=zulu[0], end_date=zulu[1], page_size=500)}
    resp = client.get(f"{V2}/requests.json?start_date=2020-01-01T00:00:00+08:00"
                      "&end_date=2020-02-01T00:00:00+08:00")
    assert resp.status_code == 200 and resp.get_json() == []
    assert_error(client.get(f"{V2}/requests.json?start_date=yesterday"), 400, "start_date")
    assert_error(client.get(f"{V2}/requests.json", query_string={
        "start_date": end, "end_date": start}), 400, "end_date")


def test_paging(client, keys, since) -> None:
    ids = [created_id(client, keys["hotline"], service_code="market") for _ in range(3)]
    q = {"updated_after": since, "service_code": "market", "page_size": 2}
    resp = client.get(f"{V2}/requests.json", query_string={**q, "page": 1})
    first = [r["service_request_id"] for r in resp.get_json()]
    assert len(first) == 2 and 'rel="next"' in resp.headers["Link"]
    assert "page=2" in resp.headers["Link"]
    resp = client.get(f"{V2}/requests.json", query_string={**q, "page": 2})
    second = [r["service_request_id"] for r in resp.get_json()]
    assert len(second) == 1 and "Link" not in resp.headers
    assert sorted(first + second) == sorted(ids)
    assert first == sorted(first, key=int, reverse=True)  # newest first
    assert get_json(client, "requests", **{**q, "page": 3}) == []
    root = get_xml(client, "requests", **{**q, "page": 1})
    assert [r.findtext("service_request_id") for r in root] == first
    assert_error(client.get(f"{V2}/requests.json?page_size=1001"), 400, "page_size")
    assert_error(client.get(f"{V2}/requests.json?page=0"), 400, "page")


def test_bbox(client, keys, since) -> None:
    near = created_id(client, keys["hotline"], service_code="environment")
    far = created_id(client, keys["hotline"], service_code="environment", long="97.075",
                     lat="40.322")
    box = f"{HERE[0] - 0.005},{HERE[1] - 0.005},{HERE[0] + 0.005},{HERE[1] + 0.005}"
    found = {r["service_request_id"] for r in get_json(
        client, "requests", bbox=box, updated_after=since, service_code="environment")}
    assert near in found and far not in found
    assert_error(client.get(f"{V2}/requests.json?bbox=1,2,3"), 400, "bbox")
    assert_error(client.get(f"{V2}/requests.xml?bbox=97.1,40,97.0,41"), 400, "bbox",
                 fmt="xml")


def test_status_closed_after_resolving(client, keys, since) -> None:
    rid = created_id(client, keys["hotline"], service_code="livelihood")
    for action in ("dispatch", "accept"):
        act(client, keys["operator"], rid, action)
    (req,) = get_json(client, f"requests/{rid}", extensions="true")
    assert req["status"] == "open" and req["status_notes"].startswith("已签收")
    assert req["extended_attributes"]["workflow_status"] == "accepted"
    act(client, keys["operator"], rid, "resolve", note="已协调社区办理")
    (req,) = get_json(client, f"requests/{rid}", extensions="true")
    assert req["status"] == "closed"
    assert req["status_notes"] == "已办结：已协调社区办理"
    assert req["extended_attributes"]["workflow_status"] == "resolved"
    assert req["agency_responsible"] == "民政局"
    q = {"updated_after": since, "service_code": "livelihood"}
    assert rid in {r["service_request_id"] for r in get_json(client, "requests", status="closed",
                                                             **q)}
    assert rid not in {r["service_request_id"] for r in get_json(client, "requests",
                                                                 status="open", **q)}
    both = get_json(client, "requests", status="open,closed", **q)
    assert rid in {r["service_request_id"] for r in both}
    root = get_xml(client, "requests", status="closed", **q)
    assert rid in [r.findtext("service_request_id") for r in root]


def test_private_categories_need_an_operator_key(client, keys) -> None:
    rid = created_id(client, keys["hotline"], service_code="key_person")
    assert_error(client.get(f"{V2}/requests/{rid}.json"), 404)
    assert get_json(client, "requests", service_request_id=rid) == []
    (req,) = get_json(client, f"requests/{rid}", api_key=keys["operator"])
    assert req["service_code"] == "key_person"
    assert_error(client.get(f"{V2}/requests.json?api_key=om_bad_key"), 403, "api_key")


def test_database_outage_is_503(client, monkeypatch) -> None:
    from intake.http import open311 as api_open311

    def down(*_a: Any, **_k: Any) -> Any:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(api_open311.db_incidents, "list_incidents", down)
    assert_error(client.get(f"{V2}/requests.json"), 503, "unavailable")
    assert_error(client.get(f"{V2}/requests.xml"), 503, "unavailable", fmt="xml")


def test_description_is_optional_as_in_the_spec(client, keys) -> None:
    resp = post(client, key=keys["hotline"], description=None, service_code="fire",
                **{"attribute[subcategory]": "消防通道堵塞"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    (req,) = get_json(client, f"requests/{resp.get_json()[0]['service_request_id']}")
    assert req["description"] == "消防通道堵塞"  # the subcategory, else the service name
