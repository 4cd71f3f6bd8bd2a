"""The Dash application: `create_app(settings)` builds it; gunicorn serves ``app.server``."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs

import dash_leaflet as dl
from dash import Dash, Input, Output, dcc, html
from flask import jsonify
from sqlalchemy.exc import OperationalError

from dashboard import api, map_layers
from dashboard.i18n import level_name, t
from intake.service import EscalationScheduler, places
from onemap.settings import Settings
from store import repository
from store.engine import database_url, get_engine


def _lang(search: str | None, default: str) -> str:
    values = parse_qs((search or "").lstrip("?")).get("lang", [])
    return values[0] if values and values[0] in ("zh", "en") else default


def render_page(settings: Settings, lang: str) -> list[Any]:
    """The map page for ``lang``: header, map with units, legend, notices."""
    other = "en" if lang == "zh" else "zh"
    header = html.Div(className="om-header", children=[
        html.Div(t("title", lang), className="om-title"),
        html.A(t("lang_switch", lang), href=f"?lang={other}", className="om-lang",
               id="lang-switch"),
    ])
    try:
        engine = get_engine(database_url(settings))
        geojson = repository.units_geojson(engine)
        bounds = repository.units_bounds(engine)
        counts = repository.unit_counts_by_level(engine)
    except OperationalError:
        return [header, html.Div(t("db_down", lang), className="om-empty", id="empty-state")]
    if bounds is None:
        return [header, html.Div(t("no_units", lang), className="om-empty", id="empty-state")]
    legend = html.Div(className="om-legend", id="legend", children=[
        html.Div(t("levels", lang), style={"fontWeight": 700, "marginBottom": "6px"}),
        *[html.Div(className="om-legend-row", children=[
            html.Span(className="om-swatch", style={
                "borderTop": f"{style['weight']}px solid {style['color']}"}),
            html.Span(f"{level_name(level, lang, settings.level_names)} · {counts[level]}"),
        ]) for level, style in enumerate(map_layers.LEVEL_STYLES) if level in counts],
    ])
    notices = [] if settings.basemap_url else [
        html.Div(t("no_basemap", lang), className="om-notice", id="basemap-notice")]
    the_map = dl.Map(
        id="map", className="om-map", bounds=map_layers.bounds_to_leaflet(bounds),
        children=[*map_layers.basemap_layer(settings), map_layers.units_layer(geojson)],
        attributionControl=bool(settings.basemap_attribution),
    )
    return [header, html.Div(className="om-body", children=[the_map, legend, *notices])]


def _warm_places(settings: Settings) -> None:
    try:
        places(get_engine(database_url(settings)))
    except Exception:  # noqa: BLE001 - the first report builds it instead
        pass


def create_app(settings: Settings) -> Dash:
    app = Dash(__name__, title="OneMap 一张图", update_title=None,
               serve_locally=True, compress=False)
    app.layout = html.Div([dcc.Location(id="url"), html.Div(id="page")])

    @app.callback(Output("page", "children"), Input("url", "search"))
    def _page(search: str | None) -> list[Any]:
        return render_page(settings, _lang(search, settings.lang))

    api.register(app.server, settings)
    # Build the assignment engine in the background now, so the first report is not slow.
    threading.Thread(target=_warm_places, args=(settings,), daemon=True,
                     name="onemap-warm").start()
    if settings.escalate_every_s > 0:
        app.escalation = EscalationScheduler(  # type: ignore[attr-defined]
            get_engine(database_url(settings)), settings, settings.escalate_every_s).start()

    @app.server.route("/api/health")
    def _health():
        try:
            engine = get_engine(database_url(settings))
            return jsonify(status="ok", units=repository.count_units(engine),
                           postgis=repository.postgis_version(engine))
        except OperationalError as exc:
            return jsonify(status="error", error=str(exc.orig)), 503

    return app
