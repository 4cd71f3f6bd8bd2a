"""Pure helpers of the monthly page: its measures, their classes and colours, and the numbers
as the page prints them.  No Dash, no SQL (the numbers come from :mod:`reports.monthly`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from dashboard import view as v
from geo.levels import LEVEL_KEYS  # noqa: F401  (re-exported)
from reports.measures import class_limits

DEFAULT_LEVEL = 1


@dataclass(frozen=True)
class Measure:
    """A choropleth measure: the report column, its labels and how to class and print it."""

    key: str
    zh: str
    en: str
    kind: str  # "count" | "rate" (0..1, good when high) | "change" (percent, ±)


MEASURES = (
    Measure("received", "事件数", "Incidents", "count"),
    Measure("per_1000", "每千户事件数", "Per 1,000 households", "count"),
    Measure("change_pct", "环比变化", "Change from last month", "change"),
    Measure("resolution_rate", "办结率", "Resolution rate", "rate"),
    Measure("on_time_rate", "按期办结率", "On-time rate", "rate"),
    Measure("closed_share_grid", "网格内办结占比", "Closed in the grid", "rate"),
    Measure("closed_share_village", "村（社区）内办结占比", "Closed in the village", "rate"),
    Measure("closed_share_town", "乡镇（街道）内办结占比", "Closed in the town", "rate"),
)
BY_KEY = {m.key: m for m in MEASURES}

# Change from last month: blue falls, grey steady, red rises.
CHANGE_COLOURS = ["#1e88e5", "#90caf9", "#b0bec5", "#f8961e", "#d62828"]


def label(measure: Measure, lang: str) -> str:
    return measure.en if lang == "en" else measure.zh


def classes(values: Sequence[float | None], measure: Measure) -> tuple[list[float], list[str]]:
    """Upper class limits (:func:`reports.measures.class_limits`, as in the exports) and the
    screen's colours (for rates red = low, so red always means "look here")."""
    limits = class_limits(values, measure.kind)
    if measure.kind == "change":  # JSON has no infinity: the top class is open-ended anyway
        return [x if math.isfinite(x) else 1e12 for x in limits], CHANGE_COLOURS
    if measure.kind == "rate":
        return limits, list(v.RAMP_GOOD_HIGH)
    return limits, v.colours_for("incidents", len(limits))


def fmt(value: float | None, kind: str) -> str:
    """A number as the page prints it: counts with thousands separators, rates in %, the
    change with an arrow."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind == "change":
        arrow = "↑" if value > 0 else "↓" if value < 0 else "→"
        return f"{arrow}{abs(value):.1f}%"
    if kind == "per_1000":
        return f"{value:.1f}"
    return f"{int(round(value)):,}"


def legend_rows(limits: Sequence[float], colours: Sequence[str], measure: Measure
                ) -> list[tuple[str, str]]:
    """(colour, text) per class, in the measure's own units."""
    if measure.kind == "change":
        texts = ["↓ > 20%", "↓ 5–20%", "± 5%", "↑ 5–20%", "↑ > 20%"]
        return list(zip(colours, texts, strict=True))
    rows = []
    for k, colour in enumerate(colours):
        if measure.kind == "rate":
            low = 0 if k == 0 else limits[k - 1]
            rows.append((colour, f"{low * 100:.0f}–{limits[k] * 100:.0f}%"))
        else:
            rows.append((colour, v.class_label(limits, k, "incidents")))
    return rows


def month_label(month: str, lang: str) -> str:
    """'2026-10' → '2026年10月' (or 'October 2026')."""
    year, mon = (int(p) for p in month.split("-"))
    if lang == "en":
        import calendar

        return f"{calendar.month_name[mon]} {year}"
    return f"{year}年{mon}月"
