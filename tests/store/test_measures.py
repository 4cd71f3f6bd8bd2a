"""The measures in SQL against numbers worked out in Python from the rows the test inserts.

Incidents sit in the built-in sample units (one county, two towns, four villages, twelve
grids near 玉门).  The reference implementation below reads the raw rows back and applies the
definitions with pandas, so it shares nothing with the SQL but the definitions themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Connection, text

from geo.workflow import OPEN_STATES
from store import measures
from store.measures import Period, Scope

pytestmark = pytest.mark.db

SH = ZoneInfo("Asia/Shanghai")
COUNTY = "620981900"
T1, T2 = f"{COUNTY}001", f"{COUNTY}002"
V11, V12, V21 = f"{T1}001", f"{T1}002", f"{T2}001"
G111, G112, G113, G121, G211 = f"{V11}001", f"{V11}002", f"{V11}003", f"{V12}001", f"{V21}001"
OCT = Period.month(2026, 10)
NOV = Period.month(2026, 11)
NOW = datetime(2026, 11, 5, 12, 0, tzinfo=SH)
COLUMN = {0: "county_id", 1: "town_id", 2: "village_id", 3: "grid_id"}
PER_UNIT = ("received", "dispatched", "resolved", "resolution_rate", "on_time_rate",
            "escalations", "mean_rating")


def sh(month: int, day: int, hour: int = 10, minute: int = 0, second: int = 0,
       year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SH)


@dataclass
class Data:
    unit: dict[str, int]        # code -> id (current units)
    incident: dict[str, int]    # label -> id
    units: pd.DataFrame         # id, level, parent_id of every current unit
    incidents: pd.DataFrame     # the raw incident rows, read back
    events: pd.DataFrame        # the raw incident_event rows, read back


def _insert(conn: Connection, unit: dict[str, int], parents: dict[int, int | None],
            label_ids: dict[str, int], label: str, grid: str | None, received_at: datetime,
            *, status: str = "received", closed_at: datetime | None = None,
            due_at: datetime | None = None, overdue: bool = False,
            handling_level: int | None = 3, rating: int | None = None,
            duplicate_of: str | None = None,
            events: tuple[tuple[str, datetime], ...] = ()) -> None:
    """One incident with its unit ids of every level frozen from the grid's ancestry."""
    ids: list[int | None] = [None, None, None, None]  # grid, village, town, county
    if grid is not None:
        ids[0] = unit[grid]
        for k in range(1, 4):
            ids[k] = parents[ids[k - 1]]
    new_id = conn.scalar(text("""
        INSERT INTO incident (source, external_id, category, severity, received_at, status,
                              grid_id, village_id, town_id, county_id, handling_level,
                              due_at, closed_at, rating, duplicate_of, overdue)
        VALUES ('grid_app', :ext, '测试', 'medium', :received_at, :status,
                :g, :v, :t, :c, :handling_level, :due_at, :closed_at, :rating, :dup, :overdue)
        RETURNING id"""), {
        "ext": f"MEASURES-{label}", "received_at": received_at, "status": status,
        "g": ids[0], "v": ids[1], "t": ids[2], "c": ids[3], "handling_level": handling_level,
        "due_at": due_at, "closed_at": closed_at, "rating": rating,
        "dup": label_ids[duplicate_of] if duplicate_of else None, "overdue": overdue})
    label_ids[label] = new_id
    for action, at in events:
        conn.execute(text("INSERT INTO incident_event (incident_id, at, actor, action) "
                          "VALUES (:i, :at, 'test', :a)"), {"i": new_id, "at": at, "a": action})


