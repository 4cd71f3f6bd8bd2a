"""Read-only queries behind the command wall (指挥大屏): map layers, KPI tiles, live lists.

Every function takes an Engine (opens its own connection) or a Connection (runs inside the
caller's transaction) and returns plain Python values — dicts, lists, floats — so the page
never sees SQL.  The numbers reuse :mod:`store.measures`, so the wall and the monthly report
cannot disagree about what "resolution rate" means.

Conventions
-----------

- Coordinates are WGS84 lon/lat (SRID 4326); ``bbox`` is ``(min_lon, min_lat, max_lon,
  max_lat)``.
- ``within=(level, unit_id)`` narrows to one unit, ``None`` means the whole database.
  Incidents belong to a unit through the unit id frozen on them at receipt
  (:data:`store.measures.UNIT_COLUMNS`); households, cameras and grid workers through their
  ``grid_id`` being the unit itself or one of its current descendants.
- Near-duplicates (``duplicate_of IS NOT NULL``) are never listed or counted.
- "Overdue" means open (:data:`geo.workflow.OPEN_STATES`) with ``due_at < now``; ``now``
  defaults to the database clock, as in the measures and the escalation job.
- Personal data (``household_person``) is never read here; workers' names and phones leave
  masked unless revealed (audited, :mod:`accounts.privacy`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Connection, text

from geo import measures as measure_registry
from geo.privacy import mask_person
from geo.workflow import GRID, OPEN_STATES
from store import measures
from store.db import Bindable
from store.db import rows as _rows
from store.measures import Filters, Period, Scope, _aware, _connection, _filter_sql, _within_sql

BBox = tuple[float, float, float, float]

MEASURES = measure_registry.keys("wall")  # geo.measures: the measures the wall colours by

# Listed incidents: updated_at is set at transaction start and the row commits later, so a
# poll re-reads this much before its watermark (callers dedupe by id).
CHANGE_OVERLAP = timedelta(seconds=15)
MAX_HEXAGONS = 20_000
_EARTH_RADIUS = 6_378_137.0  # EPSG:3857 sphere

# The shape of every listed incident: one SELECT list for the lists and the change feed.
_INCIDENT_COLUMNS = """
    i.id, i.received_at, i.due_at, i.category, i.severity, i.status, i.source,
    g.name AS grid_name, v.name AS village_name, t.name AS town_name,
    ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat,
    coalesce(i.status = ANY(CAST(:open_states AS text[]))
             AND i.due_at < coalesce(CAST(:now AS timestamptz), now()), false) AS overdue,
    left(i.description, 60) AS description"""
_INCIDENT_JOINS = """
    LEFT JOIN unit g ON g.id = i.grid_id
    LEFT JOIN unit v ON v.id = i.village_id
    LEFT JOIN unit t ON t.id = i.town_id"""


# --- helpers ---------------------------------------------------------------------------------


def _now_params(now: datetime | None) -> dict[str, Any]:
    return {"open_states": list(OPEN_STATES),
            "now": None if now is None else _aware(now, "now")}


def _bbox(bbox: Sequence[float]) -> dict[str, float]:
    """Validated envelope parameters ``x0, y0, x1, y1``."""
    try:
        x0, y0, x1, y1 = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise ValueError(f"bbox must be (min_lon, min_lat, max_lon, max_lat), got {bbox!r}") \
            from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise ValueError(f"bbox must be finite numbers, got {bbox!r}")
    if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
        raise ValueError(f"bbox must be (min_lon, min_lat, max_lon, max_lat) in degrees with "
                         f"min < max, lon in [-180, 180], lat in [-90, 90]; got {bbox!r}")
    return {"x0": x0, "y0": y0, "x1": x1, "y1": y1}


_ENVELOPE = "ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    return limit


def _subtree_sql(within: tuple[int, int] | None, column: str) -> tuple[str, dict[str, Any]]:
    """``(condition, params)``: ``column`` (a grid id) lies in unit ``within`` or below it,
    walking current units down from the unit (of that level) by parent_id."""
    if within is None:
        return "TRUE", {}
    _, params = _within_sql(within)  # validates the level and the id
    return f"""{column} IN (
        WITH RECURSIVE sub AS (
            SELECT id FROM unit
            WHERE id = :within_unit_id AND level = :within_level AND valid_to IS NULL
            UNION ALL
            SELECT u.id FROM unit u JOIN sub ON u.parent_id = sub.id
            WHERE u.valid_to IS NULL)
        SELECT id FROM sub)""", {**params, "within_level": int(within[0])}


def _float(value: Any) -> float | None:
    """NaN and NULL → None, anything else a float: JSON-ready."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


