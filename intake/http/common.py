"""What every API route shares: keys, JSON bodies, errors, timing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import wraps
from typing import Any

from flask import Response, g, request
from sqlalchemy.exc import OperationalError

from accounts.audit import audit
from accounts.service import token_actor
from intake.schema import ReportError
from onemap.access import Actor
from onemap.context import Runtime
from store import scope
from store.api_keys import verify_key

#: Who reads the public Open311 endpoints without a key: every case, never a contact or a
#: private category (intake.open311 leaves those out), and may do nothing else.
PUBLIC_READER = Actor(kind="public", id=0, name="public", role="public")

MAX_SINGLE_BYTES = 256 * 1024  # one report: far more than 4,000 characters of text
MAX_BODY_BYTES = 8 * 1024 * 1024  # a batch of 10,000 reports


def to_json(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, Decimal):
        return float(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> Response:
    data = json.dumps(body, ensure_ascii=False, default=to_json)
    return Response(data, status=status, headers=headers,
                    content_type="application/json; charset=utf-8")


def error_response(err: ReportError) -> Response:
    return json_response(err.as_json(), err.status)


def read_json(limit: int = MAX_SINGLE_BYTES) -> Any:
    """The request's JSON body, or a ReportError saying what is wrong with it."""
    if request.mimetype != "application/json":
        sent = request.mimetype or "none"
        raise ReportError(f"send the body as JSON with 'Content-Type: application/json' "
                          f"(this request says {sent})", [("Content-Type", "application/json")],
                          status=415, code="unsupported_media_type")
    length = request.content_length
    if length is not None and length > limit:
        raise ReportError(f"the body is {length:,} bytes; at most {limit:,} are accepted here",
                          [("(body)", "too large")], status=413, code="too_large")
    raw = request.get_data(cache=False)
    if len(raw) > limit:
        raise ReportError(f"the body is larger than {limit:,} bytes", [("(body)", "too large")],
                          status=413, code="too_large")
    if not raw.strip():
        raise ReportError("the body is empty; send a JSON object", [("(body)", "is required")],
                          status=400, code="bad_json")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ReportError("the body is not UTF-8 text", [("(body)", "must be UTF-8 JSON")],
                          status=400, code="bad_json") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"the body is not valid JSON: {exc.msg} at line {exc.lineno} "
                          f"column {exc.colno}", [("(body)", "invalid JSON")], status=400,
                          code="bad_json") from None


def presented_key() -> str | None:
    key = request.headers.get("X-API-Key")
    if key:
        return key.strip()
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


def caller(rt: Runtime, raw: str | None) -> Actor | None:
    """The actor behind a channel's API key (``om_…``) or a person's token (``omu_…``), with
    its scope; None when unknown, revoked or expired.  From here on the request's reads are
    scoped to it (:mod:`store.scope`)."""
    if not raw:
        return None
    if raw.startswith("omu_"):
        actor = token_actor(rt, raw)
    else:
        found = verify_key(rt.engine, raw)
        actor = found.actor if found else None
    if actor is not None:
        use(actor)
    return actor


def use(actor: Actor) -> None:
    """Scope the rest of this request to ``actor`` (reset when the request ends)."""
    token = scope.enter(actor)
    if "onemap_scope_token" not in g:
        g.onemap_scope_token = token
    g.onemap_api_actor = actor


def end_scope(_exc: Any = None) -> None:
    token = g.pop("onemap_scope_token", None)
    if token is not None:
        scope.leave(token)


def require_key(rt: Runtime) -> Actor:
    """The actor of the request's API key or personal token, or a 401/403 saying what to
    send (a refused key is audited)."""
    key = presented_key()
    if not key:
        raise ReportError("an API key is required: send it as 'X-API-Key: <key>' (ask the "
                          "administrator for one: onemap apikey add, or onemap user token)",
                          [("X-API-Key", "is required")], status=401, code="unauthorized")
    actor = caller(rt, key)
    if actor is None:
        audit(rt, "request.denied", result="denied", address=request.remote_addr,
              detail={"path": request.path, "reason": "unknown or revoked key"})
        raise ReportError("this API key is not valid (unknown, revoked or expired)",
                          [("X-API-Key", "unknown or revoked")], status=403, code="forbidden")
    return actor


def api_route(fn: Callable[..., Response]) -> Callable[..., Response]:
    """Turn the project's errors into JSON answers; a database outage is a 503 saying that
    nothing was stored."""
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return fn(*args, **kwargs)
        except ReportError as err:
            return error_response(err)
        except OperationalError:
            return error_response(ReportError(
                "the database is unavailable; nothing was stored — retry in a moment",
                status=503, code="unavailable"))
    return wrapper


def start_timer() -> None:
    g.onemap_t0 = time.perf_counter()


def add_server_timing(response: Response) -> Response:
    t0 = getattr(g, "onemap_t0", None)
    if t0 is not None:
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - t0) * 1000:.2f}"
    return response
