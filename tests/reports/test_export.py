"""Offline exports: the HTML opens in Chromium with every network request refused and draws
the units; the PNG is 1920×1080; the PDF is one A4 landscape page with the month and the
headline figures in its text."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pytest

from onemap.system import ensure_pdf_tools
from reports import export as ex
from reports import narrative as nv
from store import monthly_totals as st

pytestmark = [pytest.mark.db]


def test_vendored_leaflet_is_inlined_without_remote_references():
    js, css = ex.leaflet_assets()
    assert "sourceMappingURL" not in js and '"1.9.4"' in js
    assert "url(images/" not in css and "data:image/png;base64," in css
    for name in ("leaflet.js", "leaflet.css", "LICENSE", "README.md", "images/layers.png"):
        assert (ex.LEAFLET_DIR / name).is_file()


def test_asset_scanner_finds_remote_assets_but_not_script_text():
    page = ('<script src="https://cdn.example/x.js"></script><link href="//cdn.example/y.css">'
            '<style>a{background:url("http://x.example/i.png")}</style>'
            '<script>var a = "<a href=\\"https://leafletjs.com\\">";</script>')
    assert ex.asset_urls(page) == ["https://cdn.example/x.js", "//cdn.example/y.css",
                                   "http://x.example/i.png"]


def test_class_breaks_and_colours():
    breaks = ex.class_breaks([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, float("nan")], "count")
    assert breaks[-1] == 9 and breaks == sorted(breaks)
    assert ex.colour_for(9, breaks, ex.SEQUENTIAL) == ex.SEQUENTIAL[-1]
    assert ex.colour_for(float("nan"), breaks, ex.SEQUENTIAL) == ex.NO_DATA_COLOUR
    assert ex.class_breaks([5, 5, 5], "count") == [5.0]
    assert ex.colour_for(5, [5.0], ex.SEQUENTIAL) == ex.SEQUENTIAL[-1]
    assert ex.class_breaks([-50, 50], "change")[:4] == list(ex.CHANGE_BREAKS)


@pytest.fixture(scope="session")
def html_file(town_report, export_dir, offline_settings) -> Path:
    return ex.to_html(town_report, export_dir / "monthly.html", offline_settings)


def test_html_has_no_remote_asset(html_file):
    page = html_file.read_text(encoding="utf-8")
    assert ex.asset_urls(page) == []
    assert not re.search(r"<(script|link|img)\b[^>]*(src|href)=[\"']?(https?:)?//", page)
    assert "cdn.jsdelivr" not in page and "jquery" not in page.lower()
    assert "bootstrap" not in page.lower() and "d3.min.js" not in page


@pytest.mark.browser
def test_html_opens_offline_and_draws_the_units(html_file, town_report, browser):
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    requested: list[str] = []
    failed: list[str] = []
    errors: list[str] = []

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            requested.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: failed.append(r.url))
    try:
        page.goto(html_file.resolve().as_uri(), wait_until="load")
        page.wait_for_selector("path.leaflet-interactive", timeout=10_000)
        drawn = page.locator("path.leaflet-interactive").count()
        title = page.locator("#om-title").inner_text()
        legend = page.locator("#om-legend").inner_text()
        first = page.locator("path.leaflet-interactive").first
        first.hover(force=True)
        page.wait_for_selector(".leaflet-tooltip", timeout=5_000)
        tooltip = page.locator(".leaflet-tooltip").first.inner_text()
    finally:
        context.close()
    assert requested == [] and failed == [], (requested, failed)
    assert errors == []
    hot = int(town_report.hotspots["hot"].sum())
    assert drawn == len(town_report.units) + hot
    assert town_report.month_zh in title
    assert f"{town_report.headline['received']:,}" in title
    assert "热点网格" in legend and "受理事件数" in legend
    assert "受理事件" in tooltip


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.mark.browser
@pytest.mark.slow
def test_png_is_1920_by_1080(town_report, export_dir, offline_settings):
    out = ex.to_png(town_report, export_dir / "monthly.png", offline_settings)
    assert png_size(out) == (1920, 1080)
    assert out.stat().st_size > 20_000  # a drawn map, not a blank page


@pytest.mark.browser
@pytest.mark.slow
def test_pdf_is_one_page_with_month_and_headline(town_report, reports_engine, report_month,
                                                 export_dir, offline_settings, settings):
    tools = ensure_pdf_tools()
    out = ex.to_pdf(town_report, export_dir / "monthly.pdf", offline_settings)
    info = subprocess.run([tools["pdfinfo"], str(out)], capture_output=True, text=True,
                          check=True).stdout
    assert re.search(r"Pages:\s+1\n", info)
    width, height = (float(v) for v in
                     re.search(r"Page size:\s+([\d.]+) x ([\d.]+)", info).groups())
    assert width > height and width == pytest.approx(841.9, abs=2)  # A4 landscape
    prefix = export_dir / "page"
    subprocess.run([tools["pdftoppm"], "-r", "40", "-png", "-f", "1", "-l", "1", str(out),
                    str(prefix)], check=True)
    rendered = sorted(export_dir.glob("page*.png"))
    assert rendered and png_size(rendered[0])[0] > png_size(rendered[0])[1]
    text = subprocess.run([tools["pdftotext"], "-layout", str(out), "-"], capture_output=True,
                          text=True, check=True).stdout
    year, month = report_month.split("-")
    assert f"{int(year)}年{int(month)}月" in text
    head = st.headline(reports_engine, report_month, settings.timezone)
    assert f"{head['received']:,} 件" in text
    assert nv.pct(head["resolution_rate"]) in text
    assert "事件类别" in text and "情况摘要" in text
    top_code = town_report.top_categories[0][0]
    assert nv.category_name(top_code) in text


def test_unknown_measure_or_format_is_refused(town_report, export_dir):
    with pytest.raises(ex.ExportError, match="not a map measure"):
        ex.map_page(town_report, measure="nonsense")
    with pytest.raises(ex.ExportError, match="html, png, pdf"):
        ex.export(town_report, "docx", export_dir / "x.docx")


def test_basemap_tiles_are_the_only_remote_reference(town_report, settings):
    page = ex.map_page(town_report, settings.with_(basemap_url="https://tiles.example/{z}/{x}/{y}.png"))
    assert "https://tiles.example/{z}/{x}/{y}.png" in page
    assert ex.asset_urls(page) == []  # the tile URL lives in script, loaded by Leaflet
