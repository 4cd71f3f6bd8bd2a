"""The HTTP doors for reports: native ``/api/v1``, Open311 GeoReport v2 and the OpenAPI
document, as Flask blueprints mounted on the dashboard's server (which only calls
:func:`register`)."""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from intake.http import native, open311, openapi
from intake.http.common import (
    MAX_BODY_BYTES,
    PUBLIC_READER,
    add_server_timing,
    end_scope,
    error_response,
    json_response,
    start_timer,
    use,
)
from intake.schema import ReportError
from onemap.context import Runtime

# Answers that carry `Server-Timing`: the API, the wall's layers and Dash callbacks (so
# bench/wall.py and the browser's network panel see the server's own time).
API_PREFIXES = ("/api/", "/open311/")
TIMED_PREFIXES = (*API_PREFIXES, "/wall/", "/_dash-update-component")


def register(server: Flask, rt: Runtime) -> None:
    """Mount the API on the Flask server that also serves the Dash app."""
    # A batch of reports, or one photo and its multipart envelope, whichever is larger.
    server.config["MAX_CONTENT_LENGTH"] = max(
        MAX_BODY_BYTES, int((rt.settings.photo_max_mb + 1) * 1024 * 1024))
    server.register_blueprint(native.blueprint(rt))
    server.register_blueprint(open311.blueprint(rt))

    @server.get("/api/openapi.json")
    def _openapi() -> Response:
        return json_response(openapi.document(request.host_url))

    @server.before_request
    def _t0() -> None:
        if request.path.startswith(TIMED_PREFIXES):
            start_timer()
        if request.path.startswith("/open311/") and request.method == "GET":
            use(PUBLIC_READER)  # the public reads; a key, if sent, narrows or widens this

    server.teardown_request(end_scope)

    @server.after_request
    def _timing(response: Response) -> Response:
        return add_server_timing(response)

    @server.errorhandler(413)
    def _too_large(_exc) -> Response:
        if request.path.rstrip("/").endswith("/photos"):
            mb = rt.settings.photo_max_mb
            return error_response(ReportError(
                f"照片超过 {mb:g} MB / the photo is larger than {mb:g} MB; nothing was stored",
                [("file", "too large")], status=413, code="too_large"))
        if request.path.startswith("/open311/"):
            return open311.spec_error(413, f"the body is larger than {MAX_BODY_BYTES:,} "
                                           "bytes; nothing was stored")
        return error_response(ReportError(
            f"the body is larger than {MAX_BODY_BYTES:,} bytes; nothing was stored",
            [("(body)", "too large")], status=413, code="too_large"))

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]

    @server.route("/api/<path:rest>", methods=methods)
    def _api_unknown(rest: str) -> Response:
        return _no_route(server, "_api_unknown")

    @server.route("/open311/<path:rest>", methods=methods)
    def _open311_unknown(rest: str) -> Response:
        return _no_route(server, "_open311_unknown")

    @server.errorhandler(404)
    def _not_found(exc):
        if request.path.startswith("/api/"):
            return error_response(ReportError(f"no such endpoint: {request.path}",
                                              status=404, code="not_found"))
        return exc

    @server.errorhandler(405)
    def _method(exc):
        if request.path.startswith(API_PREFIXES):
            return _not_allowed(sorted(exc.valid_methods or ()))
        return exc


def _not_allowed(allowed: list[str]) -> Response:
    """405 in the API's (or Open311's) error form, with the methods that are allowed."""
    message = f"{request.method} is not allowed on {request.path}; use {', '.join(allowed)}"
    if request.path.startswith("/open311/"):
        resp = open311.spec_error(405, message)
    else:
        resp = error_response(ReportError(message, status=405, code="method_not_allowed"))
    resp.headers["Allow"] = ", ".join(allowed)
    return resp


def _no_route(server: Flask, catch_all: str) -> Response:
    """An unknown path under /api/ or /open311/: a JSON (or Open311) 404 — or a 405 with
    ``Allow`` when the path exists for other methods (the catch-all would hide that)."""
    adapter = server.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        try:
            rule, _args = adapter.match(method=method, return_rule=True)
        except HTTPException:
            continue
        if rule.endpoint != catch_all:
            allowed.append(method)
    if allowed:
        return _not_allowed(allowed + (["HEAD"] if "GET" in allowed else []))
    if request.path.startswith("/open311/"):
        return open311.spec_error(404, f"no such resource: {request.path}")
    return error_response(ReportError(f"no such endpoint: {request.path} (see "
                                      "/api/openapi.json)", status=404, code="not_found"))
