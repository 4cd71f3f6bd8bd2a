"""The monthly situation report (#8): one object with every number of a month's map.

:func:`build` is the one place that assembles the report — the ``/monthly`` page and the
HTML/PNG/PDF exports (:mod:`reports.export`) all call it, so a figure is the same wherever a
leader reads it.  The numbers come from :mod:`store.monthly` (which reuses the definitions of
:mod:`store.measures`), the hot spots from :mod:`geo.hotspots`, the sentences from
:mod:`reports.narrative`.

Hot spots are Getis-Ord Gi* over the grids of the month (boundaries as they were at the end
of the month), queen contiguity, binary weights including the grid itself, significant at
95 % (two-sided): see :data:`geo.hotspots.METHOD_ZH`.  A hot grid is *new* when no grid with
the same code was hot in any of the previous three months (each month analysed on its own
boundaries; a code that did not exist then counts as not hot).

Speed (target: a month of the 城关 demo, ~1,700 grids, in under 1 s): unit geometry is
cached per (units signature, level, instant) — boundaries rarely change and the signature
query is cheap — and so is the grid contiguity, per unit-set signature.
"""

from __future__ import annotations

import bisect
import contextvars
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine

from geo import levels as lv
from geo import months
from geo.levels import GRID, TOWN, VILLAGE
from onemap.access import db_scope
from onemap.errors import OneMapError
from onemap.settings import Settings
from reports import narrative
from store import scope
from store.measures import Period

LEVELS: dict[str, int] = {level.key: level.depth for level in lv.LEVELS}
LEVEL_EN: dict[int, str] = dict(lv.LEVEL_KEYS)
PREVIOUS_MONTHS_FOR_NEW = 3  # a hot spot is "new" if not hot in any of these months
HOTSPOT_ALPHA = 0.05


class ReportError(OneMapError):
    """A monthly report cannot be made as asked (bad month or level, or no data)."""


@dataclass
class MonthlyReport:
    """Everything a monthly map shows, for one month and one level.

    ``units``: the units of ``level`` as they were at the end of the month (index: unit id),
    with :func:`store.monthly.month_measures`' columns and ``top_categories`` (list of
    ``(category code, count)``).  ``hotspots``: every grid of the month with its incident
    count, Gi* ``z``, ``p``, ``confidence`` bin, ``hot`` and ``new`` flags.
    """

    month: str
    level: int
    level_name_zh: str
    level_name_en: str
    period_start: datetime
    period_end: datetime
    units: gpd.GeoDataFrame
    headline: dict
    trend: pd.DataFrame
    hotspots: gpd.GeoDataFrame
    hotspot_method: str
    top_categories: list[tuple[str, int]]
    narrative: list[str] = field(default_factory=list)
    timezone: str = "Asia/Shanghai"
    exported_by: str | None = None  # who exports it (the footer names them and the time)

    @property
    def month_zh(self) -> str:
        """"2026年10月"."""
        year, month = self.month.split("-")
        return f"{int(year)}年{int(month)}月"

    @property
    def title_zh(self) -> str:
        return f"{self.month_zh}事件态势图（{self.level_name_zh}）"


# --- arguments -------------------------------------------------------------------------------
def parse_month(month: str) -> tuple[int, int]:
    """'2026-10' → (2026, 10), refusing anything else with a message that shows the form."""
    try:
        return months.parse_month(str(month))
    except ValueError:
        raise ReportError(f"{month!r} is not a month; write it as YYYY-MM, e.g. 2026-10.") \
            from None


month_key = months.month_key


def previous_month(month: str, back: int = 1) -> str:
    parse_month(month)
    return months.shift_month(str(month).strip(), -back)


def parse_level(level: int | str) -> int:
    """0-3 or county/town/village/grid → the level number (:func:`geo.levels.parse_level`)."""
    try:
        return lv.parse_level(level)
    except lv.LevelError as err:
        raise ReportError(err.user_msg) from None


def level_name_zh(level: int, settings: Settings | None) -> str:
    return lv.name(level, "zh", tuple(settings.level_names) if settings is not None
                   else lv.DEFAULT_NAMES_ZH)


