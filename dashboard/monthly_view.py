"""Pure helpers of the monthly page: its measures, their classes and colours, and the numbers
as the page prints them.  No Dash, no SQL (the numbers come from :mod:`reports.monthly`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dashboard import view as v
from geo import measures as measure_registry
from geo.levels import LEVEL_KEYS, TOP  # noqa: F401  (re-exported)
from geo.measures import Measure
from reports.measures import class_limits

DEFAULT_LEVEL = TOP + 1  # towns of a county, counties of a city


MEASURES = measure_registry.on("monthly")  # the choropleth's measures (geo.measures)
BY_KEY = {m.key: m for m in MEASURES}

# Change from last month: blue falls, grey steady, red rises.
CHANGE_COLOURS = ["#1e88e5", "#90caf9", "#b0bec5", "#f8961e", "#d62828"]


def label(measure: Measure, lang: str) -> str:
    return measure.label(lang)


def classes(values: Sequence[float | None], measure: Measure) -> tuple[list[float], list[str]]:
    """Upper class limits (:func:`reports.measures.class_limits`, as in the exports) and the
    screen's colours (for rates red = low, so red always means "look here")."""
    limits = class_limits(values, measure.kind)
    if measure.kind == "change":  # JSON has no infinity: the top class is open-ended anyway
        return [x if math.isfinite(x) else 1e12 for x in limits], CHANGE_COLOURS
    if measure.kind == "rate":
        return limits, list(v.RAMP_GOOD_HIGH)
    return limits, v.colours_for("received", len(limits))


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
    if kind == "ratio":
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
            rows.append((colour, v.class_label(limits, k, "received")))
    return rows


def month_label(month: str, lang: str) -> str:
    """'2026-10' → '2026年10月' (or 'October 2026')."""
    year, mon = (int(p) for p in month.split("-"))
    if lang == "en":
        import calendar

        return f"{calendar.month_name[mon]} {year}"
    return f"{year}年{mon}月"