# --- units -----------------------------------------------------------------------------------
def units_signature(db: Bindable) -> tuple:
    """A cheap value that changes whenever units change, so callers can cache geometry.

    Counts and maxima over every unit version, plus the newest row version (``xmin``), which
    also moves on an in-place UPDATE of a geometry.
    """
    row = _rows(db, """
        SELECT count(*) FILTER (WHERE valid_to IS NULL) AS current, count(*) AS total,
               max(id) AS max_id, max(valid_from) AS max_from, max(valid_to) AS max_to,
               max(xmin::text::bigint) AS max_xmin
        FROM unit""")[0]
    return (int(row["current"]), int(row["total"]), row["max_id"], row["max_from"],
            row["max_to"], row["max_xmin"])


def _households_per_grid_id(conn: Connection) -> dict[int, int]:
    rows = conn.execute(text("SELECT grid_id, count(*) FROM household "
                             "WHERE grid_id IS NOT NULL GROUP BY grid_id")).all()
    return {int(g): int(n) for g, n in rows}


def _sum_up(units: list[dict], direct: dict[int, int]) -> dict[int, int]:
    """Households per unit: its own grid_id count plus all its current descendants'."""
    totals = {u["id"]: direct.get(u["id"], 0) for u in units}
    for unit in sorted(units, key=lambda u: -u["level"]):  # children before parents
        parent = unit["parent_id"]
        if parent in totals and parent != unit["id"]:
            totals[parent] += totals[unit["id"]]
    return totals


def unit_tree(db: Bindable) -> list[dict]:
    """Every current unit with its bbox, a label point inside it and its household count.

    The wall draws labels and zooms to units from this without loading geometries; households
    are counted per grid once and summed up the tree here, not per unit in SQL.
    """
    with _connection(db) as conn:
        units = [dict(r._mapping) for r in conn.execute(text("""
            SELECT id, code, name, level, parent_id,
                   ST_XMin(geom) AS x0, ST_YMin(geom) AS y0,
                   ST_XMax(geom) AS x1, ST_YMax(geom) AS y1,
                   ST_X(p) AS label_lon, ST_Y(p) AS label_lat
            FROM unit CROSS JOIN LATERAL ST_PointOnSurface(geom) AS p
            WHERE valid_to IS NULL
            ORDER BY level, code"""))]
        direct = _households_per_grid_id(conn)
    totals = _sum_up(units, direct)
    out = []
    for u in units:
        out.append({
            "id": int(u["id"]), "code": u["code"], "name": u["name"], "level": int(u["level"]),
            "parent_id": None if u["parent_id"] is None else int(u["parent_id"]),
            "bbox": (float(u["x0"]), float(u["y0"]), float(u["x1"]), float(u["y1"])),
            "label_lon": _float(u["label_lon"]), "label_lat": _float(u["label_lat"]),
            "households": totals[u["id"]],
        })
    return out


