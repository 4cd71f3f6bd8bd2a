"""Incident states and deadline rules from the source documents (pure, vectorised).

Deadlines: by handling level — grid worker the same local day, village 3 days, town 5 days,
county 7 days (鄂托克前旗); by risk — high 1 day, medium 3 days, low 7 days (城关区).  An
incident is due at the earlier of the two.  "The same day" is the local day in the configured
time zone (Asia/Shanghai by default), not UTC's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STATES = ("unlocated", "received", "dispatched", "accepted", "escalated", "resolved", "closed")
OPEN_STATES = ("unlocated", "received", "dispatched", "accepted", "escalated")
DONE_STATES = ("resolved", "closed")

GRID, VILLAGE, TOWN, COUNTY = 3, 2, 1, 0
LEVEL_DEADLINE_DAYS = {GRID: 0, VILLAGE: 3, TOWN: 5, COUNTY: 7}  # 0 = end of the same day
SEVERITY_DEADLINE_DAYS = {"high": 1, "medium": 3, "low": 7}


def due_at(received_at: pd.Series | pd.DatetimeIndex, handling_level: np.ndarray,
           severity: np.ndarray, tz: str = "Asia/Shanghai") -> pd.Series:
    """Due times (UTC) for incidents received at ``received_at`` (tz-aware)."""
    received = pd.Series(pd.DatetimeIndex(received_at))
    levels = np.asarray(handling_level)
    level_days = np.vectorize(LEVEL_DEADLINE_DAYS.get, otypes=[float])(levels)
    if np.isnan(level_days).any():
        bad = sorted(set(levels[np.isnan(level_days)].tolist()))
        raise ValueError(f"unknown handling level(s) {bad}; expected 0-3")
    local_midnight = received.dt.tz_convert(tz).dt.normalize()
    end_of_day = (local_midnight + pd.Timedelta(days=1)).dt.tz_convert("UTC")
    by_level = received.dt.tz_convert("UTC") + pd.to_timedelta(level_days, unit="D")
    by_level = by_level.where(level_days > 0, end_of_day)
    sev_days = pd.Series(severity).map(SEVERITY_DEADLINE_DAYS)
    if sev_days.isna().any():
        raise ValueError(f"unknown severity {sorted(set(pd.Series(severity)[sev_days.isna()]))}")
    by_risk = received.dt.tz_convert("UTC") + pd.to_timedelta(sev_days.to_numpy(), unit="D")
    return by_level.where(by_level <= by_risk, by_risk)
