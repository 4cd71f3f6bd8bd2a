"""The monthly page's callbacks and routes: one :class:`reports.monthly.MonthlyReport` per
month and level (cached), its units by URL, colours through ``hideout``, exports.

The page, the HTML/PNG/PDF exports and ``onemap export monthly`` all read the same report,
so a leader sees the same numbers everywhere.
"""

from __future__ import annotations

import dataclasses
import io
import json
import tempfile
import threading
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from dash import Dash, Input, Output, State, html
from dash.exceptions import PreventUpdate
from flask import Flask, Response, jsonify, request, send_file
from sqlalchemy import Engine

from accounts.audit import audit
from dashboard import geodata
from dashboard import monthly_view as mv
from dashboard.callbacks import (
    Callbacks,
    app_settings,
    basemap_datum,
    local_tz,
    read_engine,
    runtime,
)
from dashboard.i18n import t
from dashboard.monthly import EMPTY, KPIS
from geo.catalog import CATEGORY_BY_CODE
from geo.simplify import simplify_layer, tolerance_for_zoom
from onemap.access import db_scope
from onemap.context import Runtime
from onemap.errors import OneMapError
from onemap.settings import Settings
from store import departments as db_departments
from store import incidents as db_incidents
from store import scope
from store.units import unit_cache

CACHE_SIZE = 12
LEVEL_ZOOM = {0: 9, 1: 10, 2: 11, 3: 12}  # the zoom whose detail each level is drawn at


class ReportCache:
    """The last few reports, keyed by month, level and what the data looked like (the units'
    signature and the newest incident change), so a measure switch or a click costs nothing
    and a new report or a boundary save shows up."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._building: dict[tuple, threading.Lock] = {}
        self.size = size

    def get(self, engine: Engine, settings: Settings, month: str, level: int) -> Any:
        """The report of ``month`` at ``level`` as the acting user sees it: a user with a
        home unit gets the report within that unit."""
        from reports import monthly as report_module

        within = _actor_within()
        stamp = db_incidents.last_change(engine)
        # One report per scope: a town user's report holds only the town's cases.
        key = (month, int(level), unit_cache(engine).signature(), stamp,
               tuple(sorted(db_scope(scope.current()).items())))
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            # A page asks for its report from three requests at once (numbers, colours,
            # shapes): one builds it, the others wait for that one instead of building too.
            building = self._building.setdefault(key, threading.Lock())
        with building:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            report = report_module.build(engine, month, int(level), settings, within=within)
            with self._lock:
                self._items[key] = report
                self._building.pop(key, None)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return report


REPORTS = ReportCache()


def _actor_within() -> tuple[int, int] | None:
    """(level, id) of the acting user's home unit; None for users who see everything."""
    rt = runtime()
    if rt.actor.units is None:
        return None
    tree = rt.units.tree()
    tops = tree.tops()
    if not tops:
        return (0, -1)  # a home unit that no longer exists: an empty report
    top = tops[0]
    return (tree.units[top]["level"], top)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _kind(key: str) -> str:
    return mv.BY_KEY[key].kind


def _category(code: str, lang: str) -> str:
    cat = CATEGORY_BY_CODE.get(code)
    return (cat.en if lang == "en" else cat.zh) if cat else code


def _tip(row: Any, lang: str) -> str:
    """The unit's numbers for its tooltip (preformatted: the browser only shows them)."""
    parts = [f"{t('m_received', lang)} {mv.fmt(_finite(row['received']), 'count')} "
             f"({t('m_vs_last', lang)} {mv.fmt(_finite(row['change_pct']), 'change')})",
             f"{mv.label(mv.BY_KEY['per_1000_households'], lang)} "
             f"{mv.fmt(_finite(row['per_1000_households']), 'ratio')}",
             f"{mv.label(mv.BY_KEY['resolution_rate'], lang)} "
             f"{mv.fmt(_finite(row['resolution_rate']), 'rate')} · "
             f"{mv.label(mv.BY_KEY['on_time_rate'], lang)} "
             f"{mv.fmt(_finite(row['on_time_rate']), 'rate')}"]
    return "<br>".join(parts)


CALLBACKS = Callbacks("monthly.view")


@CALLBACKS.callback(Output("m-month", "options"), Output("m-month", "value"),
                    Output("m-empty", "children"), Output("m-empty", "style"),
                    Input("lang", "data"))
