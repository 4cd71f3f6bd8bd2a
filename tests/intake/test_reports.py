"""POST /api/v1/reports (one and batch), GET incidents: placing, deadlines, no duplicates, no
loss, refusals that name the field and store nothing, keys, filters, pagination, OpenAPI."""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, text

from geo.crs import from_wgs84, to_wgs84
from geo.deadlines import DeadlineRules
from geo.workflow import GRID
from tests.intake.conftest import EDGE, HOUSEHOLDS, OUTSIDE, headers, lattice, new_report

pytestmark = pytest.mark.db

GRID1 = "620981900001001001"  # 西城南社区第1网格 (INSIDE)
VILLAGE1 = "620981900001001"
TOWN1 = "620981900001"
COUNTY = "620981900"
VILLAGE2 = "620981900001002"  # north village of town 1: lat 40.29-40.33, lon 97.00-97.06


# -- helpers ----------------------------------------------------------------------------------



# this file uses the south village of town 1 (grids 1-3) and the north one for filters
_south = lattice(97.00, 97.06, 40.25, 40.29)
_north = lattice(97.00, 97.06, 40.29, 40.33)


def fresh_point(north: bool = False) -> tuple[float, float]:
    return next(_north if north else _south)


def report_at(point: tuple[float, float], **overrides: Any) -> dict[str, Any]:
    return new_report(location={"lon": point[0], "lat": point[1]}, **overrides)


def n_incidents(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM incident")).scalar_one()


def rows_for(engine: Engine, source: str, external_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM incident WHERE source = :s AND "
                                 "external_id = :e"), {"s": source, "e": external_id}
                            ).scalar_one()


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def fields_of(body: dict[str, Any]) -> list[str]:
    return [f["field"] for f in body["error"]["fields"]]


_ext = count()


def ext_id() -> str:
    return f"R-{next(_ext)}-{uuid.uuid4().hex[:8]}"


# -- one report: placing ----------------------------------------------------------------------

def test_created_inside_with_every_level_worker_department_and_due(client, keys, api_settings
                                                                   ) -> None:
    before = datetime.now(UTC)
    # A category no other test reports at INSIDE, so it cannot be anyone's near-duplicate.
    r = client.post("/api/v1/reports", json=new_report(category="key_person"),
                    headers=headers(keys["operator"]))
    after = datetime.now(UTC)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert isinstance(body["id"], int) and body["created"] is True
    assert r.headers["Location"] == f"/api/v1/incidents/{body['id']}"
    assert body["status"] == "received"
    assert body["location"]["reason"] == "inside"
    assert body["units"]["grid"]["code"] == GRID1
    assert body["units"]["village"]["code"] == VILLAGE1
    assert body["units"]["town"]["code"] == TOWN1
    assert body["units"]["county"]["code"] == COUNTY
    assert body["handling_level"] == GRID and body["handling_unit"] == "grid"
    assert body["grid_worker"]["code"] == f"W{GRID1}"
    assert body["department"]["code"] == "gongan"  # key persons → 公安
    assert body["severity"] == "high"  # the category's default
    received = when(body["received_at"])
    assert before <= received <= after
    assert not api_settings.working_days
    expected = DeadlineRules(timezone=api_settings.timezone).due(received, GRID, "high")
    assert when(body["due_at"]) == expected
    assert "dispatch" in body["allowed_actions"]
    assert body["warnings"] == []


@pytest.mark.parametrize("where", ["inside", "outside", "address"])
def test_the_answer_is_the_case_as_read_back(client, keys, where) -> None:
    """The 201 is built from the INSERT's own row (store.incidents.insert_incident), not read
    back: it must be what GET /api/v1/incidents/{id} answers, field for field, personal data
    masked the same way, for a placed, an unlocated and an address-matched report."""
    extra: dict[str, Any] = {"reporter": {"name": "王小明", "phone": "13912345678"},
                             "reported_at": "2026-11-30T08:15:00"}
    if where == "outside":
        extra["location"] = {"lon": OUTSIDE[0], "lat": OUTSIDE[1]}
    elif where == "address":
        extra.update(location=None, address=HOUSEHOLDS[0][0])
    posted = client.post("/api/v1/reports", json=new_report(category="key_person", **extra),
                         headers=headers(keys["operator"]))
    assert posted.status_code == 201, posted.get_json()
    answer = posted.get_json()
    got = client.get(f"/api/v1/incidents/{answer['id']}", headers=headers(keys["operator"]))
    assert got.status_code == 200
    stored = got.get_json()
    per_request = {"created", "warnings", "citizen_url", "events", "duplicate_of_id"}
    shared = (set(answer) & set(stored)) - per_request
    assert {"units", "grid_worker", "department", "location", "reporter", "due_at",
            "received_at", "reported_at", "status"} <= shared
    assert {k: answer[k] for k in shared} == {k: stored[k] for k in shared}
    assert "13912345678" not in json.dumps(answer, ensure_ascii=False)
    assert set(answer) - set(stored) <= per_request


