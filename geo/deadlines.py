"""Deadline rules from the source documents, the stricter one applying (pure).

- By handling level (鄂托克前旗): grid the same local day, village 3 days, town 5 days,
  county 7 days.
- By risk (城关区): high 1 day, medium 3 days, low 7 days.

An incident is due at the earlier of the two.  "The same day" ends at local midnight in the
configured time zone (Asia/Shanghai by default), not UTC's.  Days are calendar days unless the
rules say ``working_days``: then only the hours of working days count, using a
:class:`WorkCalendar` built from the public holidays and make-up working days (调休) in
``data/calendar/cn_workdays.csv``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from geo import levels as lv
from geo.errors import GeoError

#: days by level key (0 = end of the same day); a deployment uses those of its levels
DEADLINE_DAYS_BY_KEY = {"grid": 0, "village": 3, "town": 5, "county": 7, "city": 10}
LEVEL_DEADLINE_DAYS = {lv.LEVEL_BY_KEY[k].depth: d for k, d in DEADLINE_DAYS_BY_KEY.items()
                       if k in lv.LEVEL_BY_KEY}
SEVERITY_DEADLINE_DAYS = {"high": 1, "medium": 3, "low": 7}
CALENDAR_FILE = Path(__file__).resolve().parents[1] / "data" / "calendar" / "cn_workdays.csv"


class DeadlineError(GeoError):
    """A deadline rule or calendar is unusable (unknown level or severity, bad file row)."""


def level_days(rules: Iterable[tuple[str, int]]) -> dict[int, int]:
    """``(("grid", 0), ("3", 0), …)`` → depth → days.  A key may be a level's key or depth;
    a level of the vocabulary this deployment does not have (``city``) is skipped."""
    out: dict[int, int] = {}
    known = {key for key, *_ in lv.VOCABULARY}
    for key, days in rules:
        key = str(key).strip().lower()
        if key in known and key not in lv.LEVEL_BY_KEY:
            continue
        try:
            out[lv.parse_level(key)] = int(days)
        except lv.LevelError as exc:
            raise DeadlineError(f"deadline rule {key}:{days}: {exc}") from None
    return out


@dataclass(frozen=True)
class WorkCalendar:
    """Which local dates are working days: Monday-Friday, minus holidays, plus make-up days."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()  # weekend days that are worked (调休)
    covers: tuple[int, ...] = ()  # the years the file has rows for

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, str]], origin: str = "calendar") -> WorkCalendar:
        holidays, workdays = set(), set()
        for n, row in enumerate(rows, start=2):
            n = int(row.get("_line") or n)  # the file's own line number, when known
            try:
                day = date.fromisoformat((row.get("date") or "").strip())
            except ValueError:
                raise DeadlineError(f"{origin} row {n}: 'date' must be YYYY-MM-DD, "
                                    f"got {row.get('date')!r}") from None
            kind = (row.get("kind") or "").strip()
            if kind == "holiday":
                holidays.add(day)
            elif kind == "workday":
                workdays.add(day)
            else:
                raise DeadlineError(f"{origin} row {n}: 'kind' must be holiday or workday, "
                                    f"got {kind!r}")
        both = holidays & workdays
        if both:
            raise DeadlineError(f"{origin}: {min(both)} is listed both as a holiday and as a "
                                "workday; keep one of the two rows")
        years = tuple(sorted({d.year for d in holidays | workdays}))
        return cls(frozenset(holidays), frozenset(workdays), years)

    @classmethod
    def from_csv(cls, path: Path = CALENDAR_FILE) -> WorkCalendar:
        """Read a calendar file (``date,kind,name``; lines starting with # are comments)."""
        with open(path, encoding="utf-8", newline="") as fh:
            numbered = [(n, line) for n, line in enumerate(fh, start=1)
                        if not line.lstrip().startswith("#")]
        reader = csv.DictReader(line for _n, line in numbered)
        rows = [{**row, "_line": str(numbered[i + 1][0])} for i, row in enumerate(reader)]
        return cls.from_rows(rows, origin=str(path))

    def is_workday(self, day: date) -> bool:
        if day in self.holidays:
            return False
        return day in self.workdays or day.weekday() < 5


