"""What the command wall is looking at, as plain values: the drill path, the time window, the
filters, and the colour classes of a choropleth.

Pure functions (no Dash, no SQL) so the callbacks stay thin and every rule here is tested on
its own: the page state lives in a ``dcc.Store`` as a small dict, and these helpers read and
change it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from geo.levels import LEVEL_BY_DEPTH, TOP, TOWN
from geo.measures import BY_KEY
from geo.measures import MEASURES as MEASURE_REGISTRY
from store.measures import Filters, Period

#: the depths of the deployment's levels (county … grid, or city … grid)
LEVELS: tuple[int, ...] = tuple(LEVEL_BY_DEPTH)
#: the level below the top (a county's towns, a city's counties): the top alone says little,
#: grids are too many to read at once
DEFAULT_LEVEL = TOP + 1
WINDOWS = ("today", "7d", "30d", "custom")
DEFAULT_WINDOW = "7d"

# Colour ramps readable on the dark wall: light = little, hot = much.  Rates where higher is
# better get the reverse ramp, so "red" always means "look here".
RAMP_BAD_HIGH = ("#fff3b0", "#ffd166", "#f8961e", "#f3722c", "#d62828")
RAMP_GOOD_HIGH = tuple(reversed(RAMP_BAD_HIGH))
NO_DATA = "#3a4657"
GOOD_HIGH = frozenset(m.key for m in MEASURE_REGISTRY if m.good == "high")
RATE_MEASURES = frozenset(m.key for m in MEASURE_REGISTRY if m.kind == "rate")
COUNT_MEASURES = frozenset(m.key for m in MEASURE_REGISTRY if m.kind == "count")


@dataclass(frozen=True)
class View:
    """The units on screen: those of ``level`` under ``parent`` (any depth); ``path`` is the
    drill chain from the top, for the breadcrumb."""

    level: int = DEFAULT_LEVEL
    parent: int | None = None
    path: tuple[int, ...] = ()

    def to_store(self) -> dict[str, Any]:
        return {"level": self.level, "parent": self.parent, "path": list(self.path)}

    @classmethod
    def from_store(cls, value: Mapping[str, Any] | None) -> View:
        if not value:
            return cls()
        level = int(value.get("level", DEFAULT_LEVEL))
        if level not in LEVELS:
            level = DEFAULT_LEVEL
        parent = value.get("parent")
        return cls(level, None if parent is None else int(parent),
                   tuple(int(i) for i in value.get("path") or ()))


def opening_level(home_levels: list[int]) -> int:
    """The level a wall opens on for an actor whose own units are of ``home_levels``: the
    units below a city or a county (its counties, its towns); a town's or a village's own;
    the top units themselves when there are several (a province's counties, for 全域)."""
    if len(home_levels) > 1 and min(home_levels) == TOP:
        return TOP
    home = min(home_levels, default=TOP)
    return min(max(DEFAULT_LEVEL, home + (1 if home < TOWN else 0)), LEVELS[-1])


def drill(view: View, unit: Mapping[str, Any]) -> View | None:
    """Clicking a unit of the shown level opens its children; grids have none (None)."""
    level = int(unit["level"])
    if level >= LEVELS[-1]:
        return None
    return View(level + 1, int(unit["id"]), (*view.path, int(unit["id"])))


def back_to(view: View, index: int, level_of: Mapping[int, int]) -> View:
    """Breadcrumb: index -1 is the whole jurisdiction; i re-opens the i-th unit of the path
    (its children at the level below it).  ``level_of`` maps unit id to level."""
    if index < 0 or index >= len(view.path):
        return View()
    unit = view.path[index]
    level = min(level_of.get(unit, DEFAULT_LEVEL - 1) + 1, LEVELS[-1])
    return View(level, unit, view.path[: index + 1])


def with_level(view: View, level: int, parent_level: int | None) -> View:
    """The level switch: keep the drilled-into unit when it lies above the new level."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    if view.parent is not None and parent_level is not None and parent_level < level:
        return View(level, view.parent, view.path)
    return View(level)


def period_for(window: str, now: datetime, tz: str, start: str | None = None,
               end: str | None = None) -> Period:
    """The time window as a half-open Period; days are local days in ``tz``."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date(), time(), zone)
    if window == "today":
        return Period(midnight, midnight + timedelta(days=1))
    if window in ("7d", "30d"):
        return Period.last_days(int(window[:-1]), now)
    if window == "custom":
        if not start or not end:
            return Period.last_days(7, now)
        first = datetime.combine(date.fromisoformat(start[:10]), time(), zone)
        last = datetime.combine(date.fromisoformat(end[:10]), time(), zone)
        if last < first:
            first, last = last, first
        return Period(first, last + timedelta(days=1))
    raise ValueError(f"window must be one of {WINDOWS}, got {window!r}")


def filters_from(categories: Iterable[str] | None = None, severities: Iterable[str] | None = None,
                 sources: Iterable[str] | None = None, statuses: Iterable[str] | None = None
                 ) -> Filters:
    """Dropdown values (None or lists) as measures.Filters; empty means no restriction."""
    return Filters(categories=tuple(categories or ()), severities=tuple(severities or ()),
                   sources=tuple(sources or ()), statuses=tuple(statuses or ()))


def breaks(values: Sequence[float | None], measure: str, classes: int = 5) -> list[float]:
    """Upper class limits for a choropleth: fixed fifths for rates (comparable across days and
    drills), rounded quantiles for counts so each colour holds a similar number of units —
    the rule of the monthly maps too (:func:`reports.measures.class_limits`)."""
    from reports.measures import class_limits

    return class_limits(values, "rate" if measure in RATE_MEASURES else "count", classes)


def colours_for(measure: str, n: int) -> list[str]:
    ramp = RAMP_GOOD_HIGH if measure in GOOD_HIGH else RAMP_BAD_HIGH
    if n >= len(ramp):
        return list(ramp)
    step = (len(ramp) - 1) / max(n - 1, 1)
    return [ramp[round(i * step)] for i in range(n)]


def class_of(value: float | None, limits: Sequence[float]) -> int | None:
    """Index of the class holding ``value`` (None for no data)."""
    if value is None or not math.isfinite(value):
        return None
    for i, limit in enumerate(limits):
        if value <= limit:
            return i
    return len(limits) - 1


def format_value(value: float | None, measure: str) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if measure in RATE_MEASURES:
        return f"{value * 100:.0f}%"
    spec = BY_KEY.get(measure)
    if spec is not None and spec.kind == "ratio":
        return f"{value:.{spec.decimals}f}"
    return f"{value:,.0f}"


def class_label(limits: Sequence[float], k: int, measure: str) -> str:
    """Legend text of class ``k``: "≤ a" for the first, "a – b" after it; whole counts start
    one above the previous limit so no value seems to sit in two classes."""
    upper = format_value(limits[k], measure)
    if k == 0:
        return f"≤ {upper}"
    lower = limits[k - 1]
    if measure in COUNT_MEASURES and float(lower).is_integer():
        lower += 1
        if lower >= limits[k]:
            return upper
    return f"{format_value(lower, measure)} – {upper}"


def zoom_band(zoom: float | None) -> int:
    """Zoom rounded to the geometry band the server keeps (8/10/12/14, or 16 = full detail)."""
    z = 10 if zoom is None else float(zoom)
    for band in (8, 10, 12, 14):
        if z <= band:
            return band
    return 16


def bbox_from_bounds(bounds: Any) -> tuple[float, float, float, float] | None:
    """Leaflet's [[south, west], [north, east]] as (min lon, min lat, max lon, max lat)."""
    try:
        (s, w), (n, e) = bounds
        return (float(w), float(s), float(e), float(n))
    except (TypeError, ValueError):
        return None