def test_high_default_severity_and_explicit_severity(client, keys, api_settings) -> None:
    rules = DeadlineRules(timezone=api_settings.timezone)
    r = client.post("/api/v1/reports", json=report_at(fresh_point(), category="fire"),
                    headers=headers(keys["operator"]))
    body = r.get_json()
    assert r.status_code == 201 and body["severity"] == "high"
    assert body["department"]["code"] == "xiaofang"
    assert when(body["due_at"]) == rules.due(when(body["received_at"]), GRID, "high")
    r = client.post("/api/v1/reports", json=report_at(fresh_point(), category="消防",
                                                       severity="medium"),
                    headers=headers(keys["operator"]))
    body = r.get_json()
    assert r.status_code == 201, body
    assert (body["category"], body["severity"]) == ("fire", "medium")


def test_edge_point(client, keys) -> None:
    r = client.post("/api/v1/reports", json=new_report(location={"lon": EDGE[0], "lat": EDGE[1]}),
                    headers=headers(keys["operator"]))
    body = r.get_json()
    assert r.status_code == 201, body
    assert body["location"]["reason"] == "edge"
    assert body["status"] == "received"
    assert body["units"]["grid"]["code"] in (GRID1, "620981900001001002")
    assert body["units"]["village"]["code"] == VILLAGE1


def test_outside_is_stored_unlocated(client, keys, api_settings) -> None:
    r = client.post("/api/v1/reports",
                    json=new_report(location={"lon": OUTSIDE[0], "lat": OUTSIDE[1]}),
                    headers=headers(keys["operator"]))
    body = r.get_json()
    assert r.status_code == 201, body
    assert body["status"] == "unlocated"
    assert body["location"]["reason"] == "outside"
    assert all(u is None for u in body["units"].values())
    assert body["handling_level"] is None and body["grid_worker"] is None
    assert body["allowed_actions"] == ["locate"]
    assert any("unlocated" in w for w in body["warnings"])
    rules = DeadlineRules(timezone=api_settings.timezone)
    assert when(body["due_at"]) == rules.due(when(body["received_at"]), None, "low")


@pytest.mark.parametrize("datum", ["gcj02", "bd09", "cgcs2000"])
def test_datums_are_converted_to_wgs84(client, keys, api_engine, datum: str) -> None:
    true_x, true_y = fresh_point()
    sx, sy = from_wgs84(true_x, true_y, datum)
    sent = (float(np.asarray(sx).ravel()[0]), float(np.asarray(sy).ravel()[0]))
    if datum != "cgcs2000":
        assert abs(sent[0] - true_x) > 1e-4  # the datum really shifts the point
    r = client.post("/api/v1/reports",
                    json=new_report(location={"lon": sent[0], "lat": sent[1], "datum": datum}),
                    headers=headers(keys["operator"]))
    body = r.get_json()
    assert r.status_code == 201, body
    wx, wy = to_wgs84(sent[0], sent[1], datum)
    with api_engine.connect() as conn:
        x, y = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM incident WHERE id = :i"),
                            {"i": body["id"]}).one()
    assert x == pytest.approx(float(np.asarray(wx).ravel()[0]), abs=1e-9)
    assert y == pytest.approx(float(np.asarray(wy).ravel()[0]), abs=1e-9)
    assert abs(x - true_x) < 2e-5 and abs(y - true_y) < 2e-5  # within ~2 m of the truth
    assert body["location"]["lon"] == pytest.approx(x) and body["location"]["reason"] == "inside"


def test_reported_at_without_zone_is_local_time(client, keys) -> None:
    r = client.post("/api/v1/reports",
                    json=report_at(fresh_point(), reported_at="2026-09-30T10:00:00"),
                    headers=headers(keys["operator"]))
    assert r.status_code == 201
    assert when(r.get_json()["reported_at"]) == datetime(2026, 9, 30, 2, 0, tzinfo=UTC)


# -- address only -----------------------------------------------------------------------------

def _by_address(client, keys, address: str) -> dict[str, Any]:
    r = client.post("/api/v1/reports", json=new_report(location=None, address=address,
                                                       category="livelihood"),
                    headers=headers(keys["operator"]))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


