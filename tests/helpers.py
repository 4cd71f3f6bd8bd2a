"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sibling_database(db_url: str, suffix: str) -> str:
    """The URL of a database next to the test database (``<name>_<suffix>``), for tests that
    commit (the API, served pages) and so must not share the baseline database."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    return url.set(database=f"{url.database}_{suffix}").render_as_string(hide_password=False)


def fresh_demo_database(url: str, region: str = "sample", scale: float = 1.0):
    """Drop and recreate the database at ``url``, migrate it and load a demo region; returns
    an Engine (the caller disposes of it)."""
    from sqlalchemy import create_engine

    from loaders.demo import load_demo
    from store import migrate
    from store.engine import ensure_database

    ensure_database(url, fresh=True)
    engine = create_engine(url, pool_pre_ping=True)
    migrate.upgrade(engine)
    load_demo(engine, region, scale=scale)
    return engine


PASSWORD = "Test-pass-2026!"


def make_user(rt, role: str, unit_code: str | None = None, *, username: str | None = None,
              department: str | None = None, level: int = 0) -> dict:
    """An account of ``role`` (home unit ``unit_code``, else the first unit of ``level``),
    with TOTP set up for the roles that need it; returns the user row plus its password."""
    import secrets as _secrets

    import pyotp

    from accounts.bootstrap import SETUP
    from accounts.service import add_user
    from onemap import crypto
    from onemap.access import ROLES
    from store import users as db_users
    from store.db import rows

    rt = rt.acting_as(SETUP)
    if unit_code is None and role not in ("admin", "auditor"):
        unit_code = rows(rt.engine, "SELECT code FROM unit WHERE level = :l AND valid_to IS "
                                    "NULL ORDER BY code LIMIT 1", {"l": level})[0]["code"]
    if role == "department" and department is None:
        department = rows(rt.engine, "SELECT code FROM department ORDER BY code LIMIT 1")[0][
            "code"]
    username = username or f"t_{role}_{_secrets.token_hex(3)}"
    add_user(rt, username, role=role, password=PASSWORD, unit_code=unit_code,
             department=department, display_name=f"测试{role}")
    found = db_users.user(rt.engine, username=username)
    secret = None
    if ROLES[role].needs_totp:
        secret = pyotp.random_base32()
        with rt.engine.begin() as conn:
            db_users.update_user(conn, found["id"], {
                "totp_secret": crypto.seal(rt.settings.var_dir, secret,
                                           "app_user.totp_secret"),
                "totp_enabled": True})
    return {**found, "password": PASSWORD, "totp": secret}


def form_token(html: str) -> str:
    import re

    return re.search(r'name="csrf_token" value="([^"]*)"', html).group(1)


def sign_in(client, user: dict) -> None:
    """Sign ``client`` (a Flask test client) in as ``user`` (from :func:`make_user`)."""
    import pyotp

    page = client.get("/login")
    resp = client.post("/login", data={"username": user["username"],
                                       "password": user["password"],
                                       "csrf_token": form_token(page.text)})
    assert resp.status_code == 302, resp.text
    if user.get("totp"):
        page = client.get("/login/totp")
        resp = client.post("/login/totp", data={"code": pyotp.TOTP(user["totp"]).now(),
                                                "csrf_token": form_token(page.text)})
        assert resp.status_code == 302, resp.text


def client_as(app, role: str, unit_code: str | None = None, **kw):
    """A Flask test client of the Dash ``app`` signed in as a new user of ``role``; the
    client sends the session's CSRF token on every POST as Dash's renderer does."""
    rt = app.server.extensions["onemap"]
    user = make_user(rt, role, unit_code, **kw)
    client = app.server.test_client()
    sign_in(client, user)
    csrf = client.get_cookie("_csrf_token")
    if csrf is None:
        client.get("/registry.json")
        csrf = client.get_cookie("_csrf_token")
    client.environ_base["HTTP_X_CSRFTOKEN"] = csrf.value if csrf else ""
    client.user = user
    return client


def acting(app, role: str = "commander", unit_code: str | None = None, **kw):
    """A request context of ``app`` acting as a new user of ``role`` (for calling layouts
    and callbacks as plain functions): ``with acting(app): layout()``."""
    from contextlib import contextmanager

    from flask import g

    from accounts.service import actor_for
    from store import scope

    rt = app.server.extensions["onemap"]
    user = make_user(rt, role, unit_code, **kw)
    actor = actor_for(rt, user)

    @contextmanager
    def ctx():
        with app.server.test_request_context("/"), scope.acting(actor):
            g.onemap_actor = actor
            yield actor
    return ctx()


#: base URL of a served test app → its database URL (filled by the serve() fixture helper).
SERVED: dict[str, str] = {}


def _owner_runtime(db_url: str):
    from sqlalchemy import create_engine

    from onemap.settings import load_settings
    from store.runtime import build_runtime

    engine = _ENGINES.get(db_url) or _ENGINES.setdefault(db_url, create_engine(db_url))
    return build_runtime(load_settings().with_(database_url=db_url), engine=engine)


_ENGINES: dict = {}


def opener_as(base_url: str, role: str = "commander", unit_code: str | None = None, **kw):
    """A urllib opener signed in to the served app at ``base_url`` as a new user of
    ``role`` (cookies kept); ``opener.user`` and ``opener.cookies`` describe it."""
    import http.cookiejar
    import urllib.parse
    import urllib.request

    import pyotp

    user = make_user(_owner_runtime(SERVED[base_url]), role, unit_code, **kw)
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base_url + "/login", timeout=30).read().decode()
    data = urllib.parse.urlencode({"username": user["username"], "password": user["password"],
                                   "csrf_token": form_token(page)}).encode()
    landed = opener.open(base_url + "/login", data=data, timeout=30)
    if user.get("totp"):
        page = landed.read().decode()
        data = urllib.parse.urlencode({"code": pyotp.TOTP(user["totp"]).now(),
                                       "csrf_token": form_token(page)}).encode()
        opener.open(base_url + "/login/totp", data=data, timeout=30)
    opener.user = user
    opener.cookies = {c.name: c.value for c in jar}
    assert "onemap_session" in opener.cookies, "sign-in failed"
    return opener


def page_as(browser, base_url: str, role: str = "commander", unit_code: str | None = None,
            *, viewport: dict | None = None, enforce_csp: bool = False,
            context_options: dict | None = None, **kw):
    """A new Chromium page (in its own context) signed in to ``base_url`` as a new user of
    ``role``.  Playwright's ``wait_for_function`` evaluates strings, which the pages' CSP
    forbids, so the CSP is bypassed unless ``enforce_csp`` (tests/dashboard/test_security.py
    loads every page with it enforced)."""
    opener = opener_as(base_url, role, unit_code, **kw)
    context = browser.new_context(viewport=viewport or {"width": 1920, "height": 1080},
                                  bypass_csp=not enforce_csp, **(context_options or {}))
    context.add_cookies([{"name": name, "value": value, "url": base_url}
                         for name, value in opener.cookies.items()])
    page = context.new_page()
    page.user = opener.user
    return page
