"""Data access for incidents: insert once, find, list, lock, update, append history.

All SQL about single incidents lives here; the intake service (``intake.service``) decides
*what* to write and calls these functions inside one transaction it owns.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from geo.levels import LEVEL_COLUMNS  # noqa: F401  (re-exported)
from geo.privacy import mask_person
from store.db import Bindable, connection

_INSERT_COLUMNS = (
    "source", "external_id", "category", "subcategory", "severity", "description", "address",
    "location_reason", "reported_at", "received_at", "status", "grid_id", "village_id",
    "town_id", "county_id", "city_id", "handling_level", "department_id", "grid_worker_id",
    "due_at",
    "idempotency_key", "request_hash", "duplicate_of", "reporter", "media_urls",
)


def insert_incident(conn: Connection, row: Mapping[str, Any], lon: float | None,
                    lat: float | None, *, citizen_hash: Callable[[int], str] | None = None
                    ) -> dict[str, Any] | None:
    """Insert a new incident and answer it as :func:`get_incident` (without events) would
    read it back; None when (source, external_id) or the idempotency key exists already
    (then nothing is written: the caller returns the existing one).

    One statement: the stored row is read from the INSERT's own ``RETURNING`` through the
    same projection as :func:`get_incident` (:data:`_DETAIL` over the new row), not by a
    second query.  ``citizen_hash(id)``: the hash of the case's citizen link, stored by the
    same INSERT (the id is drawn from the sequence first) — not by an UPDATE of the new row,
    which would write every index of ``incident`` twice."""
    values = dict(row)
    values["reporter"] = json.dumps(values["reporter"], ensure_ascii=False) \
        if values.get("reporter") else None
    values["lon"], values["lat"] = lon, lat
    columns = list(_INSERT_COLUMNS)
    if citizen_hash is not None:
        values["id"] = conn.execute(text(
            "SELECT nextval(pg_get_serial_sequence('incident', 'id'))")).scalar_one()
        values["citizen_token_hash"] = citizen_hash(values["id"])
        columns += ["id", "citizen_token_hash"]
    cols = ", ".join(columns)
    params = ", ".join(
        "CAST(:reporter AS jsonb)" if c == "reporter" else f":{c}" for c in columns)
    stored = conn.execute(text(f"""
        WITH stored AS (
            INSERT INTO incident (geom, updated_at, {cols})
            VALUES (CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL
                         ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) END,
                    :received_at, {params})
            ON CONFLICT DO NOTHING
            RETURNING *)
        {_DETAIL.replace("FROM incident i", "FROM stored i", 1)}"""), values).mappings().first()
    return masked(dict(stored)) if stored is not None else None


def find_existing(conn: Connection, source: str, external_id: str,
                  idempotency_key: str | None) -> dict[str, Any] | None:
    """The incident a resubmission refers to, by idempotency key first, then natural key."""
    if idempotency_key:
        row = conn.execute(text("SELECT id, source, external_id, request_hash FROM incident "
                                "WHERE idempotency_key = :k"),
                           {"k": idempotency_key}).mappings().first()
        if row:
            return dict(row)
    row = conn.execute(text("SELECT id, source, external_id, request_hash FROM incident "
                            "WHERE source = :s AND external_id = :e"),
                       {"s": source, "e": external_id}).mappings().first()
    return dict(row) if row else None


def near_duplicate(conn: Connection, category: str, lon: float, lat: float, at: datetime,
                   radius_m: float, window_s: float) -> int | None:
    """The first earlier case of ``category`` within ``radius_m`` and ``window_s`` seconds of
    (lon, lat, at), following links so that every duplicate points at the first report."""
    deg = radius_m / 111_320.0 * 2  # generous box for the index; the exact test follows
    # The inner query is fenced (OFFSET 0) so that the planner starts from the few incidents
    # in the small box (GiST) rather than from every incident of the day (received_at).
    return conn.execute(text("""
        SELECT coalesce(duplicate_of, id) FROM (
            SELECT id, duplicate_of, received_at, category, geom FROM incident
            WHERE geom && ST_Expand(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :deg)
            OFFSET 0) near
        WHERE received_at BETWEEN CAST(:at AS timestamptz) - make_interval(secs => :w)
                              AND CAST(:at AS timestamptz) + make_interval(secs => :w)
          AND category = :category
          AND ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography,
                         :r)
        ORDER BY received_at, id LIMIT 1"""),
        {"category": category, "at": at, "w": window_s, "lon": lon, "lat": lat, "deg": deg,
         "r": radius_m}).scalar()


@dataclass(frozen=True)
class AddressMatch:
    lon: float
    lat: float
    household_id: int
    method: str  # exact | normalised


def locate_address(conn: Connection, address: str, min_chars: int = 6) -> AddressMatch | None:
    """Place an address on the household register: the exact text first, then the normalised
    key (``onemap_address_key``: full-width, Chinese digits, 号楼/栋, spacing).  The report may
    omit leading parts ("榆林社区1号楼202" finds "兰州市城关区榆林社区1号楼202室") or add some
    ("甘肃省…" before a whole registered address), never change the rest.  An address found in
    several places is not guessed."""
    rows = conn.execute(text("SELECT id, ST_X(geom) AS x, ST_Y(geom) AS y FROM household "
                             "WHERE address = :a ORDER BY id LIMIT 20"), {"a": address}).all()
    if rows:
        return _one_place(rows, "exact")
    key = conn.execute(text("SELECT onemap_address_key(:a)"), {"a": address}).scalar() or ""
    if len(key) < min_chars:
        return None
    # The report omits leading parts: registered keys that end with the whole report.
    rows = conn.execute(text("""
        SELECT id, ST_X(geom) AS x, ST_Y(geom) AS y FROM household
        WHERE reverse(onemap_address_key(address)) LIKE :pattern
        ORDER BY id LIMIT 20"""), {"pattern": _like_prefix(key[::-1])}).all()
    if rows:
        return _one_place(rows, "normalised")
    # The report adds leading parts: a whole registered key that ends the report.
    suffixes = [key[i:][::-1] for i in range(1, len(key) - min_chars + 1)]
    if suffixes:
        rows = conn.execute(text("""
            SELECT id, ST_X(geom) AS x, ST_Y(geom) AS y FROM household
            WHERE reverse(onemap_address_key(address)) = ANY(:suffixes)
            ORDER BY length(address) DESC, id LIMIT 20"""), {"suffixes": suffixes}).all()
        if rows:
            return _one_place(rows, "normalised")
    return None


def _one_place(rows: Sequence[Any], method: str) -> AddressMatch | None:
    places = {(round(r.x, 5), round(r.y, 5)) for r in rows}
    if len(places) > 1:
        return None
    return AddressMatch(rows[0].x, rows[0].y, rows[0].id, method)


def _like_prefix(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def append_event(conn: Connection, incident_id: int, actor: str, action: str,
                 from_status: str | None, to_status: str | None, note: str | None = None,
                 at: datetime | None = None, *, lon: float | None = None,
                 lat: float | None = None, client_key: str | None = None) -> None:
    conn.execute(text("""
        INSERT INTO incident_event (incident_id, at, actor, action, from_status, to_status, note,
                                    lon, lat, client_key)
        VALUES (:i, coalesce(CAST(:at AS timestamptz), now()), :actor, :action, :f, :t, :note,
                :lon, :lat, :ck)
    """), {"i": incident_id, "at": at, "actor": actor, "action": action, "f": from_status,
           "t": to_status, "note": note, "lon": lon, "lat": lat, "ck": client_key})


def has_client_key(conn: Connection, incident_id: int, client_key: str) -> bool:
    """Was an action with this client key (Idempotency-Key) already stored on the case?"""
    return conn.execute(text("SELECT 1 FROM incident_event WHERE incident_id = :i "
                             "AND client_key = :k"), {"i": incident_id, "k": client_key}
                        ).first() is not None


def lock_incident(conn: Connection, incident_id: int) -> dict[str, Any] | None:
    """The incident's row, locked until the transaction ends (actions and the escalation job
    take this lock, so they never act on the same case at once)."""
    row = conn.execute(text("SELECT * FROM incident WHERE id = :i FOR UPDATE"),
                       {"i": incident_id}).mappings().first()
    return dict(row) if row else None


def update_incident(conn: Connection, incident_id: int, values: Mapping[str, Any]) -> None:
    values = dict(values)
    sets = [f"{k} = :{k}" for k in values if k not in ("lon", "lat")]
    if "lon" in values:
        sets.append("geom = ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)")
    sets.append("updated_at = now()")
    conn.execute(text(f"UPDATE incident SET {', '.join(sets)} WHERE id = :_id"),
                 {**values, "_id": incident_id})


_DETAIL = """
    SELECT i.id, i.source, i.external_id, i.category, i.subcategory, i.severity,
           i.description, i.address, i.location_reason, i.reported_at, i.received_at,
           i.updated_at, i.status, i.handling_level, i.due_at, i.closed_at, i.rating,
           i.overdue, i.duplicate_of, i.reporter, i.media_urls, i.urged_count,
           i.supervised_due, i.citizen_token_hash IS NOT NULL AS has_citizen_link,
           ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat,
           i.grid_id, g.code AS grid_code, g.name AS grid_name,
           i.village_id, v.code AS village_code, v.name AS village_name,
           i.town_id, t.code AS town_code, t.name AS town_name,
           i.county_id, c.code AS county_code, c.name AS county_name,
           i.city_id, cc.code AS city_code, cc.name AS city_name,
           i.department_id, d.code AS department_code, d.name AS department_name,
           i.support_department_ids,
           (SELECT array_agg(sd.name ORDER BY sd.name) FROM department sd
            WHERE sd.id = ANY (i.support_department_ids)) AS support_department_names,
           i.grid_worker_id, w.code AS grid_worker_code, w.name AS grid_worker_name,
           w.phone AS grid_worker_phone,
           (i.closed_at IS NULL AND i.due_at < now()) AS overdue_now
    FROM incident i
    LEFT JOIN unit g ON g.id = i.grid_id
    LEFT JOIN unit v ON v.id = i.village_id
    LEFT JOIN unit t ON t.id = i.town_id
    LEFT JOIN unit c ON c.id = i.county_id
    LEFT JOIN unit cc ON cc.id = i.city_id
    LEFT JOIN department d ON d.id = i.department_id
    LEFT JOIN grid_worker w ON w.id = i.grid_worker_id
