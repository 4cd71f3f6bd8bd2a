"""The grid planner in headless Chromium, served by gunicorn on 玉门's real boundaries.

A planner splits a grid by drawing a line, sees the checks and the impact, saves, and the
two new grids are on the command wall; a second planner who edited the same grid meanwhile
gets a conflict; the time-travel tab answers which grid held a point; export works.
Screenshots go to var/test-artifacts/.  The database is the planner's own (saves commit).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.dashboard.conftest import serve, stop
from tests.helpers import fresh_demo_database, opener_as, page_as, sibling_database


def _base(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


pytestmark = [pytest.mark.db, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
GRIDS = "path.om-plan-grid"


@pytest.fixture(scope="module")
def planner_engine(db_url: str) -> Iterator[Engine]:
    engine = fresh_demo_database(sibling_database(db_url, "planner"), "yumen", scale=0.03)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def planner_url(planner_engine: Engine) -> Iterator[str]:
    proc, url = serve(planner_engine.url.render_as_string(hide_password=False),
                      ONEMAP_ESCALATE_EVERY="0")
    yield url
    stop(proc)


def _rows(engine: Engine, sql: str, **params) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql), params)]


@pytest.fixture(scope="module")
def target(planner_engine: Engine) -> dict:
    """The grid with the most households and open cases (a grid worth splitting)."""
    return _rows(planner_engine, """
        SELECT u.id, u.code, u.name, u.parent_id, u.version,
               (SELECT count(*) FROM household h WHERE h.grid_id = u.id) AS households
        FROM unit u WHERE u.valid_to IS NULL AND u.level = 3
        ORDER BY (SELECT count(*) FROM household h WHERE h.grid_id = u.id) DESC, u.code
        LIMIT 1""")[0]


def _open(browser, url: str):
    page = page_as(browser, _base(url), "planner")
    page.errors = []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.log = []
    page.on("request", lambda r: "_dash-update" in r.url and page.log.append(
        json.loads(r.post_data).get("changedPropIds")))
    page.goto(url)
    page.wait_for_selector(GRIDS, timeout=30_000)
    return page


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def _grid(page, grid_id: int):
    """A grid's path on the planner map (its class carries the id)."""
    return page.locator(f"path.om-grid-{grid_id}")


def _select(page, grid_id: int, name: str) -> dict:
    """Click the grid (a DOM click on its path: the centre of its box may be a neighbour's)
    and wait until it is listed as selected; returns its on-screen box."""
    path = _grid(page, grid_id)
    path.dispatch_event("click")
    page.wait_for_function("s => document.querySelector('#p-selection').innerText.includes(s)",
                           arg=name, timeout=10_000)
    return path.bounding_box()


def _draw_split(page, box: dict) -> None:
    """Draw a west-east line through the middle of ``box`` and finish it."""
    y = box["y"] + box["height"] / 2
    x0, x1 = box["x"] - 20, box["x"] + box["width"] + 20
    page.mouse.click(x0, y)
    page.wait_for_timeout(250)
    page.mouse.click(x1, y)
    page.wait_for_timeout(250)
    page.mouse.click(x1, y)  # clicking the last point again finishes the line


def test_planner_loads_village_grids_without_errors(browser, planner_url, planner_engine,
                                                    target):
    page = _open(browser, f"{planner_url}/planner?village={target['parent_id']}")
    expected = _rows(planner_engine, "SELECT count(*) AS n FROM unit WHERE valid_to IS NULL "
                                     "AND parent_id = :p", p=target["parent_id"])[0]["n"]
    page.wait_for_function(f"document.querySelectorAll('{GRIDS}').length == {expected}")
    assert "网格规划" in page.inner_text(".om-title")
    assert "Shapefile" in page.inner_text("#p-export")
    _shot(page, "planner-village.png")
    assert page.errors == []
    page.close()