@pytest.mark.parametrize(("address", "household"), [
    ("玉门市示例县西城南社区1号楼101室", 0),  # exact
    ("玉门市示例县西城南社区１号楼１０１室", 0),  # full-width digits
    ("玉门市示例县西城南社区1栋102室", 1),  # 栋 for 号楼
    ("西城南社区1号楼102室", 1),  # without the leading 玉门市示例县
    ("甘肃省玉门市示例县东城北社区3号楼201室", 2),  # with a leading province
    ("玉门市示例县 东城北社区 3号楼 201", 2),  # spaces, no 室
])
def test_address_is_matched_on_the_register(client, keys, address: str, household: int
                                            ) -> None:
    body = _by_address(client, keys, address)
    _addr, x, y = HOUSEHOLDS[household]
    assert body["status"] == "received"
    assert body["location"]["reason"] == "address"
    assert body["location"]["lon"] == pytest.approx(x) and body["location"]["lat"] == \
        pytest.approx(y)
    assert body["units"]["grid"] is not None
    assert body["location"]["address"] == address.strip()


def test_ambiguous_address_suffix_is_not_guessed(client, keys) -> None:
    body = _by_address(client, keys, "示例县和平路8号")
    assert body["status"] == "unlocated"
    assert body["location"]["lon"] is None


def test_ambiguous_exact_address_is_not_guessed(client, keys) -> None:
    body = _by_address(client, keys, "玉门市示例县和平路8号")
    assert body["status"] == "unlocated"


def test_unmatched_address(client, keys) -> None:
    body = _by_address(client, keys, "酒泉市肃州区解放路99号")
    assert body["status"] == "unlocated"
    assert body["location"]["reason"] == "unmatched"
    assert body["location"]["address"] == "酒泉市肃州区解放路99号"
    assert all(u is None for u in body["units"].values())


def test_address_in_another_community_is_not_matched_by_its_tail(client, keys) -> None:
    body = _by_address(client, keys, "玉门市示例县东城北社区1号楼101室")
    assert body["status"] == "unlocated"


# -- no duplicates, no loss -------------------------------------------------------------------

def test_resubmission_returns_the_stored_case(client, keys, api_engine) -> None:
    report = report_at(fresh_point())
    first = client.post("/api/v1/reports", json=report, headers=headers(keys["operator"]))
    assert first.status_code == 201
    again = client.post("/api/v1/reports", json=report, headers=headers(keys["operator"]))
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["created"] is False
    # the same natural key with other text is still the stored case (not a second row)
    changed = dict(report, description="补充：已经五天")
    third = client.post("/api/v1/reports", json=changed, headers=headers(keys["operator"]))
    assert third.status_code == 200 and third.get_json()["id"] == first.get_json()["id"]
    assert third.get_json()["description"] == report["description"]
    assert rows_for(api_engine, "hotline_12345", report["external_id"]) == 1
    with api_engine.connect() as conn:
        events = conn.execute(text("SELECT count(*) FROM incident_event WHERE incident_id = :i"),
                              {"i": first.get_json()["id"]}).scalar_one()
    assert events == 1  # only the receive event


def test_idempotency_key(client, keys, api_engine) -> None:
    key = f"idem-{uuid.uuid4()}"
    report = report_at(fresh_point())
    h = headers(keys["operator"], **{"Idempotency-Key": key})
    first = client.post("/api/v1/reports", json=report, headers=h)
    assert first.status_code == 201
    same = client.post("/api/v1/reports", json=report, headers=h)
    assert same.status_code == 200 and same.get_json()["id"] == first.get_json()["id"]
    n = n_incidents(api_engine)
    # A retry whose client regenerated its external_id is still the same submission.
    retry = dict(report, external_id=ext_id())
    again = client.post("/api/v1/reports", json=retry, headers=h)
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    assert rows_for(api_engine, "hotline_12345", retry["external_id"]) == 0
    # The same key for a different report is refused, and nothing is stored.
    other = dict(report, external_id=ext_id(), description="另一件事：路灯不亮")
    clash = client.post("/api/v1/reports", json=other, headers=h)
    assert clash.status_code == 422
    assert "Idempotency-Key" in fields_of(clash.get_json())
    assert rows_for(api_engine, "hotline_12345", other["external_id"]) == 0
    assert n_incidents(api_engine) == n
    with api_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM incident WHERE idempotency_key = :k"),
                            {"k": f"hotline_12345:{key}"}).scalar_one() == 1


def test_idempotency_keys_are_scoped_by_channel(client, keys, api_engine) -> None:
    """Two channels that happen to pick the same key submit two different reports."""
    key = f"idem-{uuid.uuid4()}"
    hotline = client.post("/api/v1/reports", json=report_at(fresh_point()),
                          headers=headers(keys["hotline"], **{"Idempotency-Key": key}))
    citizen = client.post("/api/v1/reports",
                          json=report_at(fresh_point(), source="citizen_app"),
                          headers=headers(keys["citizen"], **{"Idempotency-Key": key}))
    assert (hotline.status_code, citizen.status_code) == (201, 201), citizen.get_json()
    assert hotline.get_json()["id"] != citizen.get_json()["id"]


