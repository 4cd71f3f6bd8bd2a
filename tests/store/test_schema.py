"""The schema on the real server: geometry round trips, constraints, indexes, history."""

from __future__ import annotations

import pytest
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon, Point, Polygon
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from store.models import Incident, Unit

pytestmark = pytest.mark.db


def test_polygon_and_point_round_trip_with_srid(conn):
    square = MultiPolygon([Polygon([(97.0, 40.0), (97.01, 40.0), (97.01, 40.01),
                                    (97.0, 40.01)])])
    session = Session(bind=conn)
    unit = Unit(code="T-RT-1", name="往返测试", level=0, geom=from_shape(square, srid=4326),
                area_m2=1.0)
    session.add(unit)
    session.flush()
    incident = Incident(source="grid_app", external_id="rt-1", category="测试",
                        geom=from_shape(Point(97.005, 40.005), srid=4326))
    session.add(incident)
    session.flush()
    session.expire_all()

    stored = session.get(Unit, unit.id)
    assert to_shape(stored.geom).equals(square)
    assert stored.geom.srid == 4326
    assert conn.scalar(text("SELECT ST_SRID(geom) FROM unit WHERE id = :i"), {"i": unit.id}) == 4326
    point = to_shape(session.get(Incident, incident.id).geom)
    assert (point.x, point.y) == (97.005, 40.005)
    assert conn.scalar(text("SELECT ST_Contains(u.geom, i.geom) FROM unit u, incident i "
                            "WHERE u.id = :u AND i.id = :i"), {"u": unit.id, "i": incident.id})


def test_geometry_type_and_srid_are_enforced(conn):
    with pytest.raises(DBAPIError, match="(?i)srid|geometry type"):
        conn.execute(text("INSERT INTO unit (code, name, level, geom, area_m2) VALUES "
                          "('X', 'x', 0, ST_GeomFromText('POINT(1 1)', 4326), 0)"))


def test_source_external_id_is_unique(conn):
    insert = text("INSERT INTO incident (source, external_id, category) "
                  "VALUES (:s, :e, '测试')")
    conn.execute(insert, {"s": "hotline_12345", "e": "dup-1"})
    conn.execute(insert, {"s": "grid_app", "e": "dup-1"})  # same id, other channel: fine
    nested = conn.begin_nested()
    with pytest.raises(IntegrityError, match="uq_incident_source_external_id"):
        conn.execute(insert, {"s": "hotline_12345", "e": "dup-1"})
    nested.rollback()
    assert conn.scalar(text("SELECT count(*) FROM incident WHERE external_id = 'dup-1'")) == 2


def test_unknown_source_and_severity_are_refused(conn):
    for column, value in (("source", "fax"), ("severity", "urgent")):
        params = {"source": "grid_app", "severity": "low", column: value}
        nested = conn.begin_nested()
        with pytest.raises(IntegrityError, match=f"ck_incident_{column}"):
            conn.execute(text("INSERT INTO incident (source, external_id, category, severity) "
                              "VALUES (:source, 'x', 'c', :severity)"), params)
        nested.rollback()


def test_incident_history_is_append_only(conn):
    incident_id = conn.scalar(text(
        "INSERT INTO incident (source, external_id, category) VALUES ('other', 'h-1', 'c') "
        "RETURNING id"))
    conn.execute(text("INSERT INTO incident_event (incident_id, actor, action, to_status) "
                      "VALUES (:i, 'tester', 'receive', 'received')"), {"i": incident_id})
    for statement in ("UPDATE incident_event SET note = 'changed'", "DELETE FROM incident_event"):
        nested = conn.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text(statement))
        nested.rollback()
    assert conn.scalar(text("SELECT count(*) FROM incident_event WHERE incident_id = :i"),
                       {"i": incident_id}) == 1


