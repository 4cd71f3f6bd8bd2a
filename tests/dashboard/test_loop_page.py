"""The closed loop in people's hands, in Chromium (#16): 网格员填单 — 村接单 — 部门解单 —
群众评单.  A grid worker reports on the phone page (360×740, emulated GPS, two photos); the
village desk, already open, shows the case within its 5 s refresh; the village dispatches it
to a lead and a supporting department; the lead department accepts and resolves it with a
photo; the citizen's page shows 已办结 and a rating of 2 reopens it, back on the village
desk.  Every step is a history row and an audit row."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tests.dashboard.test_phone_page import fill_report, phone, photo
from tests.helpers import page_as

pytestmark = [pytest.mark.db, pytest.mark.browser]

DESK = {"width": 1600, "height": 900}
REFRESH_S = 5


@pytest.fixture(scope="module")
def place(wall_engine) -> dict:
    """A grid, its village, and two departments: the one with the fewest waiting cases
    leads (so the new case is on the first page of its desk), another supports."""
    with wall_engine.connect() as conn:
        row = conn.execute(text("""
            SELECT g.id, g.code, g.name, v.code AS village, ST_X(ST_PointOnSurface(g.geom)) AS x,
                   ST_Y(ST_PointOnSurface(g.geom)) AS y
            FROM unit g JOIN unit v ON v.id = g.parent_id
            WHERE g.level = 3 AND g.valid_to IS NULL ORDER BY g.code OFFSET 7 LIMIT 1""")).one()
        depts = [r[0] for r in conn.execute(text("""
            SELECT d.code FROM department d LEFT JOIN incident i ON i.department_id = d.id
              AND i.status = 'dispatched'
            GROUP BY d.code ORDER BY count(i.id), d.code LIMIT 2"""))]
    return {**dict(row._mapping), "lead": depts[0], "support": depts[1]}


def choose(page, dropdown: str, value: str) -> None:
    """Pick ``value`` in a Dash dropdown (Dash 4's popover list)."""
    page.click(f"#{dropdown}")
    page.click(f".dash-dropdown-content .dash-dropdown-option:has(input[value='{value}'])")
    page.keyboard.press("Escape")


def open_case(page, case: int, timeout_s: float) -> None:
    page.wait_for_selector(f"#d-rows button:text-is('#{case}')", timeout=timeout_s * 1000)
    page.click(f"#d-rows button:text-is('#{case}')")
    page.wait_for_selector(f"#d-detail h2:has-text('#{case}')")


def act(page, label: str, note: str | None = None) -> None:
    if note is not None:
        page.fill("#d-note", note)
    page.click(f"#d-detail button.om-act:text-is('{label}')")
    page.wait_for_function(f"(document.querySelector('#d-message') || {{}}).textContent"
                           f" === '已执行: {label}'", timeout=15_000)


def test_the_loop_from_phone_to_rating(browser, wall_url, wall_engine, place,
                                       tmp_path) -> None:
    village = page_as(browser, wall_url, "handler", place["village"], viewport=DESK)
    village.goto(wall_url + "/desk")
    village.wait_for_selector("#d-list", timeout=30_000)

    # 网格员填单: on the phone, with GPS and two photos.
    worker = phone(browser, wall_url, place)
    description = f"小区门口污水外溢 {uuid.uuid4().hex[:6]}"
    with worker.expect_response(lambda r: r.url.endswith("/m/reports")
                                and r.request.method == "POST") as answer:
        fill_report(worker, description, [photo(tmp_path, "a.jpg", (120, 90, 30)),
                                          photo(tmp_path, "b.jpg", (30, 90, 120))])
    body = answer.value.json()
    case, citizen_url = body["id"], body["citizen_url"]
    worker.wait_for_function("document.querySelector('#waiting').textContent == '0'",
                             timeout=30_000)

    # 村接单: the open village desk shows it by its next refresh, without a reload.
    open_case(village, case, REFRESH_S + 2)
    assert village.locator("#d-photos img").count() == 2
    # The desk shows the citizen link to send by SMS: the one the intake answered with.
    assert village.get_attribute("#d-citizen-link", "href") == citizen_url
    choose(village, "d-dept", place["lead"])
    choose(village, "d-support", place["support"])
    act(village, "派单")
    assert "协办" in village.inner_text("#d-departments")

    # 部门解单: the lead department accepts, adds a photo and resolves.
    dept = page_as(browser, wall_url, "department", viewport=DESK, department=place["lead"])
    dept.goto(wall_url + "/desk")
    open_case(dept, case, 20)
    dept.keyboard.press("a")  # the desk's shortcut for 签收
    dept.wait_for_function("(document.querySelector('#d-message') || {}).textContent"
                           " === '已执行: 签收'", timeout=15_000)
    dept.set_input_files("#d-upload input[type=file]", photo(tmp_path, "c.jpg", (10, 160, 60)))
    dept.wait_for_function("(document.querySelector('#d-message') || {}).textContent"
                           " === '照片已上传'", timeout=15_000)
    act(dept, "办结", "已疏通管道，现场清理完毕")

    # 群众评单: the citizen's link shows 已办结; a 2 reopens the case.
    citizen = browser.new_context(viewport={"width": 360, "height": 740}).new_page()
    citizen.goto(wall_url + citizen_url)
    assert "已办结" in citizen.inner_text("#status")
    assert "已疏通管道" in citizen.inner_text("#steps")
    citizen.select_option("#rating", "2")
    citizen.fill("#comment", "还有异味")
    citizen.click("#submit")
    citizen.wait_for_selector("#message")

    # Back on the village desk (still open): by its next refresh the case waits there
    # as reopened, and its history says why.
    village.wait_for_function(
        "[...document.querySelectorAll('#d-rows .om-wd-row')].some(r => r.querySelector("
        f"'button').textContent === '#{case}' && r.textContent.includes('已重办'))",
        timeout=(REFRESH_S + 2) * 1000)
    open_case(village, case, 1)
    village.wait_for_function("document.querySelector('#d-history').textContent"
                              ".includes('还有异味')", timeout=10_000)

    with wall_engine.connect() as conn:
        status, level = conn.execute(text(
            "SELECT status, handling_level FROM incident WHERE id = :i"), {"i": case}).one()
        events = [r[0] for r in conn.execute(text(
            "SELECT action FROM incident_event WHERE incident_id = :i ORDER BY at, id"),
            {"i": case})]
        audited = [tuple(r) for r in conn.execute(text(
            "SELECT action, coalesce(detail->>'action', '') FROM audit_log "
            "WHERE object_type = 'incident' AND object_id = :i ORDER BY id"), {"i": str(case)})]
    assert (status, level) == ("reopened", 2)
    steps = [e for e in events if e != "photo"]
    assert steps == ["receive", "escalate", "dispatch", "accept", "resolve", "rate", "reopen"]
    assert events.count("photo") == 3
    # One audit row per step: the report, each action (the citizen's rating and the
    # reopening it causes, and the rating on the citizen page), and each photo.
    assert [d or a for a, d in audited if a != "photo.add"] == [
        "incident.submit", *steps[1:], "citizen.rate"]
    assert sum(1 for a, _ in audited if a == "photo.add") == 3
    for page in (village, worker, dept, citizen):
        page.context.close()
