"""Open311 GeoReport v2 under ``/open311/v2`` (each resource as ``.json`` or ``.xml``).

The translation lives in :mod:`intake.open311`; this module reads the HTTP request, submits
through :func:`intake.service.submit` (like every other channel) and reads incidents through
:mod:`store.incidents`.  Errors are always in the spec's form (``[{"code", "description"}]`` or
``<errors><error>…``), in the format the path asked for (XML when it named none we know).
Reading needs no key; posting needs ``api_key`` (or the ``X-API-Key`` header).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, request
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import RequestEntityTooLarge

from geo.catalog import CATEGORIES, CATEGORY_BY_CODE
from intake import open311 as o311
from intake import service
from intake.http.common import MAX_SINGLE_BYTES, caller
from intake.open311 import Open311Error
from intake.schema import ReportError, parse_report
from onemap.access import Actor, can
from onemap.context import Runtime
from store import incidents as db_incidents

PREFIX = "/open311/v2"


def _path_format() -> str:
    """The format the path asks for: the extension of its last segment (lower case)."""
    last = request.path.rstrip("/").rsplit("/", 1)[-1]
    return last.rsplit(".", 1)[-1].lower() if "." in last else ""


def _split(name: str) -> tuple[str, str]:
    """``'sanitation.json'`` → (``'sanitation'``, ``'json'``)."""
    base, dot, fmt = name.rpartition(".")
    if not dot or not base:
        raise Open311Error(404, f"{name!r}: add a format extension, .json or .xml")
    return base, fmt.lower()


def _respond(body: Any, root: str, status: int = 200,
             headers: dict[str, str] | None = None) -> Response:
    fmt = _path_format()
    fmt = fmt if fmt in o311.FORMATS else "xml"
    return Response(o311.render(body, fmt, root), status=status, headers=headers,
                    content_type=o311.FORMATS[fmt])


def _error(err: Open311Error) -> Response:
    return _respond(err.body(), "errors", err.code)


def spec_error(code: int, description: str) -> Response:
    """An error in the spec's form, for handlers outside the blueprint (413, 405)."""
    return _error(Open311Error(code, description))


def open311_route(fn: Callable[..., Response]) -> Callable[..., Response]:
    """Every failure as a spec error: unknown format 404, refusals 400/403/404/413, a
    database outage 503 (nothing stored)."""
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            if _path_format() not in o311.FORMATS:
                raise Open311Error(404, f"no such resource: {request.path} (formats: .json, "
                                   ".xml)")
            return fn(*args, **kwargs)
        except Open311Error as err:
            return _error(err)
        except ReportError as err:
            return _error(o311.report_error(err))
        except RequestEntityTooLarge:
            return _error(Open311Error(413, f"the body is larger than {MAX_SINGLE_BYTES:,} "
                                       "bytes; nothing was stored"))
        except OperationalError:
            return _error(Open311Error(503, "the database is unavailable; nothing was stored "
                                       "— retry in a moment"))
    return wrapper


# -- parameters ------------------------------------------------------------------------------

def _presented_key(params: dict[str, Any] | None = None) -> str | None:
    key = (params or {}).get("api_key") or request.args.get("api_key") \
        or request.headers.get("X-API-Key")
    return str(key).strip() if key else None


def _optional_key(rt: Runtime) -> Actor | None:
    """A GET's key, if it sent one (an operator key also shows private categories)."""
    raw = _presented_key()
    if not raw:
        return None
    key = caller(rt, raw)
    if key is None:
        raise Open311Error(403, "api_key: not valid (unknown or revoked); reading needs no key")
    return key


def _post_params() -> dict[str, Any]:
    """The POST's parameters: form-encoded (the spec) or a JSON object."""
    length = request.content_length
    if length is not None and length > MAX_SINGLE_BYTES:
        raise Open311Error(413, f"the body is {length:,} bytes; at most {MAX_SINGLE_BYTES:,} "
                           "are accepted; nothing was stored")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_SINGLE_BYTES:
        raise Open311Error(413, f"the body is larger than {MAX_SINGLE_BYTES:,} bytes; nothing "
                           "was stored")
    if request.mimetype == "application/json":
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise Open311Error(400, "request: the body is not valid UTF-8 JSON") from None
        if not isinstance(data, dict):
            raise Open311Error(400, "request: the JSON body must be an object")
        return o311.flatten_params(data)
    return {k: v for k, v in request.form.items()}


def _ints(raw: str, name: str) -> list[int]:
    out = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or len(part) > 18:
            raise Open311Error(400, f"{name}: {part!r} is not a service_request_id")
        out.append(int(part))
    return out


def _codes(name: str, allowed: tuple[str, ...]) -> list[str]:
    values = [v.strip() for raw in request.args.getlist(name) for v in raw.split(",")
              if v.strip()]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise Open311Error(400, f"{name}: unknown value(s) {', '.join(bad)}; expected one of "
                           + ", ".join(allowed))
    return values


