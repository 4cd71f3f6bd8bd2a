"""Offline exports of a monthly report: standalone HTML (folium), PNG 1920×1080, one-page PDF.

**No network.** folium's default page loads Leaflet, jQuery and Bootstrap from CDNs, so a map
written by folium as is stays blank on a machine without Internet access — which is where
command centres often read these files.  :class:`OfflineMap` drops folium's default script and
style links and the page instead carries Leaflet 1.9.4 *inlined* from ``data/vendor/leaflet/``
(its CSS images as ``data:`` URIs).  Nothing else is used that brings assets: no branca
colormap (it loads d3 from a CDN; the legend is plain HTML), no marker icons, no jQuery
(folium's ``keep_in_front`` needs it; layers are added in drawing order instead).  Tiles are
requested only when ``settings.basemap_url`` is set.  :func:`asset_urls` lists any remote
``src``/``href``/``url()`` left in a page; :func:`to_html` refuses to write one that has any
beyond the configured basemap.

**PNG and PDF** are drawn by Debian's Chromium from its command line (``--screenshot``,
``--print-to-pdf``), with a throw-away profile and, when there is no basemap, a host
resolver that resolves nothing — so even a mistake cannot reach the network.  Chinese needs
the Noto CJK fonts (``onemap.system.ensure_browser`` installs ``fonts-noto-cjk``).
"""

from __future__ import annotations

import base64
import html
import json
import math
import subprocess
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import folium
import numpy as np
import pandas as pd
import shapely
from branca.element import Element

from geo import measures as measure_registry
from onemap.settings import Settings
from reports import narrative as nv
from reports.measures import CHANGE_LIMITS, class_limits
from reports.monthly import MonthlyReport
from reports.offline import (  # noqa: F401  (re-exported: tests and callers use them here)
    LEAFLET_DIR,
    LEAFLET_VERSION,
    ExportError,
    OfflineMap,
    asset_urls,
    leaflet_assets,
)

FORMATS = ("html", "png", "pdf")
PNG_SIZE = (1920, 1080)
PDF_MAP_SIZE = (800, 600)  # CSS pixels of the map image in the PDF (4:3), drawn at 2×
PDF_MAP_SCALE = 2
FONT_STACK = ('"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Microsoft YaHei", '
              '"PingFang SC", sans-serif')
NO_DATA_COLOUR = "#d9d9d9"
HOT_COLOUR, NEW_HOT_COLOUR = "#d7301f", "#7a0177"
CHROMIUM_TIMEOUT_S = 120


# --- measures the map can colour by ---------------------------------------------------------
SEQUENTIAL = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
GREENS = ("#edf8e9", "#bae4b3", "#74c476", "#31a354", "#006d2c")
DIVERGING = ("#2166ac", "#92c5de", "#f7f7f7", "#f4a582", "#b2182b")
CHANGE_BREAKS = CHANGE_LIMITS  # % change: fixed, so months compare

PALETTES = {"rate": GREENS, "change": DIVERGING}
# The measures the map can colour by (geo.measures), with the unit in the label and a palette.
MEASURES: dict[str, dict[str, Any]] = {
    m.key: {"zh": f"{m.zh}（{m.unit_zh}）" if m.unit_zh else m.zh, "kind": m.kind,
            "palette": PALETTES.get(m.kind, SEQUENTIAL)}
    for m in measure_registry.on("export")}


def _fmt(value: Any, kind: str) -> str:
    if nv._missing(value):
        return "—"
    if kind == "count":
        return nv.count(value)
    if kind == "rate":
        return nv.pct(value)
    if kind == "change":
        return f"{float(value):+.1f}%"
    return f"{float(value):.1f}"


def class_breaks(values: Sequence[float], kind: str, classes: int = 5) -> list[float]:
    """Upper limits of the colour classes — the page's rule
    (:func:`reports.measures.class_limits`), so screen and paper show the same classes."""
    return class_limits(values, "change" if kind == "change" else "rate" if kind == "rate"
                        else "count", classes)