def test_idempotency_key_retry_with_other_text_same_natural_key(client, keys, api_engine
                                                                 ) -> None:
    # A retry under the same key and the same (source, external_id) whose text changed is the
    # same report: the stored case comes back (200) and nothing is overwritten.
    key = f"idem-{uuid.uuid4()}"
    report = report_at(fresh_point())
    h = headers(keys["operator"], **{"Idempotency-Key": key})
    first = client.post("/api/v1/reports", json=report, headers=h)
    assert first.status_code == 201
    retry = client.post("/api/v1/reports", json=dict(report, description="重发：补充说明"),
                        headers=h)
    assert retry.status_code == 200, retry.get_json()
    assert retry.get_json()["id"] == first.get_json()["id"]
    assert retry.get_json()["description"] == report["description"]
    assert rows_for(api_engine, "hotline_12345", report["external_id"]) == 1
    # and a NEW key for the same natural key is also the stored case, not a second row
    other_key = headers(keys["operator"], **{"Idempotency-Key": f"idem-{uuid.uuid4()}"})
    again = client.post("/api/v1/reports", json=report, headers=other_key)
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    assert rows_for(api_engine, "hotline_12345", report["external_id"]) == 1


def test_bad_idempotency_key_is_refused(client, keys, api_engine) -> None:
    report = report_at(fresh_point())
    r = client.post("/api/v1/reports", json=report,
                    headers=headers(keys["operator"], **{"Idempotency-Key": "k" * 201}))
    assert r.status_code == 400 and "Idempotency-Key" in fields_of(r.get_json())
    assert rows_for(api_engine, "hotline_12345", report["external_id"]) == 0


