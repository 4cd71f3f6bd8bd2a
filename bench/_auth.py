"""Signing the benchmarks in (#15): every page and callback needs a session now.

``bench_user(url, role, unit_code)`` makes a user in the bench database (the owner's
engine); ``cookies(base, user)`` signs in to a served app over HTTP and returns the session
cookies; ``client(app, user)`` signs a Flask test client in and sends the CSRF header as
Dash's renderer does.
"""

from __future__ import annotations

import http.cookiejar
import re
import secrets
import urllib.parse
import urllib.request

PASSWORD = "Bench-pass-2026!"


def bench_user(url: str, role: str = "commander", unit_code: str | None = None) -> dict:
    from sqlalchemy import create_engine, text

    from accounts.bootstrap import SETUP
    from accounts.service import add_user
    from onemap.settings import load_settings
    from store.runtime import build_runtime

    engine = create_engine(url)
    try:
        if unit_code is None:
            with engine.connect() as conn:
                unit_code = conn.scalar(text("SELECT code FROM unit WHERE level = 0 AND "
                                             "valid_to IS NULL ORDER BY code LIMIT 1"))
        rt = build_runtime(load_settings().with_(database_url=url), engine=engine)
        username = f"bench_{role}_{secrets.token_hex(3)}"
        add_user(rt.acting_as(SETUP), username, role=role, password=PASSWORD,
                 unit_code=unit_code)
    finally:
        engine.dispose()
    return {"username": username, "password": PASSWORD, "unit": unit_code}


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]*)"', html).group(1)


def cookies(base: str, user: dict) -> dict[str, str]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login", timeout=30).read().decode()
    data = urllib.parse.urlencode({"username": user["username"], "password": user["password"],
                                   "csrf_token": _token(page)}).encode()
    opener.open(base + "/login", data=data, timeout=30).read()
    found = {c.name: c.value for c in jar}
    if "onemap_session" not in found:
        raise SystemExit(f"bench: could not sign in as {user['username']}")
    return found


def client(app, user: dict):
    test = app.server.test_client()
    page = test.get("/login")
    test.post("/login", data={"username": user["username"], "password": user["password"],
                              "csrf_token": _token(page.text)})
    test.get("/registry.json")
    csrf = test.get_cookie("_csrf_token")
    if csrf is None:
        raise SystemExit(f"bench: could not sign in as {user['username']}")
    test.environ_base["HTTP_X_CSRFTOKEN"] = csrf.value
    return test
