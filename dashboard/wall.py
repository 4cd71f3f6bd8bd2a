"""The command wall's layout: header with breadcrumb, controls, the map and its layers, KPI
tiles, the latest and overdue lists and the incident drawer.

Only components here; callbacks live in :mod:`dashboard.wall_callbacks`.  Every map layer is
loaded by URL (``/wall/...`` routes) or patched by the live callback, so the layout itself is
small and the first paint does not wait for data.
"""

from __future__ import annotations

from typing import Any

import dash_leaflet as dl
from dash import dcc, html

from dashboard import map_layers
from dashboard.i18n import SEVERITY_LABELS, level_name, pick, t
from dashboard.view import DEFAULT_LEVEL, DEFAULT_WINDOW, LEVELS, View
from geo.catalog import CATEGORIES, SOURCES
from geo.measures import BY_KEY
from geo.workflow import STATE_LABELS
from onemap.settings import Settings
from store.wall import MEASURES

LIVE_MS = 3_000  # new reports show within 5 s: one tick plus the query
TOUR_MS = 20_000
LAYERS = ("incidents", "density", "households", "cameras", "workers")
DEFAULT_LAYERS = ["incidents", "density"]
KPIS = ("received_today", "handled_today", "overdue_now", "resolution_rate", "closed_low")


def _options(pairs: dict[str, tuple[str, str]], lang: str) -> list[dict[str, str]]:
    return [{"label": pick(label, lang), "value": code} for code, label in pairs.items()]


def _control(label: str, child: Any) -> html.Div:
    return html.Div(className="om-control", children=[html.Label(label), child])


def controls(settings: Settings, lang: str, level: int = DEFAULT_LEVEL) -> html.Div:
    """The left panel: level, measure, time window, filters, layers (hidden in wall mode)."""
    categories = {c.code: (c.zh, c.en) for c in CATEGORIES}
    return html.Div(id="controls", className="om-panel om-controls", children=[
        _control(t("level", lang), dcc.RadioItems(
            id="level", value=level, className="om-radio",
            options=[{"label": level_name(lv, lang, settings.level_names), "value": lv}
                     for lv in LEVELS])),
        _control(t("measure", lang), dcc.RadioItems(
            id="measure", value=MEASURES[0], className="om-radio",
            options=[{"label": BY_KEY[m].label(lang), "value": m} for m in MEASURES])),
        _control(t("window", lang), html.Div([
            dcc.RadioItems(id="window", value=DEFAULT_WINDOW, className="om-radio om-inline",
                           options=[{"label": t(w, lang), "value": w}
                                    for w in ("today", "7d", "30d", "custom")]),
            dcc.DatePickerRange(id="custom-range", className="om-dates",
                                display_format="YYYY-MM-DD", clearable=True),
        ])),
        _control(t("filters", lang), html.Div([
            dcc.Dropdown(id="f-category", multi=True, placeholder=t("category", lang),
                         options=_options(categories, lang)),
            dcc.Dropdown(id="f-severity", multi=True, placeholder=t("severity", lang),
                         options=_options(SEVERITY_LABELS, lang)),
            dcc.Dropdown(id="f-source", multi=True, placeholder=t("source", lang),
                         options=_options(SOURCES, lang)),
            dcc.Dropdown(id="f-status", multi=True, placeholder=t("status", lang),
                         options=_options(STATE_LABELS, lang)),
        ])),
        _control(t("layers", lang), dcc.Checklist(
            id="layers", value=DEFAULT_LAYERS, className="om-radio",
            options=[{"label": t(f"l_{name}", lang), "value": name} for name in LAYERS])),
    ])


def kpi_tiles(lang: str) -> html.Div:
    return html.Div(id="kpis", className="om-kpis", children=[
        html.Div(className=f"om-kpi om-kpi-{name}", children=[
            html.Div("–", id=f"kpi-{name}", className="om-kpi-value"),
            html.Div(t(f"kpi_{name}", lang), className="om-kpi-label"),
        ]) for name in KPIS])


def side_panel(lang: str) -> html.Div:
    """KPI tiles and the two lists the room reads all shift."""
    return html.Div(id="side", className="om-panel om-side", children=[
        kpi_tiles(lang),
        html.H3(t("overdue_list", lang), className="om-list-title om-overdue-title"),
        html.Ul(id="overdue", className="om-list"),
        html.H3(t("latest", lang), className="om-list-title"),
        html.Ul(id="latest", className="om-list"),
    ])