"""


def masked(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its personal data masked (the reporter's name, phone and e-mail, the grid
    worker's name and phone): what every read of this module returns unless ``reveal``."""
    out = mask_person(row, "grid_worker_")
    reporter = out.get("reporter")
    if isinstance(reporter, dict):
        rep = mask_person(reporter)
        if rep.get("email"):
            local, _, domain = str(rep["email"]).partition("@")
            rep["email"] = (local[:1] + "***@" + domain) if domain else "***"
        out["reporter"] = rep
    return out


def get_incident(conn: Connection, incident_id: int, *, with_events: bool = True,
                 reveal: bool = False) -> dict[str, Any] | None:
    """One incident with its unit, worker and department names, and its history; personal
    data masked unless ``reveal`` (only :func:`accounts.privacy.reveal` asks, audited)."""
    row = conn.execute(text(_DETAIL + " WHERE i.id = :i"), {"i": incident_id}).mappings().first()
    if row is None:
        return None
    out = dict(row) if reveal else masked(dict(row))
    if with_events:
        out["events"] = [dict(e) for e in conn.execute(text(
            "SELECT at, actor, action, from_status, to_status, note, lon, lat "
            "FROM incident_event "
            "WHERE incident_id = :i ORDER BY at, id"), {"i": incident_id}).mappings()]
    return out