@pytest.fixture()
def data(conn: Connection) -> Data:
    units = pd.DataFrame(conn.execute(text(
        "SELECT id, code, level, parent_id FROM unit WHERE valid_to IS NULL")).mappings().all())
    unit = dict(zip(units["code"], units["id"].astype(int), strict=True))
    parents = {int(i): (None if pd.isna(p) else int(p))
               for i, p in zip(units["id"], units["parent_id"], strict=True)}
    ids: dict[str, int] = {}

    def add(label: str, grid: str | None, received_at: datetime, **kw) -> None:
        _insert(conn, unit, parents, ids, label, grid, received_at, **kw)

    # G111: resolved on time at grid level.
    add("on_time", G111, sh(10, 5), status="closed", closed_at=sh(10, 6), due_at=sh(10, 8),
        rating=5, events=(("dispatch", sh(10, 5, 11)), ("resolve", sh(10, 6))))
    # G111: escalated once in October, resolved late at village level.
    add("late", G111, sh(10, 10), status="rated", closed_at=sh(10, 20), due_at=sh(10, 12),
        overdue=True, handling_level=2, rating=2,
        events=(("dispatch", sh(10, 10, 11)), ("escalate", sh(10, 11))))
    # G111: the last minutes of October local time (15:30 UTC), still open, overdue at NOW.
    # It has a 'receive' event but was never dispatched.
    add("oct_last", G111, sh(10, 31, 23, 30), due_at=sh(11, 1, 10),
        events=(("receive", sh(10, 31, 23, 30)),))
    # G111: just after midnight on 1 November local time (16:10 UTC on 31 October).
    add("nov_first", G111, sh(11, 1, 0, 10), status="dispatched", due_at=sh(11, 10),
        events=(("dispatch", sh(11, 1, 1)),))
    # G111: received in the last second of September; its escalation falls in October.
    add("sep_last", G111, sh(9, 30, 23, 59, 59), status="closed", closed_at=sh(10, 3),
        due_at=sh(10, 4), handling_level=2, rating=3,
        events=(("dispatch", sh(10, 1, 8)), ("escalate", sh(10, 2))))
    # G111: a near-duplicate of "on_time": excluded from every measure.
    add("dup", G111, sh(10, 5, 11), status="closed", closed_at=sh(10, 6), due_at=sh(10, 4),
        overdue=True, rating=1, duplicate_of="on_time",
        events=(("dispatch", sh(10, 5, 12)), ("escalate", sh(10, 6))))
    # G112: open and overdue; escalated exactly at the end of October (→ November).
    add("open_overdue", G112, sh(10, 15), status="in_progress", due_at=sh(10, 16),
        events=(("dispatch", sh(10, 15, 11)), ("escalate", sh(11, 1, 0, 0))))
    # G112: resolved at town level without a deadline (not on time), no rating.
    add("no_due", G112, sh(10, 20), status="resolved", closed_at=sh(10, 21), handling_level=1,
        events=(("dispatch", sh(10, 20, 11)),))
    # G121: received at the first instant of October, resolved by the county before its due
    # time but after missing an earlier deadline (overdue); escalated twice in October.
    add("county", G121, sh(10, 1, 0, 0), status="rated", closed_at=sh(10, 4), due_at=sh(10, 5),
        overdue=True, handling_level=0, rating=4,
        events=(("dispatch", sh(10, 1, 1)), ("escalate", sh(10, 1, 0, 0)),
                ("escalate", sh(10, 3)), ("resolve", sh(10, 4))))
    # G121: received at exactly 00:00 on 1 November local time: November, not October.
    add("nov_zero", G121, sh(11, 1, 0, 0), due_at=sh(11, 20))
    # G211: open, escalated, due after NOW.
    add("escalated_open", G211, sh(10, 12), status="escalated", due_at=sh(12, 1),
        handling_level=2, events=(("dispatch", sh(10, 12, 11)), ("escalate", sh(10, 13))))
    # G211: received in August, returned and still open, overdue (overdue_now is periodless).
    add("aug_returned", G211, sh(8, 2), status="returned", due_at=sh(8, 9),
        events=(("dispatch", sh(8, 2, 11)), ("escalate", sh(8, 3))))
    # G211: open, due exactly at NOW: not yet overdue (due_at < now).
    add("due_now", G211, sh(10, 25), status="accepted", due_at=NOW,
        events=(("dispatch", sh(10, 25, 11)),))
    # G211: resolved late long ago and archived: not open, so never "overdue now".
    add("aug_closed", G211, sh(8, 3), status="closed", closed_at=sh(8, 20), due_at=sh(8, 10),
        overdue=True, rating=1)
    # No unit: counted only in the jurisdiction total.
    add("unlocated", None, sh(10, 18), status="unlocated", due_at=sh(10, 19),
        handling_level=None)
    # An overdue open near-duplicate: excluded from overdue_now too.
    add("dup_open", G112, sh(10, 16), due_at=sh(10, 17), duplicate_of="open_overdue")

    incidents = pd.DataFrame(conn.execute(text(
        "SELECT id, grid_id, village_id, town_id, county_id, received_at, status, due_at, "
        "closed_at, overdue, handling_level, rating, duplicate_of FROM incident"
    )).mappings().all())
    events = pd.DataFrame(conn.execute(text(
        "SELECT incident_id, action, at FROM incident_event")).mappings().all())
    for frame, cols in ((incidents, ("received_at", "due_at", "closed_at")), (events, ("at",))):
        for col in cols:
            frame[col] = pd.to_datetime(frame[col], utc=True)
    return Data(unit, ids, units[["id", "level", "parent_id"]], incidents, events)