def _time(name: str, tz: str) -> datetime | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace(" ", "+") if "T" in raw else raw)
    except ValueError:
        raise Open311Error(400, f"{name}: {raw!r} is not a w3 date/time (e.g. "
                           "2026-10-01T08:00:00+08:00 or 2026-10-01T00:00:00Z)") from None
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(tz))


def _int(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise Open311Error(400, f"{name}: must be a whole number from {lo} to {hi:,}")
    return int(raw)


def _bbox() -> tuple[float, float, float, float] | None:
    raw = request.args.get("bbox", "").strip()
    if not raw:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in raw.split(","))
    except ValueError:
        raise Open311Error(400, "bbox: give min_lon,min_lat,max_lon,max_lat in degrees "
                           "(WGS84)") from None
    if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
        raise Open311Error(400, "bbox: need min_lon < max_lon and min_lat < max_lat, in "
                           "degrees")
    return x0, y0, x1, y1


def _flag(name: str) -> bool:
    raw = request.args.get(name, "").strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise Open311Error(400, f"{name}: use true or false")


def _date_range(tz: str) -> tuple[datetime, datetime | None]:
    """[start, end] of requested_datetime: at most 90 days; the last 90 days by default."""
    start, end = _time("start_date", tz), _time("end_date", tz)
    span = timedelta(days=o311.MAX_SPAN_DAYS)
    if start is None and end is None:
        return datetime.now(UTC) - span, None
    if start is None:
        assert end is not None
        return end - span, end
    if end is None:
        return start, start + span
    if end < start:
        raise Open311Error(400, "end_date: is before start_date")
    if end - start > span:
        days = (end - start) / timedelta(days=1)
        raise Open311Error(400, f"start_date/end_date: the range spans {days:.1f} days; at most "
                           f"{o311.MAX_SPAN_DAYS} are allowed")
    return start, end


def jurisdictions(rt: Runtime) -> set[str]:
    """The jurisdiction_id values this server answers to: the configured one, else the code
    of every top unit."""
    if rt.settings.jurisdiction_id:
        return {rt.settings.jurisdiction_id}
    tree = rt.units.tree()
    return {str(tree.units[i]["code"]) for i in tree.tops()}


def _visible(key: Actor | None) -> list[str]:
    """Categories a reader may see: all but the private ones, unless the key may read
    private cases."""
    if can(key, "incident.read_private"):
        return [c.code for c in CATEGORIES]
    return [c.code for c in CATEGORIES if c.code not in o311.PRIVATE_CATEGORIES]


def _last_notes(conn: Connection, ids: list[int]) -> dict[int, str | None]:
    """The note of each incident's latest event (what the last person to act wrote)."""
    if not ids:
        return {}
    return db_incidents.last_notes(conn, ids)


# -- the blueprint ---------------------------------------------------------------------------

