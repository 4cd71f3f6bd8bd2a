"""The grid worker's phone page in Chromium at 360×740 with an emulated GPS (#16): a report
with two photos placed in the worker's grid before sending; an answer lost on the way is
sent again and stored once; offline, two reports and a check-in wait in the outbox and are
sent once each when the network returns."""

from __future__ import annotations

import uuid

import pytest
from PIL import Image
from sqlalchemy import text

from tests.helpers import page_as

pytestmark = [pytest.mark.db, pytest.mark.browser]

PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def grid(wall_engine) -> dict:
    with wall_engine.connect() as conn:
        row = conn.execute(text("""
            SELECT g.id, g.code, g.name, ST_X(ST_PointOnSurface(g.geom)) AS x,
                   ST_Y(ST_PointOnSurface(g.geom)) AS y
            FROM unit g WHERE g.level = 3 AND g.valid_to IS NULL
            ORDER BY g.code DESC OFFSET 3 LIMIT 1""")).one()
    return dict(row._mapping)


def phone(browser, url: str, grid: dict, at: tuple[float, float] | None = None):
    lon, lat = at or (grid["x"], grid["y"])
    page = page_as(browser, url, "grid_worker", grid["code"], viewport=PHONE,
                   context_options={"geolocation": {"longitude": lon,
                                                    "latitude": lat, "accuracy": 15},
                                    "permissions": ["geolocation"], "has_touch": True,
                                    "is_mobile": True, "device_scale_factor": 2})
    page.goto(url + "/m")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    return page


def photo(tmp_path, name: str, colour: tuple[int, int, int]) -> str:
    path = tmp_path / name
    Image.new("RGB", (1200, 900), colour).save(path, "JPEG", quality=90)
    return str(path)


def fill_report(page, description: str, photos: list[str] = ()) -> None:
    page.click("#cats button[data-code='sanitation']")
    page.fill("#desc", description)
    if photos:
        page.set_input_files("#photos", list(photos))
        page.wait_for_function(f"document.querySelectorAll('#thumbs img').length == "
                               f"{len(photos)}")
    page.click("#send")


def stored(engine, description: str) -> list:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT i.id, i.source, i.grid_id, (SELECT count(*) FROM incident_photo p "
            "WHERE p.incident_id = i.id) AS photos FROM incident i WHERE i.description = :d"),
            {"d": description}).all()


def test_report_with_gps_and_photos_at_360px(browser, wall_url, wall_engine, grid,
                                             tmp_path) -> None:
    page = phone(browser, wall_url, grid)
    # The fix and its accuracy, and the grid the report will fall in, before sending.
    assert "±15" in page.inner_text("#accuracy")
    assert page.inner_text("#grid-preview") == f"将归入：{grid['name']}"
    assert page.get_attribute("#grid-preview", "data-grid") == grid["code"]
    # Usable with one thumb: the page is not wider than the phone, buttons are big.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = page.locator("#send").bounding_box()
    assert box["height"] >= 48 and box["width"] >= 300
    description = f"路边垃圾堆积 {uuid.uuid4().hex[:6]}"
    fill_report(page, description, [photo(tmp_path, "a.jpg", (200, 40, 40)),
                                    photo(tmp_path, "b.jpg", (40, 200, 40))])
    page.wait_for_function("document.querySelector('#report-msg').textContent"
                           ".includes('已送达')", timeout=30_000)
    assert page.inner_text("#waiting") == "0"
    rows = stored(wall_engine, description)
    assert [(r.source, r.grid_id, r.photos) for r in rows] == [("grid_app", grid["id"], 2)]
    page.context.close()


def test_a_lost_answer_is_sent_again_and_stored_once(browser, wall_url, wall_engine,
                                                     grid) -> None:
    page = phone(browser, wall_url, grid)
    calls = []

    def lose_first_answer(route) -> None:
        calls.append(route.request.headers.get("idempotency-key"))
        if len(calls) == 1:
            route.fetch()  # the server stores it…
            route.abort("connectionreset")  # …and the phone never hears back
            lost.append(True)
        else:
            route.continue_()
    lost: list[bool] = []
    page.route("**/m/reports", lose_first_answer)
    description = f"井盖缺失 {uuid.uuid4().hex[:6]}"
    fill_report(page, description)
    for _ in range(200):  # route handlers run while the test waits on the page
        if lost:
            break
        page.wait_for_timeout(50)
    page.wait_for_function("document.querySelector('#waiting').textContent == '1'")
    assert len(stored(wall_engine, description)) == 1  # stored, though the phone waits
    page.click("nav button[data-view='outbox']")
    page.click("#flush")
    page.wait_for_function("document.querySelector('#waiting').textContent == '0'",
                           timeout=30_000)
    assert len(calls) == 2 and calls[0] == calls[1]  # the same Idempotency-Key twice
    assert len(stored(wall_engine, description)) == 1  # …and the case once
    page.context.close()