def colour_for(value: Any, breaks: list[float], palette: Sequence[str]) -> str:
    if nv._missing(value) or not breaks:
        return NO_DATA_COLOUR
    # spread fewer classes over the whole palette so the top class is always the darkest
    n, k = len(palette), len(breaks)
    picks = (list(palette) if k >= n else [palette[-1]] if k == 1
             else [palette[round(i * (n - 1) / (k - 1))] for i in range(k)])
    for limit, colour in zip(breaks, picks, strict=False):
        if float(value) <= limit:
            return colour
    return picks[-1]


def _legend_rows(breaks: list[float], palette: Sequence[str], kind: str) -> list[tuple[str, str]]:
    """(colour, label) per class, lowest first."""
    if not breaks:
        return []
    colours = [colour_for(b, breaks, palette) for b in breaks]
    rows = []
    lower: float | None = None
    for limit, colour in zip(breaks, colours, strict=True):
        if kind == "change":
            label = (f"≤ {limit:+.0f}%" if lower is None else
                     f"> {lower:+.0f}%" if math.isinf(limit) else
                     f"{lower:+.0f}% ~ {limit:+.0f}%")
        else:
            lo = "" if lower is None else _fmt(lower, kind)
            label = f"≤ {_fmt(limit, kind)}" if lower is None else f"{lo} ~ {_fmt(limit, kind)}"
        rows.append((colour, label))
        lower = limit
    return rows


# --- geometry for the page ------------------------------------------------------------------
def _display_geometry(geoms: Any, settings: Settings | None) -> np.ndarray:
    """Simplified (coverage-preserving, ~1 m: invisible at the zoom a report is read at) and
    moved to the basemap's datum when the tiles are GCJ-02."""
    from geo import crs
    from geo.simplify import simplify_layer, tolerance_for_zoom

    arr = np.asarray(geoms, dtype=object)
    if not len(arr):
        return arr
    y0, y1 = shapely.total_bounds(arr)[[1, 3]]
    tol = tolerance_for_zoom(16, float((y0 + y1) / 2), pixels=0.5)
    arr = simplify_layer(arr, tol)
    if settings is not None and settings.basemap_url and settings.basemap_datum != "wgs84":
        def shift(coords: np.ndarray) -> np.ndarray:
            x, y = crs.from_wgs84(coords[:, 0], coords[:, 1], settings.basemap_datum)
            return np.column_stack([x, y])

        arr = shapely.transform(arr, shift)
    return shapely.set_precision(arr, 1e-6)


def _feature_collection(geoms: np.ndarray, props: list[dict]) -> dict:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": str(i), "properties": p,
         "geometry": json.loads(shapely.to_geojson(g))}
        for i, (g, p) in enumerate(zip(geoms, props, strict=True)) if g is not None]}


def _top_text(items: Any) -> str:
    if not isinstance(items, list | tuple) or not items:
        return "—"
    return "、".join(f"{nv.category_name(c)} {int(n)}" for c, n in items)


def _unit_properties(report: MonthlyReport, measure: str, breaks: list[float]) -> list[dict]:
    spec = MEASURES[measure]
    out = []
    for _, row in report.units.iterrows():
        received = int(row.get("received", 0) or 0)
        prev = row.get("prev_received")
        change = row.get("change_pct")
        out.append({
            "name": str(row.get("name", "")),
            "code": str(row.get("code", "")),
            "received": nv.count(received),
            "per_1000_households": _fmt(row.get("per_1000_households"), "ratio"),
            "change": ("上月无事件" if not nv._missing(prev) and int(prev) == 0 and received
                       else _fmt(change, "change")) + f"（上月 {nv.count(prev)}）",
            "resolution_rate": nv.pct(row.get("resolution_rate")),
            "on_time_rate": nv.pct(row.get("on_time_rate")),
            "closed": " / ".join(nv.pct(row.get(f"closed_share_{k}"))
                                 for k in ("grid", "village", "town")),
            "top": _top_text(row.get("top_categories")),
            "fill": colour_for(row.get(measure), breaks, spec["palette"]),
        })
    return out


# --- the HTML page --------------------------------------------------------------------------
def _e(text: Any) -> str:
    return html.escape(str(text))


