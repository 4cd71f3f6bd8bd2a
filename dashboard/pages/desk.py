"""``/desk``: the desk (工作台) of handlers, departments, grid workers and command centres."""

from __future__ import annotations

from typing import Any

from dashboard import desk
from dashboard.callbacks import runtime
from dashboard.pages import language
from onemap.access import can, role_name


def layout(lang: str | None = None, **_: Any) -> list[Any]:
    lang = language(lang)
    rt = runtime()
    who = f"{rt.actor.name} · {role_name(rt.actor.role, lang)}"
    links = [(label, href) for label, href, action in (
        ("大屏" if lang == "zh" else "Wall", "/", "wall.view"),
        ("月报" if lang == "zh" else "Monthly", "/monthly", "monthly.view"))
        if can(rt.actor, action)]
    return desk.page(lang, who, links)


#: What :func:`dashboard.pages.register` gives ``dash.register_page``.
PAGE = dict(path="/desk", name="desk", action="desk.view", title="OneMap 一张图 · 工作台",
            layout=layout)