# --- the reference: the definitions, applied with pandas ---------------------------------------
def _in(series: pd.Series, period: Period) -> pd.Series:
    return (series >= pd.Timestamp(period.start)) & (series < pd.Timestamp(period.end))


def ref_units(d: Data, scope: Scope) -> list[int]:
    u = d.units[d.units["level"] == scope.level]
    if scope.parent_id is not None:
        u = u[u["parent_id"] == scope.parent_id]
    if scope.unit_ids is not None:
        u = u[u["id"].isin(scope.unit_ids)]
    return sorted(int(i) for i in u["id"])


def ref_totals(inc: pd.DataFrame, ev: pd.DataFrame, period: Period, now: datetime) -> dict:
    """Every measure over a set of incidents (already restricted to one unit, or to all)."""
    inc = inc[inc["duplicate_of"].isna()]
    got = inc[_in(inc["received_at"], period)]
    dispatched_ids = set(ev.loc[ev["action"] == "dispatch", "incident_id"])
    done = got[got["closed_at"].notna()]
    on_time = [not o and due is not None and not pd.isna(due) and c <= due
               for o, c, due in zip(done["overdue"], done["closed_at"], done["due_at"],
                                    strict=True)]
    esc = ev[(ev["action"] == "escalate") & _in(ev["at"], period)
             & ev["incident_id"].isin(set(inc["id"]))]
    open_late = inc[inc["status"].isin(OPEN_STATES) & (inc["due_at"] < pd.Timestamp(now))]
    ratings = [float(r) for r in got["rating"] if r is not None and not pd.isna(r)]

    def ratio(a: float, b: float) -> float:
        return a / b if b else math.nan

    out = {
        "received": len(got),
        "dispatched": int(got["id"].isin(dispatched_ids).sum()),
        "resolved": len(done),
        "resolution_rate": ratio(len(done), len(got)),
        "on_time_rate": ratio(sum(on_time), len(done)),
    }
    for level, name in ((3, "grid"), (2, "village"), (1, "town"), (0, "county")):
        out[f"closed_share_{name}"] = ratio(int((done["handling_level"] == level).sum()),
                                            len(done))
    out["escalations"] = len(esc)
    out["overdue_now"] = len(open_late)
    out["mean_rating"] = sum(ratings) / len(ratings) if ratings else math.nan
    return out