@dataclass
class IncidentFilter:
    """Filters for :func:`list_incidents`; every field is optional."""

    status: Sequence[str] = ()
    category: Sequence[str] = ()
    source: Sequence[str] = ()
    severity: Sequence[str] = ()
    unit_id: int | None = None  # a unit at any level
    received_from: datetime | None = None
    received_to: datetime | None = None
    updated_after: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None  # min lon, min lat, max lon, max lat
    ids: Sequence[int] = ()
    overdue_now: bool | None = None


def _where(conn: Connection, f: IncidentFilter) -> tuple[list[str], dict[str, Any]]:
    where, params = [], {}
    for name in ("status", "category", "source", "severity"):
        values = list(getattr(f, name))
        if values:
            where.append(f"i.{name} = ANY(:{name})")
            params[name] = values
    if f.ids:
        where.append("i.id = ANY(:ids)")
        params["ids"] = [int(i) for i in f.ids]
    if f.unit_id is not None:
        level = conn.execute(text("SELECT level FROM unit WHERE id = :u"),
                             {"u": f.unit_id}).scalar()
        if level is None or level not in LEVEL_COLUMNS:
            where.append("false")
        else:
            where.append(f"i.{LEVEL_COLUMNS[level]} = :unit_id")
            params["unit_id"] = f.unit_id
    if f.received_from is not None:
        where.append("i.received_at >= :received_from")
        params["received_from"] = f.received_from
    if f.received_to is not None:
        where.append("i.received_at < :received_to")
        params["received_to"] = f.received_to
    if f.updated_after is not None:
        where.append("i.updated_at > :updated_after")
        params["updated_after"] = f.updated_after
    if f.bbox is not None:
        where.append("i.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)")
        params.update(zip(("x0", "y0", "x1", "y1"), f.bbox, strict=True))
    if f.overdue_now is not None:
        cond = "(i.closed_at IS NULL AND i.due_at < now())"
        where.append(cond if f.overdue_now else f"NOT {cond}")
    return where, params