def _months(lang):
    from store import monthly as store_monthly

    months = store_monthly.months_with_data(read_engine(), local_tz())
    if not months:
        return [], None, t("m_no_months", lang), {"display": "block"}
    this_month = datetime.now(ZoneInfo(local_tz())).strftime("%Y-%m")
    # The last complete month is what a monthly report is about; the running one is
    # there too, for a look at where it stands.
    default = months[1] if months[0] == this_month and len(months) > 1 else months[0]
    options = [{"label": mv.month_label(m, lang), "value": m} for m in months]
    return options, default, None, {"display": "none"}


@CALLBACKS.callback(Output("m-units", "url"), Output("m-hot", "data"),
                    Output("m-trend", "figure"), Output("m-narrative", "children"),
                    Output("m-hot-list", "children"), Output("m-exports", "children"),
                    *[Output(f"m-kpi-{k}", "children") for k in KPIS],
                    *[Output(f"m-kpi-{k}-sub", "children") for k in KPIS],
                    Input("m-month", "value"), Input("m-level", "value"),
                    Input("m-show-hot", "value"), State("lang", "data"))
def _report(month, level, show_hot, lang):
    if not month:
        raise PreventUpdate
    report = REPORTS.get(read_engine(), app_settings(), month, int(level))
    query = urlencode({"month": month, "level": int(level)})
    h = report.headline
    values = {
        "received": mv.fmt(_finite(h.get("received")), "count"),
        "resolution_rate": mv.fmt(_finite(h.get("resolution_rate")), "rate"),
        "on_time_rate": mv.fmt(_finite(h.get("on_time_rate")), "rate"),
        "closed_share_grid": mv.fmt(_finite(h.get("closed_share_grid")), "rate"),
        "closed_share_village": mv.fmt(_finite(h.get("closed_share_village")), "rate"),
        "closed_share_town": mv.fmt(_finite(h.get("closed_share_town")), "rate"),
        "new_hot_spots": str(int(report.hotspots["new"].sum()))
        if len(report.hotspots) else "0",
    }
    subs = {k: "" for k in KPIS}
    change = mv.fmt(_finite(h.get("change_pct")), "change")
    subs["received"] = f"{t('m_vs_last', lang)} {change}"
    hot_total = int(report.hotspots["hot"].sum()) if len(report.hotspots) else 0
    subs["new_hot_spots"] = f"/ {hot_total}"
    hot = _hot_features(report, basemap_datum()) if show_hot else EMPTY
    exports = [html.Span(t("m_export", lang))] + [
        html.A(label, className="om-button om-small", download="",
               href=f"/monthly/export?{query}&format={fmt}", id=f"m-export-{fmt}")
        for fmt, label in (("html", "HTML"), ("png", "PNG"), ("pdf", "PDF"))]
    return (f"/monthly/units.geojson?{query}", hot, _trend_figure(report, lang),
            [html.P(s) for s in report.narrative], _hot_list(report, lang), exports,
            *[values[k] for k in KPIS], *[subs[k] for k in KPIS])


@CALLBACKS.callback(Output("m-units", "hideout"), Output("m-legend", "children"),
                    Input("m-month", "value"), Input("m-level", "value"),
                    Input("m-measure", "value"), State("lang", "data"))
def _colours(month, level, key, lang):
    if not month:
        raise PreventUpdate
    report = REPORTS.get(read_engine(), app_settings(), month, int(level))
    measure = mv.BY_KEY[key]
    units = report.units
    raw = {str(int(i)): _finite(x) for i, x in zip(units["id"], units[key], strict=True)}
    limits, colours = mv.classes(list(raw.values()), measure)
    tips = {str(int(r["id"])): _tip(r, lang) for _, r in units.iterrows()}
    hideout = {"values": raw, "limits": limits, "colours": colours, "noData": "#3a4657",
               "level": int(level), "measure": key, "tips": tips}
    legend = [html.Div(f"{mv.label(measure, lang)} · {mv.month_label(month, lang)}",
                       className="om-legend-title", id="m-legend-title"),
              *[html.Div(className="om-legend-row", children=[
                  html.Span(className="om-swatch om-fill", style={"background": c}),
                  html.Span(text_)]) for c, text_ in mv.legend_rows(limits, colours, measure)]]
    return hideout, legend


@CALLBACKS.callback(Output("m-unit", "children"),
                    Input("m-units", "n_clicks"), State("m-units", "clickData"),
                    State("m-month", "value"), State("m-level", "value"), State("lang", "data"),
                    prevent_initial_call=True)
