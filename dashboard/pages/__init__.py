"""The pages, one module per page family, registered with Dash's own multi-page mechanism
(``dash.register_page``): the command wall (``/``), the grid planner (``/planner``) and the
monthly maps (``/monthly``).  Each module has its ``layout`` (which gets the page's query string
as keyword arguments) and a ``PAGE`` entry; :func:`register` hands them to Dash once an app with
``use_pages`` exists, as Dash requires."""

from __future__ import annotations

from typing import Any

from dash import html, register_page
from sqlalchemy.exc import OperationalError

from dashboard import geodata
from dashboard.callbacks import runtime
from dashboard.i18n import t


def language(lang: str | None) -> str:
    """The page's language: ``?lang=zh|en``, else the configured default."""
    return lang if lang in ("zh", "en") else runtime().settings.lang


def bounds_or_empty(lang: str) -> tuple[Any, list[Any] | None]:
    """The units' bounds for a map page, or the empty state that says what to do when there is
    no database or no unit yet (then the bounds are None)."""
    rt = runtime()
    header = html.Div(className="om-header", children=[
        html.Div(t("title", lang), className="om-title")])
    try:
        tree = rt.units.tree()  # the actor's units only
        lay = geodata.layers(rt.engine, rt.settings)
        bounds = lay.bounds() if rt.actor.units is None else lay.bounds_of(tree.tops())
    except OperationalError:
        return None, [header, html.Div(t("db_down", lang), className="om-empty",
                                       id="empty-state")]
    if bounds is None:
        return None, [header, html.Div(t("no_units", lang), className="om-empty",
                                       id="empty-state")]
    return bounds, None


def register() -> None:
    """Register the pages with Dash (call after creating a ``use_pages`` app)."""
    from dashboard.pages import desk, monthly, planner, wall

    for module in (wall, planner, monthly, desk):
        register_page(module.__name__, **module.PAGE)