def test_concurrent_identical_submissions_store_one(app, keys, api_engine) -> None:
    report = report_at(fresh_point())
    barrier = threading.Barrier(8)
    results: list[tuple[int, int]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def post() -> None:
        try:
            c = app.server.test_client()
            barrier.wait(timeout=30)
            r = c.post("/api/v1/reports", json=report, headers=headers(keys["operator"]))
            with lock:
                results.append((r.status_code, (r.get_json() or {}).get("id")))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    statuses = sorted(s for s, _ in results)
    assert statuses == [200] * 7 + [201], results
    assert len({i for _, i in results}) == 1
    assert rows_for(api_engine, "hotline_12345", report["external_id"]) == 1


def test_near_duplicate_is_stored_and_linked(client, keys) -> None:
    x, y = fresh_point()
    first = client.post("/api/v1/reports", json=report_at((x, y), category="infrastructure"),
                        headers=headers(keys["operator"]))
    assert first.status_code == 201
    fid = first.get_json()["id"]
    assert first.get_json()["duplicate_of"] is None
    near = (x + 0.0002, y + 0.0001)  # about 20 m away
    second = client.post("/api/v1/reports", json=report_at(near, category="infrastructure"),
                         headers=headers(keys["operator"]))
    body = second.get_json()
    assert second.status_code == 201 and body["id"] != fid
    assert body["duplicate_of"] == fid
    assert any(str(fid) in w and "duplicate" in w for w in body["warnings"])
    # a third one links to the FIRST report, not to the second
    third = client.post("/api/v1/reports", json=report_at((x, y), category="infrastructure"),
                        headers=headers(keys["operator"]))
    assert third.get_json()["duplicate_of"] == fid
    # another category at the same place is not a duplicate
    other = client.post("/api/v1/reports", json=report_at((x, y), category="market"),
                        headers=headers(keys["operator"]))
    assert other.status_code == 201 and other.get_json()["duplicate_of"] is None
    # nor is the same category 200 m away
    far = client.post("/api/v1/reports", json=report_at((x, y + 0.0018),
                                                        category="infrastructure"),
                      headers=headers(keys["operator"]))
    assert far.status_code == 201 and far.get_json()["duplicate_of"] is None


# -- refusals: 4xx naming the field, nothing stored ---------------------------------------------

def _good() -> dict[str, Any]:
    return report_at((97.0425, 40.2675), category="other")


def _without(name: str) -> dict[str, Any]:
    body = _good()
    body.pop(name)
    return body


BAD_BODIES = {
    "missing source": (_without("source"), 422, "source"),
    "missing external_id": (_without("external_id"), 422, "external_id"),
    "missing category": (_without("category"), 422, "category"),
    "missing description": (_without("description"), 422, "description"),
    "no location nor address": (_without("location"), 422, "(body)"),
    "empty description": (dict(_good(), description="   "), 422, "description"),
    "lat 200": (dict(_good(), location={"lon": 97.01, "lat": 200}), 422, "location.lat"),
    "lon 500": (dict(_good(), location={"lon": 500, "lat": 40.26}), 422, "location.lon"),
    "swapped": (dict(_good(), location={"lon": 40.26, "lat": 97.01}), 422, "location.lat"),
    "outside China": (dict(_good(), location={"lon": 2.35, "lat": 48.85}), 422, "location"),
    "lat as text": (dict(_good(), location={"lon": 97.01, "lat": "north"}), 422,
                    "location.lat"),
    "unknown datum": (dict(_good(), location={"lon": 97.01, "lat": 40.26, "datum": "osgb"}),
                      422, "location.datum"),
    "unknown category": (dict(_good(), category="ufo"), 422, "category"),
    "unknown source": (dict(_good(), source="twitter"), 422, "source"),
    "unknown severity": (dict(_good(), severity="urgent"), 422, "severity"),
    "script in description": (dict(_good(), description="<script>alert(1)</script>"), 422,
                              "description"),
    "link in address": (dict(_good(), address='<a href="x">x</a>'), 422, "address"),
    "SQL in external_id": (dict(_good(), external_id="x'; DROP TABLE incident;--"), 422,
                           "external_id"),
    "extra field": (dict(_good(), priority="top"), 422, "priority"),
    "long description": (dict(_good(), description="很" * 4001), 422, "description"),
    "bad photo url": (dict(_good(), photo_urls=["javascript:alert(1)"]), 422, "photo_urls[0]"),
    "bad reported_at": (dict(_good(), reported_at="yesterday"), 422, "reported_at"),
    "bad reporter phone": (dict(_good(), reporter={"phone": "<b>1</b>"}), 422,
                           "reporter.phone"),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_report_is_refused_naming_the_field(client, keys, api_engine, case: str) -> None:
    body, status, field = BAD_BODIES[case]
    body = json.loads(json.dumps(body))
    before = n_incidents(api_engine)
    r = client.post("/api/v1/reports", json=body, headers=headers(keys["operator"]))
    assert r.status_code == status, r.get_json()
    answer = r.get_json()
    assert field in fields_of(answer), answer
    assert field in answer["error"]["message"]
    assert n_incidents(api_engine) == before


def test_description_of_exactly_4000_is_accepted(client, keys) -> None:
    r = client.post("/api/v1/reports", json=report_at(fresh_point(), description="很" * 4000),
                    headers=headers(keys["operator"]))
    assert r.status_code == 201


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("where", ["lon", "lat"])
def test_nan_and_infinity_are_refused(client, keys, api_engine, literal: str, where: str
                                      ) -> None:
    body = new_report(location={"lon": 97.01, "lat": 40.26})
    body["location"][where] = "@NUMBER@"
    raw = json.dumps(body).replace('"@NUMBER@"', literal)
    assert literal in raw and json.loads(raw)  # Python's json reads these literals
    before = n_incidents(api_engine)
    r = client.post("/api/v1/reports", data=raw, content_type="application/json",
                    headers=headers(keys["operator"]))
    assert r.status_code == 422, r.get_json()
    assert f"location.{where}" in fields_of(r.get_json())
    assert n_incidents(api_engine) == before


@pytest.mark.parametrize(("raw", "status"), [
    ("{not json", 400),
    ("", 400),
    ("[1, 2, 3]", 422),
    ('"a string"', 422),
    (b"\xff\xfe{}", 400),
])
def test_malformed_bodies(client, keys, api_engine, raw, status: int) -> None:
    before = n_incidents(api_engine)
    r = client.post("/api/v1/reports", data=raw, content_type="application/json",
                    headers=headers(keys["operator"]))
    assert r.status_code == status, r.get_json()
    assert fields_of(r.get_json()) == ["(body)"]
    assert n_incidents(api_engine) == before


def test_ten_megabyte_body_is_413(client, keys, api_engine) -> None:
    before = n_incidents(api_engine)
    big = json.dumps(dict(_good(), description="x" * (10 * 1024 * 1024)))
    r = client.post("/api/v1/reports", data=big, content_type="application/json",
                    headers=headers(keys["operator"]))
    assert r.status_code == 413
    assert r.get_json()["error"]["code"] == "too_large"
    assert n_incidents(api_engine) == before


def test_sql_in_description_is_stored_verbatim(client, keys, api_engine) -> None:
    text_in = "门口有人喊 '); DROP TABLE incident;-- 还有 \" OR 1=1 -- 以及 %_\\"
    r = client.post("/api/v1/reports", json=report_at(fresh_point(), description=text_in),
                    headers=headers(keys["operator"]))
    assert r.status_code == 201
    iid = r.get_json()["id"]
    assert r.get_json()["description"] == text_in
    got = client.get(f"/api/v1/incidents/{iid}", headers=headers(keys["operator"]))
    assert got.get_json()["description"] == text_in
    with api_engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('incident') IS NOT NULL")).scalar()
        assert conn.execute(text("SELECT description FROM incident WHERE id = :i"),
                            {"i": iid}).scalar() == text_in


# -- keys -------------------------------------------------------------------------------------

def test_no_key_is_401(client, api_engine) -> None:
    before = n_incidents(api_engine)
    r = client.post("/api/v1/reports", json=new_report())
    assert r.status_code == 401 and "X-API-Key" in fields_of(r.get_json())
    assert client.get("/api/v1/incidents").status_code == 401
    assert n_incidents(api_engine) == before


def test_wrong_key_is_403(client, api_engine) -> None:
    before = n_incidents(api_engine)
    r = client.post("/api/v1/reports", json=new_report(), headers=headers("not-a-key"))
    assert r.status_code == 403
    assert client.get("/api/v1/incidents", headers=headers("nope")).status_code == 403
    assert n_incidents(api_engine) == before


def test_bearer_key_works(client, keys) -> None:
    r = client.post("/api/v1/reports", json=report_at(fresh_point()),
                    headers={"Authorization": f"Bearer {keys['operator']}"})
    assert r.status_code == 201


def test_reporter_key_cannot_submit_for_another_channel(client, keys, api_engine) -> None:
    before = n_incidents(api_engine)
    r = client.post("/api/v1/reports", json=new_report(source="hotline_12345"),
                    headers=headers(keys["citizen"]))
    assert r.status_code == 403 and "source" in fields_of(r.get_json())
    assert n_incidents(api_engine) == before
    ok = client.post("/api/v1/reports", json=report_at(fresh_point(), source="citizen_app"),
                     headers=headers(keys["citizen"]))
    assert ok.status_code == 201
    alias = client.post("/api/v1/reports", json=report_at(fresh_point(), source="随手拍"),
                        headers=headers(keys["citizen"]))
    assert alias.status_code == 201 and alias.get_json()["source"] == "citizen_app"
    assert "reporter" not in ok.get_json()  # contact details only for operators


# -- batch ------------------------------------------------------------------------------------

def test_batch_with_good_and_bad_items(client, keys, api_engine) -> None:
    good = [report_at(fresh_point()) for _ in range(3)]
    bad = [dict(report_at(fresh_point()), category="ufo"),
           dict(report_at(fresh_point()), location={"lon": 97.01, "lat": 200})]
    r = client.post("/api/v1/reports:batch", json={"items": good + bad},
                    headers=headers(keys["operator"]))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert [x["status"] for x in body["results"]] == [201, 201, 201, 422, 422]
    assert [x["index"] for x in body["results"]] == [0, 1, 2, 3, 4]
    assert body["summary"] == {"created": 3, "existing": 0, "rejected": 2}
    assert "items[3].category" in fields_of(body["results"][3])
    assert "items[4].location.lat" in fields_of(body["results"][4])
    for item, result in zip(good, body["results"][:3], strict=True):
        assert rows_for(api_engine, "hotline_12345", item["external_id"]) == 1
        assert result["grid"] is not None and isinstance(result["id"], int)
    for item in bad:
        assert rows_for(api_engine, "hotline_12345", item["external_id"]) == 0


def test_batch_repeats_and_resubmission(client, keys, api_engine) -> None:
    item = report_at(fresh_point())
    r = client.post("/api/v1/reports:batch", json={"items": [item, item]},
                    headers=headers(keys["operator"]))
    results = r.get_json()["results"]
    assert [x["status"] for x in results] == [201, 200]
    assert results[0]["id"] == results[1]["id"]
    again = client.post("/api/v1/reports:batch", json=[item], headers=headers(keys["operator"]))
    assert again.get_json()["results"][0]["status"] == 200
    assert rows_for(api_engine, "hotline_12345", item["external_id"]) == 1


def test_batch_reporter_key_other_channel_items_are_403(client, keys, api_engine) -> None:
    mine = report_at(fresh_point(), source="citizen_app")
    theirs = report_at(fresh_point())
    r = client.post("/api/v1/reports:batch", json={"items": [mine, theirs]},
                    headers=headers(keys["citizen"]))
    assert [x["status"] for x in r.get_json()["results"]] == [201, 403]
    assert rows_for(api_engine, "hotline_12345", theirs["external_id"]) == 0


def test_batch_over_the_limit_is_413(client, keys, api_engine) -> None:
    before = n_incidents(api_engine)
    raw = '{"items": [' + ",".join(["{}"] * 10_001) + "]}"
    r = client.post("/api/v1/reports:batch", data=raw, content_type="application/json",
                    headers=headers(keys["operator"]))
    assert r.status_code == 413
    assert "items" in fields_of(r.get_json())
    assert n_incidents(api_engine) == before


@pytest.mark.parametrize("raw", ['{"items": []}', '{"items": {}}', "{}", "[]"])
def test_batch_without_items_is_400(client, keys, raw: str) -> None:
    r = client.post("/api/v1/reports:batch", data=raw, content_type="application/json",
                    headers=headers(keys["operator"]))
    assert r.status_code == 400 and "items" in fields_of(r.get_json())


# -- reading ----------------------------------------------------------------------------------

def _list(client, key: str, **params: str) -> list[dict[str, Any]]:
    items, cursor = [], None
    for _ in range(50):
        q = dict(params, limit="500")
        if cursor:
            q["cursor"] = cursor
        r = client.get("/api/v1/incidents", query_string=q, headers=headers(key))
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items
    raise AssertionError("pagination did not end")


def test_list_filters(client, keys, api_engine) -> None:
    t0 = datetime.now(UTC) - timedelta(milliseconds=1)
    op = keys["operator"]

    def post(body: dict[str, Any]) -> int:
        r = client.post("/api/v1/reports", json=body, headers=headers(op))
        assert r.status_code == 201, r.get_json()
        return r.get_json()["id"]

    p_fire = fresh_point()
    fire = post(report_at(p_fire, category="fire"))
    citizen = post(report_at(fresh_point(), source="citizen_app", category="dispute"))
    high = post(report_at(fresh_point(), category="dispute", severity="high"))
    north = post(report_at(fresh_point(north=True), category="environment"))
    lost = post(new_report(location={"lon": OUTSIDE[0], "lat": OUTSIDE[1]}, category="cityscape"))
    late = post(report_at(fresh_point(), category="livelihood"))
    mine = {fire, citizen, high, north, lost, late}
    with api_engine.begin() as conn:
        conn.execute(text("UPDATE incident SET due_at = now() - interval '1 hour' WHERE id = :i"),
                     {"i": late})
    t1 = datetime.now(UTC)
    since = {"from": t0.isoformat()}

    def ids(**params: str) -> set[int]:
        found = _list(client, op, **since, **params)
        return {i["id"] for i in found}

    assert ids() == mine
    assert ids(status="unlocated") == {lost}
    assert ids(status="received") == mine - {lost}
    assert ids(status="received,unlocated") == mine
    assert ids(category="fire") == {fire}
    assert ids(category="fire,dispute") == {fire, citizen, high}
    assert ids(source="citizen_app") == {citizen}
    assert ids(severity="high") == {fire, high}
    assert ids(unit=VILLAGE2) == {north}
    assert north not in ids(unit=VILLAGE1) and fire in ids(unit=VILLAGE1)
    assert ids(unit=COUNTY) == mine - {lost}
    assert ids(overdue="true") == {late}
    assert late not in ids(overdue="false") and fire in ids(overdue="false")
    box = f"{p_fire[0] - 0.0005},{p_fire[1] - 0.0005},{p_fire[0] + 0.0005},{p_fire[1] + 0.0005}"
    assert ids(bbox=box) == {fire}
    assert ids(to=t0.isoformat()) == set()
    assert ids(to=t1.isoformat()) == mine
    # every listed item really matches (with no from filter: the whole table)
    for item in _list(client, op, category="fire"):
        assert item["category"] == "fire"
    for item in _list(client, op, severity="high", status="received"):
        assert item["severity"] == "high" and item["status"] == "received"


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "lost"}, "status"), ({"category": "ufo"}, "category"),
    ({"severity": "urgent"}, "severity"), ({"unit": "999"}, "unit"),
    ({"from": "yesterday"}, "from"), ({"bbox": "1,2,3"}, "bbox"), ({"bbox": "3,2,1,0"}, "bbox"),
    ({"overdue": "maybe"}, "overdue"), ({"limit": "0"}, "limit"), ({"limit": "x"}, "limit"),
    ({"cursor": "!!!"}, "cursor"),
])
def test_bad_list_parameters_are_400(client, keys, params: dict[str, str], field: str) -> None:
    r = client.get("/api/v1/incidents", query_string=params, headers=headers(keys["operator"]))
    assert r.status_code == 400, r.get_json()
    assert field in fields_of(r.get_json())


