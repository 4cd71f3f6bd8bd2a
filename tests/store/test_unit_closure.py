"""Every unit's ancestors in ``unit_closure`` (migration 0022): the same sets as the walk down
the tree that the scope function did before, after units are added, moved, deleted and
truncated; the scope function reads it; the application's role may read it, not write it."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import ProgrammingError

from geo.levels import GRID, TOWN, VILLAGE

pytestmark = pytest.mark.db

#: each unit's ancestors (itself included), by walking ``parent_id`` up — what 0022 replaced
WALKED = """
    WITH RECURSIVE up(unit_id, ancestor_id) AS (
        SELECT id, id FROM unit
        UNION
        SELECT up.unit_id, p.parent_id FROM up JOIN unit p ON p.id = up.ancestor_id
        WHERE p.parent_id IS NOT NULL)
    SELECT ancestor_id, unit_id FROM up"""


BOX = "ST_Multi(ST_MakeEnvelope(98, 39, 98.01, 39.01, 4326))"


def _pairs(conn: Connection, sql: str) -> set[tuple[int, int]]:
    return {(int(a), int(u)) for a, u in conn.execute(text(sql)).all()}


def _agrees(conn: Connection) -> None:
    kept = _pairs(conn, "SELECT ancestor_id, unit_id FROM unit_closure")
    walked = _pairs(conn, WALKED)
    assert kept == walked, (sorted(kept - walked)[:5], sorted(walked - kept)[:5])


def _add(conn: Connection, code: str, level: int, parent: int | None) -> int:
    return conn.execute(text(
        "INSERT INTO unit (code, name, level, parent_id, area_m2, geom) "
        f"VALUES (:c, :n, :l, :p, 1, {BOX}) RETURNING id"),
        {"c": code, "n": code, "l": level, "p": parent}).scalar_one()


def _subtree(conn: Connection, home: int) -> set[int]:
    with_walk = conn.execute(text("""
        WITH RECURSIVE tree(id) AS (SELECT CAST(:h AS bigint) UNION
                                    SELECT c.id FROM unit c JOIN tree t ON c.parent_id = t.id)
        SELECT array_agg(id) FROM tree"""), {"h": home}).scalar()
    return set(with_walk)


def test_the_closure_follows_every_change_of_the_tree(conn):
    _agrees(conn)  # as the migration and the demo's load (one big insert) left it
    assert conn.scalar(text("SELECT count(*) FROM unit_closure")) > \
        conn.scalar(text("SELECT count(*) FROM unit"))
    towns = [r for r, in conn.execute(text(
        "SELECT id FROM unit WHERE level = :t AND valid_to IS NULL ORDER BY id LIMIT 2"),
        {"t": TOWN})]
    # a village with two grids, added one statement at a time, then in one statement
    village = _add(conn, "T-CL-V", VILLAGE, towns[0])
    grid = _add(conn, "T-CL-G1", GRID, village)
    conn.execute(text(
        "INSERT INTO unit (code, name, level, parent_id, area_m2, geom) "
        f"SELECT 'T-CL-G' || g, 'g', :l, :v, 1, {BOX} FROM generate_series(2, 4) g"),
        {"l": GRID, "v": village})
    _agrees(conn)
    # the village moves to the other town: it and its grids get the new chain
    conn.execute(text("UPDATE unit SET parent_id = :t WHERE id = :v"),
                 {"t": towns[1], "v": village})
    _agrees(conn)
    assert (towns[1], grid) in _pairs(conn, "SELECT ancestor_id, unit_id FROM unit_closure")
    assert (towns[0], grid) not in _pairs(conn, "SELECT ancestor_id, unit_id FROM unit_closure")
    # an update that moves nothing (a rename of every unit) keeps it as it is
    before = conn.scalar(text("SELECT count(*) FROM unit_closure"))
    conn.execute(text("UPDATE unit SET name = name || ''"))
    assert conn.scalar(text("SELECT count(*) FROM unit_closure")) == before
    # a grid re-parented under nothing, then deleted
    conn.execute(text("UPDATE unit SET parent_id = NULL WHERE id = :g"), {"g": grid})
    _agrees(conn)
    conn.execute(text("DELETE FROM unit WHERE id = :g"), {"g": grid})
    _agrees(conn)
    assert conn.scalar(text("SELECT count(*) FROM unit_closure WHERE unit_id = :g "
                            "OR ancestor_id = :g"), {"g": grid}) == 0
    conn.execute(text("TRUNCATE unit CASCADE"))  # (rolled back with the test)
    assert conn.scalar(text("SELECT count(*) FROM unit_closure")) == 0


def test_the_scope_function_reads_the_same_units_as_the_walk(conn):
    homes = [r for r, in conn.execute(text(
        "SELECT id FROM unit WHERE level = :t AND valid_to IS NULL ORDER BY id LIMIT 2"),
        {"t": TOWN})]
    conn.execute(text("SELECT set_config('onemap.scope', :s, true)"),
                 {"s": ",".join(map(str, homes))})
    scoped = set(conn.scalar(text("SELECT onemap_scope_units()")))
    assert scoped == _subtree(conn, homes[0]) | _subtree(conn, homes[1])
    assert len(scoped) > 2
    conn.execute(text("SELECT set_config('onemap.scope', '', true)"))
    assert conn.scalar(text("SELECT onemap_scope_units()")) == []


def test_the_app_role_reads_the_closure_but_cannot_write_it(conn):
    conn.execute(text("SET LOCAL ROLE onemap_app"))
    assert conn.scalar(text("SELECT count(*) FROM unit_closure")) > 0
    with pytest.raises(ProgrammingError, match="permission denied"):
        with conn.begin_nested():
            conn.execute(text("INSERT INTO unit_closure VALUES (1, 1)"))