def _headline_tiles(report: MonthlyReport) -> list[tuple[str, str, str]]:
    """(label, value, note) of the headline KPIs, shared by the map panel and the PDF."""
    h = report.headline
    received = int(h.get("received") or 0)
    change = nv.change_phrase(received, h.get("prev_received"), h.get("change_pct"))
    spots = report.hotspots
    hot = int(spots["hot"].sum()) if len(spots) else 0
    new = int(spots["new"].sum()) if len(spots) else 0
    return [
        ("受理事件", f"{nv.count(received)} 件", change),
        ("每千户", _fmt(h.get("per_1000_households"), "ratio"),
         f"户数 {nv.count(h.get('households'))}"),
        ("办结率", nv.pct(h.get("resolution_rate")), f"已办结 {nv.count(h.get('resolved'))} 件"),
        ("按期办结率", nv.pct(h.get("on_time_rate")), "办结事件中"),
        ("网格内办结", nv.pct(h.get("closed_share_grid")),
         f"村（社区）内 {nv.pct(h.get('closed_share_village'))}，"
         f"乡镇内 {nv.pct(h.get('closed_share_town'))}"),
        ("热点网格", f"{hot} 处", f"新增 {new} 处"),
    ]


_PAGE_CSS = """
html, body { font-family: %(font)s; }
.folium-map, .leaflet-container { background: #eef0f2; font-family: %(font)s; }
.om-panel { position: absolute; z-index: 1000; background: rgba(255,255,255,0.93);
  border-radius: 6px; box-shadow: 0 1px 6px rgba(0,0,0,0.25); color: #222; }
.om-title { top: 12px; left: 12px; right: 12px; padding: 10px 16px;
  display: flex; align-items: center; gap: 24px; }
.om-title h1 { font-size: 26px; margin: 0; white-space: nowrap; font-weight: 700; }
.om-title .om-sub { font-size: 13px; color: #555; margin-top: 2px; }
.om-kpis { display: flex; gap: 10px; margin-left: auto; }
.om-kpi { min-width: 118px; padding: 4px 10px; border-left: 3px solid #bd0026; }
.om-kpi b { display: block; font-size: 22px; }
.om-kpi span { font-size: 12px; color: #555; display: block; }
.om-kpi i { font-size: 11px; color: #777; font-style: normal; display: block; }
.om-legend { bottom: 16px; right: 12px; padding: 10px 12px; font-size: 13px; max-width: 300px; }
.om-legend h4 { margin: 0 0 6px; font-size: 14px; }
.om-legend .row { display: flex; align-items: center; gap: 8px; margin: 2px 0; }
.om-legend .sw { width: 22px; height: 14px; border: 1px solid #999; display: inline-block; }
.om-legend .hs { width: 20px; height: 12px; display: inline-block; background: transparent; }
.om-legend p { margin: 6px 0 0; font-size: 11px; color: #555; line-height: 1.35; }
.om-foot { bottom: 16px; left: 60px; padding: 6px 10px; font-size: 12px; color: #444;
  max-width: 900px; }
.leaflet-tooltip { font-family: %(font)s; font-size: 13px; }
"""