def _unit(_n, click, month, level, lang):
    if not click or "properties" not in click or not month:
        raise PreventUpdate
    report = REPORTS.get(read_engine(), app_settings(), month, int(level))
    uid = int(click["properties"]["id"])
    rows = report.units[report.units["id"] == uid]
    if rows.empty:
        raise PreventUpdate
    row = rows.iloc[0]
    numbers = [(mv.label(m, lang), mv.fmt(_finite(row[m.key]), _kind(m.key)))
               for m in mv.MEASURES]
    numbers.append((t("m_households", lang), mv.fmt(_finite(row["households"]), "count")))
    top = list(row["top_categories"] or [])
    return html.Div(id="m-unit-detail", children=[
        html.B(f"{row['name']} ({row['code']})"),
        html.Table(className="om-impact", children=[html.Tbody([
            html.Tr([html.Td(k), html.Td(val)]) for k, val in numbers])]),
        html.H4(t("m_top", lang)),
        html.Ol([html.Li(f"{_category(code, lang)} · {n}") for code, n in top],
                id="m-unit-top") if top else html.P("–"),
    ])


def register(app: Dash) -> None:
    """Attach every callback of this module to ``app``."""
    CALLBACKS.attach(app)


def _hot_features(report: Any, datum: str) -> dict[str, Any]:
    spots = report.hotspots
    if not len(spots):
        return EMPTY
    spots = spots[spots["confidence"] != 0]
    features = []
    for r in spots.itertuples():
        features.append({"type": "Feature", "properties": {
            "id": int(r.id), "code": r.code, "name": r.name, "count": int(r.count),
            "z": float(r.z), "confidence": int(r.confidence), "new": bool(r.new)},
            "geometry": geodata.shift_geojson(shapely.to_geojson(r.geometry), datum)})
    return {"type": "FeatureCollection", "features": features}


def _hot_list(report: Any, lang: str) -> list[Any]:
    spots = report.hotspots
    hot = spots[spots["hot"]] if len(spots) else spots
    out: list[Any] = [html.P(report.hotspot_method, className="om-muted om-small-text")]
    if not len(hot):
        return [*out, html.P(t("m_hot_none", lang), className="om-muted")]
    hot = hot.sort_values(["new", "z"], ascending=[False, False])
    items = [html.Li([html.B(r.name), f" · {int(r.count)} · z={r.z:.2f}",
                      html.Span(f" {t('m_hot_new', lang)}", className="om-warn") if r.new
                      else ""]) for r in hot.head(20).itertuples()]
    return [*out, html.Ul(items, className="om-list", id="m-hot-items")]


def _trend_figure(report: Any, lang: str) -> dict[str, Any]:
    trend = report.trend
    months = [mv.month_label(m, lang).replace("年", "-").replace("月", "") if lang == "zh"
              else m for m in trend["month"]]
    return {
        "data": [
            {"type": "bar", "x": months, "y": [int(x) for x in trend["received"]],
             "name": t("m_received", lang), "marker": {"color": "#4fc3f7"}},
            {"type": "scatter", "mode": "lines+markers", "x": months,
             "y": [None if _finite(x) is None else round(float(x) * 100, 1)
                   for x in trend["resolution_rate"]],
             "name": mv.label(mv.BY_KEY["resolution_rate"], lang) + " %", "yaxis": "y2",
             "line": {"color": "#a5d6a7"}},
        ],
        "layout": {
            "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"color": "#e6edf7", "size": 12}, "margin": {"l": 40, "r": 40, "t": 10,
                                                                   "b": 40},
            "legend": {"orientation": "h", "y": -0.25}, "bargap": 0.25,
            "yaxis": {"gridcolor": "#1f3b63"},
            "yaxis2": {"overlaying": "y", "side": "right", "range": [0, 100],
                       "showgrid": False},
        },
    }


@CALLBACKS.callback(Output("m-departments", "children"), Input("m-month", "value"),
                    State("lang", "data"))