@dataclass(frozen=True)
class DeadlineRules:
    """Days allowed per handling level and per severity; the earlier deadline applies."""

    level_days: Mapping[int, int] = field(default_factory=lambda: dict(LEVEL_DEADLINE_DAYS))
    severity_days: Mapping[str, int] = field(
        default_factory=lambda: dict(SEVERITY_DEADLINE_DAYS))
    timezone: str = "Asia/Shanghai"
    calendar: WorkCalendar | None = None  # None: calendar days

    def due(self, start: datetime, level: int | None, severity: str) -> datetime:
        """When an incident handled at ``level`` from ``start`` (tz-aware) is due.

        ``level`` None (not yet located) applies the risk rule alone.
        """
        if start.tzinfo is None:
            raise DeadlineError("deadline start time has no time zone")
        if severity not in self.severity_days:
            raise DeadlineError(f"unknown severity {severity!r}; expected one of "
                                f"{', '.join(self.severity_days)}")
        tz = ZoneInfo(self.timezone)
        local = start.astimezone(tz)
        by_risk = self._add_days(local, self.severity_days[severity])
        if level is None:
            return by_risk
        if level not in self.level_days:
            raise DeadlineError(f"unknown handling level {level!r}; expected one of "
                                f"{sorted(self.level_days)}")
        days = self.level_days[level]
        if days == 0:  # the same local day
            by_level = datetime.combine(local.date() + timedelta(days=1), time(), tz)
        else:
            by_level = self._add_days(local, days)
        return min(by_level, by_risk)

    def due_many(self, received_at: pd.Series | pd.DatetimeIndex, levels: np.ndarray,
                 severity: np.ndarray) -> pd.Series:
        """:meth:`due` for many incidents at once (UTC results); ``levels`` < 0 means not
        located (the risk rule alone).  Vectorised for calendar days; with working days each
        distinct (time, level, risk) is computed once by :meth:`due`."""
        received = pd.Series(pd.DatetimeIndex(received_at)).dt.tz_convert("UTC")
        levels = np.asarray(levels, dtype=np.int64)
        severity = np.asarray(severity, dtype=object)
        sev_days = pd.Series(severity).map(dict(self.severity_days)).to_numpy(dtype=float)
        if np.isnan(sev_days).any():
            unknown = sorted({str(v) for v in np.unique(severity[np.isnan(sev_days)])})
            raise DeadlineError(f"unknown severity {unknown}; expected one of "
                                f"{', '.join(self.severity_days)}")
        bad = sorted(int(v) for v in np.unique(levels[levels >= 0])
                     if int(v) not in self.level_days)
        if bad:
            raise DeadlineError(f"unknown handling level(s) {bad}; expected one of "
                                f"{sorted(self.level_days)}")
        if self.calendar is not None:
            keys = pd.DataFrame({"t": received, "l": levels, "s": severity})
            memo: dict[tuple, datetime] = {}
            out = []
            for t, lvl, sev in keys.itertuples(index=False, name=None):
                key = (t, lvl, sev)
                if key not in memo:
                    memo[key] = self.due(t.to_pydatetime(), None if lvl < 0 else int(lvl), sev)
                out.append(memo[key])
            return pd.Series(pd.DatetimeIndex(out).tz_convert("UTC"))
        by_risk = received + pd.to_timedelta(sev_days, unit="D")
        table = np.full(max([*self.level_days, 0]) + 1, np.nan)
        for lvl, days in self.level_days.items():
            table[lvl] = days
        level_days = np.where(levels >= 0, table[np.clip(levels, 0, len(table) - 1)], np.nan)
        local_midnight = received.dt.tz_convert(self.timezone).dt.normalize()
        end_of_day = (local_midnight + pd.Timedelta(days=1)).dt.tz_convert("UTC")
        by_level = received + pd.to_timedelta(np.nan_to_num(level_days), unit="D")
        by_level = by_level.where(level_days != 0, end_of_day)
        by_level = by_level.where(~np.isnan(level_days), by_risk)
        return by_level.where(by_level <= by_risk, by_risk)

    def _add_days(self, local: datetime, days: int) -> datetime:
        if self.calendar is None:
            return local + timedelta(days=days)
        return add_working_time(local, timedelta(days=days), self.calendar)


def add_working_time(local: datetime, amount: timedelta, calendar: WorkCalendar) -> datetime:
    """``local`` plus ``amount`` counted only on working days (hours of rest days are skipped).

    Received on Friday 15:00 with one working day allowed: due Monday 15:00.  Received on a
    Saturday: the clock starts at 00:00 on the next working day.
    """
    tz = local.tzinfo
    remaining = amount
    day = local.date()
    at = local
    for _ in range(3700):  # ten years of days: a calendar can never stall longer
        next_midnight = datetime.combine(day + timedelta(days=1), time(), tz)
        if calendar.is_workday(day):
            left_today = next_midnight - at
            if remaining <= left_today:
                return at + remaining
            remaining -= left_today
        day += timedelta(days=1)
        at = next_midnight
    raise DeadlineError("working-day calendar has no working day within ten years")


def due_at(received_at: pd.Series | pd.DatetimeIndex, handling_level: np.ndarray,
           severity: np.ndarray, tz: str = "Asia/Shanghai") -> pd.Series:
    """Vectorised calendar-day :meth:`DeadlineRules.due` with the default rules (UTC results),
    for bulk loads of many incidents at once."""
    return DeadlineRules(timezone=tz).due_many(received_at, handling_level, severity)
