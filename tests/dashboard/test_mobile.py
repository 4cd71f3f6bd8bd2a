"""The grid worker's phone page (#16) without a browser: the shell and its PWA files, the
worker's cached grids, reports under the worker's own identity stored once per
Idempotency-Key and handed up to the village desk, tasks, check-in with GPS, and scope."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from dashboard.app import create_app
from tests.helpers import client_as

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def app(settings, wall_engine, wall_db_url, tmp_path_factory):
    return create_app(settings.with_(database_url=wall_db_url, escalate_every_s=0,
                                     media_dir=str(tmp_path_factory.mktemp("media"))))


@pytest.fixture(scope="module")
def grid(wall_engine) -> dict:
    """A grid with a village above it, a point inside it and a point in another grid."""
    with wall_engine.connect() as conn:
        row = conn.execute(text("""
            SELECT g.id, g.code, g.name, g.parent_id AS village_id,
                   ST_X(ST_PointOnSurface(g.geom)) AS x, ST_Y(ST_PointOnSurface(g.geom)) AS y,
                   ST_X(ST_PointOnSurface(o.geom)) AS ox, ST_Y(ST_PointOnSurface(o.geom)) AS oy
            FROM unit g JOIN unit v ON v.id = g.parent_id
            JOIN LATERAL (SELECT geom FROM unit o WHERE o.level = 3 AND o.valid_to IS NULL
                          AND o.parent_id <> g.parent_id ORDER BY o.code LIMIT 1) o ON true
            WHERE g.level = 3 AND g.valid_to IS NULL ORDER BY g.code DESC LIMIT 1""")).one()
    return dict(row._mapping)


@pytest.fixture(scope="module")
def worker(app, grid):
    return client_as(app, "grid_worker", grid["code"])


def _report(grid: dict, **kw) -> dict:
    body = {"category": "sanitation", "description": "垃圾堆放，影响通行",
            "location": {"lon": grid["x"], "lat": grid["y"]}}
    body.update(kw)
    return body


def test_the_shell_and_its_pwa_files(app, worker) -> None:
    anon = app.server.test_client()
    shell = worker.get("/m")
    assert shell.status_code == 200 and 'src="/m/app.js"' in shell.text
    assert 'rel="manifest" href="/m/manifest.webmanifest"' in shell.text
    # No inline script: the page passes the CSP as it is.
    assert "<script>" not in shell.text and "script-src 'self'" in \
        shell.headers["Content-Security-Policy"]
    manifest = anon.get("/m/manifest.webmanifest")
    assert manifest.status_code == 200
    assert manifest.json["start_url"] == "/m" and manifest.json["display"] == "standalone"
    assert {i["sizes"] for i in manifest.json["icons"]} == {"192x192", "512x512"}
    icon = anon.get("/m/icon-512.png")
    assert icon.status_code == 200 and icon.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert anon.get("/m/icon-100.png").status_code == 404
    sw = anon.get("/m/sw.js")
    assert sw.status_code == 200 and "__VERSION__" not in sw.text
    assert "onemap-m-" in sw.text and sw.headers["Service-Worker-Allowed"] == "/m"
    # The shell itself needs a signed-in grid worker.
    assert anon.get("/m", headers={"Accept": "text/html"}).status_code == 302


def test_boot_holds_the_worker_grid_and_its_neighbours(worker, grid) -> None:
    boot = worker.get("/m/boot.json").json
    mine = [f for f in boot["grids"]["features"] if f["properties"]["mine"]]
    others = [f for f in boot["grids"]["features"] if not f["properties"]["mine"]]
    assert [f["properties"]["code"] for f in mine] == [grid["code"]]
    assert others, "the neighbours of the grid are cached too"
    assert mine[0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert len(boot["categories"]) == 12 and boot["categories"][0]["name"] == "矛盾纠纷"
    assert boot["actions"]["checkin"] == "到场"


def test_a_report_is_stored_once_per_key_and_handed_to_the_village(worker, grid,
                                                                   wall_engine) -> None:
    key = "m-" + uuid.uuid4().hex
    no_key = worker.post("/m/reports", json=_report(grid))
    assert no_key.status_code == 400 and "Idempotency-Key" in no_key.json["error"]["message"]
    first = worker.post("/m/reports", json=_report(grid), headers={"Idempotency-Key": key})
    again = worker.post("/m/reports", json=_report(grid), headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    assert again.status_code == 200 and again.json["id"] == first.json["id"]
    assert first.json["grid"] == grid["name"] and first.json["citizen_url"].startswith("/r/")
    with wall_engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT id, source, status, handling_level, village_id FROM incident "
            "WHERE external_id LIKE :k"), {"k": f"%{key}"}).all()
        events = conn.execute(text(
            "SELECT action, actor FROM incident_event WHERE incident_id = :i ORDER BY at, id"),
            {"i": first.json["id"]}).all()
    assert len(rows) == 1  # sent twice, stored once
    _, source, status, level, village = rows[0]
    assert (source, status, level, village) == ("grid_app", "escalated", 2,
                                                grid["village_id"])
    # Under the worker's own name (no channel key), handed up once.
    assert [e.action for e in events] == ["receive", "escalate"]
    assert events[1].actor == worker.user["display_name"]


def test_refusals_say_what_is_wrong(worker, grid) -> None:
    key = {"Idempotency-Key": "m-" + uuid.uuid4().hex}
    outside = worker.post("/m/reports", json=_report(grid, location={
        "lon": grid["ox"], "lat": grid["oy"]}), headers=key)
    assert outside.status_code == 403 and outside.json["error"]["code"] == "out_of_scope"
    bad = worker.post("/m/reports", json=_report(grid, category="nonsense"),
                      headers={"Idempotency-Key": "m-" + uuid.uuid4().hex})
    assert bad.status_code == 422
    assert any(f["field"] == "category" for f in bad.json["error"]["fields"])
    worker_no_csrf = worker.environ_base.pop("HTTP_X_CSRFTOKEN")
    try:
        assert worker.post("/m/reports", json=_report(grid), headers=key).status_code == 403
    finally:
        worker.environ_base["HTTP_X_CSRFTOKEN"] = worker_no_csrf


def test_tasks_and_a_check_in_recorded_once_with_gps(app, grid, wall_engine, settings,
                                                    wall_db_url) -> None:
    worker = client_as(app, "grid_worker", grid["code"])
    # A case at the grid's own level (a hotline case placed in the grid): the worker's task.
    from intake import service
    from intake.schema import parse_report
    from onemap.access import cli_actor
    from store.runtime import build_runtime

    rt = build_runtime(settings.with_(database_url=wall_db_url), engine=wall_engine,
                       actor=cli_actor("test"))
    case = service.submit(rt, parse_report({
        "source": "hotline_12345", "external_id": f"M-{uuid.uuid4().hex[:10]}",
        "category": "dispute", "description": "邻里纠纷", "location": {
            "lon": grid["x"], "lat": grid["y"]}})).incident["id"]
    tasks = worker.get("/m/tasks.json").json["items"]
    task = next(t for t in tasks if t["id"] == case)
    assert "checkin" in task["actions"] and task["grid"] == grid["name"]
    assert task["category"] == "矛盾纠纷"
    key = {"Idempotency-Key": "m-" + uuid.uuid4().hex}
    body = {"action": "checkin", "location": {"lon": grid["x"] + 0.0003, "lat": grid["y"]},
            "accuracy_m": 12}
    for _ in range(2):
        done = worker.post(f"/m/incidents/{case}/actions", json=body, headers=key)
        assert done.status_code == 200, done.text
    with wall_engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT note, lon, lat FROM incident_event WHERE incident_id = :i "
            "AND action = 'checkin'"), {"i": case}).all()
        status = conn.scalar(text("SELECT status FROM incident WHERE id = :i"), {"i": case})
    assert len(rows) == 1 and status == "received"  # once; the state does not move
    note, lon, lat = rows[0]
    assert lon == pytest.approx(grid["x"] + 0.0003) and lat == pytest.approx(grid["y"])
    assert "±12 米" in note and "距事发点" in note
    metres = int(note.split("距事发点 ")[1].split(" 米")[0])
    assert 15 <= metres <= 35  # 0.0003° of longitude at ~34° N is ~28 m
    # Another grid's worker cannot see the case: 404 for a guessed id.
    other = client_as(app, "grid_worker", _other_grid(wall_engine, grid))
    miss = other.post(f"/m/incidents/{case}/actions", json={"action": "accept"},
                      headers={"Idempotency-Key": "m-" + uuid.uuid4().hex})
    assert miss.status_code == 404
    assert case not in {t["id"] for t in other.get("/m/tasks.json").json["items"]}


def _other_grid(engine, grid: dict) -> str:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT code FROM unit WHERE level = 3 AND valid_to IS NULL "
                                "AND parent_id <> :v ORDER BY code LIMIT 1"),
                           {"v": grid["village_id"]})


def test_other_roles_have_no_phone_page(app) -> None:
    for role in ("commander", "viewer", "department"):
        client = client_as(app, role)
        assert client.get("/m/boot.json").status_code == 403
        assert client.post("/m/reports", json={}).status_code == 403
