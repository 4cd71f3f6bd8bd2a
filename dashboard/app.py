"""The Dash application: `create_app(settings)` builds it; gunicorn serves ``app.server``."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs

from dash import Dash, Input, Output, dcc, html
from flask import jsonify
from sqlalchemy.exc import OperationalError

from dashboard import (
    geodata,
    monthly,
    monthly_callbacks,
    planner,
    planner_callbacks,
    planner_routes,
    wall,
    wall_callbacks,
    wall_routes,
)
from dashboard.i18n import t
from geo import levels
from geo import measures as measure_registry
from intake import http as intake_http
from intake.service import EscalationScheduler
from onemap.context import Runtime
from onemap.settings import Settings
from store import repository
from store.runtime import build_runtime


def _query(search: str | None) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs((search or "").lstrip("?")).items() if v}


def render_page(rt: Runtime, search: str | None, pathname: str | None = "/"
                ) -> list[Any]:
    """The command wall (``/``), the planner (``/planner``) or the monthly map (``/monthly``)
    for the page's query (``lang``,
    ``wall``, ``tour``; ``village`` for the planner), or an empty state that says what to do
    when there is no database or no unit yet."""
    settings = rt.settings
    query = _query(search)
    lang = query.get("lang") if query.get("lang") in ("zh", "en") else settings.lang
    header = html.Div(className="om-header", children=[
        html.Div(t("title", lang), className="om-title")])
    try:
        rt.units.tree()
        bounds = geodata.layers(rt.engine, settings).bounds()
    except OperationalError:
        return [header, html.Div(t("db_down", lang), className="om-empty", id="empty-state")]
    if bounds is None:
        return [header, html.Div(t("no_units", lang), className="om-empty", id="empty-state")]
    if (pathname or "/").rstrip("/").endswith("/monthly"):
        return monthly.page(settings, lang, bounds)
    if (pathname or "/").rstrip("/").endswith("/planner"):
        village = query.get("village", "")
        return planner.page(settings, lang, bounds,
                            village=int(village) if village.isdigit() else None)
    return wall.page(settings, lang, bounds, wall=query.get("wall") == "1",
                     tour_s=_tour_seconds(query.get("tour")))


def _tour_seconds(value: str | None) -> float | None:
    """``tour=1`` tours every 20 s; ``tour=N`` (N >= 5) every N seconds; else no tour."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if seconds == 1:
        return wall.TOUR_MS / 1000
    return seconds if seconds >= 5 else None


def _warm_places(rt: Runtime) -> None:
    try:
        rt.units.tree()
        geodata.layers(rt.engine, rt.settings).snapshot()  # simplified boundaries
        rt.units.places()
    except Exception:  # noqa: BLE001 - the first report builds it instead
        pass


def create_app(settings: Settings, rt: Runtime | None = None) -> Dash:
    """The Dash app with its pages, layers and HTTP doors, all sharing one runtime context
    (built here from ``settings`` unless given)."""
    rt = rt if rt is not None else build_runtime(settings)
    app = Dash(__name__, title="OneMap 一张图", update_title=None,
               serve_locally=True, compress=True, suppress_callback_exceptions=True)
    app.layout = html.Div([dcc.Location(id="url"), html.Div(id="page")])

    @app.callback(Output("page", "children"), Input("url", "search"),
                  Input("url", "pathname"))
    def _page(search: str | None, pathname: str | None) -> list[Any]:
        return render_page(rt, search, pathname)

    app.server.extensions["onemap"] = rt
    wall_callbacks.register(app)
    planner_callbacks.register(app)
    monthly_callbacks.register(app)
    monthly_callbacks.register_routes(app.server, rt)
    planner_routes.register(app.server, rt)
    geodata.register(app.server, rt)
    wall_routes.register(app.server, rt)
    intake_http.register(app.server, rt)
    # Build the unit tree, the simplified boundaries and the assignment engine in the
    # background now, so neither the first page nor the first report waits for them.
    threading.Thread(target=_warm_places, args=(rt,), daemon=True,
                     name="onemap-warm").start()
    if settings.escalate_every_s > 0:
        app.escalation = EscalationScheduler(  # type: ignore[attr-defined]
            rt, settings.escalate_every_s).start()

    @app.server.route("/registry.json")
    def _registry():
        """The registries the pages' JavaScript and API clients read: levels and measures."""
        return jsonify(levels=levels.as_json(tuple(settings.level_names)),
                       measures=measure_registry.as_json())

    @app.server.route("/api/health")
    def _health():
        try:
            return jsonify(status="ok", units=repository.count_units(rt.engine),
                           postgis=repository.postgis_version(rt.engine))
        except OperationalError as exc:
            return jsonify(status="error", error=str(exc.orig)), 503

    # Dash sets itself up on its first request without a lock: when a fresh gunicorn worker
    # gets a page's parallel script requests first, some of them see a half-set-up app and
    # fail with "not a registered library".  One request here, before serving, avoids that.
    app.server.test_client().get("/")
    return app