def test_split_preview_save_and_the_wall_shows_both(browser, planner_url, planner_engine,
                                                     target):
    page = _open(browser, f"{planner_url}/planner?village={target['parent_id']}")
    box = _select(page, target["id"], target["name"])
    page.click("#p-split")
    # Drawing mode is on once Leaflet.draw shows its tooltip ("点击开始画线").
    page.wait_for_selector(".leaflet-draw-tooltip", state="attached", timeout=10_000)
    page.wait_for_timeout(500)
    box = _grid(page, target["id"]).bounding_box()
    _draw_split(page, box)
    try:
        page.wait_for_selector("#p-impact-table", timeout=15_000)
    except Exception:
        _shot(page, "planner-split-failed.png")
        raise AssertionError(f"no preview; message: {page.inner_text('#p-message')!r}, "
                             f"errors: {page.errors} log: {page.log}") from None
    verdict = page.inner_text("#p-verdict")
    assert "校验通过" in verdict, page.inner_text("#p-checks")
    table = page.inner_text("#p-impact-table")
    assert target["code"] in table and "新增" in table
    # The households before → after of the split grid add up to what it holds now.
    assert f"{target['households']} →" in table
    _shot(page, "planner-split-preview.png")
    assert page.is_enabled("#p-save")
    page.fill("#p-actor", "测试规划员")
    page.fill("#p-note", "浏览器测试：分割")
    page.click("#p-save")
    page.wait_for_selector("#p-saved", timeout=15_000)

    current = _rows(planner_engine, "SELECT id, code, version FROM unit WHERE valid_to IS NULL "
                                    "AND parent_id = :p ORDER BY code", p=target["parent_id"])
    old = _rows(planner_engine, "SELECT valid_to FROM unit WHERE id = :i", i=target["id"])[0]
    assert old["valid_to"] is not None
    kept = [r for r in current if r["code"] == target["code"]]
    assert kept and kept[0]["version"] == target["version"] + 1
    new_codes = [c for c in page.inner_text("#p-saved").split("：")[-1].split(", ")]
    # A straight line across the drawn grid cuts it in two, or more where the grid is
    # concave (the line is drawn at the middle of the map's simplified outline): each part
    # is a row of its own.
    assert len(new_codes) >= 2 and target["code"] in new_codes
    assert set(new_codes) <= {r["code"] for r in current}
    moved = _rows(planner_engine, "SELECT count(*) AS n FROM household WHERE grid_id = :i",
                  i=target["id"])[0]["n"]
    assert moved == 0  # every household of the old row now points at a new version
    _shot(page, "planner-split-saved.png")
    page.close()

    # The command wall draws both new grids (level "grids", drilled into the village).
    wall = page_as(browser, planner_url, "commander")
    wall.goto(planner_url + "/")
    wall.wait_for_selector("path.om-unit", timeout=30_000)
    ids = {r["code"]: r["id"] for r in current}
    # The server re-checks the units every few seconds; the planner refreshes its own process.
    wall.wait_for_function("""async ids => {
        const r = await fetch('/wall/units.geojson?level=3');
        const fc = await r.json();
        const have = new Set(fc.features.map(f => f.properties.id));
        return ids.every(i => have.has(i));
    }""", arg=[ids[c] for c in new_codes], timeout=20_000, polling=1000)
    wall.locator("#level label", has_text="网格").click()
    grids_now = _rows(planner_engine, "SELECT count(*) AS n FROM unit WHERE valid_to IS NULL "
                                      "AND level = 3")[0]["n"]
    wall.wait_for_function(f"document.querySelectorAll('path.om-unit').length == {grids_now}",
                           timeout=20_000)
    _shot(wall, "planner-wall-after-split.png")
    wall.close()