def ref_frame(d: Data, scope: Scope, period: Period, now: datetime = NOW) -> pd.DataFrame:
    col = COLUMN[scope.level]
    rows = {uid: ref_totals(d.incidents[d.incidents[col] == uid], d.events, period, now)
            for uid in ref_units(d, scope)}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(measures.SUMMARY_COLUMNS))
    frame.index = pd.Index(frame.index.astype("int64"), name="unit_id")
    for name in ("received", "dispatched", "resolved", "escalations", "overdue_now"):
        frame[name] = frame[name].astype("int64")
    return frame


def _check_series(got: pd.Series, expected: pd.Series, name: str) -> None:
    expected = expected.rename(name)
    pd.testing.assert_series_equal(got, expected, check_exact=False)


# --- the tests -----------------------------------------------------------------------------------
def test_period_month_is_the_local_calendar_month():
    assert OCT.start == datetime(2026, 9, 30, 16, tzinfo=UTC)
    assert OCT.end == datetime(2026, 10, 31, 16, tzinfo=UTC) == NOV.start
    dec = Period.month(2026, 12)
    assert (dec.start, dec.end) == (sh(12, 1, 0), datetime(2027, 1, 1, tzinfo=SH))
    assert Period.month(2026, 10, tz="UTC").start == datetime(2026, 10, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="month"):
        Period.month(2026, 13)


def test_period_last_days_and_validation():
    p = Period.last_days(7, now=NOW)
    assert (p.start, p.end) == (NOW - timedelta(days=7), NOW)
    fresh = Period.last_days(1)
    assert fresh.end.tzinfo is not None
    assert abs(fresh.end - datetime.now(UTC)) < timedelta(minutes=1)
    with pytest.raises(ValueError, match="timezone-aware"):
        Period(datetime(2026, 10, 1), datetime(2026, 11, 1))
    with pytest.raises(ValueError, match="before"):
        Period(NOW, NOW)
    with pytest.raises(ValueError, match="positive"):
        Period.last_days(0, now=NOW)


@pytest.mark.parametrize("level", [0, 1, 2, 3])
@pytest.mark.parametrize("period", [OCT, NOV, Period.last_days(40, now=NOW)],
                         ids=["october", "november", "last40"])
def test_every_measure_matches_the_reference(conn, data, level, period):
    scope = Scope(level)
    expected = ref_frame(data, scope, period)
    assert len(expected) > 0
    for name in PER_UNIT:
        _check_series(getattr(measures, name)(conn, scope, period), expected[name], name)
    _check_series(measures.overdue_now(conn, scope, now=NOW), expected["overdue_now"],
                  "overdue_now")
    shares = measures.closed_share_by_level(conn, scope, period)
    assert list(shares.columns) == ["grid", "village", "town", "county"]
    assert shares.index.name == "unit_id"
    for name in shares.columns:
        _check_series(shares[name], expected[f"closed_share_{name}"], name)
    summary = measures.summary(conn, scope, period, now=NOW)
    pd.testing.assert_frame_equal(summary, expected, check_exact=False)


def test_hand_counted_grid_in_october(conn, data):
    """The October numbers of the busiest grid, counted by hand from the rows above."""
    g = data.unit[G111]
    row = measures.summary(conn, Scope(3, unit_ids=(g,)), OCT, now=NOW).loc[g]
    # on_time, late, oct_last (sep_last is September, nov_first November, dup excluded)
    assert row["received"] == 3
    assert row["dispatched"] == 2
    assert row["resolved"] == 2
    assert row["resolution_rate"] == pytest.approx(2 / 3)
    assert row["on_time_rate"] == pytest.approx(1 / 2)
    assert (row["closed_share_grid"], row["closed_share_village"]) == (0.5, 0.5)
    assert (row["closed_share_town"], row["closed_share_county"]) == (0.0, 0.0)
    assert row["escalations"] == 2  # late (10-11) and sep_last (10-02); not dup
    assert row["overdue_now"] == 1  # oct_last
    assert row["mean_rating"] == pytest.approx(3.5)
    nov = measures.summary(conn, Scope(3, unit_ids=(g,)), NOV, now=NOW).loc[g]
    assert (nov["received"], nov["dispatched"], nov["resolved"]) == (1, 1, 0)
    assert nov["resolution_rate"] == 0.0  # received one, resolved none: 0 %, not NaN
    assert math.isnan(nov["on_time_rate"]) and math.isnan(nov["mean_rating"])


