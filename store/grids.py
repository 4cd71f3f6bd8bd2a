"""Queries behind the planner's files (QGIS round trip): the current grids with their parent
and households, units by code, and the parent unit under a point."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from store.db import Bindable, rows, scalar


def grid_level(db: Bindable) -> int | None:
    """The deepest level of the current units (grids), or None without units."""
    level = scalar(db, "SELECT max(level) FROM unit WHERE valid_to IS NULL")
    return None if level is None else int(level)


def current_unit(db: Bindable, code: str) -> dict[str, Any] | None:
    """The current unit with this code (id, level, name), or None."""
    found = rows(db, "SELECT id, level, name FROM unit WHERE code = :c AND valid_to IS NULL",
                 {"c": code})
    return found[0] if found else None


def grids(db: Bindable, level: int, *, root: int | None = None) -> list[dict[str, Any]]:
    """Current units of ``level`` (all, or under unit ``root``) with parent code, version,
    household count and WKB geometry, ordered by code."""
    params: dict[str, Any] = {"level": level}
    scope = ""
    if root is not None:
        scope = """AND g.id IN (WITH RECURSIVE tree AS (
                       SELECT id FROM unit WHERE id = :root
                       UNION ALL
                       SELECT u.id FROM unit u JOIN tree t ON u.parent_id = t.id
                       WHERE u.valid_to IS NULL)
                   SELECT id FROM tree)"""
        params["root"] = root
    return rows(db, f"""
        SELECT g.id, g.code, g.name, p.code AS parent_code, g.version,
               (SELECT count(*) FROM household h WHERE h.grid_id = g.id) AS households,
               ST_AsBinary(g.geom) AS wkb
        FROM unit g LEFT JOIN unit p ON p.id = g.parent_id
        WHERE g.valid_to IS NULL AND g.level = :level {scope}
        ORDER BY g.code""", params)


def units_by_codes_or_parents(db: Bindable, level: int, codes: Sequence[str],
                              parent_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Current units with the given codes, or current units of ``level`` under the given
    parents (id, code, name, level, version, parent_id, parent_code, wkb)."""
    return rows(db, """
        SELECT u.id, u.code, u.name, u.level, u.version, u.parent_id, p.code AS parent_code,
               ST_AsBinary(u.geom) AS wkb
        FROM unit u LEFT JOIN unit p ON p.id = u.parent_id
        WHERE u.valid_to IS NULL
          AND (u.code = ANY(:codes) OR (u.level = :level AND u.parent_id = ANY(:parents)))
        ORDER BY u.code""", {"codes": list(codes), "parents": [int(p) for p in parent_ids],
                             "level": level})


def ids_by_code(db: Bindable, level: int, codes: Sequence[str]) -> dict[str, int]:
    """Current units of ``level`` with these codes: code → id."""
    return {r["code"]: int(r["id"]) for r in rows(
        db, "SELECT id, code FROM unit WHERE valid_to IS NULL AND level = :lvl "
            "AND code = ANY(:c)", {"lvl": level, "c": list(codes)})}


def unit_at(db: Bindable, level: int, wkt: str) -> int | None:
    """The current unit of ``level`` that holds the WKT point (the first by code)."""
    found = scalar(db, "SELECT id FROM unit WHERE valid_to IS NULL AND level = :lvl AND "
                       "ST_Intersects(geom, ST_GeomFromText(:pt, 4326)) ORDER BY code LIMIT 1",
                   {"lvl": level, "pt": wkt})
    return None if found is None else int(found)


def grids_near(db: Bindable, ids: Sequence[int], level: int, *, reach_deg: float = 0.003,
               tolerance_deg: float = 0.00002, limit: int = 300) -> list[dict[str, Any]]:
    """The current units of ``level`` among ``ids`` and those around them (within
    ``reach_deg``), with simplified GeoJSON geometry: a phone's cached copy of its grids and
    their neighbours (boundaries only: no people, no cases)."""
    if not ids:
        return []
    return rows(db, """
        WITH mine AS (SELECT ST_Collect(geom) AS g FROM unit WHERE id = ANY(:ids))
        SELECT u.id, u.code, u.name, u.id = ANY(:ids) AS mine,
               ST_AsGeoJSON(ST_SimplifyPreserveTopology(u.geom, :tol), 6) AS geometry
        FROM unit u, mine
        WHERE u.valid_to IS NULL AND u.level = :level
          AND u.geom && ST_Expand(mine.g, :reach) AND ST_DWithin(u.geom, mine.g, :reach)
        ORDER BY (u.id = ANY(:ids)) DESC, u.code
        LIMIT :limit""", {"ids": list(ids), "level": level, "reach": reach_deg,
                          "tol": tolerance_deg, "limit": limit})
