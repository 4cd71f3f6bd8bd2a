"""``/planner``: the grid planner (网格规划); ``?village=ID`` opens a village."""

from __future__ import annotations

from typing import Any

from dashboard import planner
from dashboard.callbacks import runtime
from dashboard.pages import bounds_or_empty, language


def layout(lang: str | None = None, village: str | None = None, **_: Any) -> list[Any]:
    lang = language(lang)
    bounds, empty = bounds_or_empty(lang)
    if empty is not None:
        return empty
    return planner.page(runtime().settings, lang, bounds,
                        village=int(village) if village and village.isdigit() else None)


#: What :func:`dashboard.pages.register` gives ``dash.register_page``.
PAGE = dict(path="/planner", name="planner", action="plan.view",
            title="OneMap 一张图 · 网格规划", layout=layout)
