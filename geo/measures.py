"""The one registry of measures: key, labels, kind, which way is good, how it prints, the
store function that computes it and the pages that show it.

One name per measure everywhere: the wall, the monthly page, the exports, the narrative, the
command line and the browser (which gets :func:`as_json`).  Adding a measure = one entry here
+ one SQL function in ``store/measures.py`` + its test (see the README, "adding a measure").
Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("count", "ratio", "rate", "change")
PAGES = ("wall", "monthly", "export")


@dataclass(frozen=True)
class Measure:
    key: str
    zh: str
    en: str
    kind: str  # count | ratio (an amount with decimals) | rate (0..1) | change (percent, ±)
    good: str  # "high" or "low": which way the map should read as good
    unit_zh: str  # unit printed after the label in exports ("件", "%", "")
    source: str  # the store function (module.function) that computes it
    pages: frozenset[str]

    @property
    def decimals(self) -> int:
        return 1 if self.kind in ("ratio", "change") else 0

    def label(self, lang: str = "zh") -> str:
        return self.en if lang == "en" else self.zh


def _m(key: str, zh: str, en: str, kind: str, good: str, unit: str, source: str,
       *pages: str) -> Measure:
    return Measure(key, zh, en, kind, good, unit, source, frozenset(pages))


MEASURES: tuple[Measure, ...] = (
    _m("received", "受理事件数", "Incidents", "count", "low", "件",
       "store.measures.received", "wall", "monthly", "export"),
    _m("per_1000_households", "每千户事件数", "Per 1,000 households", "ratio", "low", "件",
       "store.measures.received / store.wall._households_per_unit", "wall", "monthly",
       "export"),
    _m("overdue", "超期未办结", "Overdue now", "count", "low", "件",
       "store.measures.overdue_now", "wall"),
    _m("change_pct", "环比变化", "Change from last month", "change", "low", "%",
       "store.monthly.month_measures", "monthly", "export"),
    _m("resolution_rate", "办结率", "Resolution rate", "rate", "high", "",
       "store.measures.resolution_rate", "wall", "monthly", "export"),
    _m("on_time_rate", "按期办结率", "On-time rate", "rate", "high", "",
       "store.measures.on_time_rate", "monthly", "export"),
    _m("closed_share_grid", "网格内办结占比", "Closed in the grid", "rate", "high", "",
       "store.measures.closed_share_by_level", "wall", "monthly", "export"),
    _m("closed_share_village", "村（社区）内办结占比", "Closed in the village", "rate", "high",
       "", "store.measures.closed_share_by_level", "monthly"),
    _m("closed_share_town", "乡镇（街道）内办结占比", "Closed in the town", "rate", "high", "",
       "store.measures.closed_share_by_level", "monthly"),
    # The closed loop (#16): urged cases (催办), the citizens' ratings, supervised cases
    # (督办) past their supervision deadline, hours from receipt to the first 签收.
    _m("urged", "被催办事件数", "Urged cases", "count", "low", "件",
       "store.monthly.month_measures", "monthly"),
    _m("rated", "群众评价件数", "Citizen ratings", "count", "high", "件",
       "store.monthly.month_measures", "monthly"),
    _m("rating_mean", "群众评价均分", "Mean citizen rating", "ratio", "high", "分",
       "store.monthly.month_measures", "monthly"),
    _m("supervised_overdue", "督办超期件数", "Supervised cases overdue", "count", "low", "件",
       "store.monthly.month_measures", "monthly"),
    _m("accept_hours", "平均签收用时", "Mean time to accept", "ratio", "low", "小时",
       "store.monthly.month_measures", "monthly"),
)
BY_KEY: dict[str, Measure] = {m.key: m for m in MEASURES}


def on(page: str) -> tuple[Measure, ...]:
    """The measures a page shows, in registry order."""
    if page not in PAGES:
        raise ValueError(f"unknown page {page!r}; pages are {', '.join(PAGES)}")
    return tuple(m for m in MEASURES if page in m.pages)


def keys(page: str) -> tuple[str, ...]:
    return tuple(m.key for m in on(page))


def as_json() -> list[dict]:
    """The registry for the browser and API clients."""
    return [{"key": m.key, "zh": m.zh, "en": m.en, "kind": m.kind, "good": m.good,
             "decimals": m.decimals, "unit_zh": m.unit_zh, "pages": sorted(m.pages)}
            for m in MEASURES]