def _households_per_unit(conn: Connection, level: int, unit_ids: Sequence[int]) -> dict[int, int]:
    """Households of each given current unit at ``level`` (grid counts summed over its
    current descendants)."""
    rows = conn.execute(text("""
        WITH RECURSIVE sub AS (
            SELECT id AS root, id FROM unit
            WHERE valid_to IS NULL AND level = :level
              AND id = ANY(CAST(:ids AS bigint[]))
            UNION ALL
            SELECT sub.root, u.id FROM unit u JOIN sub ON u.parent_id = sub.id
            WHERE u.valid_to IS NULL),
        hh AS (
            SELECT grid_id, count(*) AS n FROM household
            WHERE grid_id IN (SELECT id FROM sub) GROUP BY grid_id)
        SELECT sub.root, coalesce(sum(hh.n), 0) AS n
        FROM sub LEFT JOIN hh ON hh.grid_id = sub.id
        GROUP BY sub.root"""), {"level": level, "ids": [int(i) for i in unit_ids]}).all()
    return {int(r): int(n) for r, n in rows}


def choropleth(db: Bindable, level: int, unit_ids: Sequence[int], period: Period,
               measure: str, filters: Filters | None = None,
               now: datetime | None = None) -> dict[int, float | None]:
    """One measure for every unit in ``unit_ids``, to colour the map at ``level``.

    Values come from :mod:`store.measures` (one definition for wall and report).  ``None``
    where there is no value: a rate with no denominator, per-1000 with no households, or an
    id that is not a current unit at ``level``.
    """
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; choose one of {', '.join(MEASURES)}")
    measures.unit_column(level)  # refuses a level without incidents
    ids = tuple(int(i) for i in unit_ids)
    scope = Scope(level, unit_ids=ids)
    with _connection(db) as conn:
        if measure == "received":
            values: pd.Series = measures.received(conn, scope, period, filters=filters)
        elif measure == "per_1000_households":
            got = measures.received(conn, scope, period, filters=filters)
            homes = _households_per_unit(conn, level, ids)
            values = pd.Series({uid: (n / homes[uid] * 1000 if homes.get(uid) else math.nan)
                                for uid, n in got.items()}, dtype="float64")
        elif measure == "overdue":
            values = measures.overdue_now(conn, scope, now, filters=filters)
        elif measure == "resolution_rate":
            values = measures.resolution_rate(conn, scope, period, filters=filters)
        else:  # closed_share_grid
            values = measures.closed_share_by_level(conn, scope, period,
                                                    filters=filters)["grid"]
    found = {int(k): _float(v) for k, v in values.items()}
    return {uid: found.get(uid) for uid in ids}


# --- KPI tiles -------------------------------------------------------------------------------
def _local_day(now: datetime, tz: str) -> Period:
    zone = ZoneInfo(tz)
    day = now.astimezone(zone).date()
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    following = day + timedelta(days=1)
    return Period(start, datetime(following.year, following.month, following.day, tzinfo=zone))


def kpis(db: Bindable, period: Period, filters: Filters | None = None,
         within: tuple[int, int] | None = None, now: datetime | None = None,
         tz: str = "Asia/Shanghai") -> dict:
    """The wall's headline tiles, over the whole jurisdiction or ``within`` one unit.

    Keys: ``received_today`` and ``handled_today`` (received / 办结 during today's local day in
    ``tz``, today taken from ``now`` or the database clock), ``overdue_now``, and for
    ``period`` ``received``, ``resolution_rate`` and ``closed_within_grid_village`` (share of
    the resolved ones finished at grid or village level).  Rates are None with no denominator.
    """
    try:
        ZoneInfo(tz)
    except Exception:  # ZoneInfoNotFoundError, ValueError for malformed keys
        raise ValueError(f"unknown time zone {tz!r}; use an IANA name like 'Asia/Shanghai'") \
            from None
    with _connection(db) as conn:
        clock = _aware(now, "now") if now is not None else conn.scalar(text("SELECT now()"))
        today = _local_day(clock, tz)
        day = measures.jurisdiction_total(conn, today, clock, filters=filters, within=within,
                                          history=False)
        total = measures.jurisdiction_total(conn, period, clock, filters=filters, within=within,
                                            history=False)
        filter_where, filter_params = _filter_sql(filters)
        within_where, within_params = _within_sql(within)
        handled = conn.scalar(text(f"""
            SELECT count(*) FROM incident i
            WHERE i.closed_at >= :start AND i.closed_at < :end
              AND i.duplicate_of IS NULL AND {filter_where} AND {within_where}"""),
            {"start": today.start, "end": today.end, **filter_params, **within_params})
    grid, village = total["closed_share_grid"], total["closed_share_village"]
    return {
        "received_today": day["received"],
        "handled_today": int(handled),
        "overdue_now": total["overdue_now"],
        "received": total["received"],
        "resolution_rate": _float(total["resolution_rate"]),
        "closed_within_grid_village": _float(grid + village),
    }


