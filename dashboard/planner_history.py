"""The planner's history, compare, out-of-band list and time-travel callbacks (the editing
ones are in :mod:`dashboard.planner_callbacks`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import dash_leaflet as dl
import shapely
from dash import ALL, Dash, Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate
from shapely.geometry import shape

from dashboard import geodata
from dashboard import planner_view as pv
from dashboard.callbacks import (
    Callbacks,
    app_settings,
    basemap_datum,
    engine,
    local_tz,
    runtime,
)
from dashboard.i18n import PLAN_KIND_LABELS, pick, t
from dashboard.planner_callbacks import display_bounds
from geo import planning as gp
from onemap.settings import Settings
from planning import service as planning
from store import planning as sp

BAND_LIST_LIMIT = 60


def _band(settings: Settings, parent_name: str) -> tuple[int, int]:
    return planning.band(settings, parent_name)


CALLBACKS = Callbacks("plan.view")


# --- history and compare ------------------------------------------------------------------
@CALLBACKS.callback(Output("p-history", "children"),
                    Input("p-village", "value"), Input("p-refresh", "data"), State("lang", "data"))
def _history(village, _refresh, lang):
    if village is None:
        raise PreventUpdate
    rows = sp.history(engine(), parent_id=int(village), limit=50)
    if not rows:
        return html.P(t("p_history_none", lang), className="om-muted")
    items = []
    for r in rows:
        summary = r.get("summary") or {}
        moved = summary.get("moved") or {}
        items.append(html.Li(className="om-history-item", children=[
            html.Div([html.B(pick(PLAN_KIND_LABELS.get(r["kind"]), lang, r["kind"])),
                      f" · {r['actor']} · ",
                      _local(r["at"], local_tz()), " · ", t("p_effective", lang), " ",
                      _local(r["effective_from"], local_tz())]),
            html.Div(f"{', '.join(r['removed_codes'])} → {', '.join(r['added_codes'])}",
                     className="om-muted"),
            html.Div(", ".join(f"{k} {v}" for k, v in moved.items() if v),
                     className="om-muted"),
            html.Div(r.get("note") or "", className="om-muted"),
            html.Button(t("p_compare", lang), className="om-button om-small",
                        id={"type": "p-hist", "id": int(r["id"])}),
        ]))
    return html.Ul(items, className="om-list om-history")


@CALLBACKS.callback(Output("p-compare", "children"), Output("p-compare", "style"),
                    Input({"type": "p-hist", "id": ALL}, "n_clicks"),
                    Input({"type": "p-compare-close", "id": ALL}, "n_clicks"),
                    State("lang", "data"), prevent_initial_call=True)
def _compare(clicks, _close, lang):
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict):
        raise PreventUpdate
    if trigger["type"] == "p-compare-close":
        return None, {"display": "none"}
    if not any(clicks):
        raise PreventUpdate
    db = engine()
    change = sp.change_detail(db, int(trigger["id"]))
    if change is None:
        raise PreventUpdate
    at = change["effective_from"]
    before = sp.units_at(db, int(change["parent_id"]), at - timedelta(microseconds=1))
    after = sp.units_at(db, int(change["parent_id"]), at)
    # Zoom to what changed (with a margin), not the whole village.
    changed = [shape(u["geometry"]) for u in (*change["removed"], *change["added"])]
    x0, y0, x1, y1 = shapely.total_bounds(changed) if changed else after.total_bounds
    pad = max(x1 - x0, y1 - y0) * 0.6
    bounds = display_bounds((x0 - pad, y0 - pad, x1 + pad, y1 + pad))
    panes = []
    for title, frame, marked in ((t("p_before", lang), before, change["removed_codes"]),
                                 (t("p_after", lang), after, change["added_codes"])):
        features = [pv.feature(r.geometry, {"code": r.code, "name": r.name,
                                            "version": int(r.version)}, basemap_datum())
                    for r in frame.itertuples()]
        panes.append(html.Div(className="om-compare-pane", children=[
            html.Div(f"{title} · {_local(at, local_tz())}", className="om-compare-title"),
            dl.Map(className="om-map", bounds=bounds, zoomSnap=0.25,
                   attributionControl=False, children=[
                *_basemap(),
                dl.GeoJSON(data=pv.collection(features), hideout={"marked": marked},
                           style={"variable": "planner.compareStyle"},
                           onEachFeature={"variable": "planner.compareTooltip"})]),
        ]))
    close = html.Button(t("p_close", lang), className="om-button om-compare-close",
                        id={"type": "p-compare-close", "id": 0})
    return [close, html.Div(panes, className="om-compare-panes")], {"display": "block"}


def _basemap() -> list[Any]:
    from dashboard import map_layers

    return map_layers.basemap_layer(app_settings())


# --- out-of-band grids -------------------------------------------------------------------
@CALLBACKS.callback(Output("p-band", "children"),
                    Input("p-tabs", "value"), Input("p-refresh", "data"), State("lang", "data"))
def _band_list(tab, _refresh, lang):
    if tab != "band":
        raise PreventUpdate
    units = runtime().units.tree().units
    rows = []
    for u in units.values():
        if u["level"] != 3 or u["parent_id"] not in units:
            continue
        band = _band(app_settings(), units[u["parent_id"]]["name"])
        status = gp.band_status(u["households"], band)
        if status != "within":
            off = (u["households"] - band[1]) / band[1] if status == "over" else \
                (band[0] - u["households"]) / max(band[0], 1)
            rows.append((off, u, band, status))
    if not rows:
        return html.P(t("p_band_none", lang), className="om-muted")
    rows.sort(key=lambda r: (r[3] != "over", -r[0]))  # oversized first: split them
    items = [html.Li(html.Button(
        [html.B(f"{u['name']}"), f" {u['households']} {t('p_households', lang)} ",
         html.Span(f"{t('p_' + status, lang)} ({band[0]}–{band[1]})",
                   className=f"om-band-{status}")],
        id={"type": "p-band-item", "grid": u["id"], "village": u["parent_id"],
            "k": pv.suggested_parts(u["households"], band) if status == "over" else 0},
        className="om-list-button")) for _off, u, band, status in rows[:BAND_LIST_LIMIT]]
    return [html.H4(f"{t('p_band_title', lang)} · {len(rows)}"),
            html.Ul(items, className="om-list")]


@CALLBACKS.callback(Output("p-village", "value", allow_duplicate=True),
                    Output("p-selected", "data", allow_duplicate=True),
                    Output("p-k", "value"), Output("p-tabs", "value", allow_duplicate=True),
                    Input({"type": "p-band-item", "grid": ALL, "village": ALL, "k": ALL},
                          "n_clicks"), prevent_initial_call=True)
def _band_jump(clicks):
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any(clicks):
        raise PreventUpdate
    return trigger["village"], [trigger["grid"]], trigger["k"] or no_update, "preview"


# --- time travel --------------------------------------------------------------------------
@CALLBACKS.callback(Output("p-when-lon", "value"), Output("p-when-lat", "value"),
                    Output("p-when-result", "children"),
                    Input("p-map", "clickData"), Input("p-when-go", "n_clicks"),
                    State("p-tabs", "value"), State("p-when-date", "date"),
                    State("p-when-lon", "value"), State("p-when-lat", "value"),
                    State("lang", "data"), prevent_initial_call=True)
def _when(click, _go, tab, day, lon, lat, lang):
    if ctx.triggered_id == "p-map":
        if tab != "when" or not click or "latlng" not in click:
            raise PreventUpdate
        lon, lat = geodata.from_display(click["latlng"]["lng"], click["latlng"]["lat"],
                                        basemap_datum())
    if lon in (None, "") or lat in (None, ""):
        raise PreventUpdate
    at = pv.local_day_end(day, local_tz()) if day else None
    row = sp.grid_at(engine(), float(lon), float(lat), at)
    if row is None:
        result: Any = html.P(t("p_no_grid", lang), className="om-warn")
    else:
        until = _local(row["valid_to"], local_tz()) if row["valid_to"] else t("p_current", lang)
        result = html.Div(id="p-when-grid", children=[
            html.B(f"{row['name']} ({row['code']})"),
            html.Div(f"{t('p_version', lang)} {row['version']} · "
                     f"{t('p_valid_from', lang)} {_local(row['valid_from'], local_tz())} "
                     f"{t('p_valid_to', lang)} {until}"),
        ])
    return round(float(lon), 6), round(float(lat), 6), result


def register(app: Dash) -> None:
    """Attach every callback of this module to ``app``."""
    CALLBACKS.attach(app)


def _local(value: datetime | None, tz: str) -> str:
    if value is None:
        return "–"
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
