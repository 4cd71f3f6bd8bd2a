"""The door of the web app: who is asking, may they, and the headers every answer carries.

Every request passes :func:`check` before it reaches a page, a layer or a callback:

* :data:`ROUTES` names, for every URL rule of the server, what it needs — ``PUBLIC``, a
  session (``SESSION``), an action of :func:`onemap.access.can` (or any of several), the
  API's own keys (``API``), a page's action (``PAGE``) or a callback's (``CALLBACK``).  A rule
  missing here is refused (and a test fails), so a new route cannot slip out unguarded.
* Pages without a session go to ``/login``; everything else answers 401.  A signed-in user
  without the permission gets 403 (audited as denied).
* State-changing requests (POST/PUT/PATCH/DELETE) of a session must carry the session's CSRF
  token — Dash's renderer sends it by itself as ``X-CSRFToken`` from the ``_csrf_token``
  cookie; forms send ``csrf_token``.
* The actor is put on ``g`` and on the data layer's scope (:mod:`store.scope`) for the rest of
  the request.
"""

from __future__ import annotations

import hashlib
import json
import re
from base64 import b64encode
from typing import Any
from urllib.parse import quote, urlsplit

import dash
from flask import Flask, Response, g, redirect, request

from accounts import login as accounts_login
from accounts.audit import audit
from dashboard.callbacks import CALLBACK_ACTIONS
from onemap.access import can
from onemap.context import Runtime
from store import scope

SESSION_COOKIE = "onemap_session"
CSRF_COOKIE = "_csrf_token"  # the name dash-renderer reads
PUBLIC, SESSION, API, PAGE, CALLBACK = "public", "session", "api", "page", "callback"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
VIEW_ANY_MAP = ("wall.view", "plan.view", "monthly.view")

#: Every URL rule → what it needs.  A tuple of actions means "any of these".
ROUTES: dict[str, Any] = {
    "/static/<path:filename>": PUBLIC,
    "/assets/<path:filename>": PUBLIC,
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>": PUBLIC,
    "/_favicon.ico": PUBLIC,
    "/favicon.ico": PUBLIC,
    "/api/health": PUBLIC,
    "/api/openapi.json": PUBLIC,
    "/api/<path:rest>": PUBLIC,  # a JSON 404 (or 405) for any other path under /api/
    "/login": PUBLIC,
    "/login/totp": PUBLIC,
    "/login/enrol": PUBLIC,
    "/login/password": PUBLIC,
    "/logout": SESSION,
    "/r/<token>": PUBLIC,  # the reporter's page: the token is the key
    "/_reload-hash": SESSION,
    "/_dash-layout": SESSION,
    "/_dash-dependencies": SESSION,
    "/registry.json": SESSION,
    "/_dash-update-component": CALLBACK,
    "/": PAGE,
    "/<path:path>": PAGE,
    "/wall/units.geojson": VIEW_ANY_MAP,
    "/wall/units/bounds": VIEW_ANY_MAP,
    "/wall/incidents.geojson": "wall.view",
    "/wall/density.geojson": "wall.view",
    "/wall/households.geojson": "wall.view",
    "/wall/cameras.geojson": "wall.view",
    "/wall/workers.geojson": "wall.view",
    "/monthly/units.geojson": "monthly.view",
    "/monthly/export": "report.export",
    "/planner/export": "plan.view",
    "/admin/users": "user.manage",
    "/admin/audit": "audit.read",
    "/admin/audit.csv": "audit.read",
    "/unmask": "person.unmask",
    "/media/<int:incident_id>/photos/<name>": "incident.read",
    "/media/<int:incident_id>/photos": "incident.act",
    # The grid worker's phone page: the shell's files are public (no data; the browser
    # fetches the manifest without cookies), its data needs the phone's permission.
    "/m": "mobile.use",
    "/m/<any(app.js, app.css):name>": PUBLIC,
    "/m/sw.js": PUBLIC,
    "/m/manifest.webmanifest": PUBLIC,
    "/m/icon-<int(fixed_digits=3):size>.png": PUBLIC,
    "/m/boot.json": "mobile.use",
    "/m/tasks.json": "mobile.use",
    "/m/reports": "mobile.use",
    "/m/incidents/<int:incident_id>/actions": "mobile.use",
}
API_PREFIXES = ("/api/v1/", "/open311/")

#: Where each role lands after signing in: the first page it may open.
HOME = (("/", "wall.view"), ("/m", "mobile.use"), ("/desk", "desk.view"),
        ("/monthly", "monthly.view"), ("/planner", "plan.view"),
        ("/admin/users", "user.manage"), ("/admin/audit", "audit.read"))


def home_for(actor: Any) -> str:
    for path, action in HOME:
        if can(actor, action):
            return path
    return "/login/none"


def page_action(path: str) -> str | None:
    """The action a Dash page needs (``action`` in its registration); None for no page."""
    for page in dash.page_registry.values():
        if page.get("path") == path:
            return page.get("action") or "wall.view"
    return None


#: Dash's own page router: renders the layout of the page at the posted pathname, so it
#: needs that page's action.
PAGES_CALLBACK = ".._pages_content.children..._pages_store.data.."