# --- incident lists --------------------------------------------------------------------------
def _incident_list(db: Bindable, where: str, order: str, params: dict[str, Any],
                   filters: Filters | None, within: tuple[int, int] | None,
                   limit: int) -> list[dict]:
    filter_where, filter_params = _filter_sql(filters)
    within_where, within_params = _within_sql(within)
    sql = f"""
        SELECT {_INCIDENT_COLUMNS}
        FROM incident i {_INCIDENT_JOINS}
        WHERE i.duplicate_of IS NULL AND {where} AND {filter_where} AND {within_where}
        ORDER BY {order}
        LIMIT :limit"""
    return _rows(db, sql, {**params, **filter_params, **within_params, "limit": _limit(limit)})


def latest_incidents(db: Bindable, *, within: tuple[int, int] | None = None,
                     filters: Filters | None = None, limit: int = 20) -> list[dict]:
    """The newest reports first: the wall's live ticker."""
    return _incident_list(db, "TRUE", "i.received_at DESC, i.id DESC", _now_params(None),
                          filters, within, limit)


def overdue_incidents(db: Bindable, *, within: tuple[int, int] | None = None,
                      filters: Filters | None = None, limit: int = 20,
                      now: datetime | None = None) -> list[dict]:
    """Open incidents past their deadline, most overdue first: what the duty officer chases."""
    where = ("i.status = ANY(CAST(:open_states AS text[])) "
             "AND i.due_at < coalesce(CAST(:now AS timestamptz), now())")
    return _incident_list(db, where, "i.due_at, i.id", _now_params(now), filters, within,
                          limit)


def incidents_changed_since(db: Bindable, since: datetime | None, *,
                            limit: int = 500) -> tuple[list[dict], datetime | None]:
    """Incidents updated since the last poll, oldest change first, and the new watermark.

    Re-reads :data:`CHANGE_OVERLAP` before ``since`` because ``updated_at`` is the writing
    transaction's start time, which may commit after a poll that already passed it; callers
    dedupe by id.  ``since=None`` starts a page "from now": no rows, watermark = the newest
    ``updated_at``.  If ``limit`` rows come back, more may follow: poll again at once.
    """
    _limit(limit)
    if since is None:
        with _connection(db) as conn:
            return [], conn.scalar(text("SELECT max(updated_at) FROM incident"))
    since = _aware(since, "since")
    with _connection(db) as conn:
        rows = [dict(r._mapping) for r in conn.execute(text(f"""
            SELECT {_INCIDENT_COLUMNS}, i.updated_at
            FROM incident i {_INCIDENT_JOINS}
            WHERE i.updated_at > :after AND i.duplicate_of IS NULL
            ORDER BY i.updated_at, i.id
            LIMIT :limit"""), {"after": since - CHANGE_OVERLAP, "limit": limit,
                                **_now_params(None)})]
    watermark = max([since, *(r.pop("updated_at") for r in rows)])
    return rows, watermark