def test_month_boundaries_in_shanghai_time(conn, data):
    """23:30 on 31 October local time is October; 00:10 on 1 November is November."""
    g = data.unit[G111]
    scope = Scope(3, unit_ids=(g,))
    utc = text("SELECT received_at AT TIME ZONE 'UTC' FROM incident WHERE id = :i")
    assert conn.scalar(utc, {"i": data.incident["oct_last"]}) == datetime(2026, 10, 31, 15, 30)
    assert conn.scalar(utc, {"i": data.incident["nov_first"]}) == datetime(2026, 10, 31, 16, 10)
    in_oct = measures.received(conn, scope, OCT)[g]
    in_nov = measures.received(conn, scope, NOV)[g]
    utc_oct = Period.month(2026, 10, tz="UTC")  # a UTC month would put both in October
    assert (in_oct, in_nov, measures.received(conn, scope, utc_oct)[g]) == (3, 1, 4)
    # The escalation at exactly 00:00 on 1 November belongs to November, not October.
    g2 = data.unit[G112]
    assert measures.escalations(conn, Scope(3, unit_ids=(g2,)), OCT)[g2] == 0
    assert measures.escalations(conn, Scope(3, unit_ids=(g2,)), NOV)[g2] == 1
    # Received at exactly 00:00 on 1 October: October; at 00:00 on 1 November: November.
    g3 = data.unit[G121]
    assert measures.received(conn, Scope(3, unit_ids=(g3,)), OCT)[g3] == 1
    assert measures.received(conn, Scope(3, unit_ids=(g3,)), NOV)[g3] == 1
    assert measures.escalations(conn, Scope(3, unit_ids=(g3,)), OCT)[g3] == 2


def test_unit_without_incidents_gets_zero_and_nan(conn, data):
    g = data.unit[G113]
    row = measures.summary(conn, Scope(3, parent_id=data.unit[V11]), OCT, now=NOW).loc[g]
    for name in ("received", "dispatched", "resolved", "escalations", "overdue_now"):
        assert row[name] == 0
    for name in ("resolution_rate", "on_time_rate", "mean_rating", "closed_share_grid",
                 "closed_share_county"):
        assert math.isnan(row[name])


def test_parent_filter_keeps_only_the_children(conn, data):
    v11 = data.unit[V11]
    got = measures.received(conn, Scope(3, parent_id=v11), OCT)
    assert list(got.index) == sorted(data.unit[c] for c in (G111, G112, G113))
    assert got.tolist() == [3, 2, 0]  # G112: open_overdue and no_due; dup_open excluded
    towns = measures.resolved(conn, Scope(1, parent_id=data.unit[COUNTY]), OCT)
    assert towns.to_dict() == {data.unit[T1]: 4, data.unit[T2]: 0}


def test_unit_ids_filter(conn, data):
    g111, g121, v11 = data.unit[G111], data.unit[G121], data.unit[V11]
    got = measures.escalations(conn, Scope(3, unit_ids=(g121, g111, v11)), OCT)
    assert got.to_dict() == {g111: 2, g121: 2}  # v11 is a village, not a grid: ignored
    both = measures.received(conn, Scope(3, parent_id=data.unit[V12], unit_ids=(g111, g121)),
                             OCT)
    assert both.to_dict() == {g121: 1}
    empty = measures.on_time_rate(conn, Scope(3, unit_ids=()), OCT)
    assert empty.empty and empty.index.name == "unit_id" and empty.dtype == np.float64