def _title_panel(report: MonthlyReport, scope_name: str | None) -> str:
    tiles = "".join(f'<div class="om-kpi"><span>{_e(label)}</span><b>{_e(value)}</b>'
                    f"<i>{_e(note)}</i></div>" for label, value, note in _headline_tiles(report))
    start = report.period_start.strftime("%Y-%m-%d")
    end = (report.period_end - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    where = f"{scope_name} · " if scope_name else ""
    return (f'<div class="om-panel om-title" id="om-title"><div><h1>{_e(report.title_zh)}</h1>'
            f'<div class="om-sub">{_e(where)}{start} 至 {end}（{_e(report.timezone)}）· '
            f"按{_e(report.level_name_zh)}统计，边界为当月末版本</div></div>"
            f'<div class="om-kpis">{tiles}</div></div>')


def _legend_panel(report: MonthlyReport, measure: str, breaks: list[float]) -> str:
    spec = MEASURES[measure]
    rows = "".join(f'<div class="row"><span class="sw" style="background:{c}"></span>'
                   f"{_e(label)}</div>"
                   for c, label in _legend_rows(breaks, spec["palette"], spec["kind"]))
    rows += (f'<div class="row"><span class="sw" style="background:{NO_DATA_COLOUR}"></span>'
             "无数据</div>")
    rows += (f'<div class="row"><span class="hs" style="border:2px solid {HOT_COLOUR}"></span>'
             "热点网格（Gi*，95% 置信）</div>"
             f'<div class="row"><span class="hs" style="border:3px dashed {NEW_HOT_COLOUR}">'
             "</span>新增热点（前三个月均非热点）</div>")
    return (f'<div class="om-panel om-legend" id="om-legend"><h4>{_e(spec["zh"])}</h4>{rows}'
            f'<p>热点方法：Getis-Ord Gi*，网格后邻接（含自身），α = 5%（双侧）。</p></div>')


def _bounds(geoms: np.ndarray) -> list[list[float]]:
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    if not np.all(np.isfinite([x0, y0, x1, y1])):
        return [[35.0, 103.0], [37.0, 105.0]]
    return [[float(y0), float(x0)], [float(y1), float(x1)]]


def map_page(report: MonthlyReport, settings: Settings | None = None, *,
             measure: str = "received", panels: bool = True,
             scope_name: str | None = None) -> str:
    """The standalone HTML of the month's map (see :func:`to_html`).

    ``panels=False`` leaves out the title and headline bar (the PDF has them as text) but
    keeps the legend.
    """
    if measure not in MEASURES:
        raise ExportError(f"{measure!r} is not a map measure; choose one of "
                          f"{', '.join(MEASURES)}.")
    spec = MEASURES[measure]
    units = report.units
    values = units[measure].tolist() if measure in units.columns else []
    breaks = class_breaks(values, spec["kind"])
    geoms = _display_geometry(units.geometry.values, settings)
    basemap = bool(settings is not None and settings.basemap_url)
    fmap = OfflineMap(location=None, tiles=None, zoom_snap=0.1, zoom_delta=0.5,
                      attribution_control=basemap, prefer_canvas=False,
                      zoom_control="bottomleft" if panels else False)
    if basemap:
        folium.TileLayer(settings.basemap_url, attr=settings.basemap_attribution or " ",
                         name="basemap", max_zoom=19).add_to(fmap)

    js, css = leaflet_assets()
    root = fmap.get_root()
    root.header.add_child(Element(f"<style>/* Leaflet {LEAFLET_VERSION} (BSD-2-Clause) */\n"
                                  f"{css}</style>"), name="leaflet_css_inline")
    root.header.add_child(Element(f"<script>/* Leaflet {LEAFLET_VERSION} (BSD-2-Clause) */\n"
                                  f"{js}</script>"), name="leaflet_js_inline")
    root.header.add_child(Element("<style>" + _PAGE_CSS % {"font": FONT_STACK} + "</style>"),
                          name="om_css")
    root.title = report.title_zh

    level_label = report.level_name_zh
    fields = ["name", "received", "per_1000_households", "change", "resolution_rate",
              "on_time_rate", "closed", "top"]
    aliases = [level_label, "受理事件", "每千户", "环比", "办结率", "按期办结率",
               "网格/村/镇内办结", "主要类别"]
    folium.GeoJson(
        _feature_collection(geoms, _unit_properties(report, measure, breaks)),
        name=f"{level_label}：{spec['zh']}",
        style_function=lambda f: {"fillColor": f["properties"]["fill"], "fillOpacity": 0.78,
                                  "color": "#555555", "weight": 0.8},
        highlight_function=lambda f: {"weight": 2.5, "color": "#000000"},
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases, sticky=True),
        zoom_on_click=False,
    ).add_to(fmap)

    spots = report.hotspots
    hot = spots[spots["hot"]] if len(spots) else spots
    if len(hot):
        hot_geoms = _display_geometry(hot.geometry.values, settings)
        props = [{"name": str(r["name"]), "code": str(r["code"]), "count": nv.count(r["count"]),
                  "z": f"{float(r['z']):.2f}", "confidence": f"{int(r['confidence'])}%",
                  "new": "是" if bool(r["new"]) else "否"} for _, r in hot.iterrows()]
        folium.GeoJson(
            _feature_collection(hot_geoms, props), name="热点网格",
            style_function=lambda f: (
                {"fill": False, "color": NEW_HOT_COLOUR, "weight": 3, "dashArray": "6 4"}
                if f["properties"]["new"] == "是"
                else {"fill": False, "color": HOT_COLOUR, "weight": 2}),
            tooltip=folium.GeoJsonTooltip(
                fields=["name", "count", "z", "confidence", "new"],
                aliases=["热点网格", "事件数", "Gi* z", "置信度", "新增"]),
        ).add_to(fmap)

    bounds = _bounds(geoms)
    if panels:
        root.html.add_child(Element(_title_panel(report, scope_name)), name="om_title")
        fmap.fit_bounds(bounds, padding_top_left=(20, 110), padding_bottom_right=(320, 40))
    else:
        fmap.fit_bounds(bounds, padding_top_left=(8, 8), padding_bottom_right=(250, 8))
    root.html.add_child(Element(_legend_panel(report, measure, breaks)), name="om_legend")
    if panels:
        generated = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
        who = f"导出人 {_e(report.exported_by)} · " if report.exported_by else ""
        root.html.add_child(Element(
            f'<div class="om-panel om-foot">OneMap 一张图 · {who}生成于 {generated} · '
            f"地图离线可用（Leaflet {LEAFLET_VERSION} 已内嵌）</div>"), name="om_foot")
    page = root.render()
    allowed = _tile_prefix(settings)
    remote = [u for u in asset_urls(page) if not (allowed and u.startswith(allowed))]
    if remote:
        raise ExportError("The map page would load assets from the network "
                          f"({', '.join(sorted(set(remote))[:3])}); refusing to write it.")
    return page