def test_cursor_pagination_visits_every_row_once_while_reports_arrive(client, keys) -> None:
    op = keys["operator"]
    t0 = datetime.now(UTC) - timedelta(milliseconds=1)
    created = []
    for _ in range(12):
        r = client.post("/api/v1/reports", json=report_at(fresh_point(), category="cityscape"),
                        headers=headers(op))
        created.append(r.get_json()["id"])
    seen: list[int] = []
    arrivals: list[int] = []
    cursor = None
    pages = 0
    while True:
        q = {"from": t0.isoformat(), "limit": "5"}
        if cursor:
            q["cursor"] = cursor
        body = client.get("/api/v1/incidents", query_string=q, headers=headers(op)).get_json()
        pages += 1
        seen += [i["id"] for i in body["items"]]
        assert len(body["items"]) <= 5
        cursor = body["next_cursor"]
        if not cursor:
            break
        for _ in range(2):  # new reports between pages
            r = client.post("/api/v1/reports", json=report_at(fresh_point(),
                                                              category="cityscape"),
                            headers=headers(op))
            arrivals.append(r.get_json()["id"])
        assert pages < 10
    assert pages == 3
    assert len(seen) == len(set(seen))  # nothing twice
    assert set(seen) == set(created)  # everything there at the start, the newest first
    assert seen == sorted(created, reverse=True)
    assert not set(seen) & set(arrivals)


