"""Access in a real Chromium (#15): signing in on the page, lockout in Chinese, an admin's
TOTP enrolment, the idle time-out, CSRF, a town commander's wall, masking and an audited
reveal, and every page passing its Content-Security-Policy."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import text

from tests.helpers import PASSWORD, SERVED, _owner_runtime, make_user, page_as

pytestmark = [pytest.mark.db, pytest.mark.browser]
UNITS = "path.om-unit"


def _user(wall_url: str, role: str, unit_code: str | None = None, **kw) -> dict:
    return make_user(_owner_runtime(SERVED[wall_url]), role, unit_code, **kw)


def _fresh_page(browser, **kw):
    context = browser.new_context(viewport={"width": 1600, "height": 900}, **kw)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


def _fill_login(page, username: str, password: str) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#submit")


def test_sign_in_on_the_page_and_lockout_in_chinese(browser, wall_url) -> None:
    user = _user(wall_url, "commander")
    page = _fresh_page(browser)
    page.goto(wall_url + "/")
    page.wait_for_url("**/login?next=/**")
    assert "登录" in page.inner_text("#submit")
    _fill_login(page, user["username"], PASSWORD)
    page.wait_for_selector(UNITS, timeout=30_000)  # the wall, signed in
    page.context.close()

    page = _fresh_page(browser)
    page.goto(wall_url + "/login")
    for _ in range(5):
        _fill_login(page, user["username"], "Wrong-pass-123")
        page.wait_for_selector("#error")
    assert "账号已锁定" in page.inner_text("#error")
    page.context.close()


def test_admin_enrols_totp_by_qr_code_then_signs_in_with_a_code(browser, wall_url) -> None:
    from accounts.bootstrap import SETUP
    from accounts.service import add_user

    rt = _owner_runtime(SERVED[wall_url])
    add_user(rt.acting_as(SETUP), "t_browser_admin", role="admin", password=PASSWORD)
    page = _fresh_page(browser)
    page.goto(wall_url + "/login")
    _fill_login(page, "t_browser_admin", PASSWORD)
    page.wait_for_selector("#qr")
    assert page.locator("#qr").bounding_box()["width"] > 100  # a QR code an app can scan
    secret = page.inner_text("#secret").replace(" ", "")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("#submit")
    page.wait_for_selector("#users")
    assert "t_browser_admin" in page.inner_text("#users")
    page.context.close()

    page = _fresh_page(browser)  # the next sign-in asks for a code
    page.goto(wall_url + "/admin/users")
    _fill_login(page, "t_browser_admin", PASSWORD)
    page.wait_for_selector("#code")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("#submit")
    page.wait_for_selector("#users")
    page.context.close()


def test_idle_time_out_returns_to_the_login_page(browser, wall_url, wall_engine) -> None:
    page = page_as(browser, wall_url, "viewer")
    page.goto(wall_url + "/")
    page.wait_for_selector(UNITS, timeout=30_000)
    with wall_engine.begin() as conn:
        conn.execute(text("UPDATE user_session SET last_seen_at = now() - interval '31 min' "
                          "WHERE user_id = :u AND ended_at IS NULL"), {"u": page.user["id"]})
    page.reload()
    page.wait_for_url("**/login?**reason=idle**")
    assert "会话已结束" in page.inner_text("#notice")
    page.context.close()


def test_a_request_without_the_csrf_token_is_refused(browser, wall_url) -> None:
    page = page_as(browser, wall_url, "commander")
    page.goto(wall_url + "/")
    page.wait_for_selector(UNITS, timeout=30_000)
    status = page.evaluate("""() => fetch('/_dash-update-component', {method: 'POST',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({output: 'clock.children', inputs: []})}).then(r => r.status)""")
    assert status == 403
    page.context.close()


def test_a_town_commander_sees_the_town_masked_and_reveals_with_a_reason(
        browser, wall_url, wall_engine) -> None:
    with wall_engine.connect() as conn:
        town = conn.execute(text("""
            SELECT u.id, u.code FROM incident i JOIN unit u ON u.id = i.town_id
            WHERE i.grid_worker_id IS NOT NULL GROUP BY u.id, u.code
            ORDER BY count(*) DESC LIMIT 1""")).one()
    page = page_as(browser, wall_url, "commander", town.code)
    page.goto(wall_url + "/")
    # Twelve towns in 玉门; the town commander's wall draws one: theirs.
    page.wait_for_function(f"document.querySelectorAll('{UNITS}').length == 1",
                           timeout=30_000)
    page.wait_for_timeout(1_500)
    assert page.locator(UNITS).count() == 1
    page.locator("#latest li.om-item").first.wait_for(timeout=10_000)
    page.locator("#latest li.om-item").first.click()
    page.locator("#detail-history li").first.wait_for(timeout=10_000)
    assert page.locator("#unmask-go").count() == 1, page.inner_text("#detail")
    facts = page.inner_text("#detail .om-facts")
    assert "****" in facts  # the worker's phone, masked
    page.fill("#unmask-reason", "回访核实")
    page.click("#unmask-go")
    page.wait_for_function("document.querySelector('#unmask-result').innerText.length > 5",
                           timeout=10_000)
    revealed = page.inner_text("#unmask-result")
    assert "****" not in revealed and any(c.isdigit() for c in revealed)
    with wall_engine.connect() as conn:
        row = conn.execute(text(
            "SELECT result, detail->>'reason' FROM audit_log WHERE action = 'person.unmask' "
            "AND actor = :a ORDER BY id DESC LIMIT 1"),
            {"a": f"user:{page.user['username']}"}).one()
    assert tuple(row) == ("ok", "回访核实")
    page.context.close()


@pytest.mark.parametrize("role, path, ready", [
    ("commander", "/", UNITS), ("commander", "/monthly", UNITS),
    ("planner", "/planner", "#p-map"), ("admin", "/admin/users", "#users"),
    ("auditor", "/admin/audit", "#audit"), (None, "/login", "#login"),
    ("handler", "/desk", "#d-list"), ("grid_worker", "/m", "body[data-ready='1']")])
def test_pages_pass_their_content_security_policy(browser, wall_url, role, path, ready):
    if role is None:
        page = _fresh_page(browser)
    else:
        page = page_as(browser, wall_url, role, enforce_csp=True)
        page.errors = []
        page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
        page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(wall_url + path)
    page.wait_for_selector(ready, timeout=30_000)
    page.wait_for_timeout(1_000)
    assert not [e for e in page.errors if "Content Security Policy" in e or "CSP" in e], \
        page.errors
    assert not page.errors, page.errors
    page.context.close()
