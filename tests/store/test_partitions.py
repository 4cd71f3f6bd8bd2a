"""Partitioned history: the 玉门 demo converted in place (and back) without losing a row, the
months made ahead, old months archived to files that hold exactly their rows."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import date

import pytest
from sqlalchemy import create_engine, text

from loaders.demo import load_demo
from store import migrate, partitions
from store.engine import ensure_database
from tests.helpers import sibling_database

pytestmark = [pytest.mark.db, pytest.mark.slow]

FIGURES = """
SELECT count(*), sum(id), sum(incident_id), sum(extract(epoch FROM at))::numeric(20, 3),
       count(DISTINCT action), count(client_key), count(lon),
       coalesce(sum(('x' || left(md5(e::text), 15))::bit(60)::bigint), 0)
FROM incident_event e"""


def _figures(engine) -> tuple:
    with engine.connect() as conn:
        return tuple(conn.execute(text(FIGURES)).one())


@pytest.fixture(scope="module")
def yumen(db_url):
    url = sibling_database(db_url, "partition")
    ensure_database(url, fresh=True)
    engine = create_engine(url)
    migrate.upgrade(engine)  # the loaders write today's schema; then back to before #18
    load_demo(engine, "yumen", scale=0.05)
    migrate.downgrade(engine, "0015")
    yield engine
    engine.dispose()


def test_the_demo_converts_in_place_and_back_without_losing_a_row(yumen):
    before = _figures(yumen)
    assert before[0] > 10_000
    migrate.upgrade(yumen)
    with yumen.connect() as conn:
        kind = conn.execute(text("SELECT relkind FROM pg_class "
                                 "WHERE relname = 'incident_event'")).scalar()
        found = partitions.listing(conn)
    assert kind == "p"  # partitioned
    assert _figures(yumen) == before
    with yumen.connect() as conn:  # 0019 filled the first dispatch and 签收 from the history
        kept, differ = conn.execute(text("""
            SELECT count(i.accepted_at), count(*) FILTER (
                       WHERE i.dispatched_at IS DISTINCT FROM f.d
                          OR i.accepted_at IS DISTINCT FROM f.a)
            FROM incident i LEFT JOIN (
                SELECT incident_id, min(at) FILTER (WHERE action = 'dispatch') AS d,
                       min(at) FILTER (WHERE action = 'accept') AS a
                FROM incident_event GROUP BY incident_id) f ON f.incident_id = i.id""")).one()
    assert kept > 1000 and differ == 0
    months = [p for p in found if p.start is not None]
    assert sum(p.rows for p in found) == before[0]
    assert sum(1 for p in months if p.rows) >= 12  # a year of history spread over its months
    assert next(p for p in found if p.start is None).rows == 0  # nothing fell outside them
    with yumen.begin() as conn:  # history is still append-only, in every partition
        with pytest.raises(Exception, match="append-only"):
            conn.execute(text("UPDATE incident_event SET note = 'x' WHERE id = "
                              "(SELECT min(id) FROM incident_event)"))
    migrate.downgrade(yumen, "0015")
    assert _figures(yumen) == before
    migrate.upgrade(yumen)
    assert _figures(yumen) == before


def test_months_are_made_ahead_and_odd_rows_have_a_place(yumen):
    migrate.upgrade(yumen)
    with yumen.begin() as conn:
        assert partitions.ahead(conn) == 0  # the migration made them already
        conn.execute(text("DROP TABLE incident_event_" + date.today().strftime("%Y_%m")))
        assert partitions.ahead(conn) == 1  # and a missing one is made again
        incident = conn.execute(text("SELECT min(id) FROM incident")).scalar()
        conn.execute(text("INSERT INTO incident_event (incident_id, at, actor, action) "
                          "VALUES (:i, '1999-01-01', 'test', 'import')"), {"i": incident})
        stray = conn.execute(text("SELECT count(*) FROM incident_event_default")).scalar()
        conn.rollback()
    assert stray == 1  # a date before every month is kept, in the default partition


def test_archiving_a_month_moves_exactly_its_rows_to_a_file(yumen, tmp_path):
    migrate.upgrade(yumen)
    with yumen.connect() as conn:
        found = [p for p in partitions.listing(conn) if p.start is not None and p.rows]
    first = found[0]
    total = _figures(yumen)[0]
    with yumen.connect() as conn:
        expected = {tuple(map(str, r)) for r in conn.execute(text(
            f'SELECT id, incident_id, action FROM "{first.name}"'))}
    done = partitions.archive(yumen, first.end.date(), tmp_path)
    ours = next(a for a in done if a.partition == first.name)
    assert all(a.rows == 0 for a in done if a is not ours)  # the empty months before it
    assert ours.rows == first.rows
    assert _figures(yumen)[0] == total - first.rows
    with gzip.open(ours.path, "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["id"], r["incident_id"], r["action"]) for r in rows} == expected
    assert any(r["action"] == "escalate" for r in rows)  # so the tallies had some to forget
    meta = json.loads(ours.path.with_suffix("").with_suffix(".json").read_text())
    assert meta["rows"] == first.rows and meta["sha256"] == ours.sha256
    with yumen.connect() as conn:
        assert first.name not in {p.name for p in partitions.listing(conn, counts=False)}
    assert partitions.archive(yumen, first.end.date(), tmp_path) == []  # nothing left to do
    # the monthly tallies (0020) count the escalations the history still holds
    with yumen.connect() as conn:
        kept, history = conn.execute(text("""
            SELECT (SELECT coalesce(sum(escalations), 0) FROM incident_tally
                    WHERE lvl = 'city'),
                   (SELECT count(*) FROM incident_event e JOIN incident i
                      ON i.id = e.incident_id AND i.duplicate_of IS NULL
                    WHERE e.action = 'escalate')""")).one()
        received = conn.execute(text(
            "SELECT (SELECT sum(n) FROM incident_tally WHERE lvl = 'city'), "
            "(SELECT count(*) FROM incident WHERE duplicate_of IS NULL)")).one()
    assert kept == history > 0
    assert received[0] == received[1] > 1000  # and every case, filled by the migration