# --- map layers ------------------------------------------------------------------------------
def incident_points(db: Bindable, bbox: BBox, period: Period, filters: Filters | None = None,
                    *, within: tuple[int, int] | None = None, limit: int = 5000,
                    now: datetime | None = None) -> list[dict]:
    """Incident markers in view: those received in ``period`` plus every open overdue one,
    whenever received (an old unresolved case must stay on the map).  Newest first."""
    filter_where, filter_params = _filter_sql(filters)
    within_where, within_params = _within_sql(within)
    sql = f"""
        SELECT i.id, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, i.status, i.severity,
               i.category,
               (i.status = ANY(CAST(:open_states AS text[]))
                AND i.due_at < coalesce(CAST(:now AS timestamptz), now())) IS TRUE AS overdue
        FROM incident i
        WHERE i.geom && {_ENVELOPE}
          AND i.duplicate_of IS NULL AND {filter_where} AND {within_where}
          AND ((i.received_at >= :start AND i.received_at < :end)
               OR (i.status = ANY(CAST(:open_states AS text[]))
                   AND i.due_at < coalesce(CAST(:now AS timestamptz), now())))
        ORDER BY i.received_at DESC, i.id DESC
        LIMIT :limit"""
    return _rows(db, sql, {**_bbox(bbox), "start": period.start, "end": period.end,
                           **_now_params(now), **filter_params, **within_params,
                           "limit": _limit(limit)})


def _mercator(lon: float, lat: float) -> tuple[float, float]:
    lat = max(min(lat, 85.06), -85.06)
    return (_EARTH_RADIUS * math.radians(lon),
            _EARTH_RADIUS * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)))


def hexagon_count(bbox: BBox, size_m: float) -> int:
    """Upper estimate of the hexagons ``ST_HexagonGrid(size_m, …)`` makes over ``bbox``."""
    box = _bbox(bbox)
    x0, y0 = _mercator(box["x0"], box["y0"])
    x1, y1 = _mercator(box["x1"], box["y1"])
    columns = (x1 - x0) / (1.5 * size_m) + 2
    rows = (y1 - y0) / (math.sqrt(3) * size_m) + 2
    return math.ceil(columns) * math.ceil(rows)