def blueprint(rt: Runtime) -> Blueprint:
    bp = Blueprint("open311_v2", __name__, url_prefix=PREFIX)
    tz = rt.settings.timezone

    @bp.before_request
    def _jurisdiction() -> Response | None:
        """``jurisdiction_id``, when sent, must be this server's (the spec: 404)."""
        try:
            params = dict(request.args)
            if request.method == "POST" and _path_format() in o311.FORMATS:
                params.update(_post_params())
            sent = str(params.get("jurisdiction_id") or "").strip()
            if sent and sent not in jurisdictions(rt):
                raise Open311Error(404, f"jurisdiction_id: {sent!r} is not served here; "
                                   f"use {' or '.join(sorted(jurisdictions(rt)))}")
        except Open311Error as err:
            return _error(err)
        return None

    def engine_of() -> Engine:
        return rt.engine

    def lang() -> str:
        return o311.lang_of(request.args.get("lang"))

    @bp.get("/discovery.<fmt>")
    @open311_route
    def discovery(fmt: str) -> Response:
        return _respond(o311.discovery(request.url_root.rstrip("/") + PREFIX), "discovery")

    @bp.get("/services.<fmt>")
    @open311_route
    def services(fmt: str) -> Response:
        return _respond(o311.services(lang()), "services")

    @bp.get("/services/<path:name>")
    @open311_route
    def service_definition(name: str) -> Response:
        code, _fmt = _split(name)
        return _respond(o311.service_definition(code, lang()), "service_definition")

    @bp.post("/requests.<fmt>")
    @open311_route
    def post_request(fmt: str) -> Response:
        params = _post_params()
        raw_key = _presented_key(params)
        if not raw_key:
            raise Open311Error(403, "api_key: is required to post a request (ask the "
                               "administrator for one)")
        db = engine_of()
        key = caller(rt, raw_key)
        if key is None:
            raise Open311Error(403, "api_key: not valid (unknown or revoked); nothing was "
                               "stored")
        address = None
        address_id = params.get("address_id")
        if address_id is not None and str(address_id).strip():
            address = db_incidents.household_address(db, str(address_id).strip())
            if address is None:
                raise Open311Error(400, f"address_id: {str(address_id)!r} is not in the "
                                   "household register")
        idem = request.headers.get("Idempotency-Key")
        token = o311.token_for(key.source, idem)
        report = parse_report(o311.form_to_report(params, source=key.source, token=token,
                                                  address_from_id=address))
        result = service.submit(rt.acting_as(key), report, idempotency_key=idem)
        row = result.incident
        if not result.created and idem:
            stored = db_incidents.request_hash(db, row["id"])
            if stored != report.fingerprint():
                raise Open311Error(422, f"Idempotency-Key: {idem!r} was already used for a "
                                   f"different request ({row['id']}); use a new key for a new "
                                   "request")
        body = o311.post_result(row, created=result.created, tz=tz,
                                lang=lang(), duplicate_of=result.duplicate_of,
                                citizen_url=result.citizen_url)
        headers = {"Location": f"{PREFIX}/requests/{row['id']}.{fmt.lower()}"}
        return _respond(body, "service_requests", result.http_status, headers)

    @bp.get("/requests.<fmt>")
    @open311_route
    def get_requests(fmt: str) -> Response:
        key = _optional_key(rt)
        visible = _visible(key)
        page = _int("page", 1, 1, 100_000)
        size = _int("page_size", o311.DEFAULT_PAGE_SIZE, 1, o311.MAX_PAGE_SIZE)
        extensions = _flag("extensions")
        ids_raw = request.args.get("service_request_id", "").strip()
        if ids_raw:  # the spec: other parameters are then ignored
            ids = _ints(ids_raw, "service_request_id")
            if len(ids) > o311.MAX_PAGE_SIZE:
                raise Open311Error(400, f"service_request_id: at most {o311.MAX_PAGE_SIZE} ids")
            flt = db_incidents.IncidentFilter(ids=ids or [-1], category=visible)
        else:
            codes = _codes("service_code", tuple(CATEGORY_BY_CODE))
            categories = [c for c in (codes or visible) if c in visible]
            statuses = _codes("status", tuple(o311.OPEN311_STATUS))
            start, end = _date_range(tz)
            flt = db_incidents.IncidentFilter(
                category=categories or ["(none)"],
                status=[s for st in statuses for s in o311.OPEN311_STATUS[st]],
                received_from=start,
                received_to=end + timedelta(microseconds=1) if end else None,
                updated_after=_time("updated_after", tz), bbox=_bbox())
        with engine_of().connect() as conn:
            rows, nxt = db_incidents.list_incidents(conn, flt, limit=size,
                                                    offset=(page - 1) * size)
            notes = _last_notes(conn, [r["id"] for r in rows])
        body = [o311.to_request(r, tz=tz, last_note=notes.get(r["id"]), lang=lang(),
                                extensions=extensions) for r in rows]
        headers = {}
        if nxt is not None:
            args = request.args.to_dict()
            args["page"] = str(page + 1)
            headers["Link"] = f'<{request.base_url}?{urlencode(args)}>; rel="next"'
        return _respond(body, "service_requests", 200, headers)

    @bp.get("/requests/<path:name>")
    @open311_route
    def get_request(name: str) -> Response:
        raw_id, _fmt = _split(name)
        key = _optional_key(rt)
        row = None
        if raw_id.isdigit() and len(raw_id) <= 18:
            with engine_of().connect() as conn:
                row = db_incidents.get_incident(conn, int(raw_id))
        if row is None or row["category"] not in _visible(key):
            raise Open311Error(404, f"service_request_id: there is no request {raw_id!r}")
        events = row.get("events") or []
        note = events[-1]["note"] if events else None
        return _respond([o311.to_request(row, tz=tz, last_note=note, lang=lang(),
                                         extensions=_flag("extensions"))], "service_requests")

    @bp.get("/tokens/<path:name>")
    @open311_route
    def get_token(name: str) -> Response:
        token, _fmt = _split(name)
        found = None
        if token.startswith(o311.TOKEN_PREFIX) and len(token) <= 128:
            found = db_incidents.id_by_external_id(engine_of(), token)
        if found is None:
            raise Open311Error(404, f"token: there is no request with token {token!r}")
        return _respond([{"service_request_id": str(found), "token": token}],
                        "service_requests")

    @bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    @open311_route
    def unknown(rest: str) -> Response:
        if request.method not in ("GET", "POST"):
            raise Open311Error(405, f"{request.method} is not allowed: Open311 resources are "
                               "read with GET and requests are posted with POST")
        raise Open311Error(404, f"no such resource: {request.path}")

    return bp
