"""The Dash application: `create_app(settings)` builds it; gunicorn serves ``app.server``."""

from __future__ import annotations

import os
import threading

from dash import Dash, page_container
from flask import jsonify
from sqlalchemy.exc import OperationalError

from dashboard import (
    admin,
    auth,
    citizen,
    desk_callbacks,
    geodata,
    guard,
    media,
    mobile_routes,
    monthly_callbacks,
    pages,
    planner_callbacks,
    planner_history,
    planner_routes,
    unmask,
    wall_callbacks,
    wall_routes,
)
from geo import levels
from geo import measures as measure_registry
from intake import http as intake_http
from intake.service import EscalationScheduler
from onemap import crypto
from onemap.access import SYSTEM
from onemap.context import Runtime
from onemap.settings import Settings
from store import repository, scope
from store.runtime import build_runtime


def warm_places(rt: Runtime, *, lowest_priority: bool = True) -> None:
    """What the first page and the first report need: the boundaries, the unit tree, then the
    assignment engine (the boundaries and the engine's rasters read from disk when a load or
    an earlier start kept them), and last its nearest-grid index (needed only for a report
    outside every grid).

    `onemap serve` calls this once in gunicorn's master before it forks its workers, which
    inherit all of it (:mod:`dashboard.server`).  An app built otherwise (tests, another
    WSGI server) runs it in a background thread at the lowest CPU priority (``lowest_priority``:
    this thread only, Linux), so a page asked meanwhile does not queue behind it."""
    if lowest_priority:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):  # not Linux, or not allowed: normal priority
            pass
    try:
        with scope.acting(SYSTEM):
            geodata.layers(rt.engine, rt.settings).snapshot()  # simplified boundaries
            rt.units.tree()
            places = rt.units.places()
            if places.engine is not None:  # last: only a report outside every grid needs it
                places.engine.nearest.prepare()
    except Exception:  # noqa: BLE001 - the first report builds it instead
        pass


def start_background(app: Dash, *, warm: bool) -> None:
    """This process's own threads: the escalation scheduler (one run at a time across
    processes: it takes a database lock), and with ``warm`` :func:`warm_places` in the
    background.  Threads do not survive a fork: a preloading server calls this in each
    worker."""
    rt: Runtime = app.server.extensions["onemap"]
    if warm:
        threading.Thread(target=warm_places, args=(rt.acting_as(SYSTEM),), daemon=True,
                         name="onemap-warm").start()
    if rt.settings.escalate_every_s > 0:
        app.escalation = EscalationScheduler(  # type: ignore[attr-defined]
            rt.acting_as(SYSTEM), rt.settings.escalate_every_s).start()


def create_app(settings: Settings, rt: Runtime | None = None, *,
               background: bool = True) -> Dash:
    """The Dash app with its pages, layers and HTTP doors, all sharing one runtime context
    (built here from ``settings`` unless given).  ``background`` False: no thread started
    (a preloading server warms the caches itself and starts the threads in each worker,
    :func:`start_background`)."""
    rt = rt if rt is not None else build_runtime(settings)
    app = Dash(__name__, title="OneMap 一张图", update_title=None, use_pages=True,
               pages_folder="", serve_locally=True, compress=True,
               suppress_callback_exceptions=True)
    pages.register()  # Dash takes pages only once an app with use_pages exists

    app.layout = page_container
    app.server.extensions["onemap"] = rt
    app.server.secret_key = crypto.session_key(settings.var_dir)
    if settings.proxy_hops > 0:  # behind nginx: the client's address and scheme, not nginx's
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.proxy_hops
        app.server.wsgi_app = ProxyFix(app.server.wsgi_app, x_for=hops, x_proto=hops,
                                       x_host=hops)  # type: ignore[method-assign]
    guard.install(app.server, rt)  # first: who is asking, may they (every route below)
    limiter = auth.register(app.server, rt)
    citizen.register(app.server, rt, limiter)
    admin.register(app.server, rt)
    wall_callbacks.register(app)
    planner_callbacks.register(app)
    planner_history.register(app)
    monthly_callbacks.register(app)
    unmask.register(app)
    desk_callbacks.register(app)
    unmask.register_routes(app.server)
    media.register(app.server)
    mobile_routes.register(app.server)
    monthly_callbacks.register_routes(app.server, rt)
    planner_routes.register(app.server, rt)
    geodata.register(app.server, rt)
    wall_routes.register(app.server, rt)
    intake_http.register(app.server, rt)
    if background:  # the caches warmed in a thread, so no first page waits for them
        start_background(app, warm=True)

    @app.server.route("/registry.json")
    def _registry():
        """The registries the pages' JavaScript and API clients read: levels and measures."""
        return jsonify(levels=levels.as_json(tuple(settings.level_names)),
                       measures=measure_registry.as_json())

    @app.server.route("/api/health")
    def _health():
        """Status only: no counts, versions or errors that tell an outsider anything."""
        try:
            repository.postgis_version(rt.engine)
            return jsonify(status="ok")
        except OperationalError:
            return jsonify(status="unavailable"), 503

    # Dash sets itself up on its first request without a lock: when a fresh gunicorn worker
    # gets a page's parallel script requests first, some of them see a half-set-up app and
    # fail with "not a registered library".  One request here, before serving, avoids that.
    app.server.test_client().get("/")
    return app
