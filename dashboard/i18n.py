"""Interface text in Chinese (default) and English; one dictionary, looked up by key."""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "title": {"zh": "一张图 · 网格化社会治理指挥中心",
              "en": "OneMap · Grid governance command centre"},
    "levels": {"zh": "层级", "en": "Levels"},
    "no_units": {"zh": "尚无网格数据。make run 会自动载入示例数据；或用 onemap db reset 重建。",
                 "en": "No units yet. `make run` loads the sample; `onemap db reset` rebuilds."},
    "db_down": {"zh": "数据库暂不可用，请稍后刷新（onemap db status 查看状态）。",
                "en": "The database is unavailable; refresh shortly (`onemap db status`)."},
    "no_basemap": {"zh": "未配置底图（ONEMAP_BASEMAP_URL），以纯色背景显示。",
                   "en": "No basemap configured (ONEMAP_BASEMAP_URL): plain background."},
    "lang_switch": {"zh": "English", "en": "中文"},
}

LEVEL_NAMES_EN = ("County", "Township / street", "Village / community", "Grid")


def t(key: str, lang: str) -> str:
    entry = TEXT[key]
    return entry.get(lang) or entry["zh"]


def level_name(level: int, lang: str, names_zh: tuple[str, ...]) -> str:
    if lang == "en":
        return LEVEL_NAMES_EN[level] if level < len(LEVEL_NAMES_EN) else f"Level {level}"
    return names_zh[level] if level < len(names_zh) else f"第{level}级"
