"""A year of incidents with full histories, consistent with the deadline rules.

Rhythm: fewer reports at weekends, more in summer, office hours by day.  Places: where people
live (households), plus a few persistent hot spots and one new hot spot in the latest month.
Handling: ~70 % closed inside the grid, ~20 % at village level, the rest escalated to the town
or county; ~92 % on time.  Histories are cut at "now": anything after it has not happened yet,
so recent incidents are open, and some of them are overdue now.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from geo.assign import AssignmentEngine
from geo.catalog import CATEGORIES
from geo.deadlines import due_at
from geo.levels import CITY, COUNTY, GRID, LEVEL_COLUMNS, TOWN, VILLAGE
from loaders.demo_spec import RegionSpec
from store.bulk import ewkb_hex

CHANNELS = np.array(["grid_app", "hotline_12345", "citizen_app", "police_110", "petition",
                     "court"])
CHANNEL_SHARE = np.array([0.45, 0.30, 0.15, 0.05, 0.03, 0.02])
CATEGORY_CODES = np.array([c.code for c in CATEGORIES])
# Category mix per channel (rows follow CHANNELS, columns CATEGORIES).
_MIX = {
    "grid_app": {"safety_hazard": 5, "sanitation": 5, "fire": 2, "cityscape": 4, "dispute": 4,
                 "key_person": 1, "infrastructure": 2, "environment": 1},
    "hotline_12345": {"livelihood": 6, "infrastructure": 4, "market": 2, "sanitation": 2,
                      "dispute": 3, "environment": 2, "cityscape": 1, "other": 1},
    "citizen_app": {"cityscape": 4, "sanitation": 4, "infrastructure": 3, "safety_hazard": 2},
    "police_110": {"public_order": 6, "dispute": 4},
    "petition": {"dispute": 6, "livelihood": 3, "other": 1},
    "court": {"dispute": 1},
}
LEVEL_SHARE = {GRID: 0.70, VILLAGE: 0.20, TOWN: 0.07, COUNTY: 0.03}
ACTORS = {GRID: "网格员", VILLAGE: "村(社区)", TOWN: "乡镇(街道)", COUNTY: "县级指挥中心"}
if CITY is not None:  # a city above the counties: one case in a hundred goes up to it
    LEVEL_SHARE = {GRID: 0.70, VILLAGE: 0.20, TOWN: 0.07, COUNTY: 0.02, CITY: 0.01}
    ACTORS[CITY] = "市级指挥中心"
#: the levels a case climbs to, in order (village first, the top last)
UPWARD = tuple(sorted((lvl for lvl in LEVEL_SHARE if lvl != GRID), reverse=True))


@dataclass
class IncidentYear:
    incidents: pd.DataFrame  # columns as the incident table, plus "id"
    events: pd.DataFrame  # columns as incident_event (without id)


def _mix_matrix() -> np.ndarray:
    mix = np.zeros((len(CHANNELS), len(CATEGORY_CODES)))
    index = {c: i for i, c in enumerate(CATEGORY_CODES)}
    for r, channel in enumerate(CHANNELS):
        for code, weight in _MIX[channel].items():
            mix[r, index[code]] = weight
    return mix / mix.sum(axis=1, keepdims=True)


def _received_times(n: int, now: pd.Timestamp, rng: np.random.Generator, tz: str
                    ) -> pd.DatetimeIndex:
    """Reception times over the 365 local days up to now: weekly and seasonal rhythm, office
    hours; none after ``now``."""
    days = pd.date_range(end=now.tz_convert(tz).normalize(), periods=365, freq="D")
    weekday = np.where(days.day_of_week < 5, 1.0, np.where(days.day_of_week == 5, 0.75, 0.65))
    season = 1 + 0.25 * np.sin(2 * np.pi * (np.asarray(days.day_of_year) - 100) / 365)
    weights = np.asarray(weekday * season, dtype=float)
    day = np.repeat(np.arange(365), rng.multinomial(n, weights / weights.sum()))
    hours = np.array([0.2, 0.1, 0.1, 0.1, 0.1, 0.3, 0.8, 2, 4, 6, 6, 5, 3, 3, 5, 6, 6, 5, 3, 2,
                      1.5, 1, 0.6, 0.3])
    hour = rng.choice(24, size=n, p=hours / hours.sum())
    day_start = days.tz_convert("UTC").as_unit("us").asi8
    us = day_start[day] + (hour * 3600 + rng.integers(0, 3600, n)) * 1_000_000
    now_us = int(pd.DatetimeIndex([now]).as_unit("us").asi8[0])
    future = us > now_us
    if future.any():  # today's reports can only come from before now
        today = day_start[-1]
        us[future] = today + (rng.random(future.sum()) * max(now_us - today, 1)).astype(np.int64)
    return pd.DatetimeIndex(pd.to_datetime(us, unit="us", utc=True))


def _locations(spec: RegionSpec, households_xy: np.ndarray, received: pd.DatetimeIndex,
               now: pd.Timestamp, rng: np.random.Generator) -> np.ndarray:
    n = len(received)
    pts = households_xy[rng.integers(len(households_xy), size=n)].copy()
    pts += rng.normal(0, 0.0004, pts.shape)  # around the house, not in it
    # Persistent hot spots: 4 places that draw 8 % of the year's reports.
    spots = households_xy[rng.integers(len(households_xy), size=4)]
    chosen = rng.random(n) < 0.08
    pts[chosen] = spots[rng.integers(4, size=chosen.sum())] + rng.normal(0, 0.0015,
                                                                         (chosen.sum(), 2))
    # A new hot spot in the latest month only.
    new_spot = households_xy[rng.integers(len(households_xy))]
    recent = np.asarray(received >= now - pd.Timedelta(days=30))
    fresh = recent & (rng.random(n) < 0.05)
    pts[fresh] = new_spot + rng.normal(0, 0.001, (fresh.sum(), 2))
    return pts


def build_incidents(spec: RegionSpec, households_xy: np.ndarray, engine: AssignmentEngine,
                    grid_workers: pd.DataFrame, department_ids: dict[str, int],
                    first_id: int, now: pd.Timestamp, rng: np.random.Generator,
                    tz: str = "Asia/Shanghai", n: int | None = None) -> IncidentYear:
    n = spec.incidents_per_year if n is None else n
    received = _received_times(n, now, rng, tz)
    order = np.argsort(received.as_unit("us").asi8, kind="stable")
    received = received[order]
    xy = _locations(spec, households_xy, received, now, rng)
    where = engine.assign(xy[:, 0], xy[:, 1], snap_m=50.0)
    located = where.grid_id >= 0
    received, xy = received[located], xy[located]
    unit_ids = where.unit_ids[located]
    reason = np.asarray(where.reason)[located]
    n = len(received)

    channel_idx = rng.choice(len(CHANNELS), size=n, p=CHANNEL_SHARE)
    channel = CHANNELS[channel_idx]
    u = rng.random(n)
    category_idx = (_mix_matrix().cumsum(axis=1)[channel_idx] < u[:, None]).sum(axis=1)
    category_idx = np.minimum(category_idx, len(CATEGORIES) - 1)
    category = CATEGORY_CODES[category_idx]
    subs = [CATEGORIES[i].subcategories for i in category_idx]
    subcategory = np.array([s[int(r * len(s))] if s else None
                            for s, r in zip(subs, rng.random(n), strict=True)], dtype=object)
    default_sev = np.array([CATEGORIES[i].severity for i in category_idx])
    shift = rng.random(n)
    severity = np.where(shift < 0.12, "high", np.where(shift < 0.30, "low", default_sev))
    severity = np.where((shift >= 0.12) & (shift < 0.30) & (default_sev == "high"), "medium",
                        severity)

    levels = np.array(list(LEVEL_SHARE))
    handling_level = levels[rng.choice(len(levels), size=n, p=list(LEVEL_SHARE.values()))]
    due = due_at(received, handling_level, severity, tz)
    allowance = (due - pd.Series(received)).dt.total_seconds().to_numpy()
    late = rng.random(n) < 0.08
    stuck = rng.random(n) < 0.01
    fraction = np.where(late, rng.uniform(1.05, 2.5, n), rng.uniform(0.3, 0.95, n))
    handling_s = np.where(stuck, rng.uniform(10, 60, n) * 86400, fraction * allowance)
    recv_s = received.as_unit("us").asi8  # microseconds since the epoch
    allowance_us = np.maximum(allowance, 600) * 1e6
    t_dispatch = recv_s + np.minimum(rng.uniform(5, 60, n) * 60e6,
                                     0.1 * allowance_us).astype(np.int64)
    t_accept = t_dispatch + np.minimum(rng.uniform(5, 120, n) * 60e6,
                                       0.1 * allowance_us).astype(np.int64)
    t_resolve = np.maximum(recv_s + (handling_s * 1e6).astype(np.int64), t_accept + 60_000_000)
    t_close = t_resolve + (rng.uniform(1, 48, n) * 3600e6).astype(np.int64)
    now_us = int(pd.DatetimeIndex([now]).as_unit("us").asi8[0])

    grid_ids = unit_ids[:, GRID]
    workers = grid_workers.sort_values("grid_id")
    w_grid = workers["grid_id"].to_numpy()
    w_ids = workers["id"].to_numpy()
    starts = np.searchsorted(w_grid, grid_ids, side="left")
    counts = np.searchsorted(w_grid, grid_ids, side="right") - starts
    pick = starts + (rng.random(n) * np.maximum(counts, 1)).astype(int)
    worker_id = np.where(counts > 0, w_ids[np.minimum(pick, len(w_ids) - 1)], -1)
    dept_code = np.array([CATEGORIES[i].department for i in category_idx])
    department_id = np.array([department_ids.get(c, -1) for c in dept_code])

    rated = t_close <= now_us
    due_us = pd.DatetimeIndex(due).as_unit("us").asi8
    resolved = t_resolve <= now_us
    rating = np.where(rated, rng.choice([5, 5, 5, 4, 4, 3, 2, 1], size=n), -1)
    ids = np.arange(first_id, first_id + n)
    prefix = {"grid_app": "WG", "hotline_12345": "12345-", "citizen_app": "SSP",
              "police_110": "110-", "petition": "XF", "court": "FY"}
    external = [f"{prefix[c]}{spec.adcode}{i:08d}" for c, i in zip(channel, range(n),
                                                                     strict=True)]
    local_day = received.tz_convert(tz).strftime("%Y%m%d")
    descriptions = [f"{s or ''}：群众反映情况，请核实处理（{d}）" for s, d in
                    zip(subcategory, local_day, strict=True)]

    def ts(us: np.ndarray) -> pd.Series:
        return pd.Series(pd.to_datetime(us, unit="us", utc=True))

    incidents = pd.DataFrame({
        "id": ids, "source": channel, "external_id": external, "category": category,
        "subcategory": subcategory, "severity": severity, "description": descriptions,
        "geom": ewkb_hex(shapely.points(xy)), "address": None, "location_reason": reason,
        "reported_at": ts(recv_s - 60_000_000), "received_at": ts(recv_s), "status": "received",
        **{column: unit_ids[:, depth] for depth, column in LEVEL_COLUMNS.items()},
        "handling_level": handling_level,
        "department_id": department_id, "grid_worker_id": worker_id, "due_at": due,
        "closed_at": ts(t_resolve).where(resolved, None),  # 办结: handling finished
        # the first dispatch and 签收 of the history below (kept on the case, migration 0019)
        "dispatched_at": ts(t_dispatch).where(t_dispatch <= now_us, None),
        "accepted_at": ts(t_accept).where(t_accept <= now_us, None),
        "rating": rating,
        "overdue": (t_resolve > due_us) | (~resolved & (due_us < now_us)),
    })
    for column in ("department_id", "grid_worker_id", "rating"):
        incidents[column] = incidents[column].astype("Int64").where(incidents[column] >= 0)
    events = _events(ids, handling_level, recv_s, t_dispatch, t_accept, t_resolve, t_close,
                     rating, now_us)
    # The status is the last step of the history that has happened by now.
    last = events.groupby("incident_id", sort=False).last()
    incidents["status"] = last["to_status"].reindex(incidents["id"]).to_numpy()
    incidents["updated_at"] = last["at"].reindex(incidents["id"]).to_numpy()
    ups = events.loc[events["action"] == "escalate", "incident_id"].value_counts()
    incidents["handling_level"] = GRID - ups.reindex(incidents["id"], fill_value=0).to_numpy()
    return IncidentYear(incidents, events)


def _events(ids, level, t_recv, t_dispatch, t_accept, t_resolve, t_close, rating, now_us
            ) -> pd.DataFrame:
    frames = []

    def add(mask, at, actor, action, from_status, to_status, note=None):
        keep = mask & (at <= now_us)
        frames.append(pd.DataFrame({
            "incident_id": ids[keep], "at": at[keep], "actor": actor, "action": action,
            "from_status": from_status, "to_status": to_status,
            "note": note[keep] if isinstance(note, np.ndarray) else note}))

    every = np.ones(len(ids), dtype=bool)
    add(every, t_recv, "系统", "receive", None, "received")
    add(every, t_dispatch, "指挥中心", "dispatch", "received", "dispatched",
        "双派单：部门办理、网格员督办")
    add(every, t_accept, "网格员", "accept", "dispatched", "accepted")
    # Escalations up the levels, evenly spaced between acceptance and resolution; the level
    # above dispatches and accepts each one within minutes.
    span = np.maximum(t_resolve - t_accept, 1)
    gap = np.minimum(span // 12, 600_000_000)  # at most 10 minutes
    for step, lvl in enumerate(UPWARD, start=1):
        at = t_accept + span * step // (len(UPWARD) + 1)
        add(level <= lvl, at, ACTORS[lvl + 1], "escalate", "accepted", "escalated",
            f"上报至{ACTORS[lvl]}")
        add(level <= lvl, at + gap, ACTORS[lvl], "dispatch", "escalated", "dispatched",
            "双派单：部门办理、网格员督办")
        add(level <= lvl, at + 2 * gap, ACTORS[lvl], "accept", "dispatched", "accepted")
    for lvl in LEVEL_SHARE:
        add(level == lvl, t_resolve, ACTORS[lvl], "resolve", "accepted", "resolved")
    add(every, t_close, "群众", "rate", "resolved", "rated",
        np.char.add("评价：", rating.astype(str)).astype(object))
    add(every, t_close + 60_000_000, "系统", "close", "rated", "closed", "评价后归档")
    events = pd.concat(frames, ignore_index=True)
    events["at"] = pd.to_datetime(events["at"], unit="us", utc=True)
    return events.sort_values(["incident_id", "at"], kind="stable", ignore_index=True)
