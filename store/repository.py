"""Every query the application runs, in one place.

Callers pass an Engine (or a Connection inside their own transaction) and get plain Python
values back — dicts, GeoJSON mappings, numbers — never ORM sessions.  Keeping SQL here means
jurisdiction scoping and auditing can later be added once, for every page and API.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, text

from store.db import Bindable, connection
from store.db import rows as _rows
from store.db import scalar as _scalar


# --- health --------------------------------------------------------------------------------
def postgis_version(db: Bindable) -> str:
    return _scalar(db, "SELECT postgis_lib_version()")


# --- units ---------------------------------------------------------------------------------
def count_units(db: Bindable, *, current_only: bool = True) -> int:
    where = "WHERE valid_to IS NULL" if current_only else ""
    return int(_scalar(db, f"SELECT count(*) FROM unit {where}"))


def unit_code_exists(db: Bindable, code: str) -> bool:
    return bool(_scalar(db, "SELECT EXISTS (SELECT 1 FROM unit WHERE code = :c AND "
                            "valid_to IS NULL)", {"c": code}))


def unit_counts_by_level(db: Bindable) -> dict[int, int]:
    rows = _rows(db, "SELECT level, count(*) AS n FROM unit WHERE valid_to IS NULL "
                     "GROUP BY level ORDER BY level")
    return {r["level"]: r["n"] for r in rows}


def insert_units(conn: Connection, units: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Insert units given top-down (parents first); returns {code: id}.

    Each mapping has code, name, level, parent_code (or None), wkt (Polygon or MultiPolygon,
    WGS84) and area_m2.  A parent not among them is a current unit stored before (a county
    generated under its city).  Runs in the caller's transaction so a failed load leaves
    nothing.
    """
    ids: dict[str, int] = {}
    stmt = text(
        "INSERT INTO unit (code, name, level, parent_id, geom, area_m2) "
        "VALUES (:code, :name, :level, :parent_id, "
        "ST_Multi(ST_GeomFromText(:wkt, 4326)), :area_m2) RETURNING id")
    for unit in units:
        parent_code = unit.get("parent_code")
        if parent_code and parent_code not in ids:
            stored = _scalar(conn, "SELECT id FROM unit WHERE code = :c AND valid_to IS NULL "
                                   "ORDER BY level LIMIT 1", {"c": parent_code})
            if stored is None:
                raise ValueError(f"unit {unit['code']}: its parent {parent_code} is neither "
                                 "given before it nor stored")
            ids[parent_code] = int(stored)
        params = {
            "code": unit["code"], "name": unit["name"], "level": unit["level"],
            "parent_id": ids.get(parent_code) if parent_code else None,
            "wkt": unit["wkt"], "area_m2": unit["area_m2"],
        }
        ids[unit["code"]] = conn.scalar(stmt, params)
    return ids


def units_geojson(db: Bindable, *, level: int | None = None) -> dict[str, Any]:
    """Current units as a GeoJSON FeatureCollection (properties: id, code, name, level)."""
    where = ["valid_to IS NULL"]
    params: dict[str, Any] = {}
    if level is not None:
        where.append("level = :level")
        params["level"] = level
    sql = f"""
        SELECT json_build_object(
            'type', 'FeatureCollection',
            'features', coalesce(json_agg(json_build_object(
                'type', 'Feature',
                'id', id,
                'geometry', ST_AsGeoJSON(geom, 6)::json,
                'properties', json_build_object(
                    'id', id, 'code', code, 'name', name, 'level', level,
                    'parent_id', parent_id)
            ) ORDER BY level, code), '[]'::json))
        FROM unit WHERE {' AND '.join(where)}
    """
    value = _scalar(db, sql, params)
    return value if isinstance(value, dict) else json.loads(value)


def load_units_frame(db: Bindable, *, at: Any = None):
    """Current units (or those valid at ``at``) as a GeoDataFrame for `geo.assign`.

    Columns: id, code, name, level, parent_id, geometry (EPSG:4326).
    """
    import geopandas as gpd
    import shapely

    from store.versions import in_force_sql

    where = "valid_to IS NULL" if at is None else in_force_sql()
    rows = _rows(db, f"SELECT id, code, name, level, parent_id, ST_AsBinary(geom) AS wkb "
                     f"FROM unit WHERE {where} ORDER BY level, code", {"at": at})
    geoms = shapely.from_wkb([bytes(r.pop("wkb")) for r in rows]) if rows else []
    frame = gpd.GeoDataFrame(rows, geometry=list(geoms), crs="EPSG:4326")
    if frame.empty:
        frame = gpd.GeoDataFrame(
            {"id": [], "code": [], "name": [], "level": [], "parent_id": []},
            geometry=[], crs="EPSG:4326")
    frame["parent_id"] = frame["parent_id"].astype("Int64")
    return frame


def ancestors(db: Bindable, code: str) -> list[dict[str, Any]]:
    """The current unit ``code`` and the units above it, top down (id, code, name, level,
    parent_code, geom as shapely)."""
    import shapely

    rows = _rows(db, """
        WITH RECURSIVE up AS (
            SELECT id, code, name, level, parent_id, geom FROM unit
            WHERE code = :c AND valid_to IS NULL
            UNION ALL
            SELECT u.id, u.code, u.name, u.level, u.parent_id, u.geom
            FROM unit u JOIN up ON u.id = up.parent_id)
        SELECT up.id, up.code, up.name, up.level, p.code AS parent_code,
               ST_AsBinary(up.geom) AS wkb
        FROM up LEFT JOIN unit p ON p.id = up.parent_id ORDER BY up.level""", {"c": code})
    for r in rows:
        r["geom"] = shapely.from_wkb(bytes(r.pop("wkb")))
    return rows


def county_codes(db: Bindable) -> dict[int, str]:
    """Codes of the current counties (the level departments belong to) by id."""
    from geo.levels import COUNTY

    return {int(r["id"]): r["code"] for r in _rows(
        db, "SELECT id, code FROM unit WHERE level = :lvl AND valid_to IS NULL",
        {"lvl": COUNTY})}


def current_unit_by_code(db: Bindable, code: str) -> dict | None:
    """The highest current unit with this code (level, id, name), or None."""
    rows = _rows(db, "SELECT level, id, name FROM unit WHERE code = :c AND valid_to IS NULL "
                     "ORDER BY level LIMIT 1", {"c": code})
    return rows[0] if rows else None


def current_unit_id(db: Bindable, ref: str) -> int | None:
    """The current unit whose code (preferred) or id is ``ref``, or None."""
    return _scalar(db, "SELECT id FROM unit WHERE valid_to IS NULL AND (code = :r OR "
                       "CAST(id AS text) = :r) ORDER BY (code = :r) DESC LIMIT 1", {"r": ref})


def household_points(db: Bindable, limit: int = 200_000) -> tuple[Any, Any]:
    """Up to ``limit`` households' (lon, lat) as two arrays, an even random sample of the
    register (for telling a file's datum by how close its points come to the homes)."""
    import numpy as np

    with connection(db) as conn:
        total = conn.execute(text("SELECT count(*) FROM household")).scalar() or 0
        if not total:
            return np.zeros(0), np.zeros(0)
        share = min(1.0, limit / total)
        got = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM household "
                                "WHERE geom IS NOT NULL AND random() < :p"),
                           {"p": share}).all()
    arr = np.asarray(got, dtype=float).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]
