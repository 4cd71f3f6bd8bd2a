"""LISTEN/NOTIFY for live walls: what the trigger sends, what the listener makes of it, and
when a wall's tick reads the database."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import text

from intake import service
from intake.schema import parse_report
from onemap.access import Actor, cli_actor
from store.live import Listener, scope_units
from store.runtime import build_runtime
from tests.helpers import fresh_demo_database, sibling_database


def test_a_change_in_my_units_makes_me_look_and_others_do_not():
    live = Listener("postgresql://unused")
    live.healthy_since = 1000.0
    assert live.should_query({7}, None)  # never looked: look
    assert not live.should_query({7}, 1010.0, settle_s=5)  # quiet since: do not
    live.heard('{"u": [1, 3, 7, 42]}', at=1012.0)
    assert live.should_query({7}, 1013.0, settle_s=5)  # my grid changed
    assert live.should_query(None, 1013.0, settle_s=5)  # the county's wall sees everything
    assert not live.should_query({8}, 1013.0, settle_s=5)  # another town's wall does not
    assert not live.should_query({7}, 1018.0, settle_s=5)  # settled: stop looking
    live.heard('{"g": true}', at=1020.0)  # a case without a place: everyone looks
    assert live.should_query({8}, 1021.0, settle_s=5)
    live.heard("not json", at=1030.0)
    assert live.should_query({8}, 1031.0, settle_s=5)
    live.healthy_since = None  # the connection dropped: nobody can vouch, so look
    assert live.should_query({8}, 1100.0, settle_s=5)
    live.healthy_since = 1099.0  # just reconnected: changes meanwhile were not heard
    assert live.should_query({8}, 1100.0, settle_s=5)


def test_scope_units_follow_the_actor():
    town = Actor(kind="user", id=1, name="t", role="town_desk", units=frozenset({5}))
    assert scope_units(town) == frozenset({5})
    assert scope_units(Actor(kind="user", id=2, name="c", role="commander")) is None
    dept = Actor(kind="user", id=3, name="d", role="department", units=frozenset({5}),
                 department=9)
    assert scope_units(dept) is None  # a department's cases are not bound to units


@pytest.mark.db
@pytest.mark.slow
def test_the_database_tells_the_listener_which_units_changed(db_url, settings):
    url = sibling_database(db_url, "live")
    engine = fresh_demo_database(url, "sample")
    live = Listener(url).start()
    try:
        deadline = time.monotonic() + 10
        while live.healthy_since is None:
            assert time.monotonic() < deadline, "the listener did not connect"
            time.sleep(0.05)
        with engine.connect() as conn:
            lon, lat = conn.execute(text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
                "WHERE valid_to IS NULL ORDER BY level DESC, id LIMIT 1) s")).one()
        rt = build_runtime(settings.with_(database_url=url), engine=engine,
                           actor=cli_actor("test"))
        case = service.submit(rt, parse_report({
            "source": "hotline_12345", "external_id": "LIVE-" + uuid.uuid4().hex[:6],
            "category": "dispute", "description": "通知测试",
            "location": {"lon": lon, "lat": lat}})).incident
        with engine.connect() as conn:
            units = conn.execute(text(
                "SELECT county_id, town_id, village_id, grid_id FROM incident WHERE id = :i"),
                {"i": case["id"]}).one()
        deadline = time.monotonic() + 5
        while live.last_unit.get(units.grid_id) is None:
            assert time.monotonic() < deadline, "no notification for the new case"
            time.sleep(0.05)
        assert all(live.last_unit.get(u) for u in units)
        heard = live.received

        with engine.begin() as conn:  # rolled back: nothing is announced
            conn.execute(text("UPDATE incident SET description = 'x' WHERE id = :i"),
                         {"i": case["id"]})
            conn.rollback()
        with engine.begin() as conn:  # an update of no row: nothing either
            conn.execute(text("UPDATE incident SET description = 'x' WHERE id = -1"))
        time.sleep(0.5)
        assert live.received == heard

        with engine.begin() as conn:  # a bulk statement: one notice naming every unit
            n = conn.execute(text("UPDATE incident SET severity = severity")).rowcount
            touched = set(conn.execute(text(
                "SELECT DISTINCT unnest(ARRAY[county_id, town_id, village_id, grid_id]) "
                "FROM incident")).scalars()) - {None}
        deadline = time.monotonic() + 5
        while live.received == heard:
            assert time.monotonic() < deadline, "no notification for the bulk update"
            time.sleep(0.05)
        time.sleep(0.3)
        assert n >= 1 and live.received == heard + 1
        assert {u for u, at in live.last_unit.items() if at >= live.last_any} == touched
    finally:
        live.stop()
        engine.dispose()


def test_polling_walls_always_read(settings):
    from dashboard.wall_callbacks import must_read
    from onemap.context import Runtime

    polling = Runtime(settings=settings.with_(live_updates="poll"), engine=None, units=None)
    assert must_read(polling, time.time())
