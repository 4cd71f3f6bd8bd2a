"""Boundary history and time travel: unit changes, versions of a code, the units of a parent
and the grid of a point as they were at an instant (reads only)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import geopandas as gpd

from geo.workflow import GRID
from store.db import Bindable
from store.db import rows as _rows
from store.db import scalar as _scalar
from store.planning import PlanError, _aware, _frame
from store.versions import in_force_sql

# --- history ---------------------------------------------------------------------------------
_CHANGE_SQL = """
    SELECT c.id, c.at, c.actor, c.effective_from, c.parent_id, p.code AS parent_code,
           p.name AS parent_name, c.kind, c.note, c.removed_ids, c.added_ids, c.summary,
           ARRAY(SELECT u.code FROM unit u WHERE u.id = ANY(c.removed_ids) ORDER BY u.code)
               AS removed_codes,
           ARRAY(SELECT u.code FROM unit u WHERE u.id = ANY(c.added_ids) ORDER BY u.code)
               AS added_codes
    FROM unit_change c LEFT JOIN unit p ON p.id = c.parent_id"""


def _change(row: dict) -> dict:
    summary = row.get("summary")
    row["summary"] = json.loads(summary) if isinstance(summary, str) else (summary or {})
    row["removed_ids"] = list(row["removed_ids"] or [])
    row["added_ids"] = list(row["added_ids"] or [])
    row["removed_codes"] = list(row["removed_codes"] or [])
    row["added_codes"] = list(row["added_codes"] or [])
    return row


def history(db: Bindable, *, parent_id: int | None = None, limit: int = 50,
            offset: int = 0) -> list[dict]:
    """Saved plans, newest first: who, when saved (``at``), from when it counts
    (``effective_from``), kind, note, codes removed/added and the summary of what moved."""
    where = "WHERE c.parent_id = :p" if parent_id is not None else ""
    rows = _rows(db, f"{_CHANGE_SQL} {where} ORDER BY c.at DESC, c.id DESC "
                     "LIMIT :limit OFFSET :offset",
                 {"p": parent_id, "limit": max(1, min(int(limit), 1000)),
                  "offset": max(0, int(offset))})
    return [_change(r) for r in rows]


def _unit_rows(db: Bindable, where: str, params: Mapping[str, Any]) -> list[dict]:
    rows = _rows(db, f"""
        SELECT id, code, name, level, parent_id, version, valid_from, valid_to, area_m2,
               ST_AsGeoJSON(geom, 7) AS geometry
        FROM unit WHERE {where} ORDER BY code, version""", params)
    for r in rows:
        r["geometry"] = json.loads(r["geometry"])
    return rows


def change_detail(db: Bindable, change_id: int) -> dict | None:
    """One saved plan (as in :func:`history`) with its ``removed`` and ``added`` unit rows,
    geometry as GeoJSON, for drawing before and after; None when there is no such change."""
    rows = _rows(db, f"{_CHANGE_SQL} WHERE c.id = :i", {"i": int(change_id)})
    if not rows:
        return None
    out = _change(rows[0])
    out["removed"] = _unit_rows(db, "id = ANY(CAST(:ids AS bigint[]))",
                                {"ids": out["removed_ids"]})
    out["added"] = _unit_rows(db, "id = ANY(CAST(:ids AS bigint[]))",
                              {"ids": out["added_ids"]})
    return out


def versions(db: Bindable, code: str, *, with_geometry: bool = False) -> list[dict]:
    """Every row ever stored under ``code``, oldest first, with valid_from/valid_to (NULL =
    current) — the boundary's history."""
    geometry = ", ST_AsGeoJSON(geom, 7) AS geometry" if with_geometry else ""
    rows = _rows(db, f"""
        SELECT id, code, name, level, parent_id, version, valid_from, valid_to,
               area_m2{geometry}
        FROM unit WHERE code = :c ORDER BY valid_from, version, id""", {"c": code})
    for r in rows:
        if with_geometry:
            r["geometry"] = json.loads(r["geometry"])
    return rows


def _valid_at(alias: str = "") -> str:
    """In force at ``:at`` (default now), by :func:`store.versions.in_force_sql`."""
    return in_force_sql(alias, "coalesce(CAST(:at AS timestamptz), now())")


def units_at(db: Bindable, parent_id_or_code: int | str, at: datetime | None = None
             ) -> gpd.GeoDataFrame:
    """The parent's child grids as they were at ``at`` (default now), to compare two dates
    side by side.  Columns: id, code, name, version, valid_from, valid_to, area_m2, geometry.

    A code names the parent row valid at ``at``; an id is used as is (planner edits never
    replace parents, so one id covers the grids' whole history).
    """
    params: dict[str, Any] = {"at": _aware(at, "at")}
    if isinstance(parent_id_or_code, str):
        # The row of the code valid at ``at``, else the current one (a parent loaded after
        # ``at`` still names its grids' history).
        params["code"] = parent_id_or_code
        parent = _scalar(db, f"SELECT id FROM unit WHERE code = :code "
                             f"ORDER BY {_valid_at()} DESC, valid_to IS NULL DESC, "
                             "valid_from DESC LIMIT 1", params)
        if parent is None:
            raise PlanError(f"没有编码为 {parent_id_or_code} 的单元 / no unit with code "
                            f"{parent_id_or_code}")
    else:
        parent = int(parent_id_or_code)
    params["p"] = parent
    rows = _rows(db, f"""
        SELECT id, code, name, version, valid_from, valid_to, area_m2,
               ST_AsBinary(geom) AS wkb
        FROM unit WHERE parent_id = :p AND {_valid_at()} ORDER BY code""", params)
    return _frame(rows, ("valid_from", "valid_to", "area_m2"))


def grid_at(db: Bindable, lon: float, lat: float, at: datetime | None = None, *,
            level: int = GRID) -> dict | None:
    """The grid whose polygon covered (lon, lat) at ``at`` (default now): id, code, name,
    version, valid_from, valid_to; None in a blank area.  A point on a shared edge goes to
    the lowest code, the rule of :mod:`geo.assign`."""
    rows = _rows(db, f"""
        SELECT id, code, name, level, parent_id, version, valid_from, valid_to FROM unit
        WHERE level = :level AND {_valid_at()}
          AND geom && ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)
          AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
        ORDER BY code LIMIT 1""",
                 {"lon": float(lon), "lat": float(lat), "at": _aware(at, "at"),
                  "level": int(level)})
    return rows[0] if rows else None
