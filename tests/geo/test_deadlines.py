"""Deadlines (pure): level and risk rules, the local day, working days with 调休, the calendar
file, and the vectorised version agreeing with the scalar one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from geo.deadlines import (
    CALENDAR_FILE,
    LEVEL_DEADLINE_DAYS,
    SEVERITY_DEADLINE_DAYS,
    DeadlineError,
    DeadlineRules,
    WorkCalendar,
    add_working_time,
    due_at,
)
from geo.levels import COUNTY, GRID, TOWN, VILLAGE

SH = ZoneInfo("Asia/Shanghai")


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar.from_csv()


@pytest.fixture(scope="module")
def working(cal: WorkCalendar) -> DeadlineRules:
    return DeadlineRules(calendar=cal)


def test_documented_rules() -> None:
    assert LEVEL_DEADLINE_DAYS == {GRID: 0, VILLAGE: 3, TOWN: 5, COUNTY: 7}
    assert SEVERITY_DEADLINE_DAYS == {"high": 1, "medium": 3, "low": 7}


# -- calendar days ----------------------------------------------------------------------------

def test_grid_level_ends_the_same_local_day_late_evening() -> None:
    due = DeadlineRules().due(local(2026, 3, 10, 23, 30), GRID, "low")
    assert due == local(2026, 3, 11)


def test_grid_level_uses_the_local_day_not_the_utc_day() -> None:
    start = datetime(2026, 3, 9, 16, 30, tzinfo=UTC)  # 2026-03-10 00:30 in Shanghai
    due = DeadlineRules().due(start, GRID, "low")
    assert due == local(2026, 3, 11)  # end of the local 10th
    assert due == datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
    assert due != datetime(2026, 3, 10, tzinfo=UTC)  # not the end of the UTC 9th


def test_grid_level_just_after_local_midnight() -> None:
    assert DeadlineRules().due(local(2026, 3, 10, 0, 0), GRID, "medium") == local(2026, 3, 11)


def test_other_time_zone_setting() -> None:
    start = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)  # 2026-03-09 23:00 in New York (EDT)
    due = DeadlineRules(timezone="America/New_York").due(start, GRID, "low")
    assert due == datetime(2026, 3, 10, tzinfo=ZoneInfo("America/New_York"))


@pytest.mark.parametrize(("level", "days"), [(VILLAGE, 3), (TOWN, 5), (COUNTY, 7)])
def test_level_days_with_low_risk(level: int, days: int) -> None:
    start = local(2026, 3, 10, 9, 15)
    assert DeadlineRules().due(start, level, "low") == start + timedelta(days=days)


def test_across_month_end() -> None:
    start = local(2026, 10, 31, 10, 0)
    assert DeadlineRules().due(start, VILLAGE, "low") == local(2026, 11, 3, 10, 0)


def test_across_year_end() -> None:
    start = local(2026, 12, 30, 22, 0)
    assert DeadlineRules().due(start, TOWN, "low") == local(2027, 1, 4, 22, 0)


@pytest.mark.parametrize(("level", "severity", "days"), [
    (COUNTY, "high", 1), (COUNTY, "medium", 3), (COUNTY, "low", 7),
    (TOWN, "high", 1), (TOWN, "medium", 3), (TOWN, "low", 5),
    (VILLAGE, "high", 1), (VILLAGE, "medium", 3), (VILLAGE, "low", 3),
])
def test_stricter_rule_wins(level: int, severity: str, days: int) -> None:
    start = local(2026, 5, 20, 14, 0)
    assert DeadlineRules().due(start, level, severity) == start + timedelta(days=days)


def test_grid_level_is_stricter_than_high_risk() -> None:
    start = local(2026, 5, 20, 14, 0)
    assert DeadlineRules().due(start, GRID, "high") == local(2026, 5, 21)


@pytest.mark.parametrize(("severity", "days"), [("high", 1), ("medium", 3), ("low", 7)])
def test_no_level_applies_the_risk_rule_alone(severity: str, days: int) -> None:
    start = local(2026, 5, 20, 23, 50)
    assert DeadlineRules().due(start, None, severity) == start + timedelta(days=days)


def test_custom_days() -> None:
    rules = DeadlineRules(level_days={GRID: 0, VILLAGE: 2, TOWN: 4, COUNTY: 10},
                          severity_days={"high": 2, "medium": 5, "low": 9})
    start = local(2026, 5, 20, 8, 0)
    assert rules.due(start, VILLAGE, "low") == start + timedelta(days=2)
    assert rules.due(start, COUNTY, "high") == start + timedelta(days=2)


def test_result_is_a_fixed_instant_whatever_the_input_zone() -> None:
    a = DeadlineRules().due(datetime(2026, 5, 20, 6, 0, tzinfo=UTC), VILLAGE, "low")
    b = DeadlineRules().due(local(2026, 5, 20, 14, 0), VILLAGE, "low")
    assert a == b


def test_refusals() -> None:
    rules = DeadlineRules()
    with pytest.raises(DeadlineError, match="time zone"):
        rules.due(datetime(2026, 5, 20, 8, 0), GRID, "low")
    with pytest.raises(DeadlineError, match="severity 'urgent'"):
        rules.due(local(2026, 5, 20), GRID, "urgent")
    with pytest.raises(DeadlineError, match="level 7"):
        rules.due(local(2026, 5, 20), 7, "low")


# -- working days -----------------------------------------------------------------------------

def test_calendar_file_marks_the_2026_days(cal: WorkCalendar) -> None:
    assert 2025 in cal.covers and 2026 in cal.covers
    assert cal.is_workday(date(2026, 9, 20))  # Sunday, 调休
    assert cal.is_workday(date(2026, 10, 10))  # Saturday, 调休
    assert cal.is_workday(date(2026, 2, 14)) and cal.is_workday(date(2026, 2, 28))
    for day in (date(2026, 9, 25), date(2026, 10, 1), date(2026, 10, 7), date(2026, 2, 15),
                date(2026, 2, 23)):
        assert not cal.is_workday(day), day
    assert cal.is_workday(date(2026, 9, 18))  # an ordinary Friday
    assert not cal.is_workday(date(2026, 9, 19))  # an ordinary Saturday
    assert not cal.is_workday(date(2026, 9, 13))  # an ordinary Sunday


def test_friday_with_make_up_sunday(working: DeadlineRules) -> None:
    # Fri 18th 15:00-24:00 (9 h), Sat 19th rest, Sun 20th 调休 (24 h → 33), Mon 21st (→ 57),
    # Tue 22nd 15 h (→ 72): due Tuesday 15:00, a day earlier than without the 调休 Sunday.
    start = local(2026, 9, 18, 15, 0)
    assert working.due(start, VILLAGE, "low") == local(2026, 9, 22, 15, 0)
    assert add_working_time(start, timedelta(days=3), working.calendar) == local(2026, 9, 22, 15)


def test_across_mid_autumn(working: DeadlineRules) -> None:
    # Thu 24th 10:00 (14 h), Fri-Sun 25-27 holiday, Mon 28th (38), Tue 29th (62), Wed 30th 10 h.
    assert working.due(local(2026, 9, 24, 10, 0), VILLAGE, "medium") == local(2026, 9, 30, 10)


def test_across_national_day(working: DeadlineRules) -> None:
    # Wed Sep 30 10:00 (14 h), Oct 1-7 holiday, Thu 8th (38), Fri 9th (62), Sat 10th 调休 10 h.
    assert working.due(local(2026, 9, 30, 10, 0), VILLAGE, "low") == local(2026, 10, 10, 10, 0)


def test_national_day_five_working_days(working: DeadlineRules) -> None:
    # Tue Sep 29 12:00 (12 h), Wed 30th (36), holiday, Thu 8th (60), Fri 9th (84),
    # Sat 10th 调休 (108), Sun 11th rest, Mon 12th 12 h (120).
    assert working.due(local(2026, 9, 29, 12, 0), TOWN, "low") == local(2026, 10, 12, 12, 0)


def test_across_spring_festival(working: DeadlineRules) -> None:
    # Fri Feb 13 09:00 (15 h), Sat 14th 调休 (39), Feb 15-23 holiday, Tue 24th (63), Wed 25th 9 h.
    assert working.due(local(2026, 2, 13, 9, 0), VILLAGE, "low") == local(2026, 2, 25, 9, 0)


def test_after_spring_festival_make_up_saturday(working: DeadlineRules) -> None:
    # Thu Feb 26 12:00 (12 h), Fri 27th (36), Sat 28th 调休 (60), Sun rest, Mon Mar 2 12 h.
    assert working.due(local(2026, 2, 26, 12, 0), VILLAGE, "low") == local(2026, 3, 2, 12, 0)


def test_received_on_a_holiday_starts_on_the_next_working_day(working: DeadlineRules) -> None:
    # Received during the holiday: the clock starts Tue Feb 24 00:00; one day → Wed 00:00.
    assert working.due(local(2026, 2, 18, 10, 0), None, "high") == local(2026, 2, 25)
    # An ordinary Saturday: starts Monday 00:00.
    assert working.due(local(2026, 3, 7, 10, 0), None, "high") == local(2026, 3, 10)


def test_grid_level_is_still_the_same_day_in_working_day_mode(working: DeadlineRules) -> None:
    assert working.due(local(2026, 10, 3, 9, 0), GRID, "low") == local(2026, 10, 4)


def test_working_days_stricter_rule(working: DeadlineRules) -> None:
    # County 7 working days vs high risk 1 working day from Fri 15:00 → Mon 15:00.
    assert working.due(local(2026, 3, 13, 15, 0), COUNTY, "high") == local(2026, 3, 16, 15, 0)


def test_add_working_time_on_an_ordinary_week() -> None:
    plain = WorkCalendar()
    assert add_working_time(local(2026, 3, 13, 15), timedelta(days=1), plain) \
        == local(2026, 3, 16, 15)
    assert add_working_time(local(2026, 3, 10, 8), timedelta(hours=2), plain) \
        == local(2026, 3, 10, 10)


def test_calendar_that_never_works_is_refused() -> None:
    never = WorkCalendar(holidays=frozenset(date(2026, 1, 1) + timedelta(days=i)
                                            for i in range(4000)))
    with pytest.raises(DeadlineError, match="no working day"):
        add_working_time(local(2026, 1, 1), timedelta(days=1), never)


# -- the calendar file ------------------------------------------------------------------------

def rows(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"date": d, "kind": k, "name": "x"} for d, k in pairs]


def test_bad_date_names_the_row_and_value() -> None:
    with pytest.raises(DeadlineError) as info:
        WorkCalendar.from_rows(rows(("2026-01-01", "holiday"), ("2026-13-01", "holiday")),
                               origin="cal.csv")
    assert "cal.csv row 3" in str(info.value)
    assert "2026-13-01" in str(info.value) and "'date'" in str(info.value)


@pytest.mark.parametrize("bad", ["", "2026/01/01", "2026-02-30", "tomorrow"])
def test_bad_date_formats(bad: str) -> None:
    with pytest.raises(DeadlineError, match="row 2"):
        WorkCalendar.from_rows(rows((bad, "holiday")))


@pytest.mark.parametrize("kind", ["", "Holiday", "rest", "work"])
def test_bad_kind_names_the_row_and_value(kind: str) -> None:
    with pytest.raises(DeadlineError) as info:
        WorkCalendar.from_rows(rows(("2026-01-01", "holiday"), ("2026-01-04", kind)))
    assert "row 3" in str(info.value) and "'kind'" in str(info.value)
    assert repr(kind) in str(info.value)


def test_date_both_holiday_and_workday_is_refused() -> None:
    with pytest.raises(DeadlineError,
                       match="2026-01-04 is listed both as a holiday and as a workday"):
        WorkCalendar.from_rows(rows(("2026-01-04", "workday"), ("2026-01-05", "holiday"),
                                    ("2026-01-04", "holiday")))


def test_from_csv_skips_comments(tmp_path: Path) -> None:
    path = tmp_path / "cal.csv"
    path.write_text("# a note\ndate,kind,name\n2030-01-01,holiday,元旦\n"
                    "2030-01-05,workday,调休\n", encoding="utf-8")
    c = WorkCalendar.from_csv(path)
    assert c.holidays == {date(2030, 1, 1)} and c.workdays == {date(2030, 1, 5)}
    assert c.covers == (2030,)


def test_from_csv_bad_row_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cal.csv"
    path.write_text("date,kind,name\n2030-01-01,holiday,元旦\n2030-02-30,holiday,x\n",
                    encoding="utf-8")
    with pytest.raises(DeadlineError) as info:
        WorkCalendar.from_csv(path)
    assert str(path) in str(info.value) and "row 3" in str(info.value)


def test_from_csv_row_number_is_the_file_line_despite_comments(tmp_path: Path) -> None:
    path = tmp_path / "cal.csv"
    path.write_text("# one\n# two\ndate,kind,name\n2030-01-01,holiday,元旦\n"
                    "2030-02-30,holiday,x\n", encoding="utf-8")
    with pytest.raises(DeadlineError) as info:
        WorkCalendar.from_csv(path)
    assert "row 5" in str(info.value)  # the bad date is on line 5 of the file


def test_shipped_file_parses() -> None:
    c = WorkCalendar.from_csv(CALENDAR_FILE)
    assert not c.holidays & c.workdays
    assert all(d.weekday() >= 5 for d in c.workdays)  # make-up days fall on weekends


# -- vectorised -------------------------------------------------------------------------------

def test_vectorised_agrees_with_scalar() -> None:
    rng = np.random.default_rng(20260930)
    n = 400
    base = pd.Timestamp("2025-12-01", tz="UTC")
    seconds = rng.integers(0, 400 * 86400, n)
    received = pd.DatetimeIndex(base + pd.to_timedelta(seconds, unit="s"))
    # add a few instants right around local midnight (16:00 UTC)
    edges = pd.DatetimeIndex([pd.Timestamp("2026-03-09 15:59:59", tz="UTC"),
                              pd.Timestamp("2026-03-09 16:00:00", tz="UTC"),
                              pd.Timestamp("2026-03-09 16:00:01", tz="UTC"),
                              pd.Timestamp("2026-10-31 16:30:00", tz="UTC")])
    received = received.append(edges)
    levels = rng.integers(0, 4, len(received))
    severity = rng.choice(np.array(["high", "medium", "low"]), len(received))
    got = due_at(received, levels, severity)
    rules = DeadlineRules()
    assert len(got) == len(received)
    for i, ts in enumerate(received):
        expected = rules.due(ts.to_pydatetime(), int(levels[i]), str(severity[i]))
        assert got.iloc[i] == pd.Timestamp(expected), (ts, levels[i], severity[i])
    assert str(got.dt.tz) == "UTC"


def test_vectorised_other_zone_and_series_input() -> None:
    received = pd.Series(pd.to_datetime(["2026-03-10 03:00", "2026-07-01 12:00"], utc=True))
    got = due_at(received, np.array([GRID, VILLAGE]), np.array(["low", "low"]),
                 tz="America/New_York")
    rules = DeadlineRules(timezone="America/New_York")
    for i in range(2):
        assert got.iloc[i] == pd.Timestamp(rules.due(received.iloc[i].to_pydatetime(),
                                                     [GRID, VILLAGE][i], "low"))


def test_vectorised_refusals() -> None:
    received = pd.DatetimeIndex([pd.Timestamp("2026-03-10", tz="UTC")] * 2)
    with pytest.raises(DeadlineError, match="level"):
        due_at(received, np.array([GRID, 9]), np.array(["low", "low"]))
    with pytest.raises(DeadlineError, match="severity"):
        due_at(received, np.array([GRID, GRID]), np.array(["low", "urgent"]))


def test_many_at_once_with_working_days_and_unlocated_reports() -> None:
    rules = DeadlineRules(calendar=WorkCalendar.from_csv(), level_days={3: 1, 2: 3, 1: 5, 0: 7})
    received = pd.DatetimeIndex(pd.to_datetime(
        ["2026-09-30 08:00", "2026-09-30 08:00", "2026-10-03 03:00", "2026-10-09 01:30"],
        utc=True))
    levels = np.array([GRID, -1, VILLAGE, COUNTY])  # -1: not located, the risk rule alone
    severity = np.array(["low", "high", "medium", "low"], dtype=object)
    got = rules.due_many(received, levels, severity)
    for i, ts in enumerate(received):
        level = None if levels[i] < 0 else int(levels[i])
        assert got.iloc[i] == pd.Timestamp(rules.due(ts.to_pydatetime(), level, severity[i]))
    assert got.iloc[0].tz_convert("Asia/Shanghai").date().isoformat() == "2026-10-08"
