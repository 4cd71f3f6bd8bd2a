"""Monthly situation numbers against a reference written independently in the test.

The data sit in the built-in sample units (one county, two towns, four villages, twelve
grids).  Grid 620981900001001001 (lon 97.00-97.02, lat 40.25-40.29) is split by the planner
(planning.service.save with a geo.planning.split proposal) effective 1 October 2025, local
time, so September 2025 is drawn with the old grid and October with the two new ones.

The reference reads the raw rows back and applies the definitions with pandas and shapely
(attribution by frozen id, then code, then location; households by grid_id up the current
tree or by covering geometry), so it shares nothing with store.monthly's SQL but the
definitions.
"""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString
from sqlalchemy import Connection, text

from geo import planning as gp
from store import measures, monthly, monthly_totals, planning
from store.measures import Period

pytestmark = pytest.mark.db

TZ = "Asia/Shanghai"
SH = ZoneInfo(TZ)
COUNTY = "620981900"
T1, T2 = f"{COUNTY}001", f"{COUNTY}002"
V11, V12, V21 = f"{T1}001", f"{T1}002", f"{T2}001"
G111, G112, G113, G121, G211 = f"{V11}001", f"{V11}002", f"{V11}003", f"{V12}001", f"{V21}001"
CUT = 97.008  # east part (97.008-97.02) is larger: it keeps the code G111
WEST, EAST = (97.004, 40.27), (97.015, 40.27)
EFFECTIVE = datetime(2025, 10, 1, tzinfo=SH)  # exactly the start of October, local time
PAST = datetime(2020, 1, 1, tzinfo=SH)
MONTHS = ("2025-08", "2025-09", "2025-10")
COLUMN = {0: "county_id", 1: "town_id", 2: "village_id", 3: "grid_id"}
LEVELS = (0, 1, 2, 3)


