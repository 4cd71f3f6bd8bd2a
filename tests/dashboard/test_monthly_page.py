"""The monthly situation page in headless Chromium on the wall's database (玉门 boundaries, a
year of incidents): the numbers on the page equal SQL written here, independently."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from tests.dashboard.test_wall_page import _shot
from tests.helpers import opener_as, page_as


def _base(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


pytestmark = [pytest.mark.db, pytest.mark.browser]

TZ = "Asia/Shanghai"
UNITS = "path.om-unit"
# On the map at the month's end: a loaded row counts from the start of records (its valid_from
# is its load time), a row a planner save added from its valid_from.
IN_FORCE = """((u.valid_from < :e OR u.id NOT IN (SELECT unnest(added_ids) FROM unit_change))
               AND (u.valid_to IS NULL OR u.valid_to >= :e))"""


def _last_full_month() -> str:
    now = datetime.now(ZoneInfo(TZ))
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    year, mon = (int(p) for p in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=ZoneInfo(TZ))
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=ZoneInfo(TZ))
    return start, end


def _scalar(engine: Engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.scalar(text(sql), params)


def _digits(value: str) -> int:
    return int(re.sub(r"[^0-9]", "", value))


def _open(browser, url: str):
    page = page_as(browser, _base(url), "commander")
    page.errors = []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector(UNITS, timeout=30_000)
    return page


def test_monthly_headline_map_and_unit_equal_independent_sql(browser, wall_url, wall_engine):
    month = _last_full_month()
    start, end = _month_bounds(month)
    page = _open(browser, wall_url + "/monthly")
    page.wait_for_function("document.querySelector('#m-kpi-received').innerText !== '–'",
                           timeout=20_000)
    received = _scalar(wall_engine, """
        SELECT count(*) FROM incident WHERE duplicate_of IS NULL
          AND received_at >= :s AND received_at < :e""", s=start, e=end)
    assert _digits(page.inner_text("#m-kpi-received")) == received
    resolved = _scalar(wall_engine, """
        SELECT count(*) FROM incident WHERE duplicate_of IS NULL AND closed_at IS NOT NULL
          AND received_at >= :s AND received_at < :e""", s=start, e=end)
    shown = float(page.inner_text("#m-kpi-resolution_rate").rstrip("%"))
    assert shown == pytest.approx(100 * resolved / received, abs=0.051)

    towns = _scalar(wall_engine, f"SELECT count(*) FROM unit u WHERE level = 1 AND {IN_FORCE}",
                    e=end)
    page.wait_for_function(f"document.querySelectorAll('{UNITS}').length == {towns}",
                           timeout=20_000)
    assert "事件数" in page.inner_text("#m-legend-title")
    _shot(page, "monthly-towns.png")

    # A town's own numbers: click it, compare with SQL on its frozen town id.
    town = _scalar(wall_engine, """
        SELECT town_id FROM incident WHERE duplicate_of IS NULL AND town_id IS NOT NULL
          AND received_at >= :s AND received_at < :e
        GROUP BY town_id ORDER BY count(*) DESC, town_id LIMIT 1""", s=start, e=end)
    n_town = _scalar(wall_engine, """
        SELECT count(*) FROM incident WHERE duplicate_of IS NULL AND town_id = :t
          AND received_at >= :s AND received_at < :e""", t=town, s=start, e=end)
    page.locator(f"path.om-month-unit-{town}").dispatch_event("click")
    page.wait_for_selector("#m-unit-detail", timeout=10_000)
    detail = page.inner_text("#m-unit-detail")
    first_row = page.locator("#m-unit-detail tr").first.inner_text()
    assert _digits(first_row.split("\t")[-1]) == n_town, detail
    top_n = _scalar(wall_engine, """
        SELECT max(n) FROM (SELECT count(*) AS n FROM incident WHERE duplicate_of IS NULL
          AND town_id = :t AND received_at >= :s AND received_at < :e GROUP BY category) x""",
                    t=town, s=start, e=end)
    assert page.inner_text("#m-unit-top li:first-child").endswith(f" · {top_n}")
    assert page.errors == []
    page.close()


def test_grid_level_measures_trend_and_narrative(browser, wall_url, wall_engine):
    month = _last_full_month()
    _start, end = _month_bounds(month)
    page = _open(browser, wall_url + "/monthly")
    page.locator("#m-level label", has_text="网格").click()
    grids = _scalar(wall_engine, f"SELECT count(*) FROM unit u WHERE level = 3 AND {IN_FORCE}",
                    e=end)
    page.wait_for_function(f"document.querySelectorAll('{UNITS}').length == {grids}",
                           timeout=30_000)
    page.locator("#m-measure label", has_text="环比变化").click()
    page.wait_for_function("document.querySelector('#m-legend-title').innerText"
                           ".includes('环比变化')", timeout=10_000)
    assert "↑" in page.inner_text("#m-legend") and "↓" in page.inner_text("#m-legend")
    page.wait_for_selector("#m-trend .bars, #m-trend .trace", state="attached",
                           timeout=10_000)
    narrative = page.inner_text("#m-narrative")
    assert "本月" in narrative
    assert "Gi*" in page.inner_text("#m-hot-list")
    _shot(page, "monthly-grids-change.png")
    assert page.errors == []
    page.close()


def test_monthly_in_english_and_export_links(browser, wall_url):
    page = _open(browser, wall_url + "/monthly?lang=en")
    assert page.inner_text(".om-title") == "Monthly situation map"
    page.wait_for_selector("#m-export-html", timeout=20_000)
    href = page.get_attribute("#m-export-html", "href")
    page.close()
    with opener_as(wall_url, "leader").open(wall_url + href, timeout=60) as resp:
        body = resp.read().decode()
    assert "<html" in body.lower()
    assert not re.search(r"<script[^>]+src=\"https?://", body)
    assert not re.search(r"<link[^>]+href=\"https?://", body)
