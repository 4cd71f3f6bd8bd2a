"""``/``: the command wall (指挥大屏); ``?wall=1`` for the wall screen, ``?tour=N`` to tour."""

from __future__ import annotations

from typing import Any

from dashboard import wall as wall_page
from dashboard.callbacks import runtime
from dashboard.pages import bounds_or_empty, language
from dashboard.view import opening_level
from onemap.access import can


def tour_seconds(value: str | None) -> float | None:
    """``tour=1`` tours every 20 s; ``tour=N`` (N >= 5) every N seconds; else no tour."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if seconds == 1:
        return wall_page.TOUR_MS / 1000
    return seconds if seconds >= 5 else None


def layout(lang: str | None = None, wall: str | None = None, tour: str | None = None,
           **_: Any) -> list[Any]:
    lang = language(lang)
    bounds, empty = bounds_or_empty(lang)
    if empty is not None:
        return empty
    rt = runtime()
    tops = rt.units.tree().tops()  # the actor's own units
    level = opening_level([rt.units.tree().units[u]["level"] for u in tops])
    links = tuple(name for name, action in (("monthly", "monthly.view"),
                                           ("planner", "plan.view")) if can(rt.actor, action))
    return wall_page.page(rt.settings, lang, bounds, wall=wall == "1",
                          tour_s=tour_seconds(tour), level=level, links=links)


#: What :func:`dashboard.pages.register` gives ``dash.register_page``.
PAGE = dict(path="/", name="wall", action="wall.view", title="OneMap 一张图",
            layout=layout)
