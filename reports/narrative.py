"""Short Chinese sentences that say what the month's numbers say (pure: numbers in, text out).

The monthly report is read by leaders who look at the map for a minute; these sentences put
the headline into words — how many incidents, up or down on last month, how well they were
resolved, at which level they were closed, where new hot spots are, which categories
dominate.  Nothing here queries the database, so every sentence is unit-tested against
hand-written numbers (rises, falls, no previous month, an empty month).

Conventions: percentages with one decimal ("12.3%"); a change under 0.05% is "持平"; counts
with thousands separators; category codes are shown by their Chinese name
(:data:`geo.catalog.CATEGORY_BY_CODE`), unknown codes as they are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from geo.catalog import CATEGORY_BY_CODE

# closed_share_* keys of the headline, bottom level first, with the phrase used for each.
_CLOSED_PHRASES: tuple[tuple[str, str], ...] = (
    ("closed_share_grid", "网格内"),
    ("closed_share_village", "村（社区）内"),
    ("closed_share_town", "乡镇（街道）内"),
    ("closed_share_county", "县级"),
    ("closed_share_city", "市级"),  # a five-level deployment only
)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def pct(rate: float | None) -> str:
    """A rate in [0, 1] as "87.5%"; "—" when there is none."""
    if _missing(rate):
        return "—"
    return f"{100 * float(rate):.1f}%"


def count(n: float | int | None) -> str:
    """A count with thousands separators ("12,345"); "—" when missing."""
    if _missing(n):
        return "—"
    return f"{int(n):,}"


def category_name(code: str) -> str:
    """The Chinese name of a category code (the code itself when unknown)."""
    category = CATEGORY_BY_CODE.get(code)
    return category.zh if category else str(code)


def change_phrase(received: int, prev_received: int | None,
                  change_pct: float | None = None) -> str:
    """"环比上升 12.5%" / "环比下降 3.0%" / "与上月持平" / "上月无事件，无法计算环比"."""
    if _missing(prev_received):
        return "无上月数据，无法计算环比"
    prev = int(prev_received)
    if prev == 0:
        return "上月无事件，无法计算环比" if received else "与上月同为零"
    change = 100.0 * (received - prev) / prev if _missing(change_pct) else float(change_pct)
    if abs(change) < 0.05:
        return f"与上月（{count(prev)} 件）持平"
    word = "上升" if change > 0 else "下降"
    return f"环比{word} {abs(change):.1f}%（上月 {count(prev)} 件）"


def received_sentence(headline: Mapping[str, Any]) -> str:
    received = int(headline.get("received") or 0)
    prev = headline.get("prev_received")
    if received == 0:
        if _missing(prev) or not prev:
            return "本月未受理事件。"
        return f"本月未受理事件，上月为 {count(prev)} 件。"
    change = change_phrase(received, prev, headline.get("change_pct"))
    text = f"本月共受理事件 {count(received)} 件，{change}"
    per_1000_households = headline.get("per_1000_households")
    if not _missing(per_1000_households):
        text += f"，每千户 {float(per_1000_households):.1f} 件"
    return text + "。"


def resolution_sentence(headline: Mapping[str, Any]) -> str | None:
    received = int(headline.get("received") or 0)
    if received == 0:
        return None
    resolved = int(headline.get("resolved") or 0)
    if resolved == 0:
        return "本月受理的事件尚无办结。"
    return (f"已办结 {count(resolved)} 件，办结率 {pct(headline.get('resolution_rate'))}，"
            f"按期办结率 {pct(headline.get('on_time_rate'))}。")


def closed_level_sentence(headline: Mapping[str, Any]) -> str | None:
    """"小事不出村、大事不出镇": the share closed at each level, bottom up."""
    if not int(headline.get("resolved") or 0):
        return None
    parts = [f"{phrase}办结 {pct(headline.get(key))}" for key, phrase in _CLOSED_PHRASES
             if not _missing(headline.get(key))]
    if not parts:
        return None
    return "办结事件中，" + "，".join(parts) + "。"


def _join(names: Sequence[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return "、".join(names[:-1]) + "和" + names[-1]


def hotspot_sentence(hot: int, new: int, places: Sequence[str] = ()) -> str:
    """Hot spots of the month: how many, how many new, and where the new ones are."""
    if hot == 0:
        return "本月未发现统计显著的事件热点网格。"
    where = f"，主要位于{_join(list(places)[:3])}" if places and new else ""
    if new == 0:
        return f"本月共有热点网格 {hot} 处，均在前三个月已出现过，无新增热点。"
    return f"本月共有热点网格 {hot} 处，其中新增热点 {new} 处{where}。"


def category_sentence(top: Sequence[tuple[str, int]], received: int) -> str | None:
    top = [(code, int(n)) for code, n in top if int(n) > 0]
    if not top:
        return None
    first_code, first_n = top[0]
    share = f"，占 {pct(first_n / received)}" if received else ""
    text = f"事件最多的类别是{category_name(first_code)}（{count(first_n)} 件{share}）"
    rest = [f"{category_name(code)}（{count(n)} 件）" for code, n in top[1:3]]
    if rest:
        text += "，其次是" + _join(rest)
    return text + "。"


def rise_sentence(rises: Sequence[tuple[str, float]], level_name: str) -> str | None:
    """The units with the largest month-over-month rise, e.g. [("东岗西路街道", 35.2)]."""
    rises = [(name, float(p)) for name, p in rises if not _missing(p) and float(p) > 0]
    if not rises:
        return None
    shown = "、".join(f"{name}（+{p:.1f}%）" for name, p in rises[:3])
    return f"环比上升最多的{level_name}：{shown}。"


def sentences(headline: Mapping[str, Any], *, top_categories: Sequence[tuple[str, int]] = (),
              hot: int = 0, new_hot: int = 0, hot_places: Sequence[str] = (),
              rises: Sequence[tuple[str, float]] = (), level_name: str = "单位") -> list[str]:
    """The report's narrative, in reading order; sentences with nothing to say are left out.

    ``headline`` is :func:`store.monthly_totals.headline`'s dict (received, prev_received,
    change_pct, resolved, resolution_rate, on_time_rate, closed_share_*, per_1000_households);
    ``hot``/``new_hot`` count hot-spot grids (all / new against the previous three months)
    and ``hot_places`` names where the new ones are; ``rises`` lists (unit name, change %)
    largest first.
    """
    received = int(headline.get("received") or 0)
    out = [received_sentence(headline)]
    if received:
        out += [resolution_sentence(headline), closed_level_sentence(headline),
                hotspot_sentence(hot, new_hot, hot_places),
                category_sentence(top_categories, received),
                rise_sentence(rises, level_name)]
    return [s for s in out if s]
