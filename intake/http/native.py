"""The native HTTP API (``/api/v1``): reports in, incidents out, workflow actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, request, send_file
from sqlalchemy import Engine

from geo.catalog import CATEGORY_BY_CODE, SOURCES
from geo.levels import LEVEL_KEYS
from geo.workflow import STATE_LABELS, STATES, allowed_actions
from intake import photos, service
from intake.http.common import (
    MAX_BODY_BYTES,
    api_route,
    json_response,
    read_json,
    require_key,
)
from intake.schema import MAX_BATCH, ReportError, parse_action, parse_report
from onemap.access import Actor, can
from onemap.context import Runtime
from onemap.settings import Settings
from store import incidents as db_incidents
from store import photos as db_photos
from store.repository import current_unit_id

LEVELS = tuple(LEVEL_KEYS.values())
PREFIX = "/api/v1"
MAX_PAGE = 500


def incident_json(row: dict[str, Any], key: Actor | None = None) -> dict[str, Any]:
    """The API's view of an incident (reporter contact only for operator keys)."""
    def unit(level: str) -> dict[str, Any] | None:
        if row.get(f"{level}_id") is None:
            return None
        return {"id": row[f"{level}_id"], "code": row[f"{level}_code"],
                "name": row[f"{level}_name"]}

    cat = CATEGORY_BY_CODE.get(row["category"])
    level = row.get("handling_level")
    out = {
        "id": row["id"], "source": row["source"], "external_id": row["external_id"],
        "category": row["category"], "category_name": cat.zh if cat else row["category"],
        "subcategory": row["subcategory"], "severity": row["severity"],
        "description": row["description"], "status": row["status"],
        "status_name": STATE_LABELS.get(row["status"], (row["status"],))[0],
        "location": {"lon": row["lon"], "lat": row["lat"], "reason": row["location_reason"],
                     "address": row["address"]},
        "units": {lvl: unit(lvl) for lvl in LEVELS},
        "handling_level": level, "handling_unit": LEVELS[level] if level is not None else None,
        "grid_worker": None if row["grid_worker_id"] is None else {
            "id": row["grid_worker_id"], "code": row["grid_worker_code"],
            "name": row["grid_worker_name"], "phone": row["grid_worker_phone"]},
        "department": None if row["department_id"] is None else {
            "id": row["department_id"], "code": row["department_code"],
            "name": row["department_name"]},
        "reported_at": row["reported_at"], "received_at": row["received_at"],
        "updated_at": row["updated_at"], "due_at": row["due_at"], "closed_at": row["closed_at"],
        "overdue": bool(row["overdue"]), "overdue_now": bool(row["overdue_now"]),
        "rating": row["rating"], "duplicate_of": row["duplicate_of"],
        "media_urls": row["media_urls"] or [],
        "allowed_actions": list(allowed_actions(row["status"], level)),
    }
    if can(key, "incident.read_private"):
        out["reporter"] = row.get("reporter")
    if "events" in row:
        out["events"] = row["events"]
    return out


def _list_param(name: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    values = [v.strip() for raw in request.args.getlist(name) for v in raw.split(",")
              if v.strip()]
    if allowed is not None:
        bad = [v for v in values if v not in allowed]
        if bad:
            raise ReportError(f"{name}: unknown value(s) {', '.join(bad)}; expected "
                              f"{', '.join(allowed)}", [(name, "unknown value")], status=400)
    return values


def _time_param(name: str, tz: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(f"{name}: {raw!r} is not an ISO 8601 time (e.g. 2026-10-01 or "
                          "2026-10-01T08:00:00+08:00)", [(name, "not a time")],
                          status=400) from None
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(tz))


def _bbox_param() -> tuple[float, float, float, float] | None:
    raw = request.args.get("bbox")
    if not raw:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in raw.split(","))
    except ValueError:
        raise ReportError("bbox: give min_lon,min_lat,max_lon,max_lat in degrees",
                          [("bbox", "four numbers")], status=400) from None
    if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
        raise ReportError("bbox: need min_lon < max_lon and min_lat < max_lat, in degrees",
                          [("bbox", "out of range or empty")], status=400)
    return x0, y0, x1, y1


