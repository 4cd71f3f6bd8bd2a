"""The map page on the built-in sample (units only, no incidents) in headless Chromium: units
drawn, nothing loaded from outside, both languages.  The full wall is in test_wall_page.py."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from store import repository
from tests.helpers import page_as


def _base(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


pytestmark = [pytest.mark.db, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
UNITS = "path.om-unit"


def _open(browser, url: str):
    page = page_as(browser, _base(url), "commander")
    requests: list[str] = []
    failed: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
    page.goto(url)
    page.wait_for_selector(UNITS, timeout=30_000)
    return page, requests, failed


def test_map_shows_every_unit_with_no_outside_requests(browser, served_url, db_engine):
    page, requests, failed = _open(browser, served_url + "/")
    towns = repository.unit_counts_by_level(db_engine)[1]
    assert towns > 0
    page.wait_for_function(f"document.querySelectorAll('{UNITS}').length == {towns}")
    assert page.locator(".leaflet-container").count() == 1
    page.wait_for_selector("#legend-title")
    assert "乡镇(街道)" in page.locator("#legend").inner_text()
    assert "一张图" in page.title() + page.locator(".om-title").inner_text()
    outside = [u for u in requests if urlparse(u).hostname not in ("127.0.0.1", "localhost")]
    assert outside == [], f"page loaded assets from outside: {outside}"
    assert failed == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map_zh.png"))
    page.close()


def test_language_switch_to_english(browser, served_url):
    page, _, _ = _open(browser, served_url + "/")
    page.click("#lang-switch")
    page.wait_for_url("**/?lang=en")
    page.wait_for_function(
        "(document.querySelector('.om-title') || {innerText: ''}).innerText.includes('OneMap')")
    page.wait_for_selector("#legend-title")
    assert "Township" in page.locator("#legend").inner_text()
    assert page.locator(UNITS).count() > 0
    page.close()


def test_unit_name_shows_on_hover(browser, served_url):
    page, _, _ = _open(browser, served_url + "/")
    # The first fit changes the zoom, which reloads the units at that zoom's detail: hover
    # once the page is quiet, so the path under the mouse is the one that stays.
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)
    box = page.locator(UNITS).first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=4)
    tip = page.locator(".leaflet-tooltip").last
    tip.wait_for(timeout=5_000)
    assert "示例" in tip.inner_text() and "(" in tip.inner_text()
    page.close()


def test_health_endpoint_reports_status_only(served_url):
    with urllib.request.urlopen(served_url + "/api/health", timeout=5) as resp:
        body = json.loads(resp.read())
    assert body == {"status": "ok"}  # status only: nothing an outsider could learn from