# --- caches ----------------------------------------------------------------------------------
class _LRU:
    """A small thread-safe LRU for values that are costly to build and rarely change."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = make()
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


_UNITS = _LRU(48)
_CHANGES = _LRU(8)
_CONTIGUITY = _LRU(16)
_PAST_HOT = _LRU(64)
_MAX_PARALLEL = 4  # the engine's default pool holds 5 connections


def clear_caches() -> None:
    """Forget cached geometry and contiguity (tests that redraw boundaries call this)."""
    _UNITS.clear()
    _CHANGES.clear()
    _CONTIGUITY.clear()
    _PAST_HOT.clear()


def _units_signature(db: Any) -> tuple:
    """The units signature, read through the process's one unit cache (and its one change
    signal) when ``db`` is an engine; a caller's connection reads it in its transaction."""
    from sqlalchemy import Engine

    from store.units import unit_cache
    from store.wall import units_signature

    if isinstance(db, Engine):
        return unit_cache(db).signature()
    return tuple(units_signature(db))


def units_at(db: Any, level: int, at: datetime, signature: tuple | None = None,
             within: tuple[int, int] | None = None) -> gpd.GeoDataFrame:
    """:func:`store.monthly.units_as_of`, cached while the unit table does not change, and
    shared by the instants between the same two changes of the map
    (:func:`store.monthly.map_changes`): a province's report drew 100,000 grids for each of
    its months (1.5–2 s each at scale 1) though they were the same grids.

    The cached frame is shared: callers copy before changing it.
    """
    from store import monthly

    sig = _units_signature(db) if signature is None else signature
    # keyed by the map's epoch, not the instant: months between two changes share one frame
    changes = _CHANGES.get(sig, lambda: monthly.map_changes(db))
    key = (sig, level, bisect.bisect_left(changes, at),
           None if within is None else tuple(map(int, within)))
    return _UNITS.get(key, lambda: monthly.units_as_of(db, level, at, within=within))


def contiguity(grids: gpd.GeoDataFrame) -> list[np.ndarray]:
    """Queen contiguity of these grids, cached per unit set (ids and versions) — the
    STRtree pass is the slow part of Gi* and boundaries rarely change."""
    from geo import hotspots

    ids = grids["id"].to_numpy(dtype="int64")
    versions = (grids["version"].to_numpy(dtype="int64") if "version" in grids.columns
                else np.zeros(len(grids), dtype="int64"))
    key = (ids.tobytes(), versions.tobytes())
    return _CONTIGUITY.get(key, lambda: hotspots.contiguity(np.asarray(grids.geometry.values)))


# --- hot spots -------------------------------------------------------------------------------
def _gi_frame(grids: gpd.GeoDataFrame, counts: pd.Series) -> pd.DataFrame:
    """count, z, p, confidence, hot for these grids (aligned with ``grids``' rows)."""
    from geo import hotspots

    values = (counts.reindex(grids["id"].to_numpy()).fillna(0).to_numpy(dtype="float64")
              if len(grids) else np.zeros(0))
    n = len(values)
    if n < 3 or not np.any(values) or np.all(values == values[0]):
        z = np.zeros(n)  # no variation: Gi* is undefined, nothing is a hot spot
    else:
        z = np.asarray(hotspots.gi_star(values, contiguity(grids)), dtype="float64")
        z = np.where(np.isfinite(z), z, 0.0)
    p = np.asarray(hotspots.p_values(z), dtype="float64") if n else np.zeros(0)
    conf = np.asarray(hotspots.confidence(z), dtype="int64") if n else np.zeros(0, "int64")
    hot = (z > 0) & (p <= HOTSPOT_ALPHA)  # as geo.hotspots.hot_spots (no FDR correction)
    return pd.DataFrame({"count": values.astype("int64"), "z": z, "p": p,
                         "confidence": conf, "hot": hot}, index=grids.index)


def _hot_by_code(db: Any, month: str, tz: str, sig: tuple,
                 within: tuple[int, int] | None) -> pd.Series:
    """A past month's hot flags indexed by grid code (that month's own boundaries)."""
    from store import monthly

    year, mon = parse_month(month)
    grids = units_at(db, GRID, Period.month(year, mon, tz).end, sig, within)
    frame = _gi_frame(grids, monthly.grid_counts(db, month, tz, within=within))
    return pd.Series(frame["hot"].to_numpy(), index=grids["code"].astype(str).to_numpy())


def _past_hot(db: Any, months: list[str], received: dict[str, int], tz: str, sig: tuple,
              within: tuple[int, int] | None) -> list[pd.Series]:
    """Hot flags of previous months, cached while a month's incident count (from the trend)
    and the unit table stay the same — past months rarely change, and recomputing them was
    most of a report's time."""
    # The acting user's scope is part of the key: the counts are of the cases they may see.
    key_within = (None if within is None else tuple(map(int, within)),
                  tuple(sorted(db_scope(scope.current()).items())))

    def one(m: str) -> pd.Series:
        if m not in received:  # no count to validate a cached value with
            return _hot_by_code(db, m, tz, sig, within)
        return _PAST_HOT.get((m, tz, sig, key_within, received[m]),
                             lambda: _hot_by_code(db, m, tz, sig, within))

    calls = {m: (lambda m=m: one(m)) for m in months}
    got = _parallel(db, calls)
    return [got[m] for m in months]


