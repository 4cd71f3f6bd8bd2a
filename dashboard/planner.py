"""The planner page (``/planner``): pick a village, select grids, edit them, see the checks
and the impact, save a new boundary version; history, compare, time travel, QGIS round trip.

Only components here; callbacks live in :mod:`dashboard.planner_callbacks`.  The map draws
the village's grids coloured by their household band, the proposal (dashed), the problems the
coverage check found (red errors, yellow warnings) and, while editing, the grid's vertices.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash_leaflet as dl
from dash import dcc, html

from dashboard import map_layers
from dashboard.i18n import t
from onemap.settings import Settings

EMPTY = {"type": "FeatureCollection", "features": []}
# Fill colours of the household bands (the same as planner.js's BAND_COLOURS).
BAND_COLOURS = {"under": "#42a5f5", "within": "#66bb6a", "over": "#ef5350"}


def legend(lang: str, band: tuple[int, int]) -> list[Any]:
    """Households per grid against the band: what the grid colours mean."""
    low, high = band
    rows = [("under", f"< {low}"), ("within", f"{low}–{high}"), ("over", f"> {high}")]
    return [html.Div(f"{t('p_band', lang)}（{t('p_households', lang)}）",
                     className="om-legend-title"),
            *[html.Div(className="om-legend-row", children=[
                html.Span(className="om-swatch om-fill",
                          style={"background": BAND_COLOURS[key], "opacity": 0.6}),
                html.Span(f"{t('p_' + key, lang)} {label}")]) for key, label in rows],
            html.Div(className="om-legend-row", children=[
                html.Span(className="om-swatch", style={"borderTop": "3px dashed #ff9800"}),
                html.Span(t("p_proposed", lang))])]


def _section(title: str, *children: Any) -> html.Div:
    return html.Div(className="om-control", children=[html.Label(title), *children])


def controls(lang: str) -> html.Div:
    button = "om-button om-tool"
    return html.Div(id="p-controls", className="om-panel om-controls", children=[
        _section(t("p_village", lang), dcc.Dropdown(
            id="p-village", placeholder=t("p_pick_village", lang), clearable=False)),
        _section(t("p_selection", lang),
                 html.Div(t("p_none_selected", lang), id="p-selection",
                          className="om-plan-selection"),
                 html.Button(t("p_clear", lang), id="p-clear", className="om-button om-small")),
        _section(t("p_tools", lang), html.Div(className="om-tools", children=[
            html.Button(t("p_edit", lang), id="p-edit", className=button),
            html.Button(t("p_redraw", lang), id="p-redraw", className=button),
            html.Button(t("p_split", lang), id="p-split", className=button),
            html.Button(t("p_merge", lang), id="p-merge", className=button),
            html.Button(t("p_repair", lang), id="p-repair", className=button,
                        title="吸附、补缝、去重叠（容差=吸附距离） / snap, fill slivers, clip "
                              "overlaps (tolerance = the snapping distance)"),
            html.Button(t("p_create", lang), id="p-create", className=button),
            html.Div(className="om-suggest", children=[
                html.Button(t("p_suggest", lang), id="p-suggest", className=button),
                dcc.Input(id="p-k", type="number", min=2, max=12, step=1, value=2,
                          className="om-input om-k", debounce=True),
                html.Span(t("p_parts", lang)),
            ]),
            html.Button(t("p_finish", lang), id="p-finish", className="om-button om-small"),
            html.Button(t("p_discard", lang), id="p-discard", className="om-button om-small"),
        ]), html.Div(id="p-hint", className="om-plan-hint")),
        _section(t("p_options", lang),
                 html.Div(className="om-inline-field", children=[
                     html.Span(t("p_snap", lang)),
                     dcc.Input(id="p-snap", type="number", min=0, max=50, step=0.5, value=2,
                               className="om-input om-k", debounce=True)]),
                 dcc.Checklist(id="p-adjust", value=["on"], className="om-radio",
                               options=[{"label": t("p_adjust", lang), "value": "on"}])),
        _section(t("p_files", lang),
                 html.Div(id="p-export", className="om-export"),
                 dcc.Upload(id="p-upload", className="om-upload", children=t("p_upload", lang),
                            max_size=50 * 1024 * 1024)),
        html.Div(id="p-message", className="om-plan-message", role="status"),
    ])


def the_map(settings: Settings, bounds: list[list[float]]) -> dl.Map:
    (south, west), (north, east) = bounds
    draw = {"polyline": {"shapeOptions": {"color": "#ffeb3b", "weight": 3}},
            "polygon": {"allowIntersection": False,
                        "shapeOptions": {"color": "#ff9800", "weight": 3}},
            "rectangle": False, "circle": False, "circlemarker": False, "marker": False}
    return dl.Map(id="p-map", className="om-map", bounds=bounds, zoom=12, zoomSnap=0.5,
                  center=[(south + north) / 2, (west + east) / 2],
                  viewport={"bounds": bounds, "transition": "fitBounds"},
                  attributionControl=bool(settings.basemap_attribution), children=[
        *map_layers.basemap_layer(settings),
        dl.GeoJSON(id="p-neighbours", data=EMPTY, style={"variable": "planner.compareStyle"},
                   onEachFeature={"variable": "onemap.passive"}, hideout={"marked": []}),
        dl.GeoJSON(id="p-grids", data=EMPTY, style={"variable": "planner.gridStyle"},
                   onEachFeature={"variable": "planner.gridTooltip"},
                   hideout={"selected": []}),
        dl.GeoJSON(id="p-proposed", data=EMPTY, style={"variable": "planner.proposalStyle"},
                   onEachFeature={"variable": "planner.proposalTooltip"}),
        dl.GeoJSON(id="p-problems", data=EMPTY, style={"variable": "planner.problemStyle"},
                   pointToLayer={"variable": "planner.problemPoint"},
                   onEachFeature={"variable": "onemap.passive"}),
        dl.GeoJSON(id="p-shape", data=EMPTY, onEachFeature={"variable": "planner.editableShape"},
                   style={"color": "#ffeb3b", "weight": 3, "fillOpacity": 0.1}),
        dl.FeatureGroup(id="p-drawn", children=[dl.EditControl(
            id="p-draw", position="topleft", draw=draw,
            edit={"edit": False, "remove": True})]),
    ])


def side(settings: Settings, lang: str) -> html.Div:
    today = datetime.now(ZoneInfo(settings.timezone)).date().isoformat()
    preview = html.Div(className="om-tab-body", children=[
        html.Div(t("p_no_proposal", lang), id="p-checks", className="om-plan-checks"),
        html.Div(id="p-impact"),
        html.Div(id="p-moved"),
        html.Div(className="om-save", children=[
            html.Div(className="om-inline-field", children=[
                html.Span(t("p_effective", lang)),
                dcc.DatePickerSingle(id="p-effective", date=today, max_date_allowed=today,
                                     display_format="YYYY-MM-DD", className="om-dates")]),
            dcc.Input(id="p-actor", placeholder=t("p_actor", lang), className="om-input",
                      value=""),
            dcc.Input(id="p-note", placeholder=t("p_note", lang), className="om-input",
                      value=""),
            html.Button(t("p_save", lang), id="p-save", className="om-button om-primary",
                        disabled=True),
        ]),
    ])
    when = html.Div(className="om-tab-body", children=[
        html.P(t("p_when_help", lang), className="om-plan-hint"),
        dcc.DatePickerSingle(id="p-when-date", date=today, display_format="YYYY-MM-DD",
                             className="om-dates"),
        html.Div(className="om-inline-field", children=[
            dcc.Input(id="p-when-lon", type="number", placeholder="lon", className="om-input"),
            dcc.Input(id="p-when-lat", type="number", placeholder="lat", className="om-input"),
            html.Button(t("p_query", lang), id="p-when-go", className="om-button om-small")]),
        html.Div(id="p-when-result", className="om-plan-when"),
    ])
    tab = "om-tab"
    return html.Div(id="p-side", className="om-panel om-side om-plan-side", children=[
        dcc.Tabs(id="p-tabs", value="preview", className="om-tabs", children=[
            dcc.Tab(label=t("p_tab_preview", lang), value="preview", className=tab,
                    selected_className="om-tab-on", children=preview),
            dcc.Tab(label=t("p_tab_band", lang), value="band", className=tab,
                    selected_className="om-tab-on", children=html.Div(
                        id="p-band", className="om-tab-body")),
            dcc.Tab(label=t("p_tab_history", lang), value="history", className=tab,
                    selected_className="om-tab-on", children=html.Div(
                        id="p-history", className="om-tab-body")),
            dcc.Tab(label=t("p_tab_when", lang), value="when", className=tab,
                    selected_className="om-tab-on", children=when),
        ]),
    ])


def page(settings: Settings, lang: str, bounds: list[list[float]],
         village: int | None = None) -> list[Any]:
    other = "en" if lang == "zh" else "zh"
    header = html.Div(className="om-header", children=[
        html.Div(t("p_title", lang), className="om-title"),
        html.Div(id="p-breadcrumb", className="om-breadcrumb"),
        html.Div(className="om-header-buttons", children=[
            html.A(t("p_to_wall", lang), href=f"/?lang={lang}", className="om-button",
                   id="p-to-wall"),
            html.A(t("lang_switch", lang), href=f"/planner?lang={other}", className="om-lang",
                   id="lang-switch"),
        ]),
    ])
    body = html.Div(className="om-body", children=[
        controls(lang),
        html.Div(className="om-map-wrap", children=[
            the_map(settings, bounds),
            html.Div(id="p-legend", className="om-legend"),
            html.Div(id="p-compare", className="om-compare", style={"display": "none"}),
        ]),
        side(settings, lang),
    ])
    stores = [
        dcc.Store(id="lang", data=lang),
        dcc.Store(id="p-initial", data=village),
        dcc.Store(id="p-selected", data=[]),
        dcc.Store(id="p-tool", data=None),
        dcc.Store(id="p-proposal", data=None),
        dcc.Store(id="plan-edited", data=None),
        dcc.Store(id="p-refresh", data=0),
    ]
    return [html.Div(className="om-desk om-planner", id="planner-root",
                     children=[header, body, *stores])]