def sh(month: int, day: int, hour: int = 10, minute: int = 0, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


# --- the data --------------------------------------------------------------------------------
def _current(conn: Connection) -> tuple[dict[str, int], dict[int, int | None]]:
    rows = conn.execute(text("SELECT id, code, parent_id FROM unit WHERE valid_to IS NULL")).all()
    return ({c: int(i) for i, c, _ in rows},
            {int(i): (None if p is None else int(p)) for i, _, p in rows})


def _point(conn: Connection, code: str) -> tuple[float, float]:
    x, y = conn.execute(text("SELECT ST_X(p), ST_Y(p) FROM unit, ST_PointOnSurface(geom) p "
                             "WHERE code = :c AND valid_to IS NULL"), {"c": code}).one()
    return float(x), float(y)


class World:
    """Inserts incidents and households; remembers the labels."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.ids: dict[str, int] = {}
        self.n = 0

    def incident(self, label: str, grid_id: int | None, at: datetime,
                 xy: tuple[float, float] | None, *, category: str = "dispute",
                 closed: datetime | None = None, due: datetime | None = None,
                 overdue: bool = False, handling: int | None = 3,
                 duplicate_of: str | None = None, status: str | None = None) -> int:
        """One incident frozen to ``grid_id`` and its ancestors (all None without a grid)."""
        ids: list[int | None] = [grid_id, None, None, None]
        if grid_id is not None:
            for k in range(1, 4):
                ids[k] = self.conn.scalar(text("SELECT parent_id FROM unit WHERE id = :i"),
                                          {"i": ids[k - 1]})
        new = self.conn.scalar(text("""
            INSERT INTO incident (source, external_id, category, received_at, status, geom,
                                  grid_id, village_id, town_id, county_id, handling_level,
                                  due_at, closed_at, duplicate_of, overdue)
            VALUES ('grid_app', :ext, :cat, :at, :status,
                    CASE WHEN CAST(:x AS float8) IS NULL THEN NULL
                         ELSE ST_SetSRID(ST_MakePoint(:x, :y), 4326) END,
                    :g, :v, :t, :c, :h, :due, :closed, :dup, :overdue)
            RETURNING id"""), {
            "ext": f"MONTHLY-{label}", "cat": category, "at": at,
            "status": status or ("closed" if closed else "received"),
            "x": None if xy is None else xy[0], "y": None if xy is None else xy[1],
            "g": ids[0], "v": ids[1], "t": ids[2], "c": ids[3], "h": handling,
            "due": due, "closed": closed, "overdue": overdue,
            "dup": self.ids[duplicate_of] if duplicate_of else None})
        self.ids[label] = int(new)
        return int(new)

    def household(self, xy: tuple[float, float], grid_id: int | None) -> None:
        self.n += 1
        self.conn.execute(text("""
            INSERT INTO household (code, geom, address, size, grid_id)
            VALUES (:c, ST_SetSRID(ST_MakePoint(:x, :y), 4326), '地址', 2, :g)"""),
            {"c": f"MONTHLY-H{self.n}", "x": xy[0], "y": xy[1], "g": grid_id})


def _split_g111(conn: Connection, ids: dict[str, int]) -> planning.SaveResult:
    ctx = planning.plan_context(conn, ids[V11])
    proposal = gp.split(ctx, ids[G111], LineString([(CUT, 40.2495), (CUT, 40.2905)]))
    return save_plan(conn, proposal, actor="月报测试", effective=EFFECTIVE,
                              note="split for the monthly test")


@pytest.fixture()
def world(conn: Connection) -> dict:
    """Households and incidents from August to October 2025 around a split of G111."""
    conn.execute(text("UPDATE unit SET valid_from = :p"), {"p": PAST})
    ids, _ = _current(conn)
    w = World(conn)
    g111, g112, g113 = ids[G111], ids[G112], ids[G113]
    p112, p121, p211 = _point(conn, G112), _point(conn, G121), _point(conn, G211)

    # Households: 3 west and 2 east in G111, 4 in G112, 1 in G211, one in G113 without grid.
    for k in range(3):
        w.household((97.002 + 0.001 * k, 40.26 + 0.005 * k), g111)
    for k in range(2):
        w.household((97.012 + 0.002 * k, 40.28), g111)
    for k in range(4):
        w.household((p112[0] + 0.001 * k, p112[1]), g112)
    w.household(p211, ids[G211])
    w.household((97.05, 40.26), None)

    # August: G111 busy, some closed, one still open in the east (re-pointed by the save).
    w.incident("aug-w1", g111, sh(8, 3), WEST, closed=sh(8, 4), due=sh(8, 5))
    w.incident("aug-w2", g111, sh(8, 9), WEST, category="sanitation", closed=sh(8, 20),
               due=sh(8, 10), overdue=True, handling=2)
    w.incident("aug-e-open", g111, sh(8, 12), EAST, category="sanitation", due=sh(8, 20))
    w.incident("aug-112", g112, sh(8, 15), p112, closed=sh(8, 16), due=sh(8, 17),
               handling=1)
    w.incident("aug-first", g112, sh(8, 1, 0, 5), p112, category="cityscape")  # local 1 Aug
    # September: the old grid's last month.
    w.incident("sep-w", g111, sh(9, 2), WEST, closed=sh(9, 3), due=sh(9, 4))
    w.incident("sep-e", g111, sh(9, 5), EAST, category="cityscape", closed=sh(9, 6),
               due=sh(9, 6), handling=0)
    w.incident("sep-e-open", g111, sh(9, 28), EAST, category="cityscape")
    w.incident("sep-w-open", g111, sh(9, 29), WEST, category="cityscape")
    w.incident("sep-dup", g111, sh(9, 5, 11), EAST, duplicate_of="sep-e")
    w.incident("sep-121", ids[G121], sh(9, 10), p121, category="safety", closed=sh(9, 11),
               due=sh(9, 12), handling=3)
    w.incident("sep-frozen-wins", g112, sh(9, 11), (97.05, 40.27))  # lies in G113
    w.incident("sep-no-unit", None, sh(9, 12), (97.055, 40.26))  # located, no frozen ids
    w.incident("sep-unlocated", None, sh(9, 13), None)  # no location, no unit: on no map
    w.incident("sep-unlocated-frozen", g113, sh(9, 14), None)  # frozen id only
    w.incident("sep-last", g111, sh(9, 30, 23, 59), EAST, closed=sh(10, 2), due=sh(10, 3))

    result = _split_g111(conn, ids)
    after, _ = _current(conn)
    new_code = next(c for c in result.added if c != G111)
    west_id, east_id = after[new_code], after[G111]

    # October: intake freezes to the new grids; one late import still carries the old id.
    w.incident("oct-first", east_id, sh(10, 1, 0, 1), EAST, category="sanitation",
               closed=sh(10, 2), due=sh(10, 3))
    w.incident("oct-w", west_id, sh(10, 3), WEST, category="sanitation", closed=sh(10, 4),
               due=sh(10, 5), handling=2)
    w.incident("oct-w2", west_id, sh(10, 4), WEST, category="sanitation")
    w.incident("oct-e", east_id, sh(10, 6), EAST, closed=sh(10, 7), due=sh(10, 9))
    w.incident("oct-old-id", g111, sh(10, 7), WEST, category="dispute")  # same code → east
    w.incident("oct-112", g112, sh(10, 8), p112, category="cityscape", closed=sh(10, 9),
               due=sh(10, 8), overdue=True, handling=1)
    w.incident("oct-dup", west_id, sh(10, 8, 12), WEST, duplicate_of="oct-w")
    w.incident("oct-no-unit", None, sh(10, 20), (97.0045, 40.28))  # west by location
    w.incident("oct-last", g112, sh(10, 31, 23, 59), p112)
    w.incident("nov-first", g112, sh(11, 1, 0, 0), p112)  # midnight: November
    return {"ids": ids, "after": after, "new_code": new_code, "west": west_id,
            "east": east_id, "old": g111, "incidents": w.ids, "result": result}


# --- the reference ---------------------------------------------------------------------------
def ref_units(conn: Connection, level: int, at: datetime) -> pd.DataFrame:
    """Rows of ``level`` on the map just before ``at``: loaded rows always, plan-added rows
    from their valid_from; never after their valid_to."""
    planned = {int(i) for (i,) in conn.execute(text(
        "SELECT unnest(added_ids) FROM unit_change"))}
    frame = pd.DataFrame(conn.execute(text("""
        SELECT id, code, name, parent_id, version, valid_from, valid_to, ST_AsText(geom) AS wkt
        FROM unit WHERE level = :l"""), {"l": level}).mappings().all())
    keep = [(int(r.id) not in planned or r.valid_from < at)
            and (r.valid_to is None or pd.isna(r.valid_to) or r.valid_to >= at)
            for r in frame.itertuples()]
    frame = frame[keep].copy()
    frame["geometry"] = shapely.from_wkt(frame["wkt"].tolist())
    return frame.sort_values(["code", "id"]).set_index("id")


def ref_incidents(conn: Connection, period: Period) -> pd.DataFrame:
    return pd.DataFrame(conn.execute(text("""
        SELECT i.*, ST_X(geom) AS x, ST_Y(geom) AS y FROM incident i
        WHERE received_at >= :s AND received_at < :e AND duplicate_of IS NULL"""),
        {"s": period.start, "e": period.end}).mappings().all())


def ref_attribute(conn: Connection, incidents: pd.DataFrame, level: int,
                  units: pd.DataFrame) -> list[int | None]:
    code_of = dict(conn.execute(text("SELECT id, code FROM unit")).all())
    by_code = {c: i for i, c in units["code"].items()}
    out: list[int | None] = []
    for r in incidents.itertuples():
        frozen = getattr(r, COLUMN[level])
        frozen = None if frozen is None or pd.isna(frozen) else int(frozen)
        if frozen in units.index:
            out.append(frozen)
        elif frozen is not None and code_of[frozen] in by_code:
            out.append(by_code[code_of[frozen]])
        elif r.x is not None and not pd.isna(r.x):
            point = shapely.Point(r.x, r.y)
            hits = [i for i, g in units["geometry"].items() if g.covers(point)]
            out.append(hits[0] if hits else None)  # units are in code order
        else:
            out.append(None)
    return out


def ref_households(conn: Connection, units: pd.DataFrame) -> dict[int, int]:
    tree = conn.execute(text("SELECT id, parent_id FROM unit WHERE valid_to IS NULL")).all()
    children: dict[int, list[int]] = {}
    for i, p in tree:
        if p is not None:
            children.setdefault(int(p), []).append(int(i))
    homes = conn.execute(text("SELECT grid_id, ST_X(geom), ST_Y(geom) FROM household")).all()
    out = {}
    for uid, row in units.iterrows():
        if row["valid_to"] is None or pd.isna(row["valid_to"]):
            below, todo = set(), [uid]
            while todo:
                k = todo.pop()
                below.add(k)
                todo += children.get(k, [])
            out[uid] = sum(1 for g, _, _ in homes if g in below)
        else:
            out[uid] = sum(1 for _, x, y in homes if row["geometry"].covers(shapely.Point(x, y)))
    return out


def _rate(num: float, den: float) -> float:
    return num / den if den else math.nan


def ref_measures(conn: Connection, level: int, month: str) -> pd.DataFrame:
    period = monthly.month_period(month, TZ)
    prev = monthly.month_period(monthly.previous_month(month), TZ)
    units = ref_units(conn, level, period.end)
    now = ref_incidents(conn, period)
    before = ref_incidents(conn, prev)
    now["unit"] = ref_attribute(conn, now, level, units) if len(now) else []
    before["unit"] = ref_attribute(conn, before, level, units) if len(before) else []
    homes = ref_households(conn, units)
    first_accept: dict[int, datetime] = {}
    for incident_id, at in conn.execute(text(
            "SELECT incident_id, at FROM incident_event WHERE action = 'accept'")):
        first_accept[incident_id] = min(at, first_accept.get(incident_id, at))
    right_now = conn.execute(text("SELECT now()")).scalar()
    rows = {}
    for uid, u in units.iterrows():
        mine = now[now["unit"] == uid] if len(now) else now
        done = mine[mine["closed_at"].notna()] if len(mine) else mine
        on_time = sum(1 for r in done.itertuples()
                      if not r.overdue and r.due_at is not None and not pd.isna(r.due_at)
                      and r.closed_at <= r.due_at)
        received = len(mine)
        prev_n = int((before["unit"] == uid).sum()) if len(before) else 0
        row = {"code": u["code"], "name": u["name"], "received": received,
               "households": homes[uid],
               "per_1000_households": received * 1000 / homes[uid] if homes[uid] else math.nan,
               "prev_received": prev_n,
               "change_pct": 100 * (received - prev_n) / prev_n if prev_n else math.nan,
               "resolved": len(done), "resolution_rate": _rate(len(done), received),
               "on_time_rate": _rate(on_time, len(done))}
        for lv, name in ((3, "grid"), (2, "village"), (1, "town"), (0, "county")):
            row[f"closed_share_{name}"] = _rate(
                int((done["handling_level"] == lv).sum()) if len(done) else 0, len(done))
        ratings = [float(r) for r in (mine["rating"] if len(mine) else []) if not pd.isna(r)]
        row["urged"] = int((mine["urged_count"] > 0).sum()) if len(mine) else 0
        row["rated"] = len(ratings)
        row["rating_mean"] = sum(ratings) / len(ratings) if ratings else math.nan
        row["supervised_overdue"] = sum(
            1 for r in mine.itertuples() if r.supervised_due is not None
            and not pd.isna(r.supervised_due)
            and (right_now if pd.isna(r.closed_at) else r.closed_at) > r.supervised_due
        ) if len(mine) else 0
        hours = [(first_accept[r.id] - r.received_at).total_seconds() / 3600
                 for r in mine.itertuples() if r.id in first_accept] if len(mine) else []
        row["accept_hours"] = sum(hours) / len(hours) if hours else math.nan
        rows[uid] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "unit_id"
    return frame


def assert_frames(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.index) == list(want.index)
    assert list(got.columns) == list(monthly.MEASURE_COLUMNS)
    for column in monthly.MEASURE_COLUMNS:
        a, b = got[column].tolist(), want[column].tolist()
        if column in ("code", "name"):
            assert a == b, column
        else:
            np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                                       rtol=1e-12, equal_nan=True, err_msg=column)


# --- tests -----------------------------------------------------------------------------------
def test_months_and_periods():
    assert monthly.previous_month("2026-01") == "2025-12"
    assert monthly.shift_month("2025-11", 3) == "2026-02"
    assert monthly.month_period("2025-10", TZ) == Period.month(2025, 10, TZ)
    for bad in ("2025-13", "2025-1", "25-10", "", None, "2025-00"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            monthly.month_period(bad, TZ)
    with pytest.raises(ValueError, match="time zone"):
        monthly.month_period("2025-10", "Mars/Olympus")


def test_months_with_data(conn, world):
    got = monthly.months_with_data(conn, TZ)
    want = [m for (m,) in conn.execute(text("""
        SELECT DISTINCT to_char(received_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS m
        FROM incident WHERE duplicate_of IS NULL ORDER BY m DESC"""))]
    assert got == want
    assert {"2025-08", "2025-09", "2025-10", "2025-11"} <= set(got)


def test_boundaries_as_they_were(conn, world):
    sep = monthly.units_as_of(conn, 3, monthly.month_period("2025-09", TZ).end)
    oct_ = monthly.units_as_of(conn, 3, monthly.month_period("2025-10", TZ).end)
    assert list(sep.columns) == ["id", "code", "name", "parent_id", "version", "geometry"]
    assert world["old"] in set(sep["id"]) and world["new_code"] not in set(sep["code"])
    assert world["west"] not in set(sep["id"]) and world["east"] not in set(sep["id"])
    assert {world["west"], world["east"]} <= set(oct_["id"]) and world["old"] not in set(oct_["id"])
    assert int(oct_.set_index("code").loc[G111, "version"]) == 2
    assert len(oct_) == len(sep) + 1 == 13
    assert list(sep["code"]) == sorted(sep["code"])
    # Exactly at the effective instant the old grid is still drawn, an instant later the new.
    assert world["old"] in set(monthly.units_as_of(conn, 3, EFFECTIVE)["id"])
    later = monthly.units_as_of(conn, 3, datetime(2025, 10, 1, 0, 0, 1, tzinfo=SH))
    assert world["old"] not in set(later["id"]) and world["west"] in set(later["id"])
    for level in LEVELS:
        for month in MONTHS:
            at = monthly.month_period(month, TZ).end
            got = monthly.units_as_of(conn, level, at)
            want = ref_units(conn, level, at)
            assert list(got["id"]) == list(want.index)
            assert list(got["code"]) == list(want["code"])
            assert shapely.equals_exact(np.asarray(got.geometry.values),
                                        np.asarray(want["geometry"].tolist()), 1e-9).all()
    with pytest.raises(ValueError, match="timezone-aware"):
        monthly.units_as_of(conn, 3, datetime(2025, 10, 1))


@pytest.mark.parametrize("level", LEVELS)
def test_month_measures_equal_the_reference(conn, world, level):
    for month in (*MONTHS, "2025-11", "2025-07"):
        assert_frames(monthly.month_measures(conn, level, month, TZ),
                      ref_measures(conn, level, month))


def test_urged_and_ratings_equal_the_reference(conn, world):
    """催办 and the citizens' ratings per unit (#16), on cases marked here."""
    month = "2025-10"
    period = monthly.month_period(month, TZ)
    ids = [r[0] for r in conn.execute(text(
        "SELECT id FROM incident WHERE received_at >= :s AND received_at < :e "
        "AND duplicate_of IS NULL ORDER BY id LIMIT 6"), {"s": period.start, "e": period.end})]
    assert len(ids) >= 4
    conn.execute(text("UPDATE incident SET urged_count = 2 WHERE id = ANY(:i)"),
                 {"i": ids[:3]})
    conn.execute(text("UPDATE incident SET rating = 1 + (id % 5) WHERE id = ANY(:i)"),
                 {"i": ids[1:]})
    # 督办: one done after its deadline, one done before it, one still open past it.
    conn.execute(text("UPDATE incident SET supervised_due = closed_at - interval '1 hour' "
                      "WHERE id = :i AND closed_at IS NOT NULL"), {"i": ids[0]})
    conn.execute(text("UPDATE incident SET supervised_due = coalesce(closed_at, now()) "
                      "+ interval '1 day' WHERE id = :i"), {"i": ids[1]})
    conn.execute(text("UPDATE incident SET supervised_due = now() - interval '1 day', "
                      "closed_at = NULL WHERE id = :i"), {"i": ids[2]})
    # 签收: 2 h and 5 h after receipt (a later second accept does not count).
    for incident_id, hours in ((ids[0], 2), (ids[3], 5), (ids[3], 9)):
        conn.execute(text(
            "INSERT INTO incident_event (incident_id, at, actor, action, from_status, "
            "to_status) SELECT id, received_at + make_interval(hours => :h), 't', 'accept', "
            "'dispatched', 'accepted' FROM incident WHERE id = :i"),
            {"i": incident_id, "h": hours})
    for level in (1, 3):
        got = monthly.month_measures(conn, level, month, TZ)
        assert_frames(got, ref_measures(conn, level, month))
        assert got["urged"].sum() == 3 and got["rated"].sum() == len(ids) - 1
        assert got["supervised_overdue"].sum() >= 1


def test_split_month_by_hand(conn, world):
    """The key facts without the reference: old grid in September, new grids in October."""
    sep = monthly.month_measures(conn, 3, "2025-09", TZ)
    old = sep.loc[world["old"]]
    # sep-w, sep-e, two open ones and sep-last (the duplicate is left out)
    assert old["received"] == 5 and old["prev_received"] == 3
    assert old["change_pct"] == pytest.approx(100 * (5 - 3) / 3)
    assert old["households"] == 5  # the retired grid: households its geometry covers
    assert old["resolved"] == 3 and old["resolution_rate"] == pytest.approx(3 / 5)
    assert old["closed_share_county"] == pytest.approx(1 / 3)
    ids = world["ids"]
    assert sep.loc[ids[G112], "received"] == 1  # sep-frozen-wins, although it lies in G113
    assert sep.loc[ids[G112], "prev_received"] == 2
    assert sep.loc[ids[G113], "received"] == 2  # sep-no-unit by location + frozen-only one

    oct_ = monthly.month_measures(conn, 3, "2025-10", TZ)
    west, east = oct_.loc[world["west"]], oct_.loc[world["east"]]
    # west: oct-w, oct-w2, oct-no-unit (by location); east: oct-first, oct-e, oct-old-id
    # (frozen to the old row, same code G111)
    assert (west["received"], east["received"]) == (3, 3)
    assert world["new_code"] != G111 and oct_.loc[world["east"], "code"] == G111
    # previous month on October's map: September's incidents by the same attribution
    # sep-w-open was re-pointed to the west grid by the save; the closed ones keep the old
    # id, so the same code (G111, now the east part) takes them, wherever they lie.
    assert west["prev_received"] == 1 and east["prev_received"] == 4
    assert (west["households"], east["households"]) == (3, 2)
    assert west["per_1000_households"] == pytest.approx(3 * 1000 / 3)
    assert oct_.loc[ids[G121], "prev_received"] == 1
    assert math.isnan(oct_.loc[ids[G121], "per_1000_households"])  # no households
    assert math.isnan(oct_.loc[ids[G121], "resolution_rate"])


@pytest.mark.parametrize("month", MONTHS)
def test_counts_add_up_to_the_jurisdiction(conn, world, month):
    period = monthly.month_period(month, TZ)
    located = conn.scalar(text("""
        SELECT count(*) FROM incident
        WHERE received_at >= :s AND received_at < :e AND duplicate_of IS NULL
          AND (geom IS NOT NULL OR grid_id IS NOT NULL)"""),
        {"s": period.start, "e": period.end})
    total = measures.jurisdiction_total(conn, period)["received"]
    unplaceable = conn.scalar(text("""
        SELECT count(*) FROM incident
        WHERE received_at >= :s AND received_at < :e AND duplicate_of IS NULL
          AND geom IS NULL AND grid_id IS NULL"""), {"s": period.start, "e": period.end})
    assert total == located + unplaceable
    for level in LEVELS:
        frame = monthly.month_measures(conn, level, month, TZ)
        assert frame["received"].sum() == located, (month, level)
        assert frame["resolved"].sum() == conn.scalar(text("""
            SELECT count(*) FROM incident
            WHERE received_at >= :s AND received_at < :e AND duplicate_of IS NULL
              AND closed_at IS NOT NULL AND (geom IS NOT NULL OR grid_id IS NOT NULL)"""),
            {"s": period.start, "e": period.end})
    grids = monthly.grid_counts(conn, month, TZ)
    assert grids.sum() == located
    assert list(grids.index) == list(monthly.units_as_of(conn, 3, period.end)["id"])
    assert grids.to_dict() == monthly.month_measures(conn, 3, month, TZ)["received"].to_dict()


def test_within_narrows_to_a_subtree(conn, world):
    ids = world["ids"]
    for month in MONTHS:
        full = monthly.month_measures(conn, 3, month, TZ)
        part = monthly.month_measures(conn, 3, month, TZ, within=(2, ids[V11]))
        at = monthly.month_period(month, TZ).end
        units = ref_units(conn, 3, at)
        want = [i for i in units.index if units.loc[i, "parent_id"] == ids[V11]]
        assert list(part.index) == want
        pd.testing.assert_frame_equal(part, full.loc[want])
        town = monthly.month_measures(conn, 2, month, TZ, within=(1, ids[T1]))
        assert set(town["code"]) == {V11, V12}
        one = monthly.month_measures(conn, 1, month, TZ, within=(1, ids[T2]))
        assert list(one["code"]) == [T2]
    # a grid's old id names its code's row valid that month
    oct_ = monthly.month_measures(conn, 3, "2025-10", TZ, within=(3, world["old"]))
    assert list(oct_.index) == [world["east"]]
    with pytest.raises(ValueError, match="no unit"):
        monthly.month_measures(conn, 3, "2025-10", TZ, within=(2, ids[G111]))
    with pytest.raises(ValueError, match="below the map level"):
        monthly.month_measures(conn, 1, "2025-10", TZ, within=(2, ids[V11]))
    with pytest.raises(ValueError, match="levels are"):
        monthly.month_measures(conn, 4, "2025-10", TZ)


def test_top_categories(conn, world):
    for level in LEVELS:
        for month in MONTHS:
            period = monthly.month_period(month, TZ)
            units = ref_units(conn, level, period.end)
            inc = ref_incidents(conn, period)
            inc["unit"] = ref_attribute(conn, inc, level, units)
            got = monthly.top_categories(conn, level, month, TZ, n=2)
            assert list(got) == list(units.index)
            for uid in units.index:
                counts = inc[inc["unit"] == uid].groupby("category").size()
                ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:2]
                assert got[uid] == [(c, int(k)) for c, k in ranked], (level, month, uid)
    oct_ = monthly.top_categories(conn, 3, "2025-10", TZ)
    assert oct_[world["west"]] == [("sanitation", 2), ("dispute", 1)]
    assert oct_[world["ids"][G211]] == []

    for month in MONTHS:
        period = monthly.month_period(month, TZ)
        want = conn.execute(text("""
            SELECT category, count(*) FROM incident
            WHERE received_at >= :s AND received_at < :e AND duplicate_of IS NULL
            GROUP BY category ORDER BY count(*) DESC, category LIMIT 3"""),
            {"s": period.start, "e": period.end}).all()
        assert monthly_totals.top_categories_total(conn, month, TZ, n=3) == \
            [(c, int(k)) for c, k in want]
    with pytest.raises(ValueError, match="positive"):
        monthly.top_categories(conn, 3, "2025-10", TZ, n=0)


def test_headline(conn, world):
    for month in MONTHS:
        period = monthly.month_period(month, TZ)
        prev = monthly.month_period(monthly.previous_month(month), TZ)
        got = monthly_totals.headline(conn, month, TZ)
        r = conn.execute(text("""
            SELECT count(*) AS n, count(*) FILTER (WHERE closed_at IS NOT NULL) AS done,
                   count(*) FILTER (WHERE closed_at IS NOT NULL AND NOT overdue
                                    AND closed_at <= due_at) AS on_time,
                   count(*) FILTER (WHERE closed_at IS NOT NULL AND handling_level = 3) AS g,
                   count(*) FILTER (WHERE closed_at IS NOT NULL AND handling_level = 2) AS v
            FROM incident WHERE received_at >= :s AND received_at < :e
              AND duplicate_of IS NULL"""), {"s": period.start, "e": period.end}).one()
        before = conn.scalar(text(
            "SELECT count(*) FROM incident WHERE received_at >= :s AND received_at < :e "
            "AND duplicate_of IS NULL"), {"s": prev.start, "e": prev.end})
        homes = conn.scalar(text("SELECT count(*) FROM household"))
        assert got["month"] == month
        assert got["received"] == r.n and got["prev_received"] == before
        assert got["resolved"] == r.done
        assert got["change_pct"] == pytest.approx(100 * (r.n - before) / before) if before \
            else math.isnan(got["change_pct"])
        assert got["resolution_rate"] == pytest.approx(_rate(r.done, r.n), nan_ok=True)
        assert got["on_time_rate"] == pytest.approx(_rate(r.on_time, r.done), nan_ok=True)
        assert got["closed_share_grid"] == pytest.approx(_rate(r.g, r.done), nan_ok=True)
        assert got["closed_share_village"] == pytest.approx(_rate(r.v, r.done), nan_ok=True)
        assert got["escalations"] == measures.jurisdiction_total(conn, period)["escalations"]
        assert got["households"] == homes
        assert got["per_1000_households"] == pytest.approx(r.n * 1000 / homes)
        assert got["units"] == {lv: len(ref_units(conn, lv, period.end)) for lv in LEVELS}
    assert monthly_totals.headline(conn, "2025-09", TZ)["units"][3] == 12
    assert monthly_totals.headline(conn, "2025-10", TZ)["units"][3] == 13
    assert math.isnan(monthly_totals.headline(conn, "2025-08", TZ)["change_pct"])  # July: none
    town = monthly_totals.headline(conn, "2025-10", TZ, within=(1, world["ids"][T1]))
    assert town["received"] == conn.scalar(text(
        "SELECT count(*) FROM incident WHERE received_at >= :s AND received_at < :e "
        "AND duplicate_of IS NULL AND town_id = :t"),
        {"s": monthly.month_period("2025-10", TZ).start,
         "e": monthly.month_period("2025-10", TZ).end, "t": world["ids"][T1]})
    assert town["units"] == {1: 1, 2: 2, 3: 7}
    assert town["households"] == 9  # G111's 5 and G112's 4 (the grid-less one counts nowhere)


def test_trend(conn, world):
    got = monthly_totals.trend(conn, "2025-10", TZ, months=4)
    assert list(got.columns) == list(monthly_totals.TREND_COLUMNS)
    assert list(got["month"]) == ["2025-07", "2025-08", "2025-09", "2025-10"]
    for row in got.itertuples():
        period = monthly.month_period(row.month, TZ)
        r = conn.execute(text("""
            SELECT count(*) AS n, count(*) FILTER (WHERE closed_at IS NOT NULL) AS done,
                   count(*) FILTER (WHERE closed_at IS NOT NULL AND NOT overdue
                                    AND closed_at <= due_at) AS on_time
            FROM incident WHERE received_at >= :s AND received_at < :e
              AND duplicate_of IS NULL"""), {"s": period.start, "e": period.end}).one()
        assert (row.received, row.resolved) == (r.n, r.done)
        assert row.resolution_rate == pytest.approx(_rate(r.done, r.n), nan_ok=True)
        assert row.on_time_rate == pytest.approx(_rate(r.on_time, r.done), nan_ok=True)
        assert monthly_totals.headline(conn, row.month, TZ)["received"] == row.received
    assert got.loc[0, "received"] == 0 and math.isnan(got.loc[0, "resolution_rate"])
    assert len(monthly_totals.trend(conn, "2025-10", TZ)) == 12
    assert monthly_totals.trend(conn, "2026-01", TZ, months=3)["month"].tolist() == \
        ["2025-11", "2025-12", "2026-01"]


def save_plan(db, proposal, **kw):
    """Save through the planning service (the one way to save), on this test's database."""
    from sqlalchemy import Engine

    from onemap.settings import Settings
    from planning import service
    from store.runtime import build_runtime

    engine = db if isinstance(db, Engine) else db.engine
    from onemap.access import cli_actor

    rt = build_runtime(Settings(), engine=engine, actor=cli_actor("test"))
    return service.save(rt, proposal, db=db, **kw)


def test_months_between_two_changes_share_one_drawn_map(conn, world):
    """A report draws each month's grids through reports.monthly.units_at: months with no
    change of the map between them share one frame; across the split they differ, and each
    is the map store.monthly.units_as_of draws for that month."""
    from reports import monthly as report

    report.clear_caches()
    ends = {m: monthly.month_period(m, TZ).end for m in ("2025-07", *MONTHS, "2025-11")}
    drawn = {m: report.units_at(conn, 3, at) for m, at in ends.items()}
    for m, at in ends.items():
        assert set(drawn[m]["id"]) == set(monthly.units_as_of(conn, 3, at)["id"])
    assert drawn["2025-07"] is drawn["2025-08"] is drawn["2025-09"]  # before the split
    assert drawn["2025-10"] is drawn["2025-11"]  # after it
    assert set(drawn["2025-09"]["id"]) != set(drawn["2025-10"]["id"])
    assert world["ids"][G111] in set(drawn["2025-09"]["id"]) - set(drawn["2025-10"]["id"])
    report.clear_caches()
