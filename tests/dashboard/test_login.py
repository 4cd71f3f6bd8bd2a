"""Signing in (#15): lockout, password rules and expiry, TOTP, time-outs, rate limit, logout —
over HTTP against the real app and database."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import text

from accounts.bootstrap import SETUP
from accounts.service import AccountError, add_user
from dashboard.app import create_app
from onemap.passwords import PasswordRejected
from tests.helpers import PASSWORD, form_token, make_user, sign_in

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def app(settings, wall_engine, wall_db_url):
    return create_app(settings.with_(database_url=wall_db_url, escalate_every_s=0))


@pytest.fixture(scope="module")
def rt(app):
    return app.server.extensions["onemap"]


def _post_login(client, username: str, password: str):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": form_token(page.text)})


def _audit(engine, username: str) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text(
            "SELECT action FROM audit_log WHERE object_id = :u ORDER BY id"), {"u": username})]


def test_five_wrong_passwords_lock_the_account(app, rt, wall_engine) -> None:
    user = make_user(rt, "leader")
    client = app.server.test_client()
    for attempt in range(1, 5):
        answer = _post_login(client, user["username"], "Wrong-pass-123")
        assert answer.status_code == 401 and f"还可尝试 {5 - attempt} 次" in answer.text
    locked = _post_login(client, user["username"], "Wrong-pass-123")
    assert "账号已锁定" in locked.text and "15 分钟" in locked.text
    # Now even the right password is refused until the lock runs out.
    assert "账号已锁定" in _post_login(client, user["username"], PASSWORD).text
    with wall_engine.begin() as conn:  # fifteen minutes later
        conn.execute(text("UPDATE app_user SET locked_until = now() - interval '1 second' "
                          "WHERE username = :u"), {"u": user["username"]})
    assert _post_login(client, user["username"], PASSWORD).status_code == 302
    actions = _audit(wall_engine, user["username"])
    assert actions.count("login.failed") >= 5 and "login.locked" in actions
    assert actions[-1] == "login.ok"


def test_unknown_users_get_the_same_answer(app) -> None:
    answer = _post_login(app.server.test_client(), "nobody-here", "Whatever-123")
    assert answer.status_code == 401 and "用户名或密码错误" in answer.text


@pytest.mark.parametrize("password, rule", [
    ("Short-1", "至少 10 位"), ("alllowercaseletters", "三类"),
    ("t_rules_x-Abc-123", "用户名")])
def test_password_rules(rt, password, rule) -> None:
    with pytest.raises(PasswordRejected, match=rule):
        add_user(rt.acting_as(SETUP), "t_rules_x", role="viewer", password=password,
                 unit_code=None or _county(rt))


def _county(rt) -> str:
    with rt.engine.connect() as conn:
        return conn.scalar(text("SELECT code FROM unit WHERE level = 0 LIMIT 1"))


def test_roles_need_a_home_unit_and_known_codes(rt) -> None:
    with pytest.raises(AccountError, match="home unit"):
        add_user(rt.acting_as(SETUP), "t_nohome", role="commander", password=PASSWORD)
    with pytest.raises(AccountError, match="no current unit"):
        add_user(rt.acting_as(SETUP), "t_badunit", role="commander", password=PASSWORD,
                 unit_code="NOPE")


def test_the_whole_jurisdiction_is_explicit_and_only_for_reading_roles(rt) -> None:
    from accounts.service import actor_for
    from store import users as db_users

    with pytest.raises(AccountError, match="cannot hold the whole jurisdiction"):
        add_user(rt.acting_as(SETUP), "t_whole_worker", role="grid_worker", password=PASSWORD,
                 unit_code="*")
    add_user(rt.acting_as(SETUP), "t_whole", role="commander", password=PASSWORD,
             unit_code="*")
    actor = actor_for(rt, db_users.user(rt.engine, username="t_whole"))
    assert actor.units is None and actor.unlocated and actor.everywhere
    with rt.engine.connect() as conn:
        detail = conn.scalar(text("SELECT detail->>'unit' FROM audit_log WHERE action = "
                                  "'user.add' AND object_id = 't_whole'"))
    assert detail == "*"


def test_an_expired_password_must_be_changed_first(app, rt, wall_engine) -> None:
    user = make_user(rt, "viewer")
    with wall_engine.begin() as conn:
        conn.execute(text("UPDATE app_user SET password_changed_at = now() - interval "
                          "'91 days' WHERE username = :u"), {"u": user["username"]})
    client = app.server.test_client()
    answer = _post_login(client, user["username"], PASSWORD)
    assert answer.headers["Location"].startswith("/login/password")
    # The wall is not reachable until the password is changed.
    assert client.get("/", headers={"Accept": "text/html"}).status_code == 302
    page = client.get("/login/password")
    weak = client.post("/login/password", data={"old": PASSWORD, "new": "short",
                                                "again": "short",
                                                "csrf_token": form_token(page.text)})
    assert weak.status_code == 400 and "至少 10 位" in weak.text
    done = client.post("/login/password", data={"old": PASSWORD, "new": "New-pass-2026!",
                                                "again": "New-pass-2026!",
                                                "csrf_token": form_token(page.text)})
    assert done.status_code == 302
    assert client.get("/", headers={"Accept": "text/html"}).status_code == 200
    assert "password.change" in _audit(wall_engine, user["username"])


def test_admins_need_a_second_factor(app, rt, wall_engine) -> None:
    admin = make_user(rt, "admin")
    client = app.server.test_client()
    answer = _post_login(client, admin["username"], PASSWORD)
    assert answer.headers["Location"].startswith("/login/totp")
    assert client.get("/admin/users", headers={"Accept": "text/html"}).status_code == 302
    page = client.get("/login/totp")
    wrong = client.post("/login/totp", data={"code": "000000",
                                             "csrf_token": form_token(page.text)})
    assert wrong.status_code == 401 and "验证码不正确" in wrong.text
    right = client.post("/login/totp", data={"code": pyotp.TOTP(admin["totp"]).now(),
                                             "csrf_token": form_token(page.text)})
    assert right.status_code == 302
    users = client.get("/admin/users")
    assert users.status_code == 200 and admin["username"] in users.text


def test_an_admin_without_totp_enrols_by_qr_code(app, rt, wall_engine) -> None:
    from accounts.service import add_user as add

    add(rt.acting_as(SETUP), "t_enrol_admin", role="admin", password=PASSWORD)
    client = app.server.test_client()
    answer = _post_login(client, "t_enrol_admin", PASSWORD)
    assert answer.headers["Location"].startswith("/login/enrol")
    page = client.get("/login/enrol")
    assert 'src="data:image/svg+xml' in page.text
    secret = page.text.split('id="secret">')[1].split("<")[0].replace(" ", "")
    done = client.post("/login/enrol", data={"code": pyotp.TOTP(secret).now(),
                                             "csrf_token": form_token(page.text)})
    assert done.status_code == 302 and done.headers["Location"] == "/admin/users"
    with wall_engine.connect() as conn:
        sealed = conn.scalar(text("SELECT totp_secret FROM app_user WHERE username = "
                                  "'t_enrol_admin'"))
    assert secret.encode() not in bytes(sealed)  # the secret is sealed at rest


def test_idle_and_absolute_time_outs(app, rt, wall_engine) -> None:
    user = make_user(rt, "viewer")
    client = app.server.test_client()
    sign_in(client, user)
    assert client.get("/", headers={"Accept": "text/html"}).status_code == 200
    with wall_engine.begin() as conn:
        conn.execute(text("UPDATE user_session SET last_seen_at = now() - interval '31 min' "
                          "WHERE user_id = :u AND ended_at IS NULL"), {"u": user["id"]})
    idle = client.get("/", headers={"Accept": "text/html"})
    assert idle.status_code == 302 and "reason=idle" in idle.headers["Location"]
    assert "会话已结束" in client.get(idle.headers["Location"]).text
    sign_in(client, user)
    with wall_engine.begin() as conn:
        conn.execute(text("UPDATE user_session SET created_at = now() - interval '13 hours' "
                          "WHERE user_id = :u AND ended_at IS NULL"), {"u": user["id"]})
    late = client.get("/registry.json")
    assert late.status_code == 401 and "absolute" in late.json["error"]["message"]
    assert _audit(wall_engine, user["username"]).count("session.expired") == 2


def test_logout_ends_the_session_and_cookies_are_strict(app, rt) -> None:
    user = make_user(rt, "viewer")
    client = app.server.test_client()
    page = client.get("/login")
    answer = client.post("/login", data={"username": user["username"], "password": PASSWORD,
                                         "csrf_token": form_token(page.text)})
    cookie = next(h for h in answer.headers.getlist("Set-Cookie")
                  if h.startswith("onemap_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert client.get("/registry.json").status_code == 200
    kept = client.get_cookie("onemap_session").value
    client.get("/logout")
    replay = app.server.test_client()
    replay.set_cookie("onemap_session", kept)
    assert replay.get("/registry.json").status_code == 401  # ended on the server too


def test_sign_in_attempts_are_rate_limited(settings, wall_engine, wall_db_url) -> None:
    app = create_app(settings.with_(database_url=wall_db_url, escalate_every_s=0,
                                    login_rate="3 per minute"))
    client = app.server.test_client()
    codes = [_post_login(client, "nobody", "Wrong-pass-123").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_every_answer_carries_security_headers(app) -> None:
    answer = app.server.test_client().get("/login")
    csp = answer.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "same-origin"
