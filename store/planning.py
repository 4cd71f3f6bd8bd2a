"""The database side of the grid planner: read a parent's grids and the points bound to them,
lock and write a :class:`geo.planning.Proposal` as new unit versions, and read the history back.
The decisions (is the plan valid, which new grid holds each point) are the planning service's
(:func:`planning.service.save`); this module only locks, reads and writes.

Saving is one transaction that either writes everything or nothing:

1. lock the parent and the retired rows (``FOR NO KEY UPDATE``: planners of one parent queue
   up, intake keeps inserting incidents that reference these units meanwhile);
2. optimistic locking: every retired row must still be current at the version the planner
   saw (``Proposal.versions``), else :class:`PlanConflict` names who saved first;
3. the planning service re-validates against the grids as they are now
   (:func:`geo.planning.validate`) and decides each point's new grid;
4. retire the old rows (``valid_to``), insert the new ones (``version`` + 1 for a kept code);
5. re-point households, cameras and open incidents by the service's
   :func:`geo.planning.assign` on the same points :func:`plan_points` gives the preview (so
   the saved result equals the preview), grid workers with :func:`geo.planning.successors`;
   every re-pointed open incident gets one ``reassign`` event; closed incidents keep the grid
   they were handled in;
6. log the change in ``unit_change``.

Old rows are never deleted: :func:`units_at`, :func:`grid_at` and :func:`versions` answer
"which grid was this on that day".  Geometry is WGS84 (SRID 4326) throughout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import Connection, text

from geo.crs import area_m2
from geo.planning import PlanContext, PointSet, Proposal
from onemap.errors import OneMapError
from store.db import Bindable
from store.db import connection as _connect
from store.db import rows as _rows

BBox = tuple[float, float, float, float]

# A caller's clock may run a little ahead of the database's: this much "future" is now.
_CLOCK_SKEW_S = 5.0


class PlanError(OneMapError):
    """A plan cannot be saved as it is (invalid geometry, taken code, bad effective date…)."""


class PlanConflict(PlanError):
    """Someone saved some of these grids after the planner loaded them: reload and redo."""


@dataclass(frozen=True)
class SaveResult:
    """What :func:`write_plan` wrote: the ``unit_change`` id, the new unit id of every added
    code, and how many rows were re-pointed (``households``, ``cameras``, ``workers``,
    ``incidents``; ``incidents_moved`` = open incidents now in a grid of another code)."""

    change_id: int
    added: dict[str, int]
    moved: dict[str, int]
    effective: datetime
    unassigned: dict[str, int] = field(default_factory=dict)


# --- helpers ---------------------------------------------------------------------------------


def _aware(value: datetime | None, what: str) -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise PlanError(f"{what} 必须带时区 / must be a timezone-aware datetime, "
                        f"got {value!r}")
    return value


def _frame(rows: list[dict], extra: Sequence[str] = ()) -> gpd.GeoDataFrame:
    """Unit rows with a ``wkb`` column as a GeoDataFrame (EPSG:4326)."""
    columns = ["id", "code", "name", "version", *extra]
    if not rows:
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs="EPSG:4326")
    geoms = shapely.from_wkb([bytes(r.pop("wkb")) for r in rows])
    frame = gpd.GeoDataFrame(rows, geometry=list(geoms), crs="EPSG:4326")
    frame["id"] = frame["id"].astype("int64")
    frame["version"] = frame["version"].astype("int64")
    return frame


def _fmt_time(value: Any) -> str:
    return value.isoformat(sep=" ", timespec="seconds") if isinstance(value, datetime) \
        else str(value)


# --- reading the plan ------------------------------------------------------------------------
def parent_of(db: Bindable, unit_id: int) -> int:
    """The parent id of a unit (any version), so a page opened on a grid edits its village."""
    row = _rows(db, "SELECT parent_id FROM unit WHERE id = :i", {"i": int(unit_id)})
    if not row:
        raise PlanError(f"单元 {unit_id} 不存在 / unit {unit_id} does not exist")
    if row[0]["parent_id"] is None:
        raise PlanError(f"单元 {unit_id} 没有上级单元，不能在规划中编辑 / unit {unit_id} has no "
                        "parent, so it cannot be edited in the planner")
    return int(row[0]["parent_id"])


def plan_context(db: Bindable, parent_id: int) -> PlanContext:
    """The current parent and its current child grids, for :mod:`geo.planning`.

    Only a parent whose children are the deepest level can be planned: redrawing villages
    would change the ids frozen on incidents at every level below.
    """
    parent = _rows(db, """
        SELECT id, code, name, level, valid_to, ST_AsBinary(geom) AS wkb
        FROM unit WHERE id = :p""", {"p": int(parent_id)})
    if not parent:
        raise PlanError(f"上级单元 {parent_id} 不存在 / parent unit {parent_id} does not exist")
    parent = parent[0]
    if parent["valid_to"] is not None:
        raise PlanError(f"上级单元 {parent['code']}（id {parent_id}）已于 "
                        f"{_fmt_time(parent['valid_to'])} 停用，请重新加载 / parent unit "
                        f"{parent['code']} (id {parent_id}) is no longer current; reload")
    rows = _rows(db, """
        SELECT u.id, u.code, u.name, u.version, ST_AsBinary(u.geom) AS wkb,
               EXISTS (SELECT 1 FROM unit c WHERE c.parent_id = u.id
                       AND c.valid_to IS NULL) AS has_children
        FROM unit u WHERE u.parent_id = :p AND u.valid_to IS NULL ORDER BY u.code""",
                 {"p": int(parent_id)})
    nested = [r["code"] for r in rows if r["has_children"]]
    if nested:
        raise PlanError(
            f"{parent['code']} {parent['name']} 的下级单元 {', '.join(nested[:5])} 还有下级，"
            "只能在最底层（网格）规划，请选择村/社区 / the children of "
            f"{parent['code']} have children of their own; the planner edits only the deepest "
            "level (grids): open a village or community instead")
    for r in rows:
        r.pop("has_children")
    retired = _rows(db, "SELECT DISTINCT code FROM unit WHERE parent_id = :p "
                        "AND valid_to IS NOT NULL AND code <> ALL(CAST(:current AS text[]))",
                    {"p": int(parent_id), "current": [r["code"] for r in rows]})
    return PlanContext(parent_id=int(parent["id"]), parent_code=parent["code"],
                       parent_name=parent["name"],
                       parent_geometry=shapely.from_wkb(bytes(parent["wkb"])),
                       units=_frame(rows),
                       retired_codes=frozenset(r["code"] for r in retired))


def _points_scope(proposal_or_scope: Proposal | tuple[Sequence[int], BBox | None]
                  ) -> tuple[list[int], BBox | None]:
    if isinstance(proposal_or_scope, Proposal):
        removed = [int(i) for i in proposal_or_scope.removed]
        geoms = [u.geometry for u in proposal_or_scope.added]
        bbox = tuple(float(v) for v in shapely.total_bounds(geoms)) if geoms else None
        return removed, bbox
    removed, bbox = proposal_or_scope
    return [int(i) for i in removed], (tuple(float(v) for v in bbox) if bbox else None)


def _point_set(rows: list[Any], with_weight: bool) -> PointSet:
    if not rows:
        return PointSet(xy=np.empty((0, 2)), grid_id=np.empty(0, dtype=np.int64),
                        weight=np.empty(0, dtype=np.int64) if with_weight else None,
                        ids=np.empty(0, dtype=np.int64))
    arr = np.asarray([tuple(r) for r in rows], dtype=float)
    return PointSet(xy=arr[:, 1:3].copy(), grid_id=arr[:, 3].astype(np.int64),
                    weight=arr[:, 4].astype(np.int64) if with_weight else None,
                    ids=arr[:, 0].astype(np.int64))


def _points_sql(table: str, columns: str, extra_where: str, bbox: BBox | None) -> str:
    """Rows of the removed grids, plus rows in no grid inside the bbox (grid_id -1)."""
    sql = f"""
        SELECT id, ST_X(geom), ST_Y(geom), grid_id{columns} FROM {table}
        WHERE grid_id = ANY(CAST(:removed AS bigint[])) AND geom IS NOT NULL{extra_where}"""
    if bbox is not None:
        sql += f"""
        UNION ALL
        SELECT id, ST_X(geom), ST_Y(geom), -1{columns} FROM {table}
        WHERE grid_id IS NULL
          AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326){extra_where}"""
    return sql + " ORDER BY 1"


def plan_points(db: Bindable, proposal_or_scope: Proposal | tuple[Sequence[int], BBox | None]
                ) -> dict[str, Any]:
    """The points an edit can move: ``households`` (weight = size), ``cameras``, open
    ``incidents`` (closed ones keep their grid) as :class:`PointSet` with row ids, and
    ``workers`` {grid_id: n}.

    Only rows whose grid is a removed one, plus rows in no grid (``grid_id`` -1) inside the
    bbox of the added grids, given either by a proposal or as ``(removed_ids, bbox)``.  The
    preview and the save (:func:`planning.service.save`) both use this, so they see the same
    points.  Incidents without a location are left out (they follow
    :func:`geo.planning.successors` on save).
    """
    removed, bbox = _points_scope(proposal_or_scope)
    params: dict[str, Any] = {"removed": removed}
    if bbox is not None:
        params.update(zip(("x0", "y0", "x1", "y1"), bbox, strict=True))
    with _connect(db) as conn:
        def fetch(table: str, columns: str = "", extra: str = "") -> list[Any]:
            return conn.execute(text(_points_sql(table, columns, extra, bbox)), params).all()

        households = _point_set(fetch("household", ", size"), True)
        cameras = _point_set(fetch("camera"), False)
        incidents = _point_set(fetch("incident", extra=" AND closed_at IS NULL"), False)
        workers = {int(g): int(n) for g, n in conn.execute(text(
            "SELECT grid_id, count(*) FROM grid_worker "
            "WHERE grid_id = ANY(CAST(:removed AS bigint[])) GROUP BY grid_id"), params)}
    return {"households": households, "cameras": cameras, "incidents": incidents,
            "workers": workers}


# --- saving ----------------------------------------------------------------------------------
def _conflict_message(conn: Connection, parent_id: int, stale: list[dict]) -> str:
    """Who changed these grids since the planner loaded them, and when."""
    parts = []
    for row in stale:
        # Retired: the change that retired it; still current at another version: the one
        # that wrote this version.
        column = "removed_ids" if row["valid_to"] is not None else "added_ids"
        change = conn.execute(text(f"""
            SELECT actor, at FROM unit_change
            WHERE parent_id = :p AND CAST(:i AS bigint) = ANY({column})
            ORDER BY at DESC, id DESC LIMIT 1"""), {"p": parent_id, "i": row["id"]}).first()
        if change is not None:
            who, when = change.actor, change.at
        else:  # changed outside the planner (a loader, a manual fix)
            who, when = "其他程序 / another program", row["valid_to"] or row["valid_from"]
        parts.append(f"{row['code']}（{who}，{_fmt_time(when)}）")
    codes = ", ".join(r["code"] for r in stale)
    return (f"网格 {codes} 在您加载后已被他人修改并保存：{'；'.join(parts)}。本次未保存任何内容，"
            f"请重新加载后再编辑 / grid(s) {codes} were changed and saved by someone else "
            f"after you loaded them ({'; '.join(parts)}); nothing was saved: reload the plan "
            "and redo your edit")


def _lock_removed(conn: Connection, proposal: Proposal) -> dict[int, dict]:
    """Lock the retired rows; refuse (nothing written) unless all are current at the version
    the planner saw."""
    removed = sorted({int(i) for i in proposal.removed})
    if len(removed) != len(proposal.removed):
        raise PlanError("提案中有重复的删除单元 / the proposal removes a unit twice")
    rows = {int(r["id"]): dict(r) for r in conn.execute(text("""
        SELECT id, code, name, level, parent_id, version, valid_from, valid_to FROM unit
        WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR NO KEY UPDATE"""),
        {"ids": removed}).mappings()}
    missing = [i for i in removed if i not in rows]
    if missing:
        raise PlanError(f"单元 {missing} 不存在 / unit(s) {missing} do not exist")
    foreign = [r["code"] for r in rows.values() if r["parent_id"] != proposal.parent_id]
    if foreign:
        raise PlanError(f"网格 {', '.join(foreign)} 不属于上级单元 {proposal.parent_id}，一次只能"
                        f"编辑一个村/社区的网格 / grid(s) {', '.join(foreign)} are not children "
                        f"of unit {proposal.parent_id}; a plan edits the grids of one parent")
    unversioned = [rows[i]["code"] for i in removed if i not in proposal.versions]
    if unversioned:
        codes = ", ".join(unversioned)
        raise PlanError(f"提案缺少网格 {codes} 的版本号（乐观锁需要），请重新加载 / the "
                        f"proposal lacks the version of grid(s) {codes} "
                        "(needed to detect concurrent edits); reload the plan")
    stale = [rows[i] for i in removed
             if rows[i]["valid_to"] is not None
             or int(rows[i]["version"]) != int(proposal.versions[i])]
    if stale:
        raise PlanConflict(_conflict_message(conn, proposal.parent_id, stale))
    return rows


def _effective(conn: Connection, effective: datetime | None, removed: dict[int, dict]
               ) -> datetime:
    row = conn.execute(text(
        "SELECT coalesce(CAST(:e AS timestamptz), now()) AS eff, "
        "CAST(:e AS timestamptz) > clock_timestamp() + make_interval(secs => :skew) AS future"),
        {"e": _aware(effective, "effective"), "skew": _CLOCK_SKEW_S}).one()
    if row.future:
        raise PlanError(f"生效时间 {_fmt_time(effective)} 在将来：规划只能从现在或过去生效 / "
                        f"effective time {_fmt_time(effective)} is in the future; a plan "
                        "takes effect now or from a past date")
    too_early = [r for r in removed.values() if r["valid_from"] >= row.eff]
    if too_early:
        first = max(too_early, key=lambda r: r["valid_from"])
        raise PlanError(
            f"生效时间 {_fmt_time(row.eff)} 不晚于网格 {first['code']} 当前版本的生效时间 "
            f"{_fmt_time(first['valid_from'])}，请选更晚的时间 / effective time "
            f"{_fmt_time(row.eff)} is not after grid {first['code']}'s current version took "
            f"effect ({_fmt_time(first['valid_from'])}); choose a later time")
    return row.eff


def _check_codes(conn: Connection, proposal: Proposal, removed: dict[int, dict]) -> None:
    codes = [u.code for u in proposal.added]
    dup = sorted({c for c in codes if codes.count(c) > 1})
    if dup:
        raise PlanError(f"新网格编码重复：{', '.join(dup)} / duplicate new grid code(s): "
                        f"{', '.join(dup)}")
    kept = {r["code"] for r in removed.values()}
    taken = [r[0] for r in conn.execute(text(
        "SELECT code FROM unit WHERE valid_to IS NULL AND code = ANY(CAST(:c AS text[])) "
        "ORDER BY code"), {"c": [c for c in codes if c not in kept]})]
    if taken:
        raise PlanError(f"编码 {', '.join(taken)} 已被其他现行单元使用，请换一个编码 / code(s) "
                        f"{', '.join(taken)} belong to another current unit; choose another")


def _insert_units(conn: Connection, proposal: Proposal, level: int, eff: datetime
                  ) -> dict[str, tuple[int, int]]:
    """Insert the added grids; returns {code: (id, version)}."""
    codes = [u.code for u in proposal.added]
    if not codes:
        return {}
    last = dict(conn.execute(text(
        "SELECT code, max(version) FROM unit WHERE code = ANY(CAST(:c AS text[])) "
        "GROUP BY code"), {"c": codes}).all())
    geoms = [u.geometry for u in proposal.added]
    areas = area_m2(geoms)
    out: dict[str, tuple[int, int]] = {}
    stmt = text("""
        INSERT INTO unit (code, name, level, parent_id, geom, area_m2, version, valid_from)
        VALUES (:code, :name, :level, :parent, ST_Multi(ST_GeomFromWKB(:wkb, 4326)), :area,
                :version, :eff) RETURNING id""")
    for unit, geom, area in zip(proposal.added, geoms, areas, strict=True):
        version = int(last.get(unit.code) or 0) + 1
        new_id = conn.scalar(stmt, {
            "code": unit.code, "name": unit.name, "level": level,
            "parent": proposal.parent_id, "wkb": shapely.to_wkb(geom), "area": float(area),
            "version": version, "eff": eff})
        out[unit.code] = (int(new_id), version)
    return out


def _repoint(conn: Connection, table: str, ids: np.ndarray, grid_ids: list[int | None],
             extra_set: str = "") -> int:
    """Set ``grid_id`` row by row (one statement); returns how many rows changed.

    ``id = ANY(ids)`` besides the join makes the planner fetch the rows by primary key
    instead of hashing the whole table (400k households: 0.2 s saved per save)."""
    if len(ids) == 0:
        return 0
    result = conn.execute(text(f"""
        UPDATE {table} t SET grid_id = v.g{extra_set}
        FROM unnest(CAST(:ids AS bigint[]), CAST(:gids AS bigint[])) AS v(id, g)
        WHERE t.id = v.id AND t.id = ANY(CAST(:ids AS bigint[]))
          AND t.grid_id IS DISTINCT FROM v.g"""),
        {"ids": [int(i) for i in ids], "gids": grid_ids})
    return int(result.rowcount)


def _new_ids(codes: np.ndarray, added: dict[str, tuple[int, int]]) -> list[int | None]:
    return [added[c][0] if c is not None else None for c in codes]


def _unit_label(code: str | None, version: int | None) -> str:
    if code is None:
        return "无网格 / no grid"
    return f"{code} v{version}" if version is not None else code


@dataclass(frozen=True)
class Locked:
    """What :func:`lock_plan` holds for the save: the parent's level, the retired rows (id →
    row) and the effective time."""

    parent_level: int
    removed: dict[int, dict]
    effective: datetime


def lock_plan(conn: Connection, proposal: Proposal, effective: datetime | None) -> Locked:
    """Lock the parent and the retired rows for the rest of the caller's transaction and check
    the optimistic lock, the effective time and the new codes.  Raises
    :class:`PlanConflict` when a retired grid changed since the planner loaded it,
    :class:`PlanError` otherwise; nothing is written."""
    parent = conn.execute(text(
        "SELECT id, code, level, valid_to FROM unit WHERE id = :p FOR NO KEY UPDATE"),
        {"p": proposal.parent_id}).mappings().first()
    if parent is None or parent["valid_to"] is not None:
        raise PlanError(f"上级单元 {proposal.parent_id} 不存在或已停用，请重新加载 / parent unit "
                        f"{proposal.parent_id} does not exist or is no longer current; reload")
    removed = _lock_removed(conn, proposal)
    eff = _effective(conn, effective, removed)
    _check_codes(conn, proposal, removed)
    return Locked(int(parent["level"]), removed, eff)


def unlocated_open_incidents(conn: Connection, grid_ids: Sequence[int]) -> list[tuple[int, int]]:
    """(incident id, grid id) of open incidents without a position in these grids."""
    return [(int(r.id), int(r.grid_id)) for r in conn.execute(text("""
        SELECT id, grid_id FROM incident
        WHERE grid_id = ANY(CAST(:r AS bigint[])) AND geom IS NULL AND closed_at IS NULL
        ORDER BY id"""), {"r": sorted(grid_ids)})]


def write_plan(conn: Connection, proposal: Proposal, locked: Locked, *,
               points: Mapping[str, PointSet], codes: Mapping[str, Sequence[str | None]],
               successors: Mapping[int, str | None], unlocated: Sequence[tuple[int, int]],
               actor: str, note: str = "") -> SaveResult:
    """Write a checked plan inside the caller's transaction (after :func:`lock_plan`): retire
    the old rows, insert the new versions, re-point households, cameras and open incidents to
    the new grid ``codes`` the planning service gave each point (``None``: no grid), grid
    workers and unlocated incidents to their grid's successor, and log the change."""
    removed, eff = locked.removed, locked.effective
    conn.execute(text("UPDATE unit SET valid_to = :eff WHERE id = ANY(CAST(:ids AS bigint[]))"),
                 {"eff": eff, "ids": sorted(removed)})
    added = _insert_units(conn, proposal, locked.parent_level + 1, eff)

    moved: dict[str, int] = {}
    unassigned: dict[str, int] = {}
    for key, table in (("households", "household"), ("cameras", "camera")):
        moved[key] = _repoint(conn, table, points[key].ids, _new_ids(codes[key], added))
        unassigned[key] = int(sum(c is None for c in codes[key]))

    workers = 0
    for old_id, code in sorted(successors.items()):
        workers += conn.execute(text(
            "UPDATE grid_worker SET grid_id = :g WHERE grid_id = :old"),
            {"g": added[code][0] if code else None, "old": int(old_id)}).rowcount
    moved["workers"] = int(workers)

    moved["incidents"], moved["incidents_moved"], unassigned["incidents"] = _move_incidents(
        conn, points["incidents"], list(codes["incidents"]), unlocated, removed, successors,
        added, actor)

    added_ids = [added[u.code][0] for u in proposal.added]
    summary = {
        **moved, "unassigned": unassigned,
        "removed": [{"id": i, "code": r["code"], "version": int(r["version"])}
                    for i, r in sorted(removed.items())],
        "added": [{"id": added[u.code][0], "code": u.code, "version": added[u.code][1]}
                  for u in proposal.added],
    }
    change_id = conn.scalar(text("""
        INSERT INTO unit_change (actor, effective_from, parent_id, kind, removed_ids,
                                 added_ids, note, summary)
        VALUES (:actor, :eff, :parent, :kind, CAST(:removed AS bigint[]),
                CAST(:added AS bigint[]), :note, CAST(:summary AS jsonb))
        RETURNING id"""), {
        "actor": actor, "eff": eff, "parent": proposal.parent_id, "kind": proposal.kind,
        "removed": sorted(removed), "added": added_ids,
        "note": note or proposal.note or None,
        "summary": json.dumps(summary, ensure_ascii=False)})
    return SaveResult(change_id=int(change_id),
                      added={code: v[0] for code, v in added.items()},
                      moved=moved, effective=eff, unassigned=unassigned)