def encode_cursor(received_at: datetime, incident_id: int) -> str:
    raw = f"{received_at.isoformat()}|{incident_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Raises ValueError on a cursor this module did not make."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    at, _, ident = raw.partition("|")
    return datetime.fromisoformat(at), int(ident)


def list_incidents(conn: Connection, f: IncidentFilter, *, limit: int = 100,
                   cursor: str | None = None, offset: int = 0
                   ) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first; keyset pagination by (received_at, id) — stable while reports arrive.
    Returns the page and the cursor of the next page (None on the last page)."""
    where, params = _where(conn, f)
    if cursor:
        at, ident = decode_cursor(cursor)
        where.append("(i.received_at, i.id) < (:c_at, :c_id)")
        params.update(c_at=at, c_id=ident)
    sql = _DETAIL + (" WHERE " + " AND ".join(where) if where else "") + \
        " ORDER BY i.received_at DESC, i.id DESC LIMIT :limit OFFSET :offset"
    rows = [masked(dict(r)) for r in conn.execute(text(sql), {**params, "limit": limit + 1,
                                                              "offset": offset}).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode_cursor(rows[-1]["received_at"], rows[-1]["id"]) if more and rows else None
    return rows, nxt


def overdue_candidates(conn: Connection, open_states: Sequence[str], limit: int
                       ) -> list[dict[str, Any]]:
    """Open, located, first-report incidents past their due time that the escalation job has
    not acted on for this due time; locked, skipping rows another job holds."""
    return [dict(r) for r in conn.execute(text("""
        SELECT id, status, handling_level, severity, due_at, grid_id, village_id, town_id,
               county_id, city_id
        FROM incident
        WHERE closed_at IS NULL AND status = ANY(:open) AND status <> 'unlocated'
          AND due_at < now() AND duplicate_of IS NULL
          AND missed_due_at IS DISTINCT FROM due_at
        ORDER BY due_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED"""), {"open": list(open_states), "limit": limit}).mappings()]


def grid_workers_by_grid(conn: Connection) -> dict[int, int]:
    """The worker who supervises each grid (the first by code when a grid has several)."""
    rows = conn.execute(text("""
        SELECT DISTINCT ON (grid_id) grid_id, id FROM grid_worker
        WHERE grid_id IS NOT NULL ORDER BY grid_id, full_time DESC, code, id""")).all()
    return {r.grid_id: r.id for r in rows}


def departments_by_code(conn: Connection) -> dict[str, int]:
    return {r.code: r.id for r in conn.execute(text("SELECT id, code FROM department"))}


def places_stamp(conn: Connection) -> tuple[Any, ...]:
    """A cheap value that moves when grid workers or departments change."""
    return tuple(conn.execute(text(
        "SELECT (SELECT count(*) FROM grid_worker), (SELECT max(id) FROM grid_worker), "
        "(SELECT count(*) FROM department)")).one())


def dispatch_names(conn: Connection, department_id: int, worker_id: int | None
                   ) -> tuple[str | None, str | None]:
    """The department's and (if any) the grid worker's name, for the 双派单 note."""
    dept = conn.execute(text("SELECT name FROM department WHERE id = :i"),
                        {"i": department_id}).scalar()
    worker = conn.execute(text("SELECT name FROM grid_worker WHERE id = :i"),
                          {"i": worker_id}).scalar() if worker_id else None
    return dept, worker


def department_names(conn: Connection, ids: Sequence[int]) -> list[str]:
    """Names of departments by id, in the order given."""
    if not ids:
        return []
    found = dict(conn.execute(text("SELECT id, name FROM department WHERE id = ANY(:ids)"),
                              {"ids": list(ids)}).all())
    return [found.get(i, str(i)) for i in ids]


def try_job_lock(conn: Connection, key: int) -> bool:
    """Take a session-level advisory lock without waiting (False: another job holds it)."""
    return bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())


def release_job_lock(conn: Connection, key: int) -> None:
    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    conn.commit()


def last_notes(conn: Connection, ids: list[int]) -> dict[int, str | None]:
    """The note of each incident's latest event (what the last person to act wrote)."""
    rows = conn.execute(text("""
        SELECT DISTINCT ON (incident_id) incident_id, note FROM incident_event
        WHERE incident_id = ANY(:ids) ORDER BY incident_id, at DESC, id DESC"""),
                        {"ids": ids}).all()
    return {r.incident_id: r.note for r in rows}