def test_incident_detail_has_history(client, keys) -> None:
    r = client.post("/api/v1/reports", json=report_at(fresh_point()),
                    headers=headers(keys["operator"]))
    iid = r.get_json()["id"]
    got = client.get(f"/api/v1/incidents/{iid}", headers=headers(keys["operator"]))
    assert got.status_code == 200
    body = got.get_json()
    assert body["id"] == iid
    assert [e["action"] for e in body["events"]] == ["receive"]
    assert body["events"][0]["actor"] == "指挥中心"
    assert body["events"][0]["to_status"] == "received"
    assert client.get("/api/v1/incidents/999999999",
                      headers=headers(keys["operator"])).status_code == 404


def test_reporter_keys_see_only_their_channel(client, keys) -> None:
    op = keys["operator"]
    hot = client.post("/api/v1/reports", json=report_at(fresh_point()),
                      headers=headers(op)).get_json()["id"]
    cit = client.post("/api/v1/reports", json=report_at(fresh_point(), source="citizen_app"),
                      headers=headers(op)).get_json()["id"]
    assert client.get(f"/api/v1/incidents/{hot}",
                      headers=headers(keys["citizen"])).status_code == 404
    assert client.get(f"/api/v1/incidents/{cit}",
                      headers=headers(keys["citizen"])).status_code == 200
    assert client.get(f"/api/v1/incidents/{hot}",
                      headers=headers(keys["hotline"])).status_code == 200
    listed = _list(client, keys["citizen"])
    assert listed and {i["source"] for i in listed} == {"citizen_app"}
    assert cit in {i["id"] for i in listed}
    # asking for another channel does not widen the view
    other = _list(client, keys["citizen"], source="hotline_12345")
    assert hot not in {i["id"] for i in other}
    assert {i["source"] for i in other} <= {"citizen_app"}


