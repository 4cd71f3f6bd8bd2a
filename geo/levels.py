"""The one registry of unit levels: key, depth, the column on ``incident``, names.

Depth 0 is the top of the jurisdiction (a county by default), 3 the grid.  Every mapping
between a level's number, its English key, its frozen column on ``incident`` and its names is
read from :data:`LEVELS`; Chinese names can be renamed by ``ONEMAP_LEVEL_NAMES``
(:func:`name`).  Pure data, no database.
"""

from __future__ import annotations

from dataclasses import dataclass

from onemap.errors import OneMapError


@dataclass(frozen=True)
class Level:
    depth: int
    key: str        # county / town / village / grid
    column: str     # the frozen unit id on incident
    zh: str         # the default Chinese name (ONEMAP_LEVEL_NAMES may rename it)
    zh_short: str   # as in "上报至乡镇（街道）"
    en: str


LEVELS: tuple[Level, ...] = (
    Level(0, "county", "county_id", "县(市/区/旗)", "县级", "County"),
    Level(1, "town", "town_id", "乡镇(街道)", "乡镇（街道）", "Township / street"),
    Level(2, "village", "village_id", "村(社区)", "村（社区）", "Village / community"),
    Level(3, "grid", "grid_id", "网格", "网格", "Grid"),
)

COUNTY, TOWN, VILLAGE, GRID = (lv.depth for lv in LEVELS)
TOP, BOTTOM = LEVELS[0].depth, LEVELS[-1].depth
LEVEL_BY_DEPTH: dict[int, Level] = {lv.depth: lv for lv in LEVELS}
LEVEL_BY_KEY: dict[str, Level] = {lv.key: lv for lv in LEVELS}
#: depth → key ("county" …) and depth → incident column ("county_id" …)
LEVEL_KEYS: dict[int, str] = {lv.depth: lv.key for lv in LEVELS}
LEVEL_COLUMNS: dict[int, str] = {lv.depth: lv.column for lv in LEVELS}
DEFAULT_NAMES_ZH: tuple[str, ...] = tuple(lv.zh for lv in LEVELS)


class LevelError(OneMapError):
    """A level was named that does not exist."""


def parse_level(level: int | str) -> int:
    """0-3 or county/town/village/grid → the depth, else :class:`LevelError`."""
    if isinstance(level, str) and not level.strip().lstrip("-").isdigit():
        key = level.strip().lower()
        if key not in LEVEL_BY_KEY:
            raise LevelError(f"{level!r} is not a level; choose one of "
                             f"{', '.join(LEVEL_BY_KEY)}.")
        return LEVEL_BY_KEY[key].depth
    number = int(level)
    if number not in LEVEL_BY_DEPTH:
        raise LevelError(f"level {level!r} does not exist; choose one of "
                         f"{', '.join(f'{lv.depth} ({lv.key})' for lv in LEVELS)}.")
    return number


def name(depth: int, lang: str = "zh", names_zh: tuple[str, ...] = DEFAULT_NAMES_ZH) -> str:
    """A level's display name: the configured Chinese name, or the English one."""
    if lang == "en":
        return LEVEL_BY_DEPTH[depth].en if depth in LEVEL_BY_DEPTH else f"Level {depth}"
    if depth < len(names_zh):
        return names_zh[depth]
    return LEVEL_BY_DEPTH[depth].zh if depth in LEVEL_BY_DEPTH else f"第{depth}级"


def level_zh(depth: int) -> str:
    """The short Chinese name used in event notes ("自动上报至乡镇（街道）")."""
    return LEVEL_BY_DEPTH[depth].zh_short


def as_json(names_zh: tuple[str, ...] = DEFAULT_NAMES_ZH) -> list[dict]:
    """The registry for the browser (the pages' JavaScript reads it)."""
    return [{"depth": lv.depth, "key": lv.key, "column": lv.column,
             "zh": name(lv.depth, "zh", names_zh), "en": lv.en} for lv in LEVELS]
