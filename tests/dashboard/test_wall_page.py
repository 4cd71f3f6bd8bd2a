"""The command wall in headless Chromium, served by gunicorn on 玉门's real boundaries.

Checks what an operator sees: units drawn per level with a legend, drill-down and the
breadcrumb, the level switch, a report POSTed to the API appearing within 5 s, the incident
drawer with the nearest cameras and a workflow action, English, and wall mode at 1080p/4K.
Screenshots go to var/test-artifacts/.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sqlalchemy import text

from tests.helpers import page_as


def _base(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


pytestmark = [pytest.mark.db, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
UNITS = "path.om-unit"


def _open(browser, url: str, width: int = 1920, height: int = 1080):
    page = page_as(browser, _base(url), "commander",
                   viewport={"width": width, "height": height})
    page.errors, page.outside, page.failed = [], [], []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("request", lambda r: urlparse(r.url).hostname not in ("127.0.0.1", "localhost")
            and page.outside.append(r.url))
    page.on("requestfailed", lambda r: page.failed.append(f"{r.url} {r.failure}"))
    page.goto(url)
    page.wait_for_selector(UNITS, timeout=30_000)
    return page


def _wait_legend(page, needle: str) -> None:
    page.wait_for_function(
        "s => (document.querySelector('#legend-title') || {innerText: ''}).innerText"
        ".includes(s)", arg=needle, timeout=10_000)


def _count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text(sql), params))


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def test_wall_loads_towns_with_legend_kpis_and_no_errors(browser, wall_url, wall_engine):
    page = _open(browser, wall_url + "/")
    towns = _count(wall_engine, "SELECT count(*) FROM unit WHERE level = 1 AND valid_to IS NULL")
    page.wait_for_function(f"document.querySelectorAll('{UNITS}').length == {towns}")
    _wait_legend(page, "乡镇(街道)")
    assert "事件数" in page.locator("#legend-title").inner_text()
    # KPI tiles show numbers once the first query returns.
    page.wait_for_function("!document.querySelector('#kpi-overdue_now').innerText.includes('–')")
    overdue = _count(wall_engine, """SELECT count(*) FROM incident WHERE duplicate_of IS NULL
        AND status = ANY(:s) AND due_at < now()""", s=["unlocated", "received", "dispatched",
                                                       "accepted", "in_progress", "escalated",
                                                       "returned", "reopened"])
    assert page.locator("#kpi-overdue_now").inner_text().replace(",", "") == str(overdue)
    assert page.locator(".om-label").count() == towns  # readable without hovering
    assert page.locator("#latest li").count() > 0
    page.wait_for_timeout(500)
    _shot(page, "wall_zh_1920.png")
    assert page.outside == [], f"page loaded assets from outside: {page.outside}"
    assert page.failed == []
    assert page.errors == []
    page.close()


def test_drill_down_and_breadcrumb_back(browser, wall_url, wall_engine):
    page = _open(browser, wall_url + "/")
    _wait_legend(page, "乡镇(街道)")
    # Click the first town (Leaflet handles the DOM click on the path).
    page.locator(UNITS).first.dispatch_event("click")
    _wait_legend(page, "村(社区)")
    crumbs = page.locator(".om-crumb")
    assert crumbs.count() == 2
    town_name = crumbs.nth(1).inner_text()
    villages = _count(wall_engine, """SELECT count(*) FROM unit v JOIN unit t ON t.id = v.parent_id
        WHERE t.name = :n AND t.level = 1 AND v.level = 2 AND v.valid_to IS NULL""", n=town_name)
    page.wait_for_function(f"document.querySelectorAll('{UNITS}').length == {villages}")
    # Second click: a village opens its grids.
    page.locator(UNITS).first.dispatch_event("click")
    _wait_legend(page, "网格")
    assert page.locator(".om-crumb").count() == 3
    _shot(page, "wall_drill_grids.png")
    page.locator(".om-crumb").first.click()
    _wait_legend(page, "乡镇(街道)")
    assert page.locator(".om-crumb").count() == 1
    page.close()


def test_level_switch_changes_the_legend_and_measure(browser, wall_url, wall_engine):
    page = _open(browser, wall_url + "/")
    _wait_legend(page, "乡镇(街道)")
    page.get_by_label("网格", exact=True).check()
    _wait_legend(page, "网格")
    grids = _count(wall_engine, "SELECT count(*) FROM unit WHERE level = 3 AND valid_to IS NULL")
    page.wait_for_function(f"document.querySelectorAll('{UNITS}').length == {grids}")
    page.get_by_label("办结率").check()
    _wait_legend(page, "办结率")
    assert "%" in page.locator("#legend").inner_text()
    page.close()


def test_posted_report_appears_within_five_seconds(browser, wall_url, wall_engine, wall_keys):
    page = _open(browser, wall_url + "/")
    page.wait_for_function("!document.querySelector('#kpi-received_today').innerText"
                           ".includes('–')")
    page.wait_for_timeout(3500)  # the first tick has set the watermark
    before = page.locator("path.om-incident").count()
    lon, lat = _count_point(wall_engine)
    body = {"source": "hotline_12345", "external_id": f"W-{uuid.uuid4().hex[:10]}",
            "category": "safety_hazard", "description": "燃气管道泄漏气味明显",
            "location": {"lon": lon, "lat": lat}}
    request = urllib.request.Request(
        wall_url + "/api/v1/reports", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "X-API-Key": wall_keys["hotline"]})
    with urllib.request.urlopen(request, timeout=10) as resp:
        created = json.loads(resp.read())
    posted = time.monotonic()
    selector = json.dumps({"index": created["id"], "type": "inc"}, separators=(",", ":"))
    page.wait_for_function("id => !!document.getElementById(id)", arg=selector, timeout=5_000)
    page.wait_for_function(f"document.querySelectorAll('path.om-incident').length > {before}",
                           timeout=max(100, int((5 - (time.monotonic() - posted)) * 1000)))
    assert time.monotonic() - posted < 5.0
    assert "安全隐患" in page.locator("#latest").inner_text()
    page.close()


def _count_point(engine) -> tuple[float, float]:
    """A point inside some grid, away from any earlier report (no near-duplicate)."""
    with engine.connect() as conn:
        row = conn.execute(text("""
            SELECT ST_X(p) AS x, ST_Y(p) AS y FROM (
              SELECT ST_PointOnSurface(geom) AS p FROM unit WHERE level = 3
              ORDER BY random() LIMIT 1) s""")).one()
    return round(row.x, 6), round(row.y, 6)


def test_incident_detail_shows_cameras_history_and_acts(browser, wall_url, wall_engine):
    page = _open(browser, wall_url + "/")
    page.locator("#latest li.om-item").first.wait_for(timeout=10_000)
    page.locator("#latest li.om-item").first.click()
    page.locator("#detail-history li").first.wait_for(timeout=10_000)
    assert page.locator("#detail").is_visible()
    cams = page.locator("#detail-cameras li")
    assert cams.count() == 3
    assert " m" in cams.first.inner_text()
    assert page.locator("#detail-cameras a").first.get_attribute("href").startswith("rtsp://")
    acts = page.locator("button.om-act")
    if acts.count():
        events_before = page.locator("#detail-history li").count()
        acts.first.click()
        page.wait_for_function("(document.querySelector('#action-message')||{innerText:''})"
                               ".innerText.length > 0", timeout=10_000)
        assert "已执行" in page.locator("#action-message").inner_text()
        assert page.locator("#detail-history li").count() == events_before + 1
    _shot(page, "wall_detail.png")
    page.locator("#detail button.om-button").first.click()
    page.wait_for_function("document.querySelector('#detail').style.display === 'none'")
    page.close()


def test_english_switch(browser, wall_url):
    page = _open(browser, wall_url + "/")
    page.click("#lang-switch")
    page.wait_for_url("**/?lang=en")
    page.wait_for_function(
        "(document.querySelector('.om-title') || {innerText: ''}).innerText.includes('OneMap')")
    _wait_legend(page, "Township")
    assert "Incidents" in page.locator("#legend-title").inner_text()
    assert "Received today" in page.locator("#kpis").inner_text()
    _shot(page, "wall_en_1920.png")
    page.close()


@pytest.mark.parametrize("width,height", [(1920, 1080), (3840, 2160)])
def test_wall_mode_has_no_controls_and_large_type(browser, wall_url, width, height):
    page = _open(browser, wall_url + "/?wall=1", width, height)
    _wait_legend(page, "乡镇(街道)")
    assert not page.locator("#controls").is_visible()
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.om-kpi-value'))"
                         ".fontSize)")
    assert size >= (40 if width == 1920 else 80)
    box = page.locator(".om-map").bounding_box()
    assert box["width"] > width * 0.6 and box["height"] > height * 0.8
    page.wait_for_timeout(500)
    _shot(page, f"wall_mode_{width}.png")
    page.close()


def test_layers_cameras_and_households_load_on_demand(browser, wall_url):
    page = _open(browser, wall_url + "/")
    _wait_legend(page, "乡镇(街道)")
    page.get_by_label("视频监控").check()
    page.get_by_label("住户").check()
    page.wait_for_selector(".marker-cluster, .om-camera-icon", timeout=10_000)
    page.wait_for_function("document.querySelectorAll('.leaflet-overlay-pane path').length > 0")
    page.close()


def test_auto_tour_moves_through_the_towns(browser, wall_url):
    page = _open(browser, wall_url + "/?wall=1&tour=5")
    _wait_legend(page, "乡镇(街道)")
    # After one interval the wall shows the first town's villages, with the town in the crumb.
    page.wait_for_function("document.querySelectorAll('.om-crumb').length == 2",
                           timeout=12_000)
    first = page.locator(".om-crumb").nth(1).inner_text()
    _wait_legend(page, "村(社区)")
    page.wait_for_function(
        "name => document.querySelectorAll('.om-crumb').length == 2 && "
        "document.querySelectorAll('.om-crumb')[1].innerText != name", arg=first,
        timeout=12_000)
    page.close()


@pytest.fixture(scope="module")
def unreachable_tiles_url(wall_engine, wall_db_url):
    from tests.dashboard.conftest import serve, stop

    # Port 9 (discard) on this machine: every tile request fails, as on an intranet.
    proc, url = serve(wall_db_url, ONEMAP_ESCALATE_EVERY="0",
                      ONEMAP_BASEMAP_URL="http://127.0.0.1:9/{z}/{x}/{y}.png",
                      ONEMAP_BASEMAP_ATTRIBUTION="测试底图")
    yield url
    stop(proc)


def test_map_stays_usable_when_tiles_cannot_load(browser, unreachable_tiles_url, wall_engine):
    page = _open(browser, unreachable_tiles_url + "/")
    page.wait_for_selector("#tiles-notice", state="visible", timeout=15_000)
    assert "底图瓦片无法加载" in page.locator("#tiles-notice").inner_text()
    towns = _count(wall_engine, "SELECT count(*) FROM unit WHERE level = 1 AND valid_to IS NULL")
    page.wait_for_function(f"document.querySelectorAll('{UNITS}').length == {towns}")
    assert page.evaluate("getComputedStyle(document.querySelector('.leaflet-tile-pane'))"
                         ".visibility") == "hidden"
    page.locator(UNITS).first.dispatch_event("click")  # drilling still works
    _wait_legend(page, "村(社区)")
    assert page.outside == []  # tiles come from the configured URL only (here: this machine)
    _shot(page, "wall_no_tiles.png")
    page.close()