def test_reporter_key_source_filter_is_intersected_not_replaced(client, keys) -> None:
    client.post("/api/v1/reports", json=report_at(fresh_point(), source="citizen_app"),
                headers=headers(keys["citizen"]))
    other = _list(client, keys["citizen"], source="hotline_12345")
    assert [i for i in other if i["source"] != "hotline_12345"] == []


# -- documents and headers --------------------------------------------------------------------

def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        for v in node.values():
            out += _refs(v)
        return out
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, ref
        node = node[part]
    return node


def _openapi(client) -> dict[str, Any]:
    r = client.get("/api/openapi.json")
    assert r.status_code == 200
    return r.get_json()


def test_openapi_document(client, app) -> None:
    doc = _openapi(client)
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] and doc["info"]["version"]
    routes = set()
    for rule in app.server.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "{" + m.group(1) + "}",
                          rule.rule.replace("<int:incident_id>", "{id}"))
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((path, method.lower()))
    assert routes
    for path, method in routes:
        assert path in doc["paths"], path
        assert method in doc["paths"][path], (path, method)
    refs = _refs(doc)
    assert "#/components/schemas/ReportIn" in refs
    for ref in refs:
        _resolve(doc, ref)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["responses"], (path, method)
            for p in op.get("parameters", []):
                if p["in"] == "path":
                    assert "{" + p["name"] + "}" in path and p["required"] is True


def _schema_types(node: Any) -> list[Any]:
    if isinstance(node, dict):
        out = [node["type"]] if "type" in node and not isinstance(node["type"], dict) else []
        for k, v in node.items():
            if k != "properties":
                out += _schema_types(v)
            else:
                for sub in v.values():
                    out += _schema_types(sub)
        return out
    if isinstance(node, list):
        return [t for v in node for t in _schema_types(v)]
    return []


def test_openapi_schemas_fit_the_declared_version(client) -> None:
    doc = _openapi(client)
    types = _schema_types(doc["components"]["schemas"])
    if doc["openapi"].startswith("3.0"):
        assert "null" not in types and not any(isinstance(t, list) for t in types)


def test_server_timing_header(client, keys) -> None:
    r = client.get("/api/v1/incidents", query_string={"limit": "1"},
                   headers=headers(keys["operator"]))
    assert r.status_code == 200
    assert r.headers["Server-Timing"].startswith("app;dur=")
    r = client.post("/api/v1/reports", data="{bad", content_type="application/json",
                    headers=headers(keys["operator"]))
    assert "Server-Timing" in r.headers
