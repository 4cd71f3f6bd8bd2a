"""``/monthly``: the monthly situation maps (月度态势图)."""

from __future__ import annotations

from typing import Any

from dashboard import monthly
from dashboard.callbacks import runtime
from dashboard.pages import bounds_or_empty, language


def layout(lang: str | None = None, **_: Any) -> list[Any]:
    lang = language(lang)
    bounds, empty = bounds_or_empty(lang)
    if empty is not None:
        return empty
    return monthly.page(runtime().settings, lang, bounds)


#: What :func:`dashboard.pages.register` gives ``dash.register_page``.
PAGE = dict(path="/monthly", name="monthly", action="monthly.view",
            title="OneMap 一张图 · 月度态势", layout=layout)
