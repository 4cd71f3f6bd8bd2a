"""The reporter hears back (#16): the intake answer carries ``citizen_url``; ``/r/<token>``
shows the public progress without staff names or phones; once resolved the citizen rates,
and a rating of 2 or less reopens the case through the workflow."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from accounts import service as accounts
from accounts.bootstrap import SETUP
from dashboard.app import create_app
from tests.helpers import make_user

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def app(settings, wall_engine, wall_db_url):
    return create_app(settings.with_(database_url=wall_db_url, escalate_every_s=0))


@pytest.fixture(scope="module")
def token(app) -> str:
    rt = app.server.extensions["onemap"]
    user = make_user(rt, "commander")
    return accounts.issue_token(rt.acting_as(SETUP), user["username"], 1)


def _act(client, token, incident_id, action, **extra):
    answer = client.post(f"/api/v1/incidents/{incident_id}/actions",
                         headers={"X-API-Key": token},
                         json={"action": action, "note": "测试", **extra})
    assert answer.status_code == 200, answer.json
    return answer.json


def test_the_reporter_follows_rates_and_a_poor_rating_reopens(app, token, wall_engine):
    client = app.server.test_client()
    with wall_engine.connect() as conn:
        lon, lat = conn.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface("
                                     "geom) p FROM unit WHERE level = 3 ORDER BY code DESC "
                                     "LIMIT 1) s")).one()
    sent = client.post("/api/v1/reports", headers={"X-API-Key": token}, json={
        "source": "hotline_12345", "external_id": "CITIZEN-1", "category": "environment",
        "description": "路灯不亮", "location": {"lon": lon, "lat": lat},
        "reporter": {"name": "王小明", "phone": "13912345678"}})
    assert sent.status_code == 201, sent.json
    url = sent.json["citizen_url"]
    assert re.fullmatch(r"/r/[A-Za-z0-9_-]{22}", url)  # 128 bits
    # A retry of the same report gets the same link; the database keeps only its hash.
    again = client.post("/api/v1/reports", headers={"X-API-Key": token}, json={
        "source": "hotline_12345", "external_id": "CITIZEN-1", "category": "environment",
        "description": "路灯不亮", "location": {"lon": lon, "lat": lat},
        "reporter": {"name": "王小明", "phone": "13912345678"}})
    assert again.status_code == 200 and again.json["citizen_url"] == url
    case = sent.json["id"]
    with wall_engine.connect() as conn:
        stored = conn.scalar(text("SELECT citizen_token_hash FROM incident WHERE id = :i"),
                             {"i": case})
    assert stored and url.rsplit("/", 1)[1] not in stored

    page = client.get(url)
    assert page.status_code == 200 and "已受理" in page.text and 'id="rate"' not in page.text
    for action in ("dispatch", "accept", "start"):
        _act(client, token, case, action)
    _act(client, token, case, "resolve", note="已更换灯泡")
    page = client.get(url)
    assert "已办结" in page.text and "已更换灯泡" in page.text and 'id="rate"' in page.text
    assert "13912345678" not in page.text and "王小明" not in page.text
    workers = [r[0] for r in wall_engine.connect().execute(text(
        "SELECT w.name FROM incident i JOIN grid_worker w ON w.id = i.grid_worker_id "
        "WHERE i.id = :i"), {"i": case})]
    assert all(name not in page.text for name in workers)  # no staff names

    form = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    rated = client.post(url, data={"rating": "2", "comment": "太慢了", "csrf_token": form})
    assert rated.status_code == 200 and "感谢" in rated.text
    with wall_engine.connect() as conn:
        status, rating = conn.execute(text("SELECT status, rating FROM incident WHERE id = :i"),
                                      {"i": case}).one()
        steps = [r[0] for r in conn.execute(text(
            "SELECT action FROM incident_event WHERE incident_id = :i ORDER BY at, id"),
            {"i": case})]
        audited = conn.scalar(text("SELECT count(*) FROM audit_log WHERE action = "
                                   "'citizen.rate' AND object_id = :i"), {"i": str(case)})
    assert status == "reopened" and steps[-2:] == ["rate", "reopen"] and audited == 1
    assert rating is None  # reopening clears the rating for the next round
    assert client.post(url, data={"rating": "5", "csrf_token": form}).status_code == 409


def test_unknown_tokens_are_404(app) -> None:
    client = app.server.test_client()
    assert client.get("/r/AAAAAAAAAAAAAAAAAAAAAA").status_code == 404
