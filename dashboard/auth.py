"""Signing in, out and the steps between: ``/login`` (password), ``/login/totp`` (the code),
``/login/enrol`` (set up an authenticator by QR code), ``/login/password`` (change it),
``/logout``.  Plain server-rendered forms (no script), Chinese first, ``?lang=en``.

Sign-in attempts are rate-limited per client address by Flask-Limiter (``ONEMAP_LOGIN_RATE``;
in-memory, so per web worker); the account lockout (``ONEMAP_LOCKOUT_*``) is in the database
and holds across workers.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, redirect, render_template_string, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from accounts import login as acc
from dashboard.guard import CSRF_COOKIE, SESSION_COOKIE, home_for
from onemap.context import Runtime
from onemap.errors import OneMapError

FORM_COOKIE = "onemap_form"

TEXT = {
    "title": ("一张图 · 登录", "OneMap · Sign in"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "submit": ("登录", "Sign in"),
    "code": ("动态验证码（6位）", "One-time code (6 digits)"),
    "verify": ("验证", "Verify"),
    "enrol": ("绑定身份验证器", "Set up an authenticator"),
    "enrol_hint": ("用身份验证器 App 扫描二维码，或手动输入密钥，然后输入显示的 6 位验证码。",
                   "Scan the QR code with an authenticator app (or type the key), then enter "
                   "the 6-digit code it shows."),
    "change": ("修改密码", "Change password"),
    "change_hint": ("密码至少 10 位，包含大写、小写、数字、符号中的三类，且不含用户名。",
                    "At least 10 characters from three of: upper case, lower case, digits, "
                    "symbols; not containing the username."),
    "old": ("原密码", "Current password"),
    "new": ("新密码", "New password"),
    "again": ("再次输入新密码", "New password again"),
    "idle": ("长时间未操作，会话已结束，请重新登录。", "Signed out after a period of inactivity."),
    "absolute": ("会话已到最长时限，请重新登录。", "The session reached its time limit."),
    "account": ("账号状态已变更，请重新登录。", "Your account changed; sign in again."),
    "incomplete": ("请完成登录步骤。", "Finish signing in."),
    "mismatch": ("两次输入的新密码不一致。", "The new passwords differ."),
    "wrong_code": ("验证码不正确。", "The code is not right."),
    "expired_form": ("页面已过期，请重试。", "The form expired; try again."),
    "too_many": ("尝试过于频繁，请稍后再试。", "Too many attempts; wait a minute."),
    "signed_out": ("已退出登录。", "Signed out."),
    "no_page": ("您的角色没有可打开的页面，请联系管理员。",
                "Your role has no page to open; ask the administrator."),
}

PAGE = """<!doctype html><html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}"><head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t('title') }}</title><link rel="stylesheet" href="/assets/login.css"></head>
<body class="om-login-body"><main class="om-login" id="login">
<h1>一张图 <small>OneMap</small></h1>
<p class="om-login-lang"><a href="?lang={{ 'en' if lang == 'zh' else 'zh' }}{{ keep }}">{{
  'English' if lang == 'zh' else '中文' }}</a></p>
{% if notice %}<p class="om-notice" id="notice">{{ notice }}</p>{% endif %}
{% if error %}<p class="om-error" id="error" role="alert">{{ error }}</p>{% endif %}
{{ body|safe }}
</main></body></html>"""

LOGIN = """<form method="post" action="/login?lang={{ lang }}">
<input type="hidden" name="csrf_token" value="{{ form }}"><input type="hidden" name="next"
 value="{{ next }}">
<label>{{ t('username') }}<input name="username" id="username" autocomplete="username"
 required autofocus></label>
<label>{{ t('password') }}<input name="password" id="password" type="password"
 autocomplete="current-password" required></label>
<button type="submit" id="submit">{{ t('submit') }}</button></form>"""

TOTP = """<form method="post" action="/login/totp?lang={{ lang }}">
<input type="hidden" name="csrf_token" value="{{ form }}">
<label>{{ t('code') }}<input name="code" id="code" inputmode="numeric" pattern="[0-9]{6}"
 autocomplete="one-time-code" required autofocus></label>
<button type="submit" id="submit">{{ t('verify') }}</button></form>"""

ENROL = """<h2>{{ t('enrol') }}</h2><p>{{ t('enrol_hint') }}</p>
<img src="{{ qr }}" alt="QR" id="qr" class="om-qr"><p class="om-secret" id="secret">{{ secret }}</p>
<form method="post" action="/login/enrol?lang={{ lang }}">
<input type="hidden" name="csrf_token" value="{{ form }}">
<label>{{ t('code') }}<input name="code" id="code" inputmode="numeric" pattern="[0-9]{6}"
 autocomplete="one-time-code" required></label>