def test_series_shape_and_types(conn, data):
    scope = Scope(2)
    counts = measures.received(conn, scope, OCT)
    rates = measures.resolution_rate(conn, scope, OCT)
    assert counts.index.name == rates.index.name == "unit_id"
    assert counts.dtype == np.int64 and rates.dtype == np.float64
    assert counts.name == "received" and rates.name == "resolution_rate"
    assert list(counts.index) == ref_units(data, scope)
    assert list(measures.summary(conn, scope, OCT).columns) == list(measures.SUMMARY_COLUMNS)


@pytest.mark.parametrize("level", [4, -1, 99])
def test_invalid_level_is_refused(conn, level):
    for call in (lambda s: measures.received(conn, s, OCT),
                 lambda s: measures.escalations(conn, s, OCT),
                 lambda s: measures.overdue_now(conn, s, now=NOW)):
        with pytest.raises(ValueError, match=f"level {level}"):
            call(Scope(level))


def test_overdue_now_defaults_to_the_database_clock(conn, data):
    db_now = conn.scalar(text("SELECT now()"))
    scope = Scope(3)
    pd.testing.assert_series_equal(measures.overdue_now(conn, scope),
                                   measures.overdue_now(conn, scope, now=db_now))
    # At NOW: oct_last (G111), open_overdue (G112), aug_returned (G211); not the duplicate.
    got = measures.overdue_now(conn, scope, now=NOW)
    assert got[got > 0].to_dict() == {data.unit[G111]: 1, data.unit[G112]: 1,
                                      data.unit[G211]: 1}
    with pytest.raises(ValueError, match="timezone-aware"):
        measures.overdue_now(conn, scope, now=datetime(2026, 11, 5))


def test_accepts_an_engine(db_engine):
    """With an Engine the function opens its own connection (committed data only)."""
    scope = Scope(3)
    got = measures.received(db_engine, scope, Period.month(1999, 1))
    with db_engine.connect() as c:
        grids = c.execute(text("SELECT id FROM unit WHERE valid_to IS NULL AND level = 3 "
                               "ORDER BY id")).scalars().all()
    assert list(got.index) == grids and (got == 0).all()
    total = measures.jurisdiction_total(db_engine, Period.month(1999, 1))
    assert total["received"] == 0 and math.isnan(total["resolution_rate"])


@pytest.mark.parametrize("period", [OCT, NOV], ids=["october", "november"])
def test_jurisdiction_total_matches_the_reference(conn, data, period):
    got = measures.jurisdiction_total(conn, period, now=NOW)
    expected = ref_totals(data.incidents, data.events, period, NOW)
    assert list(got) == list(measures.SUMMARY_COLUMNS)
    for name, value in expected.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(got[name]), name
        else:
            assert got[name] == pytest.approx(value), name
    assert isinstance(got["received"], int) and isinstance(got["on_time_rate"], float)


def test_jurisdiction_total_without_history_skips_only_the_history_measures(conn, data):
    full = measures.jurisdiction_total(conn, OCT, now=NOW)
    lean = measures.jurisdiction_total(conn, OCT, now=NOW, history=False)
    assert full["dispatched"] > 0 and lean["dispatched"] == 0 and lean["escalations"] == 0
    rest = [k for k in measures.SUMMARY_COLUMNS if k not in ("dispatched", "escalations")]
    for name in rest:
        a, b = full[name], lean[name]
        assert (math.isnan(a) and math.isnan(b)) or a == b, name


def test_jurisdiction_total_counts_incidents_without_a_unit(conn, data):
    total = measures.jurisdiction_total(conn, OCT, now=NOW)
    by_county = measures.summary(conn, Scope(0), OCT, now=NOW)
    assert total["received"] == by_county["received"].sum() + 1  # the unlocated one
    assert total["overdue_now"] == by_county["overdue_now"].sum() + 1
    assert total["escalations"] == by_county["escalations"].sum()
