"""The one registry of unit levels: key, depth, the column on ``incident``, names.

Depth 0 is the top of the deployment, the last depth the grid.  A deployment has four levels
(county → town → village → grid, the default) or five, with a city (市) above its districts and
counties: ``ONEMAP_LEVELS=city,county,town,village,grid``.  The levels are fixed for a
deployment, like its schema, so they are read once from the environment when this module is
first imported (:func:`onemap.settings.parse_levels` checks the value); every process of a
deployment (server, CLI, workers) must see the same value.

Every mapping between a level's number, its English key, its frozen column on ``incident`` and
its names is read from :data:`LEVELS`; Chinese names can be renamed by ``ONEMAP_LEVEL_NAMES``
(:func:`name`).  Pure data, no database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from onemap.errors import OneMapError
from onemap.settings import DEFAULT_LEVELS, parse_levels


@dataclass(frozen=True)
class Level:
    depth: int
    key: str        # city / county / town / village / grid
    column: str     # the frozen unit id on incident
    zh: str         # the default Chinese name (ONEMAP_LEVEL_NAMES may rename it)
    zh_short: str   # as in "上报至乡镇（街道）"
    en: str


#: every level a deployment may have, top down (key, zh, zh_short, en)
VOCABULARY: tuple[tuple[str, str, str, str], ...] = (
    ("city", "市(州)", "市级", "City"),
    ("county", "县(市/区/旗)", "县级", "County"),
    ("town", "乡镇(街道)", "乡镇（街道）", "Township / street"),
    ("village", "村(社区)", "村（社区）", "Village / community"),
    ("grid", "网格", "网格", "Grid"),
)
#: every frozen unit column ``incident`` has, whether or not this deployment uses its level
ALL_COLUMNS: tuple[str, ...] = tuple(f"{key}_id" for key, *_ in VOCABULARY)


def registry(keys: tuple[str, ...]) -> tuple[Level, ...]:
    """The levels of ``keys`` (checked by :func:`onemap.settings.parse_levels`), top down."""
    by_key = {key: rest for key, *rest in VOCABULARY}
    return tuple(Level(depth, key, f"{key}_id", *by_key[key]) for depth, key in enumerate(keys))


ACTIVE_KEYS: tuple[str, ...] = parse_levels(os.environ.get("ONEMAP_LEVELS") or DEFAULT_LEVELS)
LEVELS: tuple[Level, ...] = registry(ACTIVE_KEYS)

LEVEL_BY_DEPTH: dict[int, Level] = {lv.depth: lv for lv in LEVELS}
LEVEL_BY_KEY: dict[str, Level] = {lv.key: lv for lv in LEVELS}
#: the depth of the city level, or None in a deployment without one
CITY: int | None = LEVEL_BY_KEY["city"].depth if "city" in LEVEL_BY_KEY else None
COUNTY, TOWN, VILLAGE, GRID = (LEVEL_BY_KEY[k].depth for k in ("county", "town", "village", "grid"))
TOP, BOTTOM = LEVELS[0].depth, LEVELS[-1].depth
#: depth → key ("county" …) and depth → incident column ("county_id" …)
LEVEL_KEYS: dict[int, str] = {lv.depth: lv.key for lv in LEVELS}
LEVEL_COLUMNS: dict[int, str] = {lv.depth: lv.column for lv in LEVELS}
DEFAULT_NAMES_ZH: tuple[str, ...] = tuple(lv.zh for lv in LEVELS)


class LevelError(OneMapError):
    """A level was named that does not exist."""


def parse_level(level: int | str) -> int:
    """A depth (0 … the grid's) or a key (county/town/village/grid, city when the deployment
    has one) → the depth, else :class:`LevelError`."""
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


def name(depth: int, lang: str = "zh", names_zh: tuple[str, ...] | None = None) -> str:
    """A level's display name: the configured Chinese name, or the English one."""
    if lang == "en":
        return LEVEL_BY_DEPTH[depth].en if depth in LEVEL_BY_DEPTH else f"Level {depth}"
    names = tuple(names_zh or ()) or DEFAULT_NAMES_ZH
    if 0 <= depth < len(names):
        return names[depth]
    return LEVEL_BY_DEPTH[depth].zh if depth in LEVEL_BY_DEPTH else f"第{depth}级"


def level_zh(depth: int) -> str:
    """The short Chinese name used in event notes ("自动上报至乡镇（街道）")."""
    return LEVEL_BY_DEPTH[depth].zh_short


def unit_columns(unit_ids: dict[int, int | None]) -> dict[str, int | None]:
    """Depth → unit id (an assignment's answer) as every frozen column of ``incident``: the
    columns of levels this deployment does not have are None."""
    out: dict[str, int | None] = dict.fromkeys(ALL_COLUMNS)
    for depth, column in LEVEL_COLUMNS.items():
        out[column] = unit_ids.get(depth)
    return out


def as_json(names_zh: tuple[str, ...] | None = None) -> list[dict]:
    """The registry for the browser (the pages' JavaScript reads it)."""
    return [{"depth": lv.depth, "key": lv.key, "column": lv.column,
             "zh": name(lv.depth, "zh", names_zh), "en": lv.en} for lv in LEVELS]