<button type="submit" id="submit">{{ t('verify') }}</button></form>"""

PASSWORD = """<h2>{{ t('change') }}</h2><p>{{ t('change_hint') }}</p>
<form method="post" action="/login/password?lang={{ lang }}">
<input type="hidden" name="csrf_token" value="{{ form }}">
<label>{{ t('old') }}<input name="old" id="old" type="password" required></label>
<label>{{ t('new') }}<input name="new" id="new" type="password" required></label>
<label>{{ t('again') }}<input name="again" id="again" type="password" required></label>
<button type="submit" id="submit">{{ t('change') }}</button></form>"""


def _lang(rt: Runtime) -> str:
    lang = request.args.get("lang") or request.form.get("lang")
    return lang if lang in ("zh", "en") else rt.settings.lang


def _safe_next(value: str | None) -> str | None:
    """Only a path on this site (no scheme, no host, no //) — never an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return None
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc and "\\" not in value else None


def _render(rt: Runtime, body: str, status: int = 200, **values: Any) -> Response:
    lang = _lang(rt)

    def t(key: str) -> str:
        zh, en = TEXT[key]
        return zh if lang == "zh" else en
    inner = render_template_string(body, t=t, lang=lang, **values)
    nxt = request.args.get("next")
    keep = f"&next={nxt}" if _safe_next(nxt) else ""
    html = render_template_string(PAGE, t=t, lang=lang, body=inner, keep=keep,
                                  notice=values.get("notice"), error=values.get("error"))
    resp = Response(html, status=status, content_type="text/html; charset=utf-8")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _text(rt: Runtime, key: str) -> str:
    zh, en = TEXT[key]
    return zh if _lang(rt) == "zh" else en


def _cookie_flags(rt: Runtime) -> dict[str, Any]:
    return {"httponly": True, "samesite": "Lax", "path": "/",
            "secure": request.is_secure or bool(rt.settings.tls_cert)}


def _current(rt: Runtime) -> acc.Session | None:
    found = acc.resume(rt, acc.sid_from_cookie(rt, request.cookies.get(SESSION_COOKIE)))
    return found if isinstance(found, acc.Session) else None


def _next_step(rt: Runtime, session: acc.Session, nxt: str | None) -> str:
    """Where to go after a step: the code, enrolment, a password change, or the page."""
    lang = f"?lang={_lang(rt)}"
    if session.user["totp_enabled"] and not session.second_factor_ok:
        return "/login/totp" + lang
    if _needs_totp(session) and not session.user["totp_enabled"]:
        return "/login/enrol" + lang
    if session.password_due:
        return "/login/password" + lang
    return nxt or home_for(session.actor)


def _needs_totp(session: acc.Session) -> bool:
    from onemap.access import ROLES

    role = ROLES.get(session.user["role"])
    return bool(role and role.needs_totp)


def blueprint(rt: Runtime, limiter: Limiter) -> Blueprint:
    bp = Blueprint("auth", __name__)

    @bp.get("/login")
    def login_form() -> Response:
        form = secrets.token_urlsafe(16)
        reason = request.args.get("reason")
        notice = _text(rt, reason) if reason in ("idle", "absolute", "account",
                                                   "incomplete") else None
        if request.args.get("bye"):
            notice = _text(rt, "signed_out")
        resp = _render(rt, LOGIN, form=form, next=_safe_next(request.args.get("next")) or "",
                       notice=notice)
        resp.set_cookie(FORM_COOKIE, form, max_age=1800, **_cookie_flags(rt))
        return resp

    @bp.post("/login")
    @limiter.limit(lambda: rt.settings.login_rate, methods=["POST"],
                   error_message="too many sign-in attempts")
    def login_post() -> Response:
        form = request.cookies.get(FORM_COOKIE)
        if not form or request.form.get("csrf_token") != form:
            return _render(rt, LOGIN, 400, form=form or "", next="",
                           error=_text(rt, "expired_form"))
        nxt = _safe_next(request.form.get("next"))
        try:
            login = acc.authenticate(rt.acting_as(rt.actor, request.remote_addr),
                                     request.form.get("username", ""),
                                     request.form.get("password", ""))
        except OneMapError as err:
            return _render(rt, LOGIN, 401, form=form, next=nxt or "", error=err.user_msg)
        complete = not (login.needs_totp or login.must_enrol_totp)
        sid, _csrf = acc.start_session(rt, login, request.remote_addr,
                                       second_factor_ok=complete)
        session = acc.resume(rt, sid)
        target = _next_step(rt, session, nxt) if isinstance(session, acc.Session) else "/login"
        resp = redirect(target)
        resp.set_cookie(SESSION_COOKIE, acc.session_cookie_value(rt, sid), **_cookie_flags(rt))
        resp.delete_cookie(FORM_COOKIE, path="/")
        return resp

    def _session_or_login() -> acc.Session | Response:
        session = _current(rt)
        if session is None:
            return redirect(f"/login?lang={_lang(rt)}")
        return session

    def _code(session: acc.Session, check: Callable[..., bool]) -> Response | str:
        """A posted one-time code: on to the next step when ``check`` accepts it, else the
        message to show."""
        if request.form.get("csrf_token") != session.csrf:
            return _text(rt, "expired_form")
        actor_rt = rt.acting_as(session.actor, request.remote_addr)
        if not check(actor_rt, session.user, request.form.get("code", "")):
            return _text(rt, "wrong_code")
        acc.complete_second_factor(actor_rt, session.id, session.user)
        return redirect(_next_step(rt, _current(rt) or session, None))

    @bp.route("/login/totp", methods=["GET", "POST"])
    @limiter.limit(lambda: rt.settings.login_rate, methods=["POST"])
    def totp() -> Response:
        session = _session_or_login()
        if isinstance(session, Response):
            return session
        error = _code(session, acc.check_totp) if request.method == "POST" else None
        if isinstance(error, Response):
            return error
        return _render(rt, TOTP, 401 if error else 200, form=session.csrf, error=error)

    @bp.route("/login/enrol", methods=["GET", "POST"])
    def enrol() -> Response:
        session = _session_or_login()
        if isinstance(session, Response):
            return session
        if session.user["totp_enabled"]:  # re-enrolment: the administrator resets it
            return redirect(_next_step(rt, session, None))
        error = _code(session, acc.confirm_enrolment) if request.method == "POST" else None
        if isinstance(error, Response):
            return error
        setup = acc.start_enrolment(rt.acting_as(session.actor, request.remote_addr),
                                    session.user)
        return _render(rt, ENROL, 400 if error else 200, form=session.csrf, qr=setup["qr"],
                       secret=acc.qr_fallback(setup["secret"]), error=error)

    @bp.route("/login/password", methods=["GET", "POST"])
    def change_password() -> Response:
        session = _session_or_login()
        if isinstance(session, Response):
            return session
        error = None
        if request.method == "POST":
            if request.form.get("csrf_token") != session.csrf:
                error = _text(rt, "expired_form")
            elif request.form.get("new") != request.form.get("again"):
                error = _text(rt, "mismatch")
            else:
                try:
                    acc.change_password(rt.acting_as(session.actor, request.remote_addr),
                                        session.user, request.form.get("old", ""),
                                        request.form.get("new", ""))
                    return redirect(_next_step(rt, _current(rt) or session, None))
                except OneMapError as err:
                    error = err.user_msg
        return _render(rt, PASSWORD, 400 if error else 200, form=session.csrf, error=error)

    @bp.get("/logout")
    def logout() -> Response:
        session = _current(rt)
        if session is not None:
            acc.end(rt.acting_as(session.actor, request.remote_addr), session)
        resp = redirect(f"/login?bye=1&lang={_lang(rt)}")
        resp.delete_cookie(SESSION_COOKIE, path="/")
        resp.delete_cookie(CSRF_COOKIE, path="/")
        return resp

    return bp


def register(server: Flask, rt: Runtime) -> Limiter:
    """Mount the sign-in pages and the rate limiter on ``server``."""
    limiter = Limiter(get_remote_address, app=server, storage_uri="memory://",
                      default_limits=[], headers_enabled=True)

    @server.errorhandler(429)
    def _too_many(_exc: Any) -> Response:
        if request.path.startswith("/login"):
            return _render(rt, LOGIN, 429, form="", next="", error=_text(rt, "too_many"))
        return Response('{"error": {"code": 429, "message": "too many requests"}}',
                        status=429, content_type="application/json")

    server.register_blueprint(blueprint(rt, limiter))
    return limiter