def hex_density(db: Bindable, bbox: BBox, size_m: float, period: Period,
                filters: Filters | None = None) -> list[dict]:
    """Incidents received in ``period`` counted on hexagons of edge ``size_m`` (Web Mercator
    metres), only the non-empty ones: a heat layer that does not depend on unit borders.

    The hexagons are those of ``ST_HexagonGrid(size_m, ST_Transform(envelope, 3857))``; each
    incident (in EPSG:3857) is given the (i, j) of the hexagon whose centre is nearest, and
    joined to the grid on (i, j): a hash join on integers rather than a point-in-polygon test
    of every incident against every hexagon.  Each point counts in exactly one hexagon.
    Refuses more than :data:`MAX_HEXAGONS` hexagons: zoom in or use larger hexagons.
    """
    try:
        size = float(size_m)
    except (TypeError, ValueError):
        raise ValueError(f"size_m must be a number of metres, got {size_m!r}") from None
    if not (math.isfinite(size) and size > 0):
        raise ValueError(f"size_m must be a positive number of metres, got {size_m!r}")
    box = _bbox(bbox)
    estimate = hexagon_count(bbox, size)
    if estimate > MAX_HEXAGONS:
        raise ValueError(f"bbox {tuple(bbox)} with {size:g} m hexagons makes about {estimate:,} "
                         f"hexagons (at most {MAX_HEXAGONS:,}); zoom in or use larger hexagons")
    filter_where, filter_params = _filter_sql(filters)
    # Hexagon (i, j) of ST_HexagonGrid has its centre at (1.5 s i, √3 s (j + (i odd) / 2)) in
    # EPSG:3857; a point lies in the hexagon with the nearest centre, which is in column
    # floor(x / 1.5 s) or the next one.
    sql = f"""
        WITH pts AS MATERIALIZED (
            SELECT ST_X(p.g) AS x, ST_Y(p.g) AS y
            FROM incident i CROSS JOIN LATERAL ST_Transform(i.geom, 3857) AS p(g)
            WHERE i.geom && {_ENVELOPE}
              AND i.received_at >= :start AND i.received_at < :end
              AND i.duplicate_of IS NULL AND {filter_where}),
        cell AS (
            SELECT c.i, c.j, count(*) AS n
            FROM pts CROSS JOIN LATERAL (
                SELECT k.i, k.j FROM (
                    SELECT col.i, round(pts.y / :h - abs(col.i % 2) * 0.5)::bigint AS j
                    FROM (VALUES (floor(pts.x / (1.5 * :size))::bigint),
                                 (floor(pts.x / (1.5 * :size))::bigint + 1)) AS col(i)) k
                ORDER BY (pts.x - k.i * 1.5 * :size) ^ 2
                         + (pts.y - (k.j + abs(k.i % 2) * 0.5) * :h) ^ 2, k.i, k.j
                LIMIT 1) c
            GROUP BY c.i, c.j),
        hex AS MATERIALIZED (
            SELECT h.i, h.j, h.geom
            FROM ST_HexagonGrid(:size, ST_Transform({_ENVELOPE}, 3857)) AS h)
        SELECT ST_AsGeoJSON(ST_Transform(hex.geom, 4326), 6)::json AS geometry, cell.n
        FROM cell JOIN hex ON hex.i = cell.i AND hex.j = cell.j
        ORDER BY cell.n DESC, cell.i, cell.j"""
    rows = _rows(db, sql, {**box, "size": size, "h": math.sqrt(3) * size, "start": period.start,
                           "end": period.end, **filter_params})
    return [{"geometry": r["geometry"], "n": int(r["n"])} for r in rows]


def households_per_grid(db: Bindable, bbox: BBox | None = None) -> list[dict]:
    """Households and persons per current grid (only grids touching ``bbox`` when given):
    the population layer, as aggregates only."""
    where, params = "TRUE", {}
    if bbox is not None:
        where, params = f"u.geom && {_ENVELOPE}", _bbox(bbox)
    sql = f"""
        WITH grids AS (
            SELECT u.id, u.name, u.geom FROM unit u
            WHERE u.valid_to IS NULL AND u.level = :grid AND {where}),
        hh AS (
            SELECT h.grid_id, count(*) AS households, coalesce(sum(h.size), 0) AS persons
            FROM household h WHERE h.grid_id IN (SELECT id FROM grids) GROUP BY h.grid_id)
        SELECT g.id AS grid_id, g.name, ST_X(p) AS label_lon, ST_Y(p) AS label_lat,
               coalesce(hh.households, 0) AS households, coalesce(hh.persons, 0) AS persons
        FROM grids g LEFT JOIN hh ON hh.grid_id = g.id
             CROSS JOIN LATERAL ST_PointOnSurface(g.geom) AS p
        ORDER BY g.id"""
    rows = _rows(db, sql, {**params, "grid": GRID})
    for r in rows:
        r["households"], r["persons"] = int(r["households"]), int(r["persons"])
    return rows


def households_in_bbox(db: Bindable, bbox: BBox, limit: int = 5000) -> list[dict]:
    """Household points in view with their care flags (no names, no personal data)."""
    return _rows(db, f"""
        SELECT h.id, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat, h.address, h.size,
               h.is_rental, h.is_elderly_alone, h.is_special_care
        FROM household h
        WHERE h.geom && {_ENVELOPE}
        ORDER BY h.id
        LIMIT :limit""", {**_bbox(bbox), "limit": _limit(limit)})


