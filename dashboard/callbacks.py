"""Dash callbacks as module-level functions, attached to each app that asks.

A page module declares its callbacks with ``CALLBACKS = Callbacks()`` and the
``@CALLBACKS.callback(...)`` decorator, which records the dependencies and returns the plain
function — so tests import and call it.  :meth:`Callbacks.attach` registers them on one app
(``dash.callback`` would give them to the first app of the process only, and tests build
several).  Callbacks find the runtime context with :func:`runtime`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dash import Dash
from flask import current_app, g, has_request_context

from onemap.context import Runtime
from onemap.settings import Settings


def runtime() -> Runtime:
    """The runtime context of the app serving this request, acting as the request's user
    (set by the guard, :mod:`dashboard.guard`); outside a request, the app's own context."""
    rt = current_app.extensions["onemap"]
    actor = g.get("onemap_actor") if has_request_context() else None
    return rt.acting_as(actor, g.get("onemap_address")) if actor is not None else rt


#: app.server.extensions key: callback output key → the action a user needs to call it.
CALLBACK_ACTIONS = "onemap_callback_actions"


class Callbacks:
    """The callbacks of one page family, in declaration order, and the permission a user
    needs to call them (``action``, checked by the guard before the callback runs)."""

    def __init__(self, action: str) -> None:
        self.action = action
        self._server: list[tuple[tuple, dict, Callable]] = []
        self._client: list[tuple[str, tuple, dict]] = []

    def callback(self, *args: Any, **kwargs: Any) -> Callable[[Callable], Callable]:
        def record(fn: Callable) -> Callable:
            self._server.append((args, kwargs, fn))
            return fn
        return record

    def clientside(self, js: str, *args: Any, **kwargs: Any) -> None:
        self._client.append((js, args, kwargs))

    def attach(self, app: Dash) -> None:
        before = set(app.callback_map)
        for args, kwargs, fn in self._server:
            app.callback(*args, **kwargs)(fn)
        for js, args, kwargs in self._client:
            app.clientside_callback(js, *args, **kwargs)
        actions = app.server.extensions.setdefault(CALLBACK_ACTIONS, {})
        for key in set(app.callback_map) - before:
            actions[key] = self.action


def engine() -> Any:
    """The app's database engine."""
    return runtime().engine


def read_engine() -> Any:
    """The engine for reads that need not see this request's own writes (the wall's
    aggregates and layers, the monthly report, exports): the standby when one is configured
    and fresh enough (``DATABASE_REPLICA_URL``), else the primary."""
    return runtime().for_reading().engine


def app_settings() -> Settings:
    return runtime().settings


def local_tz() -> str:
    """The time zone pages show times in (``ONEMAP_TIMEZONE``)."""
    return runtime().settings.timezone


def basemap_datum() -> str:
    """The datum of the basemap tiles: geometry is shifted into it for display."""
    return runtime().settings.basemap_datum


def act_on(incident_id: int, action: str, lang: str, **fields: Any) -> dict[str, Any]:
    """One workflow action from a page (the wall's panel, the desk), as the signed-in user;
    returns what the page stores to redraw the case: its id, the action and the message
    (done, or why not)."""
    import time

    from dashboard.i18n import pick, t
    from geo.workflow import ACTION_LABELS
    from intake import service
    from intake.schema import ActionIn, ReportError

    rt = runtime()
    try:
        service.act(rt, int(incident_id), ActionIn(action=action, actor=rt.actor.name,
                                                   **fields))
        message = f"{t('done', lang)}: {pick(ACTION_LABELS.get(action), lang, action)}"
    except ReportError as err:
        message = str(err)
    except ValueError as err:  # pydantic validation
        message = str(err).splitlines()[0]
    return {"id": incident_id, "action": action, "message": message, "at": time.time()}