def the_map(settings: Settings, bounds: list[list[float]]) -> dl.Map:
    """The map with every layer empty: callbacks give each layer its URL or data."""
    point = {"variable": "onemap.incidentMarker"}
    (south, west), (north, east) = bounds
    # center and zoom as well as bounds: dash-leaflet's viewport tracking reads `center`.
    return dl.Map(id="map", className="om-map", bounds=bounds, zoomSnap=0.5, zoom=10,
                  center=[(south + north) / 2, (west + east) / 2],
                  viewport={"bounds": bounds, "transition": "fitBounds"},
                  attributionControl=bool(settings.basemap_attribution), children=[
        *map_layers.basemap_layer(settings),
        # Drawn in this order: the choropleth, then the outlines of the levels above it
        # (not interactive, so clicks and hovers reach the units underneath).
        dl.GeoJSON(id="units", style={"variable": "onemap.choroplethStyle"},
                   onEachFeature={"variable": "onemap.unitTooltip"},
                   hideout={"values": {}, "limits": [], "colours": [], "level": 1},
                   hoverStyle={"variable": "onemap.hoverStyle"}),
        dl.GeoJSON(id="context", style={"variable": "onemap.unitStyle"},
                   onEachFeature={"variable": "onemap.passive"},
                   hideout={"levelStyles": map_layers.LEVEL_STYLES}),
        dl.GeoJSON(id="density", style={"variable": "onemap.densityStyle"},
                   onEachFeature={"variable": "onemap.passive"}),
        dl.GeoJSON(id="labels", interactive=False,
                   pointToLayer={"variable": "onemap.labelMarker"}),
        # Counts per grid far out (never clustered: a cluster would count grids, not homes)
        # and single homes, clustered, at street zoom.
        dl.GeoJSON(id="household-counts", pointToLayer={"variable": "onemap.countMarker"}),
        dl.GeoJSON(id="households", pointToLayer={"variable": "onemap.countMarker"},
                   cluster=True, superClusterOptions={"radius": 60}),
        dl.GeoJSON(id="workers", pointToLayer={"variable": "onemap.workerMarker"},
                   cluster=True, superClusterOptions={"radius": 50}),
        dl.GeoJSON(id="cameras", pointToLayer={"variable": "onemap.cameraMarker"},
                   cluster=True, superClusterOptions={"radius": 50, "maxZoom": 15}),
        dl.GeoJSON(id="incidents", pointToLayer=point, hideout={"overrides": {}}),
        dl.GeoJSON(id="live", pointToLayer=point, hideout={"overrides": {}},
                   data={"type": "FeatureCollection", "features": []}),
    ])


def page(settings: Settings, lang: str, bounds: list[list[float]], *, wall: bool,
         tour_s: float | None, level: int = DEFAULT_LEVEL,
         links: tuple[str, ...] = ("monthly", "planner")) -> list[Any]:
    """The whole wall for ``lang``; ``wall`` hides the controls and enlarges everything;
    ``tour_s`` seconds per town for the auto tour (None: no tour); ``level`` the level it
    opens at (a town or grid user's own level); ``links`` the other pages the user may open."""
    other = "en" if lang == "zh" else "zh"
    query = "&wall=1" if wall else ""
    header = html.Div(className="om-header", children=[
        html.Div(t("title", lang), className="om-title"),
        html.Div(id="breadcrumb", className="om-breadcrumb"),
        html.Div(id="clock", className="om-clock"),
        html.Div(id="as-of", className="om-asof"),
        html.Div(className="om-header-buttons", children=[
            html.A(t("wall_off" if wall else "wall_on", lang), id="wall-switch",
                   className="om-button",
                   href=f"?lang={lang}" if wall else f"?lang={lang}&wall=1&tour=1"),
            html.Button(t("fullscreen", lang), id="fullscreen", className="om-button"),
            *([html.A(t("m_to_monthly", lang), href=f"/monthly?lang={lang}", id="to-monthly",
                      className="om-button")] if "monthly" in links else []),
            *([html.A(t("p_to_planner", lang), href=f"/planner?lang={lang}", id="to-planner",
                      className="om-button")] if "planner" in links else []),
            html.A(t("logout", lang), href="/logout", id="logout", className="om-lang"),
            html.A(t("lang_switch", lang), href=f"?lang={other}{query}", className="om-lang",
                   id="lang-switch"),
        ]),
    ])
    notices = [html.Div(t("no_basemap", lang), className="om-notice", id="basemap-notice")
               ] if not settings.basemap_url else [
        html.Div(t("tiles_down", lang), className="om-notice", id="tiles-notice",
                 style={"display": "none"})]
    body = html.Div(className="om-body", children=[
        controls(settings, lang, level),
        html.Div(className="om-map-wrap", children=[
            the_map(settings, bounds),
            html.Div(id="legend", className="om-legend"),
            *notices,
            html.Div(id="detail", className="om-detail", style={"display": "none"}),
        ]),
        side_panel(lang),
    ])
    stores = [
        dcc.Store(id="view", data=View(level=level).to_store()),
        dcc.Store(id="privacy", data=wall),  # wall mode hides even masked names
        dcc.Store(id="scope", data={"parent": None}),
        dcc.Store(id="lang", data=lang),
        dcc.Store(id="watermark"),
        dcc.Store(id="live-seen", data=[]),
        dcc.Store(id="live-checked"),
        dcc.Store(id="selected"),
        dcc.Store(id="action-done"),
        dcc.Interval(id="tick", interval=LIVE_MS),
        dcc.Interval(id="tour", interval=int((tour_s or TOUR_MS / 1000) * 1000),
                     disabled=not (wall and tour_s)),
    ]
    return [html.Div(className="om-wall" if wall else "om-desk", id="wall-root",
                     children=[header, body, *stores])]