def _callback_action(server: Flask) -> str | None:
    try:
        body = json.loads(request.get_data(cache=True) or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    output = body.get("output") if isinstance(body, dict) else None
    if output == PAGES_CALLBACK:
        path = next((i.get("value") for i in body.get("inputs", [])
                     if isinstance(i, dict) and i.get("property") == "pathname"), None)
        return page_action(str(path or "/").rstrip("/") or "/") or SESSION
    return server.extensions.get(CALLBACK_ACTIONS, {}).get(output)


def _needs(server: Flask) -> Any:
    rule = request.url_rule.rule if request.url_rule is not None else None
    if rule is None:
        return SESSION  # a 404 of its own, for signed-in users only
    if rule.startswith(API_PREFIXES):
        return API
    need = ROUTES.get(rule)
    if need is None:
        return "(unlisted)"
    if need == PAGE:
        return page_action(request.path.rstrip("/") or "/") or SESSION
    if need == CALLBACK:
        return _callback_action(server) or "(unlisted callback)"
    return need


def _allowed(actor: Any, need: Any) -> bool:
    if need == SESSION:
        return True
    if isinstance(need, tuple):
        return any(can(actor, a) for a in need)
    return can(actor, need)


def _wants_page() -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


def _refuse(status: int, message: str) -> Response:
    body = json.dumps({"error": {"code": status, "message": message}}, ensure_ascii=False)
    return Response(body, status=status, content_type="application/json; charset=utf-8")


def _login_redirect(reason: str | None = None) -> Response:
    target = request.full_path.rstrip("?") if request.method == "GET" else "/"
    query = f"?next={quote(target)}" + (f"&reason={reason}" if reason else "")
    return redirect("/login" + query)


def check(server: Flask, rt: Runtime) -> Response | None:
    """Before every request: the answer when it may not go on, else None (and the actor is
    set on ``g`` and on the data layer's scope)."""
    need = _needs(server)
    g.onemap_address = request.remote_addr
    if need in (PUBLIC, API):
        return None
    session = accounts_login.resume(rt, accounts_login.sid_from_cookie(
        rt, request.cookies.get(SESSION_COOKIE)))
    if not isinstance(session, accounts_login.Session) or not session.complete:
        reason = session if isinstance(session, str) else None
        if isinstance(session, accounts_login.Session):
            reason = "incomplete"
        if _wants_page():
            return _login_redirect(reason)
        return _refuse(401, "sign in first (POST /login); the session is missing or ended"
                       + (f" ({reason})" if reason else ""))
    actor = session.actor
    g.onemap_session = session
    if request.method in UNSAFE:
        sent = request.headers.get("X-CSRFToken") or request.form.get("csrf_token")
        if not sent or sent != session.csrf:
            audit(rt.acting_as(actor), "request.denied", result="denied",
                  address=request.remote_addr,
                  detail={"path": request.path, "reason": "missing or wrong CSRF token"})
            return _refuse(403, "the request lacks this session's CSRF token; reload the page")
    if not _allowed(actor, need):
        audit(rt.acting_as(actor), "request.denied", result="denied",
              address=request.remote_addr, detail={"path": request.path, "need": str(need)})
        if _wants_page():
            return Response(_FORBIDDEN.format(home=home_for(actor)), status=403,
                            content_type="text/html; charset=utf-8")
        return _refuse(403, f"your role may not do this here ({need})")
    g.onemap_actor = actor
    g.onemap_scope_token = scope.enter(actor)
    return None


_FORBIDDEN = ("<!doctype html><meta charset=utf-8><title>403</title>"
              "<link rel=stylesheet href='/assets/login.css'>"
              "<main class='om-login'><h1>无权访问 / Not allowed</h1>"
              "<p>您的角色不能打开此页面。/ Your role may not open this page.</p>"
              "<p><a href='{home}'>返回 / Back</a> · <a href='/logout'>退出 / Sign out</a></p>"
              "</main>")

_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)([^>]*)>(.*?)</script>", re.S)


def _script_hashes(html: str) -> list[str]:
    """CSP hashes of the page's inline scripts (Dash's renderer start and clientside
    callbacks); JSON data blocks are not scripts and need none."""
    out = []
    for attrs, body in _INLINE_SCRIPT.findall(html):
        if "application/json" in attrs:
            continue
        digest = b64encode(hashlib.sha256(body.encode()).digest()).decode()
        out.append(f"'sha256-{digest}'")
    return out


def headers(response: Response, rt: Runtime) -> Response:
    """Security headers on every answer; the CSRF cookie for a signed-in session."""
    tiles = ""
    if rt.settings.basemap_url:
        parts = urlsplit(rt.settings.basemap_url.replace("{s}", "a"))
        if parts.scheme and parts.netloc:
            host = parts.netloc.split(".", 1)[-1] if "{s}" in rt.settings.basemap_url \
                else parts.netloc
            tiles = f" {parts.scheme}://*.{host}" if "{s}" in rt.settings.basemap_url \
                else f" {parts.scheme}://{host}"
    scripts = ""
    if response.mimetype == "text/html" and not response.direct_passthrough:
        scripts = " ".join(_script_hashes(response.get_data(as_text=True)))
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' {scripts}; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: blob:{tiles}; connect-src 'self'; font-src 'self' data:; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; "
        "worker-src 'self'; manifest-src 'self'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    secure = request.is_secure or bool(rt.settings.tls_cert)
    if secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    session = g.get("onemap_session")
    if session is not None and request.cookies.get(CSRF_COOKIE) != session.csrf:
        response.set_cookie(CSRF_COOKIE, session.csrf, httponly=False, samesite="Lax",
                            secure=secure, path="/")
    return response


def install(server: Flask, rt: Runtime) -> None:
    """Put the guard and the headers on ``server``."""

    @server.get("/favicon.ico")
    def _favicon() -> Response:
        return redirect("/_favicon.ico")

    @server.before_request
    def _guard() -> Response | None:
        return check(server, rt)

    @server.after_request
    def _headers(response: Response) -> Response:
        return headers(response, rt)

    @server.teardown_request
    def _leave(_exc: Any = None) -> None:
        token = g.pop("onemap_scope_token", None)
        if token is not None:
            scope.leave(token)
