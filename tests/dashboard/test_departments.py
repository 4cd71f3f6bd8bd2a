"""The monthly page's department table (#16): per department the month's cases, resolved,
on time and mean rating — equal to a count in Python over the raw rows; a town user's table
counts the town's cases only."""

from __future__ import annotations

from collections import defaultdict

import pytest
from sqlalchemy import text

from dashboard import monthly_callbacks as mc
from dashboard.app import create_app
from store import departments
from store.monthly import month_period
from tests.helpers import acting

pytestmark = pytest.mark.db
TZ = "Asia/Shanghai"


def _reference(engine, month: str, town: int | None = None) -> dict[str, tuple]:
    period = month_period(month, TZ)
    with engine.connect() as conn:
        raw = conn.execute(text("""
            SELECT d.code, i.closed_at, i.due_at, i.overdue, i.rating, i.town_id
            FROM incident i JOIN department d ON d.id = i.department_id
            WHERE i.received_at >= :s AND i.received_at < :e AND i.duplicate_of IS NULL"""),
            {"s": period.start, "e": period.end}).all()
    acc: dict[str, list] = defaultdict(lambda: [0, 0, 0, []])
    for code, closed, due, overdue, rating, town_id in raw:
        if town is not None and town_id != town:
            continue
        a = acc[code]
        a[0] += 1
        if closed is not None:
            a[1] += 1
            if not overdue and due is not None and closed <= due:
                a[2] += 1
        if rating is not None:
            a[3].append(rating)
    return {k: (v[0], v[1], v[2], sum(v[3]) / len(v[3]) if v[3] else None)
            for k, v in acc.items()}


def _month(engine) -> str:
    with engine.connect() as conn:
        return conn.scalar(text("""
            SELECT to_char(received_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') FROM incident
            WHERE department_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"""))


def test_the_table_equals_a_count_over_the_rows(wall_engine) -> None:
    month = _month(wall_engine)
    got = {r["code"]: (r["received"], r["resolved"], r["on_time"], r["rating_mean"])
           for r in departments.month_by_department(wall_engine, month, TZ)}
    want = _reference(wall_engine, month)
    assert got.keys() == want.keys() and got
    for code, (n, resolved, on_time, mean) in want.items():
        assert got[code][:3] == (n, resolved, on_time), code
        assert (got[code][3] is None) == (mean is None)
        if mean is not None:
            assert got[code][3] == pytest.approx(mean)


def test_a_town_user_sees_the_towns_departments(settings, wall_engine, wall_db_url) -> None:
    app = create_app(settings.with_(database_url=wall_db_url, escalate_every_s=0))
    month = _month(wall_engine)
    with wall_engine.connect() as conn:
        town_id, code = conn.execute(text("""
            SELECT u.id, u.code FROM incident i JOIN unit u ON u.id = i.town_id
            GROUP BY u.id, u.code ORDER BY count(*) DESC LIMIT 1""")).one()
    want = _reference(wall_engine, month, town_id)
    with acting(app, "leader", code):
        table = mc._departments(month, "zh")
    body = table.children[1:]
    assert len(body) == len(want)
    assert sum(int(r.children[1].children.replace(",", "")) for r in body) == \
        sum(v[0] for v in want.values())


def test_hours_to_accept_and_supervised_overdue_per_department(wall_engine) -> None:
    """Mean hours from receipt to the first 签收, and 督办 cases past their deadline, per
    department — against Python over the raw events."""
    month = _month(wall_engine)
    period = month_period(month, TZ)
    with wall_engine.connect() as conn:
        cases = conn.execute(text("""
            SELECT i.id, d.code, i.received_at, i.closed_at, i.supervised_due
            FROM incident i JOIN department d ON d.id = i.department_id
            WHERE i.received_at >= :s AND i.received_at < :e AND i.duplicate_of IS NULL"""),
            {"s": period.start, "e": period.end}).all()
        accepts = conn.execute(text(
            "SELECT incident_id, at FROM incident_event WHERE action = 'accept'")).all()
        now = conn.scalar(text("SELECT now()"))
    first: dict[int, object] = {}
    for incident_id, at in accepts:
        first[incident_id] = min(at, first.get(incident_id, at))
    hours: dict[str, list[float]] = defaultdict(list)
    late: dict[str, int] = defaultdict(int)
    for incident_id, code, received, closed, supervised in cases:
        if incident_id in first:
            hours[code].append((first[incident_id] - received).total_seconds() / 3600)
        if supervised is not None and (closed or now) > supervised:
            late[code] += 1
    got = {r["code"]: r for r in departments.month_by_department(wall_engine, month, TZ)}
    assert any(hours.values()), "the demo month has accepted cases"
    for code, row in got.items():
        want = sum(hours[code]) / len(hours[code]) if hours[code] else None
        assert (row["accept_hours"] is None) == (want is None), code
        if want is not None:
            assert row["accept_hours"] == pytest.approx(want), code
        assert row["supervised_overdue"] == late[code], code