def test_second_planner_gets_a_conflict(browser, planner_url, planner_engine, target):
    """Two planners merge the same pair; the second save is refused and nothing is lost."""
    village = target["parent_id"]
    pages = [_open(browser, f"{planner_url}/planner?village={village}") for _ in range(2)]
    pair = _rows(planner_engine, """
        SELECT a.id AS a, a.name AS a_name, a.code, b.id AS b, b.name AS b_name
        FROM unit a JOIN unit b ON a.parent_id = b.parent_id AND a.code < b.code
        WHERE a.parent_id = :p AND a.valid_to IS NULL AND b.valid_to IS NULL
          AND ST_Length(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom))) > 0
        ORDER BY a.code, b.code LIMIT 1""", p=village)[0]
    code = pair["code"]
    for page in pages:
        _select(page, pair["a"], pair["a_name"])
        _select(page, pair["b"], pair["b_name"])
        page.click("#p-merge")
        page.wait_for_selector("#p-impact-table", timeout=20_000)
        page.fill("#p-actor", "规划员")
    before = _rows(planner_engine, "SELECT count(*) AS n FROM unit")[0]["n"]
    pages[0].click("#p-save")
    pages[0].wait_for_selector("#p-saved", timeout=15_000)
    after_first = _rows(planner_engine, "SELECT count(*) AS n FROM unit")[0]["n"]
    assert after_first == before + 1  # the merged grid (both old rows kept with valid_to)
    pages[1].click("#p-save")
    pages[1].wait_for_selector("#p-conflict", timeout=15_000)
    assert code in pages[1].inner_text("#p-conflict")
    assert _rows(planner_engine, "SELECT count(*) AS n FROM unit")[0]["n"] == after_first
    _shot(pages[1], "planner-conflict.png")
    for page in pages:
        page.close()


def test_time_travel_tab_answers_with_the_version_then(browser, planner_url, planner_engine,
                                                        target):
    point = _rows(planner_engine, "SELECT ST_X(g) AS lon, ST_Y(g) AS lat FROM unit, "
                                  "ST_PointOnSurface(geom) g WHERE id = :i", i=target["id"])[0]
    page = _open(browser, f"{planner_url}/planner?village={target['parent_id']}")
    page.click("text=时点查询")
    page.fill("#p-when-lon", str(point["lon"]))
    page.fill("#p-when-lat", str(point["lat"]))
    page.click("#p-when-go")
    page.wait_for_selector("#p-when-grid", timeout=10_000)
    text_now = page.inner_text("#p-when-grid")
    current = _rows(planner_engine, """
        SELECT code, version FROM unit WHERE valid_to IS NULL AND level = 3
          AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) ORDER BY code LIMIT 1""",
                    x=point["lon"], y=point["lat"])[0]
    assert current["code"] in text_now and f"版本 {current['version']}" in text_now
    page.close()


def test_export_shapefile_has_cpg_and_chinese_names(planner_url, target, planner_engine):
    code = _rows(planner_engine, "SELECT code FROM unit WHERE id = :i",
                 i=target["parent_id"])[0]["code"]
    with opener_as(planner_url, "planner").open(
            f"{planner_url}/planner/export?format=shp&within={code}",
                                timeout=30) as resp:
        archive = zipfile.ZipFile(io.BytesIO(resp.read()))
    names = archive.namelist()
    assert any(n.endswith(".cpg") for n in names) and any(n.endswith(".shp") for n in names)
    cpg = next(n for n in names if n.endswith(".cpg"))
    assert archive.read(cpg).decode().strip().upper().replace("-", "") == "UTF8"
    with opener_as(planner_url, "planner").open(
            f"{planner_url}/planner/export?format=geojson&within={code}",
                                timeout=30) as resp:
        layer = json.loads(resp.read())
    assert layer["features"] and all("code" in f["properties"] for f in layer["features"])
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in f["properties"]["name"])
               for f in layer["features"])


def test_history_lists_the_split_and_compares_side_by_side(browser, planner_url, target):
    """After the split above: who, when and what, and a before/after pair of maps."""
    page = _open(browser, f"{planner_url}/planner?village={target['parent_id']}")
    page.click("text=历史版本")
    page.wait_for_selector(".om-history-item", timeout=10_000)
    first = page.locator(".om-history-item").last  # oldest: the browser split
    assert "测试规划员" in first.inner_text() and target["code"] in first.inner_text()
    first.locator("button").click()
    page.wait_for_function(
        "document.querySelectorAll('.om-compare-pane .leaflet-container').length == 2",
        timeout=10_000)
    page.wait_for_function(
        "document.querySelectorAll('.om-compare-pane path').length > 0", timeout=10_000)
    titles = page.inner_text(".om-compare-panes")
    assert "调整前" in titles and "调整后" in titles
    _shot(page, "planner-compare.png")
    page.locator(".om-compare-close").click()
    page.wait_for_function("getComputedStyle(document.querySelector('#p-compare')).display "
                           "== 'none'", timeout=5_000)
    page.close()