def household_address(db: Any, code: str) -> str | None:
    """The register's address of the household with this code (Open311 ``address_id``)."""
    with connection(db) as conn:
        return conn.execute(text("SELECT address FROM household WHERE code = :c "
                                 "ORDER BY id LIMIT 1"), {"c": code}).scalar()


def request_hash(db: Any, incident_id: int) -> str | None:
    with connection(db) as conn:
        return conn.execute(text("SELECT request_hash FROM incident WHERE id = :i"),
                            {"i": incident_id}).scalar()


def id_by_external_id(db: Any, external_id: str) -> int | None:
    with connection(db) as conn:
        return conn.execute(text("SELECT id FROM incident WHERE external_id = :t "
                                 "ORDER BY id LIMIT 1"), {"t": external_id}).scalar()


def last_change(db: Any) -> Any:
    """When any incident last changed (a cheap stamp for caches of reports)."""
    with connection(db) as conn:
        return conn.scalar(text("SELECT max(updated_at) FROM incident"))


# --- the citizen's page (/r/<token>) ---------------------------------------------------------

def set_citizen_token(conn: Connection, incident_id: int, token_hash: str) -> None:
    conn.execute(text("UPDATE incident SET citizen_token_hash = :h WHERE id = :i "
                      "AND citizen_token_hash IS NULL"), {"h": token_hash, "i": incident_id})


def by_citizen_token(db: Bindable, token_hash: str) -> dict[str, Any] | None:
    """The public face of a case: no staff, no contacts — its steps and the result text."""
    with connection(db) as conn:
        row = conn.execute(text("""
            SELECT id, category, status, received_at, closed_at, rating, address
            FROM incident WHERE citizen_token_hash = :h"""), {"h": token_hash}
        ).mappings().first()
        if row is None:
            return None
        steps = [dict(r) for r in conn.execute(text("""
            SELECT at, action, to_status, CASE WHEN action = 'resolve' THEN note END AS note
            FROM incident_event WHERE incident_id = :i ORDER BY at, id"""),
            {"i": row["id"]}).mappings()]
    return {**dict(row), "steps": steps}


def note_from_above(conn: Connection, incident_id: int, action: str, *,
                    supervised_due: datetime | None = None) -> None:
    """Count an urge (催办) or set the supervision deadline (督办) of a case."""
    if action == "urge":
        conn.execute(text("UPDATE incident SET urged_count = urged_count + 1, "
                          "updated_at = now() WHERE id = :i"), {"i": incident_id})
    else:
        conn.execute(text("UPDATE incident SET supervised_due = :d, updated_at = now() "
                          "WHERE id = :i"), {"i": incident_id, "d": supervised_due})


def point_of(conn: Connection, incident_id: int) -> tuple[float, float] | None:
    """The case's point (lon, lat), or None when it has no place."""
    row = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM incident WHERE id = :i "
                            "AND geom IS NOT NULL"), {"i": incident_id}).first()
    return (float(row[0]), float(row[1])) if row else None