def cameras(db: Bindable, bbox: BBox | None = None,
            within: tuple[int, int] | None = None) -> list[dict]:
    """Cameras in view and/or in a unit, for the video layer."""
    where, params = _subtree_sql(within, "c.grid_id")
    if bbox is not None:
        where += f" AND c.geom && {_ENVELOPE}"
        params.update(_bbox(bbox))
    return _rows(db, f"""
        SELECT c.id, c.code, c.name, c.kind, c.status, c.stream_url,
               ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, c.grid_id
        FROM camera c
        WHERE {where}
        ORDER BY c.id""", params)


def workers(db: Bindable, within: tuple[int, int] | None = None, *,
            reveal: bool = False) -> list[dict]:
    """Grid workers (网格员), each placed at a point inside their grid (lon/lat None without
    a grid): who to call for a case on the map.  Names and phones masked unless ``reveal``."""
    where, params = _subtree_sql(within, "w.grid_id")
    found = _rows(db, f"""
        SELECT w.id, w.code, w.name, w.phone, w.grid_id, g.name AS grid_name,
               ST_X(p) AS lon, ST_Y(p) AS lat
        FROM grid_worker w
             LEFT JOIN unit g ON g.id = w.grid_id
             LEFT JOIN LATERAL ST_PointOnSurface(g.geom) AS p ON true
        WHERE {where}
        ORDER BY w.id""", params)
    return found if reveal else [mask_person(w) for w in found]


def worker(db: Bindable, worker_id: int) -> dict | None:
    """One grid worker, unmasked (for an audited reveal), or None (also outside the scope)."""
    found = _rows(db, "SELECT id, code, name, phone, grid_id FROM grid_worker WHERE id = :i",
                  {"i": worker_id})
    return found[0] if found else None


def nearest_cameras(db: Bindable, lon: float, lat: float, k: int = 3) -> list[dict]:
    """The ``k`` cameras nearest to a point, by distance on the ellipsoid, for "show me video
    near this incident".

    The GiST index finds the ``k`` nearest in degrees (``<->``); since a degree of longitude
    is shorter than one of latitude, everything within the k-th of those in metres is then
    re-ranked on the ellipsoid, so the answer is exact and still index-assisted.
    """
    try:
        lon, lat = float(lon), float(lat)
    except (TypeError, ValueError):
        raise ValueError(f"lon and lat must be numbers, got {lon!r}, {lat!r}") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(f"lon must be in [-180, 180] and lat in [-90, 90], got {lon}, {lat}")
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    point = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"
    with _connection(db) as conn:
        reach = conn.scalar(text(f"""
            SELECT max(ST_Distance(c.geom::geography, {point}::geography))
            FROM (SELECT geom FROM camera ORDER BY geom <-> {point} LIMIT :k) c"""),
            {"lon": lon, "lat": lat, "k": k})
        if reach is None:
            return []
        reach = reach * (1 + 1e-9) + 0.01  # ST_DWithin must not drop the k-th by rounding
        # Degrees that surely cover `reach` metres (≥ 110.5 km per degree of latitude).
        dlat = reach / 110_000.0 + 1e-6
        cos = math.cos(math.radians(min(abs(lat) + dlat, 89.9)))
        dlon = min(reach / (110_000.0 * max(cos, 1e-3)) + 1e-6, 360.0)
        return [dict(r._mapping) for r in conn.execute(text(f"""
            SELECT c.id, c.code, c.name, c.status, c.stream_url,
                   ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat,
                   round(ST_Distance(c.geom::geography, {point}::geography)::numeric, 1)::float8
                       AS distance_m
            FROM camera c
            WHERE c.geom && ST_Expand({point}, :dlon, :dlat)
              AND ST_DWithin(c.geom::geography, {point}::geography, :reach)
            ORDER BY distance_m, c.id
            LIMIT :k"""), {"lon": lon, "lat": lat, "k": k, "reach": reach,
                            "dlon": dlon, "dlat": dlat})]