def hotline_case(settings, wall_db_url, wall_engine, grid: dict) -> int:
    """A hotline case placed in the grid (at grid level: the worker's task)."""
    from intake import service
    from intake.schema import parse_report
    from onemap.access import cli_actor
    from store.runtime import build_runtime

    rt = build_runtime(settings.with_(database_url=wall_db_url), engine=wall_engine,
                       actor=cli_actor("test"))
    return service.submit(rt, parse_report({
        "source": "hotline_12345", "external_id": f"PH-{uuid.uuid4().hex[:10]}",
        "category": "dispute", "description": "楼道堆物纠纷",
        "location": {"lon": grid["x"], "lat": grid["y"]}})).incident["id"]


def test_offline_reports_and_a_check_in_wait_then_go_once(browser, wall_url, wall_engine,
                                                          grid, settings,
                                                          wall_db_url) -> None:
    case = hotline_case(settings, wall_db_url, wall_engine, grid)
    before = 0
    page = phone(browser, wall_url, grid)
    # The service worker holds the shell and the worker's data: the page opens offline.
    assert page.evaluate("navigator.serviceWorker.ready.then(r => !!r.active)")
    page.click("nav button[data-view='tasks']")
    page.wait_for_selector(f".task[data-id='{case}'] button[data-action='checkin']")
    page.context.set_offline(True)
    page.reload()
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    assert page.evaluate("!!navigator.serviceWorker.controller")
    page.wait_for_function("document.querySelector('#net').textContent == '离线'")
    assert page.inner_text("#grid-preview") == f"将归入：{grid['name']}"  # cached grids
    page.click("nav button[data-view='tasks']")
    page.wait_for_selector(f".task[data-id='{case}'] button[data-action='checkin']")
    page.click(f".task[data-id='{case}'] button[data-action='checkin']")
    page.wait_for_function("document.querySelector('#waiting').textContent == '1'")
    page.click("nav button[data-view='report']")
    texts = [f"离线上报 {k} {uuid.uuid4().hex[:6]}" for k in range(2)]
    for description in texts:
        fill_report(page, description)
    page.wait_for_function("document.querySelector('#waiting').textContent == '3'")
    page.click("nav button[data-view='outbox']")
    assert page.locator("#outbox .item").count() == 3
    assert all(not stored(wall_engine, d) for d in texts)  # nothing left the phone
    page.context.set_offline(False)  # the "online" event sends the outbox
    page.wait_for_function("document.querySelector('#waiting').textContent == '0'",
                           timeout=30_000)
    assert [len(stored(wall_engine, d)) for d in texts] == [1, 1]
    with wall_engine.connect() as conn:
        after = conn.scalar(text("SELECT count(*) FROM incident_event WHERE incident_id = :i "
                                 "AND action = 'checkin'"), {"i": case})
    assert after == before + 1
    page.context.close()


def test_far_from_the_grid_the_worker_taps_the_map(browser, wall_url, grid) -> None:
    """A fix far from the worker's grids (another city) does not shrink the map to a dot:
    the page says so, refuses to send, and a tap on the worker's grid places the report."""
    page = phone(browser, wall_url, grid, at=(116.39, 39.91))  # Beijing
    page.wait_for_function("document.querySelector('#grid-preview').textContent"
                           ".includes('不在网格附近')")
    page.click("#cats button[data-code='sanitation']")
    page.fill("#desc", "测试")
    page.click("#send")
    assert "不在网格附近" in page.inner_text("#report-msg")
    assert page.inner_text("#waiting") == "0"
    # The grid is drawn large: tap a point inside it.
    x, y = page.evaluate("""() => {
        const path = document.querySelector('#map path.mine');
        const svg = document.querySelector('#map');
        const b = path.getBBox(), m = svg.getScreenCTM();
        for (let i = 1; i < 20; i++) for (let j = 1; j < 20; j++) {
            const p = new DOMPoint(b.x + b.width * i / 20, b.y + b.height * j / 20);
            if (path.isPointInFill(p)) { const s = p.matrixTransform(m); return [s.x, s.y]; }
        }
        return null; }""")
    page.mouse.click(x, y)
    assert page.inner_text("#grid-preview") == f"将归入：{grid['name']}"
    assert "手动" in page.inner_text("#accuracy")
    page.context.close()