def _departments(month, lang):
    """Per department: the month's cases, resolved, on time, the citizens' mean rating."""
    if not month:
        raise PreventUpdate
    rows = db_departments.month_by_department(read_engine(), month, local_tz(),
                                              within=_actor_within())
    if not rows:
        return html.Div(t("no_data", lang), className="om-empty")
    zh = lang == "zh"
    head = ("部门", "受理", "办结", "按期办结率", "平均签收用时", "督办超期", "评价件数",
            "评价均分") if zh else (
        "Department", "Cases", "Resolved", "On time", "Hours to accept", "Supervised overdue",
        "Ratings", "Mean rating")
    return html.Table(id="m-department-table", className="om-table", children=[
        html.Tr([html.Th(h) for h in head]),
        *[html.Tr([html.Td(r["name"]), html.Td(f"{r['received']:,}"),
                   html.Td(f"{r['resolved']:,}"),
                   html.Td(mv.fmt(_finite(r["on_time_rate"]), "rate")),
                   html.Td("–" if r["accept_hours"] is None else f"{r['accept_hours']:.1f}"),
                   html.Td(f"{r['supervised_overdue']:,}"), html.Td(f"{r['rated']:,}"),
                   html.Td("–" if r["rating_mean"] is None else f"{r['rating_mean']:.1f}")])
          for r in rows]])


def register_routes(server: Flask, rt: Runtime) -> None:
    """``/monthly/units.geojson`` (the month's units, simplified, without numbers) and
    ``/monthly/export`` (the report as HTML, PNG or PDF)."""
    settings = rt.settings
    datum = settings.basemap_datum
    shapes: OrderedDict[tuple, bytes] = OrderedDict()
    lock = threading.Lock()

    def _args() -> tuple[str, int]:
        month = request.args.get("month", "")
        level = request.args.get("level", "1")
        if len(month) != 7 or not month[:4].isdigit() or not month[5:].isdigit() \
                or not level.isdigit() or int(level) not in mv.LEVEL_KEYS:
            raise OneMapError(f"month=YYYY-MM and level=0..{len(mv.LEVEL_KEYS) - 1} are required")
        return month, int(level)

    @server.route("/monthly/units.geojson")
    def _monthly_units() -> Response:
        try:
            month, level = _args()
            engine = rt.for_reading().engine
            report = REPORTS.get(engine, settings, month, level)
        except OneMapError as exc:
            return jsonify(error=exc.user_msg), 400
        # Shapes depend on the boundaries only: a report rebuilt for a new incident reuses them.
        key = (month, level, rt.units.signature(), _actor_within())
        with lock:
            body = shapes.get(key)
        if body is None:
            body = _units_body(report, level, datum)
            with lock:
                shapes[key] = body
                while len(shapes) > CACHE_SIZE:
                    shapes.popitem(last=False)
        return Response(body, mimetype="application/geo+json")

    @server.route("/monthly/export")
    def _monthly_export() -> Response:
        from reports import export

        try:
            month, level = _args()
            fmt = request.args.get("format", "html")
            if fmt not in ("html", "png", "pdf"):
                raise OneMapError("format must be html, png or pdf")
            engine = rt.for_reading().engine
            actor_rt = runtime()
            report = dataclasses.replace(REPORTS.get(engine, settings, month, level),
                                         exported_by=f"{actor_rt.actor.name}"
                                                     f"（{actor_rt.actor.label}）")
            with tempfile.TemporaryDirectory(prefix="onemap-monthly-") as tmp:
                path = Path(tmp) / f"monthly-{month}-{mv.LEVEL_KEYS[level]}.{fmt}"
                getattr(export, f"to_{fmt}")(report, path, settings)
                data = io.BytesIO(path.read_bytes())
        except OneMapError as exc:
            return jsonify(error=exc.user_msg), 400
        audit(actor_rt, "export.download", object_type="monthly",
              object_id=f"{month}/{mv.LEVEL_KEYS[level]}.{fmt}",
              detail={"within": _actor_within()})
        mimetype = {"html": "text/html", "png": "image/png", "pdf": "application/pdf"}[fmt]
        return send_file(data, mimetype=mimetype, as_attachment=True, download_name=path.name)


def _units_body(report: Any, level: int, datum: str) -> bytes:
    """The month's units, simplified for the level's zoom (shared edges stay shared)."""
    units = report.units
    geoms = np.asarray(units.geometry.values, dtype=object)
    if len(geoms):
        _, y0, _, y1 = units.total_bounds
        tol = tolerance_for_zoom(LEVEL_ZOOM[level], float((y0 + y1) / 2))
        geoms = simplify_layer(geoms, tol)
    features = [{"type": "Feature", "properties": {
        "id": int(i), "code": c, "name": n, "level": level},
        "geometry": geodata.shift_geojson(shapely.to_geojson(g), datum)}
        for i, c, n, g in zip(units["id"], units["code"], units["name"], geoms, strict=True)]
    return json.dumps({"type": "FeatureCollection", "features": features},
                      ensure_ascii=False, separators=(",", ":")).encode()