def test_current_unit_codes_are_unique_but_history_may_repeat_them(conn):
    insert = text("INSERT INTO unit (code, name, level, geom, area_m2, valid_from, valid_to) "
                  "VALUES ('DUPCODE', 'x', 0, ST_Multi(ST_MakeEnvelope(0, 0, 1, 1, 4326)), 1, "
                  ":f, :t)")
    conn.execute(insert, {"f": "2025-01-01", "t": "2026-01-01"})  # an old version
    conn.execute(insert, {"f": "2026-01-01", "t": None})  # the current one
    nested = conn.begin_nested()
    with pytest.raises(IntegrityError, match="ux_unit_code_current"):
        conn.execute(insert, {"f": "2026-02-01", "t": None})
    nested.rollback()


def test_point_lookup_on_10000_units_uses_the_gist_index(conn):
    conn.execute(text("""
        INSERT INTO unit (code, name, level, geom, area_m2)
        SELECT 'G' || i || '-' || j, 'grid', 3,
               ST_Multi(ST_MakeEnvelope(100 + i * 0.01, 30 + j * 0.01,
                                        100 + (i + 1) * 0.01, 30 + (j + 1) * 0.01, 4326)), 1e6
        FROM generate_series(0, 99) i, generate_series(0, 99) j
    """))
    conn.execute(text("ANALYZE unit"))
    assert conn.scalar(text("SELECT count(*) FROM unit WHERE code LIKE 'G%-%'")) == 10_000
    query = ("SELECT id FROM unit WHERE ST_Contains(geom, "
             "ST_SetSRID(ST_MakePoint(100.555, 30.555), 4326))")
    plan = "\n".join(conn.scalars(text("EXPLAIN " + query)))
    assert "idx_unit_geom" in plan, plan
    assert "Seq Scan" not in plan, plan
    hits = conn.execute(text(query)).all()
    assert len(hits) == 1


def test_the_database_takes_exactly_the_registered_channels(conn):
    from geo.catalog import SOURCES

    definition = conn.scalar(text(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'ck_incident_source'"))
    for code in SOURCES:
        assert f"'{code}'" in definition
    for code in SOURCES:
        nested = conn.begin_nested()
        conn.execute(text("INSERT INTO incident (source, external_id, category, severity) "
                          "VALUES (:s, 'channel-check', 'other', 'low')"), {"s": code})
        nested.rollback()


def test_schema_lists_repeat_the_registries_exactly():
    """store.models repeats the workflow's states and the key roles so that the schema does
    not import the workflow; this keeps the copies equal."""
    from geo.workflow import STATES
    from store import api_keys, models

    assert set(models.INCIDENT_STATES) == set(STATES)
    assert tuple(models.API_KEY_ROLES) == tuple(api_keys.ROLES)


def test_copy_frame_keeps_instants_and_missing_times(conn):
    """The demo loaders' COPY writes timestamps as text itself (pandas' per-value formatting
    was most of a load's client time): aware times keep their instant, naive ones their wall
    time, NaT becomes NULL."""
    import pandas as pd

    from store.bulk import copy_frame

    conn.execute(text("CREATE TEMP TABLE t_copy (aware timestamptz, naive timestamp, n int)"))
    aware = pd.Series(pd.to_datetime(["2025-03-01 08:30:15.123456", None,
                                      "2026-12-31 23:59:59.000000"]))
    aware = aware.dt.tz_localize("Asia/Shanghai")
    naive = pd.Series(pd.to_datetime(["2025-03-01 08:30:15", "2024-02-29 00:00:00", None]))
    frame = pd.DataFrame({"aware": aware, "naive": naive, "n": [1, 2, 3]})
    assert copy_frame(conn, "t_copy", frame) == 3
    rows = conn.execute(text(
        "SELECT n, to_char(aware AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), "
        "to_char(naive, 'YYYY-MM-DD HH24:MI:SS') FROM t_copy ORDER BY n")).all()
    assert rows == [(1, "2025-03-01 00:30:15.123456", "2025-03-01 08:30:15"),
                    (2, None, "2024-02-29 00:00:00"),
                    (3, "2026-12-31 15:59:59.000000", None)]
