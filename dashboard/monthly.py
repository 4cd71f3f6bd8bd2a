"""The monthly situation page (``/monthly``): leaders pick a month and a level and read the
headline measures, a choropleth with the change from last month, hot spots (new ones marked),
the 12-month trend, each unit's top categories, and a short narrative; exports as HTML, PNG
and PDF are links to the same report.

Only components here; callbacks live in :mod:`dashboard.monthly_callbacks`.
"""

from __future__ import annotations

from typing import Any

import dash_leaflet as dl
from dash import dcc, html

from dashboard import map_layers
from dashboard import monthly_view as mv
from dashboard.i18n import level_name, t
from onemap.settings import Settings

EMPTY = {"type": "FeatureCollection", "features": []}
KPIS = ("received", "resolution_rate", "on_time_rate", "closed_share_grid",
        "closed_share_village", "closed_share_town", "new_hot_spots")


def _kpis(lang: str) -> html.Div:
    return html.Div(id="m-kpis", className="om-kpis om-month-kpis", children=[
        html.Div(className=f"om-kpi om-kpi-{name}", children=[
            html.Div("–", id=f"m-kpi-{name}", className="om-kpi-value"),
            html.Div(t(f"m_kpi_{name}", lang), className="om-kpi-label"),
            html.Div("", id=f"m-kpi-{name}-sub", className="om-kpi-sub"),
        ]) for name in KPIS])


def the_map(settings: Settings, bounds: list[list[float]]) -> dl.Map:
    (south, west), (north, east) = bounds
    return dl.Map(id="m-map", className="om-map", bounds=bounds, zoom=10, zoomSnap=0.5,
                  center=[(south + north) / 2, (west + east) / 2],
                  viewport={"bounds": bounds, "transition": "fitBounds"},
                  attributionControl=bool(settings.basemap_attribution), children=[
        *map_layers.basemap_layer(settings),
        dl.GeoJSON(id="m-units", style={"variable": "onemap.choroplethStyle"},
                   onEachFeature={"variable": "monthly.unitTooltip"},
                   hideout={"values": {}, "limits": [], "colours": [], "level": 1},
                   hoverStyle={"variable": "onemap.hoverStyle"}),
        dl.GeoJSON(id="m-hot", data=EMPTY, style={"variable": "monthly.hotStyle"},
                   onEachFeature={"variable": "monthly.hotTooltip"}),
    ])


def page(settings: Settings, lang: str, bounds: list[list[float]]) -> list[Any]:
    other = "en" if lang == "zh" else "zh"
    header = html.Div(className="om-header", children=[
        html.Div(t("m_title", lang), className="om-title"),
        html.Div(className="om-month-pickers", children=[
            dcc.Dropdown(id="m-month", clearable=False, className="om-month-dropdown",
                         placeholder=t("m_month", lang)),
            dcc.RadioItems(id="m-level", value=mv.DEFAULT_LEVEL, className="om-radio om-inline",
                           options=[{"label": level_name(lv, lang, settings.level_names),
                                     "value": lv} for lv in mv.LEVEL_KEYS]),
        ]),
        html.Div(id="m-exports", className="om-header-buttons om-exports"),
        html.Div(className="om-header-buttons", children=[
            html.A(t("p_to_wall", lang), href=f"/?lang={lang}", className="om-button"),
            html.A(t("lang_switch", lang), href=f"/monthly?lang={other}", className="om-lang",
                   id="lang-switch"),
        ]),
    ])
    side = html.Div(id="m-side", className="om-panel om-side om-month-side", children=[
        html.H3(t("m_trend", lang), className="om-list-title"),
        dcc.Graph(id="m-trend", config={"displayModeBar": False, "staticPlot": False},
                  className="om-trend", style={"height": "15rem"}),
        html.H3(t("m_unit", lang), className="om-list-title"),
        html.Div(t("m_click_unit", lang), id="m-unit", className="om-month-unit"),
        html.H3(t("m_narrative", lang), className="om-list-title"),
        html.Div(id="m-narrative", className="om-narrative"),
        html.H3(t("m_hot", lang), className="om-list-title"),
        html.Div(id="m-hot-list", className="om-month-hot"),
        html.H3(t("m_departments", lang), className="om-list-title"),
        html.Div(id="m-departments", className="om-month-departments"),
    ])
    controls = html.Div(className="om-month-measures", children=[
        dcc.RadioItems(id="m-measure", value=mv.MEASURES[0].key, className="om-radio om-inline",
                       options=[{"label": mv.label(m, lang), "value": m.key}
                                for m in mv.MEASURES]),
        dcc.Checklist(id="m-show-hot", value=["on"], className="om-radio om-inline",
                      options=[{"label": t("m_show_hot", lang), "value": "on"}]),
    ])
    body = html.Div(className="om-body om-month-body", children=[
        html.Div(className="om-month-main", children=[
            _kpis(lang),
            controls,
            html.Div(className="om-map-wrap", children=[
                the_map(settings, bounds),
                html.Div(id="m-legend", className="om-legend"),
                html.Div(id="m-empty", className="om-notice", style={"display": "none"}),
            ]),
        ]),
        side,
    ])
    stores = [dcc.Store(id="lang", data=lang)]
    return [html.Div(className="om-desk om-monthly", id="monthly-root",
                     children=[header, body, *stores])]