def _tile_prefix(settings: Settings | None) -> str | None:
    """The part of the basemap URL template before the first placeholder."""
    if settings is None or not settings.basemap_url:
        return None
    return settings.basemap_url.split("{", 1)[0]


def to_html(report: MonthlyReport, path: str | Path, settings: Settings | None = None, *,
            measure: str = "received", scope_name: str | None = None) -> Path:
    """Write the month's map as one self-contained HTML file (opens with no network)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(map_page(report, settings, measure=measure, scope_name=scope_name),
                   encoding="utf-8")
    return out


# --- Chromium -------------------------------------------------------------------------------
def chromium_command(url: str, args: Sequence[str], *, offline: bool, profile: str,
                     scale: float = 1) -> list[str]:
    """The headless Chromium command line used for PNG and PDF (exposed for tests)."""
    from onemap.system import ensure_browser

    cmd = [ensure_browser(), "--headless", "--no-sandbox", "--disable-gpu",
           "--hide-scrollbars", "--no-first-run", "--no-default-browser-check",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-extensions", "--disable-quic", "--mute-audio",
           "--run-all-compositor-stages-before-draw",
           f"--force-device-scale-factor={scale:g}", f"--user-data-dir={profile}"]
    if offline:  # belt and braces: the page needs nothing, so nothing may resolve
        cmd.append("--host-resolver-rules=MAP * ~NOTFOUND")
    return [*cmd, *args, url]


def _run_chromium(page: Path, out: Path, args: Sequence[str], *, offline: bool,
                  what: str, scale: float = 1) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="onemap-chromium-") as profile:
        cmd = chromium_command(page.resolve().as_uri(), args, offline=offline, profile=profile,
                               scale=scale)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=CHROMIUM_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ExportError(f"Chromium did not finish the {what} within "
                              f"{CHROMIUM_TIMEOUT_S} s.") from None
    if done.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        tail = "\n".join((done.stderr or "").strip().splitlines()[-5:])
        raise ExportError(f"Chromium could not write the {what} to {out} "
                          f"(exit status {done.returncode}).", detail=tail)


def _offline(settings: Settings | None) -> bool:
    return not (settings is not None and settings.basemap_url)


def _screenshot(page_html: str, out: Path, size: tuple[int, int],
                settings: Settings | None, scale: float = 1) -> Path:
    with tempfile.TemporaryDirectory(prefix="onemap-export-") as tmp:
        page = Path(tmp) / "map.html"
        page.write_text(page_html, encoding="utf-8")
        budget = 8000 if not _offline(settings) else 2000
        _run_chromium(page, out, [f"--screenshot={out.resolve()}",
                                  f"--window-size={size[0]},{size[1]}",
                                  f"--virtual-time-budget={budget}"],
                      offline=_offline(settings), what="PNG", scale=scale)
    return out


def to_png(report: MonthlyReport, path: str | Path, settings: Settings | None = None, *,
           measure: str = "received", scope_name: str | None = None) -> Path:
    """The map with its title and headline bar as a 1920×1080 PNG (a wall screen's size)."""
    page = map_page(report, settings, measure=measure, scope_name=scope_name)
    return _screenshot(page, Path(path), PNG_SIZE, settings)


# --- the one-page PDF -----------------------------------------------------------------------
def _trend_svg(trend: pd.DataFrame, width: int = 360, height: int = 90) -> str:
    """A small inline SVG bar chart of the last months' received counts."""
    if trend is None or not len(trend):
        return ""
    counts = [int(v) for v in trend["received"]]
    top = max(max(counts), 1)
    n = len(counts)
    bar_w = width / n
    bars = []
    for i, (label, value) in enumerate(zip(trend["month"], counts, strict=True)):
        h = (height - 22) * value / top
        x = i * bar_w + 2
        colour = "#bd0026" if i == n - 1 else "#fd8d3c"
        bars.append(f'<rect x="{x:.1f}" y="{height - 14 - h:.1f}" width="{bar_w - 4:.1f}" '
                    f'height="{h:.1f}" fill="{colour}"/>'
                    f'<text x="{x + (bar_w - 4) / 2:.1f}" y="{height - 3}" font-size="8" '
                    f'text-anchor="middle" fill="#555">{int(str(label)[5:7])}月</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{"".join(bars)}</svg>')


_PDF_CSS = """
@page { size: A4 landscape; margin: 8mm; }
* { box-sizing: border-box; }
html, body { margin: 0; padding: 0; font-family: %(font)s; color: #222; }
.page { width: 281mm; height: 193mm; overflow: hidden; display: flex; flex-direction: column; }
header { display: flex; align-items: baseline; gap: 12px; border-bottom: 2px solid #bd0026;
  padding-bottom: 2mm; margin-bottom: 3mm; }
header h1 { font-size: 20pt; margin: 0; }
header span { font-size: 9pt; color: #555; }
.body { display: flex; gap: 5mm; flex: 1; min-height: 0; }
.left { width: 166mm; display: flex; flex-direction: column; gap: 2mm; }
.left img { width: 166mm; height: 124.5mm; object-fit: contain; border: 1px solid #ccc; }
.right { flex: 1; display: flex; flex-direction: column; gap: 2.5mm; min-width: 0; }
h2 { font-size: 11pt; margin: 0 0 1mm; color: #bd0026; }
table { border-collapse: collapse; width: 100%%; font-size: 9pt; }
td, th { border-bottom: 1px solid #ddd; padding: 0.8mm 1.5mm; text-align: left; }
td.num, th.num { text-align: right; white-space: nowrap; }
.narrative { font-size: 9.5pt; line-height: 1.5; margin: 0; padding-left: 4mm; }
.narrative li { margin: 0; }
.method { font-size: 7pt; color: #666; line-height: 1.3; margin: 0; }
"""


def _units_table(report: MonthlyReport, rows: int = 5) -> str:
    units = report.units
    if not len(units):
        return ""
    top = units.sort_values("received", ascending=False).head(rows)
    body = "".join(
        f"<tr><td>{_e(r['name'])}</td><td class='num'>{nv.count(r['received'])}</td>"
        f"<td class='num'>{_fmt(r.get('change_pct'), 'change')}</td>"
        f"<td class='num'>{nv.pct(r.get('resolution_rate'))}</td>"
        f"<td>{_e(_top_text((r.get('top_categories') or [])[:1]))}</td></tr>"
        for _, r in top.iterrows())
    return (f"<h2>事件最多的{_e(report.level_name_zh)}</h2><table><tr>"
            f"<th>{_e(report.level_name_zh)}</th><th class='num'>受理</th>"
            "<th class='num'>环比</th><th class='num'>办结率</th><th>最多类别</th></tr>"
            f"{body}</table>")


def pdf_page(report: MonthlyReport, map_png: bytes, *, scope_name: str | None = None) -> str:
    """The HTML that Chromium prints as the one-page A4 landscape PDF."""
    kpis = "".join(f"<tr><td>{_e(label)}</td><td class='num'><b>{_e(value)}</b></td>"
                   f"<td>{_e(note)}</td></tr>"
                   for label, value, note in _headline_tiles(report))
    received = int(report.headline.get("received") or 0)
    cats = "".join(
        f"<tr><td>{_e(nv.category_name(code))}</td><td class='num'>{nv.count(n)}</td>"
        f"<td class='num'>{nv.pct(n / received) if received else '—'}</td></tr>"
        for code, n in report.top_categories)
    sentences = "".join(f"<li>{_e(s)}</li>" for s in report.narrative)
    image = base64.b64encode(map_png).decode("ascii")
    where = f"{scope_name} · " if scope_name else ""
    start = report.period_start.strftime("%Y-%m-%d")
    end = (report.period_end - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    generated = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
    who = f"导出人 {_e(report.exported_by)} · " if report.exported_by else ""
    return f"""<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">
<title>{_e(report.title_zh)}</title><style>{_PDF_CSS % {"font": FONT_STACK}}</style></head>
<body><div class="page">
<header><h1>{_e(report.title_zh)}</h1>
<span>{_e(where)}{start} 至 {end} · 按{_e(report.level_name_zh)}统计 · {who}生成于 {generated}
</span>
</header>
<div class="body">
 <div class="left">
  <img alt="map" src="data:image/png;base64,{image}">
  <h2>情况摘要</h2><ul class="narrative">{sentences}</ul>
  <p class="method">{_e(report.hotspot_method)}</p>
 </div>
 <div class="right">
  <div><h2>主要指标</h2><table>{kpis}</table></div>
  <div><h2>事件类别（前 {len(report.top_categories)} 位）</h2>
   <table><tr><th>类别</th><th class="num">件数</th><th class="num">占比</th></tr>{cats}</table>
  </div>
  <div>{_units_table(report)}</div>
  <div><h2>近 {len(report.trend)} 个月受理事件</h2>{_trend_svg(report.trend)}</div>
 </div>
</div></div></body></html>"""


def to_pdf(report: MonthlyReport, path: str | Path, settings: Settings | None = None, *,
           measure: str = "received", scope_name: str | None = None) -> Path:
    """One A4 landscape page in Chinese: the map image, the KPI table, top categories, the
    units with most incidents, the 12-month trend and the narrative."""
    out = Path(path)
    with tempfile.TemporaryDirectory(prefix="onemap-export-") as tmp:
        png = Path(tmp) / "map.png"
        page = map_page(report, settings, measure=measure, panels=False)
        _screenshot(page, png, PDF_MAP_SIZE, settings, scale=PDF_MAP_SCALE)
        doc = Path(tmp) / "report.html"
        doc.write_text(pdf_page(report, png.read_bytes(), scope_name=scope_name),
                       encoding="utf-8")
        _run_chromium(doc, out, [f"--print-to-pdf={out.resolve()}", "--no-pdf-header-footer",
                                 "--print-to-pdf-no-header", "--virtual-time-budget=2000"],
                      offline=True, what="PDF")
    return out


def export(report: MonthlyReport, fmt: str, path: str | Path,
           settings: Settings | None = None, **kwargs: Any) -> Path:
    """Write ``report`` as ``fmt`` (html, png or pdf) to ``path``."""
    writers = {"html": to_html, "png": to_png, "pdf": to_pdf}
    if fmt not in writers:
        raise ExportError(f"{fmt!r} is not an export format; choose one of "
                          f"{', '.join(FORMATS)}.")
    return writers[fmt](report, path, settings, **kwargs)