def _move_incidents(conn: Connection, incidents: PointSet, codes: list[str | None],
                    unlocated: Sequence[tuple[int, int]], removed: dict[int, dict],
                    successors: Mapping[int, str | None], added: dict[str, tuple[int, int]],
                    actor: str) -> tuple[int, int, int]:
    """Re-point open incidents (by position; unlocated ones by successor) and append one
    'reassign' event to each; returns (re-pointed, now under another code, left in no grid)."""
    ids = [int(i) for i in incidents.ids]
    old = [int(g) for g in incidents.grid_id]
    codes = list(codes)
    # Open incidents of a retired grid without a position follow the grid's successor.
    for incident_id, grid_id in unlocated:
        ids.append(incident_id)
        old.append(grid_id)
        codes.append(successors.get(grid_id))
    left = sum(c is None for c in codes)
    changes = [(i, o, c) for i, o, c in zip(ids, old, codes, strict=True)
               if (o == -1 and c is not None) or o in removed]
    if not changes:
        return 0, 0, left
    new_ids = [added[c][0] if c is not None else None for _, _, c in changes]
    notes = []
    code_moved = 0
    for _, o, c in changes:
        old_code = removed[o]["code"] if o in removed else None
        old_version = int(removed[o]["version"]) if o in removed else None
        notes.append(f"网格改划 / grid redrawn: {_unit_label(old_code, old_version)} → "
                     f"{_unit_label(c, added[c][1] if c else None)}")
        code_moved += int(c != old_code)
    conn.execute(text("""
        WITH v AS (
            SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:gids AS bigint[]),
                                 CAST(:notes AS text[])) AS v(id, g, note)
        ), up AS (
            UPDATE incident i SET grid_id = v.g, updated_at = now()
            FROM v WHERE i.id = v.id AND i.id = ANY(CAST(:ids AS bigint[])) RETURNING i.id
        )
        INSERT INTO incident_event (incident_id, actor, action, note)
        SELECT v.id, :actor, 'reassign', v.note FROM v JOIN up ON up.id = v.id"""),
        {"ids": [i for i, _, _ in changes], "gids": new_ids, "notes": notes, "actor": actor})
    return len(changes), code_moved, left


# The history and time-travel reads live in store.plan_history (re-exported here).
from store.plan_history import (  # noqa: E402,F401  (re-exported)
    change_detail,
    grid_at,
    history,
    units_at,
    versions,
)