def test_suggested_split_can_be_edited_before_saving(browser, planner_url, planner_engine):
    """The out-of-band list opens a grid; a suggested split into three is then changed (two of
    its parts merged) and saved as one version change."""
    page = page_as(browser, planner_url, "planner")
    page.goto(planner_url + "/planner")
    page.wait_for_selector(GRIDS, timeout=30_000)
    page.click("text=户数超标")
    page.wait_for_selector("#p-band li button", timeout=10_000)
    page.locator("#p-band li button").first.click()
    page.wait_for_function("document.querySelector('#p-selection li')", timeout=10_000)
    page.fill("#p-k", "3")
    page.click("#p-suggest")
    page.wait_for_selector("#p-impact-table", timeout=20_000)
    # The three parts are selected (the selection list re-renders after the preview of the
    # grid picked before may already have drawn an impact table: wait for the parts).
    page.wait_for_function("document.querySelectorAll('#p-selection li').length == 3",
                           timeout=20_000)
    virtual = page.evaluate("Array.from(document.querySelectorAll('#p-selection li'))"
                            ".map(li => li.innerText)")
    # keep two parts selected (click the first part away), merge them
    page.locator(".om-grid--1").first.dispatch_event("click")
    page.wait_for_function("document.querySelectorAll('#p-selection li').length == 2",
                           timeout=10_000)
    page.click("#p-merge")
    page.wait_for_function("document.querySelectorAll('#p-selection li').length == 1",
                           timeout=10_000)
    assert "校验通过" in page.inner_text("#p-verdict")
    page.fill("#p-actor", "规划员乙")
    changes = _rows(planner_engine, "SELECT count(*) AS n FROM unit_change")[0]["n"]
    page.click("#p-save")
    page.wait_for_selector("#p-saved", timeout=15_000)
    assert _rows(planner_engine, "SELECT count(*) AS n FROM unit_change")[0]["n"] == changes + 1
    saved = page.inner_text("#p-saved").split("：")[-1].split(", ")
    assert len(saved) >= 2, (virtual, saved)  # two parts of the grid (plus touched neighbours)
    page.close()


def test_planner_in_english(browser, planner_url, target):
    page = _open(browser, f"{planner_url}/planner?lang=en&village={target['parent_id']}")
    assert page.inner_text(".om-title") == "Grid planner"
    assert "Split by line" in page.inner_text("#p-controls")
    assert page.errors == []
    page.close()


def test_an_edited_export_dropped_on_the_page_is_previewed_and_saved(
        browser, planner_url, planner_engine, target, tmp_path):
    """QGIS round trip through the page: export the village, rename a grid and move nothing
    else, drop the file on the page: one changed grid, checks pass, saving makes version+1."""
    code = _rows(planner_engine, "SELECT code FROM unit WHERE id = :i",
                 i=target["parent_id"])[0]["code"]
    with opener_as(planner_url, "planner").open(
            f"{planner_url}/planner/export?format=geojson&within={code}",
                                timeout=30) as resp:
        layer = json.loads(resp.read())
    feature = layer["features"][0]
    feature["properties"]["name"] = "改名后的网格"
    path = tmp_path / "edited.geojson"
    path.write_text(json.dumps(layer, ensure_ascii=False), encoding="utf-8")
    grid_code = feature["properties"]["code"]
    before = _rows(planner_engine, "SELECT version FROM unit WHERE code = :c AND valid_to IS "
                                   "NULL", c=grid_code)[0]["version"]

    page = _open(browser, f"{planner_url}/planner?village={target['parent_id']}")
    page.set_input_files("#p-upload input[type=file]", str(path))
    page.wait_for_selector("#p-impact-table", timeout=20_000)
    assert "校验通过" in page.inner_text("#p-verdict")
    table = page.inner_text("#p-impact-table")
    assert "改名后的网格" in table and grid_code in table
    page.fill("#p-actor", "QGIS 往返")
    page.click("#p-save")
    page.wait_for_selector("#p-saved", timeout=15_000)
    now = _rows(planner_engine, "SELECT name, version FROM unit WHERE code = :c AND valid_to "
                                "IS NULL", c=grid_code)[0]
    assert now == {"name": "改名后的网格", "version": before + 1}
    page.close()