def _hotspot_frame(grids: gpd.GeoDataFrame, counts: pd.Series,
                   before: list[pd.Series]) -> gpd.GeoDataFrame:
    """The month's grids with Gi* results and the ``new`` flag (see module docstring)."""
    from geo import hotspots as gh

    now = _gi_frame(grids, counts)
    out = gpd.GeoDataFrame(grids[["id", "code", "name", "parent_id"]].copy(),
                           geometry=grids.geometry.values, crs=grids.crs)
    for column in now.columns:
        out[column] = now[column].to_numpy()
    hot_now = pd.Series(now["hot"].to_numpy(), index=grids["code"].astype(str).to_numpy())
    out["new"] = gh.new_hot_spots(hot_now, before).to_numpy() if len(out) else []
    return out.reset_index(drop=True)


def _parallel(db: Any, calls: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run independent queries at once when ``db`` is an Engine (each on its own pooled
    connection); one after another on a Connection, which is not thread-safe."""
    if not isinstance(db, Engine) or len(calls) < 2:
        return {name: call() for name, call in calls.items()}
    with ThreadPoolExecutor(max_workers=min(len(calls), _MAX_PARALLEL)) as pool:
        # Each query runs in a copy of the caller's context: the acting user's scope
        # (store.scope) goes with it to the worker thread.
        futures = {name: pool.submit(contextvars.copy_context().run, call)
                   for name, call in calls.items()}
        return {name: future.result() for name, future in futures.items()}


def _hot_places(hot: gpd.GeoDataFrame, db: Any, level: int, at: datetime, sig: tuple,
                units: gpd.GeoDataFrame, within: tuple[int, int] | None) -> list[str]:
    """Names of the towns (or the report's units, when those are towns or villages) holding
    the new hot spots, most first."""
    new = hot[hot["new"]]
    if new.empty:
        return []
    places = units if level in (TOWN, VILLAGE) else units_at(db, TOWN, at, sig, within)
    if places.empty:
        return []
    points = shapely.point_on_surface(np.asarray(new.geometry.values))
    tree = shapely.STRtree(np.asarray(places.geometry.values))
    pairs = tree.query(points, predicate="within")
    names = places["name"].to_numpy()[pairs[1]]
    return list(pd.Series(names).value_counts().index)


# --- build -----------------------------------------------------------------------------------
def _headline_numbers(head: dict) -> dict:
    """Plain Python numbers (NaN kept as NaN) so the dict serialises and compares simply."""
    out: dict[str, Any] = {}
    for key, value in head.items():
        if isinstance(value, np.integer):
            value = int(value)
        elif isinstance(value, np.floating):
            value = float(value)
        out[key] = value
    return out


def _rises(units: pd.DataFrame, minimum_prev: int = 10) -> list[tuple[str, float]]:
    """Units with the largest month-over-month rise (only those with ≥ ``minimum_prev`` last
    month, so 1 → 3 does not read as +200 %)."""
    if units.empty or "change_pct" not in units.columns:
        return []
    frame = units[(units["prev_received"] >= minimum_prev) & (units["change_pct"] > 0)]
    frame = frame.sort_values("change_pct", ascending=False).head(3)
    return [(str(n), float(c)) for n, c in zip(frame["name"], frame["change_pct"], strict=True)]


def build(db: Any, month: str, level: int | str, settings: Settings | None = None,
          *, within: tuple[int, int] | None = None,
          require_data: bool = False) -> MonthlyReport:
    """Assemble the monthly report for ``month`` ('YYYY-MM') at ``level`` (0-3 or its name).

    ``within=(level, unit_id)`` narrows everything to one unit (e.g. one county of several),
    as :mod:`store.monthly` does; hot spots are then computed among its grids only.
    ``require_data`` refuses a month without a single incident (the exports do; the page
    rather shows an empty map).  Raises :class:`ReportError` for a bad month or level.
    """
    from geo import hotspots as gh
    from store import monthly
    from store import monthly_totals as totals

    tz = settings.timezone if settings is not None else "Asia/Shanghai"
    year, mon = parse_month(month)
    month = month_key(year, mon)
    lvl = parse_level(level)
    period = Period.month(year, mon, tz)

    sig = _units_signature(db)
    got = _parallel(db, {
        "headline": lambda: totals.headline(db, month, tz, within=within),
        "measures": lambda: monthly.month_measures(db, lvl, month, tz, within=within),
        "tops": lambda: monthly.top_categories(db, lvl, month, tz, within=within),
        "counts": lambda: monthly.grid_counts(db, month, tz, within=within),
        "top_total": lambda: totals.top_categories_total(db, month, tz, within=within),
        "trend": lambda: totals.trend(db, month, tz, within=within),
        "shapes": lambda: units_at(db, lvl, period.end, sig, within),
        "grids": lambda: units_at(db, GRID, period.end, sig, within),
    })
    head = _headline_numbers(got["headline"])
    if require_data and not int(head.get("received") or 0):
        available = monthly.months_with_data(db, tz)
        hint = (f" Months with data: {', '.join(available[:6])}"
                f"{' …' if len(available) > 6 else ''}." if available
                else " The database holds no incidents at all (load some with `onemap demo`"
                     " or `onemap load incidents`).")
        raise ReportError(f"No incidents were received in {month}; nothing to report.{hint}")

    trend: pd.DataFrame = got["trend"]
    received = {str(m): int(n) for m, n in zip(trend["month"], trend["received"], strict=True)}
    past = [previous_month(month, back) for back in range(1, PREVIOUS_MONTHS_FOR_NEW + 1)]
    if min(past) < str(trend["month"].min()):  # trend shorter than the look-back: ask it
        received = {}
    spots = _hotspot_frame(got["grids"], got["counts"],
                           _past_hot(db, past, received, tz, sig, within))

    shapes, measures, tops = got["shapes"], got["measures"], got["tops"]
    units = gpd.GeoDataFrame(shapes.copy(), geometry=shapes.geometry.name, crs=shapes.crs)
    units.index = pd.Index(units["id"].astype("int64").to_numpy(), name="unit_id")
    extra = measures.drop(columns=[c for c in ("code", "name") if c in measures.columns])
    units = units.join(extra, how="left")
    for column in ("received", "prev_received", "resolved", "households"):
        if column in units.columns:
            units[column] = units[column].fillna(0).astype("int64")
    units["top_categories"] = [list(tops.get(int(uid), [])) for uid in units.index]

    places = _hot_places(spots, db, lvl, period.end, sig, units, within)
    top_total = [(str(c), int(n)) for c, n in got["top_total"]]
    name_zh = level_name_zh(lvl, settings)
    text = narrative.sentences(
        head, top_categories=top_total, hot=int(spots["hot"].sum()),
        new_hot=int(spots["new"].sum()), hot_places=places, rises=_rises(units),
        level_name=name_zh)
    return MonthlyReport(
        month=month, level=lvl, level_name_zh=name_zh, level_name_en=LEVEL_EN[lvl],
        period_start=period.start, period_end=period.end, units=units, headline=head,
        trend=trend, hotspots=spots,
        hotspot_method=getattr(gh, "METHOD_ZH", ""), top_categories=top_total,
        narrative=text, timezone=tz)


def is_missing(value: Any) -> bool:
    """None or NaN (the measures use NaN for a rate with no denominator)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def build_for(db: Any, settings: Settings, *, month: str | None = None,
              level: int | str = "town", within_code: str | None = None
              ) -> tuple[MonthlyReport, str | None]:
    """The report an export asks for: ``month`` defaults to the newest with incidents;
    ``within_code`` narrows it to one unit at the map level or above.  Returns the report and
    the name of that unit (None for the whole jurisdiction)."""
    from store import monthly as sm
    from store.repository import current_unit_by_code

    depth = parse_level(level)
    if month is None:
        months = sm.months_with_data(db, settings.timezone)
        if not months:
            raise ReportError("The database holds no incidents, so there is no month to "
                              "report (load some with `onemap demo` or `onemap load "
                              "incidents`).")
        month = months[0]
    within = scope_name = None
    if within_code:
        row = current_unit_by_code(db, within_code)
        if row is None:
            raise ReportError(f"No current unit has the code {within_code!r} (--within).")
        if int(row["level"]) > depth:
            raise ReportError(f"--within {within_code} is a unit below the map level "
                              f"{level}; pick a unit at that level or above.")
        within, scope_name = (int(row["level"]), int(row["id"])), str(row["name"])
    return build(db, month, depth, settings, within=within, require_data=True), scope_name