def _int_param(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ReportError(f"{name}: {raw!r} is not a whole number", [(name, "not a number")],
                          status=400) from None
    if not lo <= value <= hi:
        raise ReportError(f"{name}: must be between {lo} and {hi}", [(name, "out of range")],
                          status=400)
    return value


def _unit_param(db: Engine) -> int | None:
    raw = request.args.get("unit")
    if not raw:
        return None
    unit_id = current_unit_id(db, raw)
    if unit_id is None:
        raise ReportError(f"unit: no unit with id or code {raw!r}", [("unit", "unknown unit")],
                          status=400)
    return unit_id


def incident_filter(db: Engine, settings: Settings) -> db_incidents.IncidentFilter:
    """Filters from the query string, shared by the native API and Open311."""
    overdue = request.args.get("overdue")
    if overdue not in (None, "", "true", "false"):
        raise ReportError("overdue: use true or false", [("overdue", "true or false")],
                          status=400)
    return db_incidents.IncidentFilter(
        status=_list_param("status", STATES),
        category=_list_param("category", tuple(CATEGORY_BY_CODE)),
        source=_list_param("source", tuple(SOURCES)),
        severity=_list_param("severity", ("high", "medium", "low")),
        unit_id=_unit_param(db),
        received_from=_time_param("from", settings.timezone),
        received_to=_time_param("to", settings.timezone),
        updated_after=_time_param("updated_after", settings.timezone),
        bbox=_bbox_param(),
        overdue_now=None if not overdue else overdue == "true",
    )


def blueprint(rt: Runtime) -> Blueprint:
    settings = rt.settings

    def engine_of() -> Engine:
        return rt.engine

    bp = Blueprint("api_v1", __name__, url_prefix=PREFIX)

    @bp.post("/reports")
    @api_route
    def post_report() -> Response:
        key = require_key(rt)
        report = parse_report(read_json())
        result = service.submit(rt.acting_as(key), report,
                                idempotency_key=request.headers.get("Idempotency-Key"))
        body = incident_json(result.incident, key)
        body["created"] = result.created
        body["warnings"] = result.warnings
        body["citizen_url"] = result.citizen_url
        headers = {"Location": f"/api/v1/incidents/{body['id']}"}
        return json_response(body, result.http_status, headers)

    @bp.post("/reports:batch")
    @api_route
    def post_batch() -> Response:
        key = require_key(rt)
        data = read_json(MAX_BODY_BYTES)
        items = data.get("items") if isinstance(data, dict) else data
        if not isinstance(items, list) or not items:
            raise ReportError("send {\"items\": [report, …]} with at least one report",
                              [("items", "is required")], status=400)
        if len(items) > MAX_BATCH:
            raise ReportError(f"items: {len(items):,} reports; at most {MAX_BATCH:,} per batch",
                              [("items", "too many")], status=413, code="too_large")
        results = service.submit_batch(rt.acting_as(key), items)
        out = []
        for item in results:
            if item.result is not None:
                out.append({"index": item.index, "status": item.status,
                            "id": item.result.incident["id"], "created": item.result.created,
                            "duplicate_of": item.result.duplicate_of,
                            "grid": item.result.incident["grid_code"],
                            "reason": item.result.incident["location_reason"]})
            else:
                out.append({"index": item.index, "status": item.status,
                            **item.error.as_json()})
        summary = {"created": sum(1 for r in results if r.status == 201),
                   "existing": sum(1 for r in results if r.status == 200),
                   "rejected": sum(1 for r in results if r.status >= 400)}
        return json_response({"summary": summary, "results": out}, 200)

    @bp.get("/incidents")
    @api_route
    def list_incidents() -> Response:
        key = require_key(rt)
        db = engine_of()
        flt = incident_filter(db, settings)
        limit = _int_param("limit", 50, 1, MAX_PAGE)
        if not can(key, "incident.read"):  # a channel sees its own reports only
            if flt.source and key.source not in flt.source:
                return json_response({"items": [], "next_cursor": None, "limit": limit})
            flt.source = [key.source]
        cursor = request.args.get("cursor") or None
        with db.connect() as conn:
            try:
                rows, nxt = db_incidents.list_incidents(conn, flt, limit=limit, cursor=cursor)
            except ValueError:
                raise ReportError("cursor: not a cursor this API gave out",
                                  [("cursor", "invalid")], status=400) from None
        return json_response({"items": [incident_json(r, key) for r in rows],
                              "next_cursor": nxt, "limit": limit})

    @bp.get("/incidents/<int:incident_id>")
    @api_route
    def get_incident(incident_id: int) -> Response:
        key = require_key(rt)
        with engine_of().connect() as conn:
            row = db_incidents.get_incident(conn, incident_id)
        if row is None or not can(key, "incident.read", row):
            raise ReportError(f"there is no incident {incident_id}", status=404,
                              code="not_found")
        return json_response(incident_json(row, key))

    @bp.post("/incidents/<int:incident_id>/actions")
    @api_route
    def post_action(incident_id: int) -> Response:
        key = require_key(rt)
        action = parse_action(read_json())
        row = service.act(rt.acting_as(key), incident_id, action,
                          idempotency_key=request.headers.get("Idempotency-Key"))
        return json_response(incident_json(row, key))

    @bp.post("/incidents/<int:incident_id>/photos")
    @api_route
    def post_photo(incident_id: int) -> Response:
        key = require_key(rt)
        upload = request.files.get("file")
        if upload is None:
            raise ReportError("send the photo as multipart/form-data in the field 'file'",
                              [("file", "is required")], status=400, code="bad_photo")
        row = photos.add_photo(rt.acting_as(key), incident_id, upload.read())
        body = photos.photo_urls(incident_id, [row], PREFIX + "/incidents")[0]
        return json_response(body, 201 if row["created"] else 200)

    @bp.get("/incidents/<int:incident_id>/photos")
    @api_route
    def list_photos(incident_id: int) -> Response:
        require_key(rt)
        with engine_of().connect() as conn:
            if db_incidents.get_incident(conn, incident_id, with_events=False) is None:
                raise ReportError(f"there is no incident {incident_id}", status=404,
                                  code="not_found")
            found = db_photos.photos_of(conn, incident_id)
        return json_response({"items": photos.photo_urls(incident_id, found,
                                                         PREFIX + "/incidents")})

    @bp.get("/incidents/<int:incident_id>/photos/<name>")
    @api_route
    def get_photo(incident_id: int, name: str) -> Response:
        key = require_key(rt)
        path = photos.open_photo(rt.acting_as(key), incident_id, name)
        return send_file(path, mimetype="image/jpeg", max_age=3600, conditional=True)

    return bp
