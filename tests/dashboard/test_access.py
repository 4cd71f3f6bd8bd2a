"""Who may open what: every route and every Dash callback × every role, on 玉门 (#15).

The matrix below restates the issue's role table independently of the code (the guard's
``ROUTES``): a route or callback added without a row here fails
``test_every_route_and_callback_has_a_row``.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dashboard import guard
from dashboard.app import create_app
from dashboard.callbacks import CALLBACK_ACTIONS
from onemap.access import USER_ROLES, Actor
from tests.helpers import client_as

pytestmark = pytest.mark.db

ANON = "anonymous"
ROLES = (*USER_ROLES, ANON)
# What each role may do (the table): action → roles.
MAY = {
    "wall.view": {"commander", "handler", "leader", "viewer"},
    "monthly.view": {"commander", "handler", "leader", "viewer"},
    "plan.view": {"planner"},
    "report.export": {"commander", "handler", "leader"},
    "user.manage": {"admin"},
    "audit.read": {"auditor"},
    "person.unmask": {"commander"},
    "incident.read": {"commander", "handler", "department", "grid_worker", "leader"},
    "incident.act": {"commander", "handler", "department", "grid_worker"},
    "desk.view": {"commander", "handler", "department", "grid_worker"},
    "mobile.use": {"grid_worker"},
}
MAP = MAY["wall.view"] | MAY["plan.view"] | MAY["monthly.view"]
SIGNED_IN = set(USER_ROLES)
EVERYONE = set(ROLES)

# URL rule → (sample URL(s), roles that get through; the rest: 302 to /login when not
# signed in, 403 when signed in).  PUBLIC rules answer everyone; API rules answer by key.
MONTH = "2026-10"
MATRIX: dict[str, tuple[tuple[str, ...], set[str] | str]] = {
    "/static/<path:filename>": (("/static/none.css",), "public-404"),
    "/assets/<path:filename>": (("/assets/login.css",), EVERYONE),
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>": ((), EVERYONE),
    "/_favicon.ico": (("/_favicon.ico",), EVERYONE),
    "/favicon.ico": (("/favicon.ico",), "redirect"),  # to Dash's, for everyone
    "/api/health": (("/api/health",), EVERYONE),
    "/api/openapi.json": (("/api/openapi.json",), EVERYONE),
    "/api/<path:rest>": (("/api/v1/nonexistent",), "public-404"),
    "/login": (("/login",), EVERYONE),
    "/login/totp": (("/login/totp",), "login-step"),
    "/login/enrol": (("/login/enrol",), "login-step"),
    "/login/password": (("/login/password",), "login-step"),
    "/logout": (("/logout",), "logout"),
    "/r/<token>": (("/r/not-a-token",), "public-404"),
    "/_reload-hash": (("/_reload-hash",), SIGNED_IN),
    "/_dash-layout": (("/_dash-layout",), SIGNED_IN),
    "/_dash-dependencies": (("/_dash-dependencies",), SIGNED_IN),
    "/registry.json": (("/registry.json",), SIGNED_IN),
    "/_dash-update-component": ((), "callbacks"),
    "/": (("/",), MAY["wall.view"]),
    "/<path:path>": (("/planner", "/monthly", "/desk"), "pages"),
    "/wall/units.geojson": (("/wall/units.geojson?level=1",), MAP),
    "/wall/units/bounds": (("/wall/units/bounds",), MAP),
    "/wall/incidents.geojson": (("/wall/incidents.geojson?z=10",), MAY["wall.view"]),
    "/wall/density.geojson": (("/wall/density.geojson?z=10",), MAY["wall.view"]),
    "/wall/households.geojson": (("/wall/households.geojson?z=10",), MAY["wall.view"]),
    "/wall/cameras.geojson": (("/wall/cameras.geojson?z=10",), MAY["wall.view"]),
    "/wall/workers.geojson": (("/wall/workers.geojson",), MAY["wall.view"]),
    "/monthly/units.geojson": ((f"/monthly/units.geojson?month={MONTH}&level=1",),
                               MAY["monthly.view"]),
    "/monthly/export": ((f"/monthly/export?month={MONTH}&level=1&format=html",),
                        MAY["report.export"]),
    "/planner/export": (("/planner/export?format=geojson",), MAY["plan.view"]),
    "/admin/users": (("/admin/users",), MAY["user.manage"]),
    "/admin/audit": (("/admin/audit",), MAY["audit.read"]),
    "/admin/audit.csv": (("/admin/audit.csv",), MAY["audit.read"]),
    "/unmask": ((), "post-only"),
    "/media/<int:incident_id>/photos/<name>": (("/media/1/photos/" + "0" * 64 + ".jpg",),
                                               "read-404"),
    "/media/<int:incident_id>/photos": ((), "post-only"),
    "/m": (("/m",), MAY["mobile.use"]),
    "/m/<any(app.js, app.css):name>": (("/m/app.js", "/m/app.css"), EVERYONE),
    "/m/sw.js": (("/m/sw.js",), EVERYONE),
    "/m/manifest.webmanifest": (("/m/manifest.webmanifest",), EVERYONE),
    "/m/icon-<int(fixed_digits=3):size>.png": (("/m/icon-192.png",), EVERYONE),
    "/m/boot.json": (("/m/boot.json",), MAY["mobile.use"]),
    "/m/tasks.json": (("/m/tasks.json",), MAY["mobile.use"]),
    "/m/reports": ((), "post-only"),
    "/m/incidents/<int:incident_id>/actions": ((), "post-only"),
}
PAGES = {"/planner": MAY["plan.view"], "/monthly": MAY["monthly.view"],
         "/desk": MAY["desk.view"]}
# Dash callbacks by the page family they belong to → the action they need.
CALLBACK_FAMILY = {"p-": "plan.view", "m-": "monthly.view", "unmask-": "person.unmask",
                   "d-": "desk.view"}


@pytest.fixture(scope="module")
def app(settings, wall_engine, wall_db_url):
    return create_app(settings.with_(database_url=wall_db_url, escalate_every_s=0))


@pytest.fixture(scope="module")
def clients(app) -> dict:
    out = {role: client_as(app, role) for role in USER_ROLES}
    out[ANON] = app.server.test_client()
    return out


def _expected_callback_action(output: str) -> str:
    if output == guard.PAGES_CALLBACK:
        return "page"
    first = output.strip(".").split(".")[0]
    for prefix, action in CALLBACK_FAMILY.items():
        if first.startswith(prefix):
            return action
    return "wall.view"


def test_every_route_and_callback_has_a_row(app) -> None:
    rules = {r.rule for r in app.server.url_map.iter_rules()
             if not r.rule.startswith(guard.API_PREFIXES)}
    assert rules == set(MATRIX), (f"missing rows: {sorted(rules - set(MATRIX))}; "
                                  f"stale rows: {sorted(set(MATRIX) - rules)}")
    assert set(guard.ROUTES) - {"/unmask"} <= rules | {"/unmask"}
    actions = app.server.extensions[CALLBACK_ACTIONS]
    # Every callback of the app is known to the guard, with the action of its page family.
    server_side = [o for o, spec in app.callback_map.items() if "callback" in spec]
    assert guard.PAGES_CALLBACK in server_side  # decided by the page it renders
    for output in server_side:
        if output == guard.PAGES_CALLBACK:
            continue
        assert actions.get(output) == _expected_callback_action(output), output


@pytest.mark.parametrize("rule", sorted(MATRIX))
def test_route_answers_by_role(rule, clients, app) -> None:
    urls, allowed = MATRIX[rule]
    if allowed in ("callbacks", "post-only") or not urls:
        return  # below: callbacks and POST routes; component suites in test_app
    for url in urls:
        want = PAGES[url] if allowed == "pages" else allowed
        for role in ROLES:
            # Signing out ends a session: that row uses clients of its own.
            client = clients[role] if want != "logout" or role == ANON else client_as(app, role)
            status = client.get(url, headers={"Accept": "text/html"}).status_code
            if want == "public-404":
                assert status == 404, (url, role)
            elif want == "login-step":
                assert status in (200, 302), (url, role, status)
            elif want in ("logout", "redirect"):
                assert status == 302, (url, role, status)
            elif want == "read-404":  # may read cases, but there is no such photo
                expected = 404 if role in MAY["incident.read"] else (
                    302 if role == ANON else 403)
                assert status == expected, (url, role, status)
            elif role in want:
                assert status == 200, (url, role, status)
            elif role == ANON:
                assert status == 302, (url, role, status)
            else:
                assert status == 403, (url, role, status)


@pytest.mark.parametrize("role", USER_ROLES)
def test_callbacks_are_allowed_by_role(role, app) -> None:
    actor = Actor(kind="user", id=1, name=role, role=role, units=None)
    for output, action in app.server.extensions[CALLBACK_ACTIONS].items():
        assert guard._allowed(actor, action) == (role in MAY[action]), (output, role)


def test_a_callback_refused_and_allowed_over_http(app) -> None:
    body = {"output": "clock.children", "outputs": {"id": "clock", "property": "children"},
            "inputs": [{"id": "tick", "property": "n_intervals", "value": 1}],
            "changedPropIds": ["tick.n_intervals"]}
    leader = client_as(app, "leader")
    planner = client_as(app, "planner")
    # The wall's KPI callback: a leader may, a planner may not.
    kpi = next(o for o, a in app.server.extensions[CALLBACK_ACTIONS].items()
               if a == "wall.view" and "kpi" in o)
    body["output"] = kpi
    assert planner.post("/_dash-update-component", json=body).status_code == 403
    assert leader.post("/_dash-update-component", json=body).status_code != 403
    # Without the session's CSRF token even the leader is refused.
    leader.environ_base.pop("HTTP_X_CSRFTOKEN")
    refused = leader.post("/_dash-update-component", json=body)
    assert refused.status_code == 403 and "CSRF" in refused.json["error"]["message"]


def test_api_routes_need_a_key_not_a_session(clients) -> None:
    assert clients["commander"].get("/api/v1/incidents").status_code == 401
    assert clients[ANON].get("/open311/v2/services.json").status_code == 200


def test_unmask_needs_the_role_and_a_reason_and_is_audited(app, wall_engine) -> None:
    incident = wall_engine.connect().execute(text(
        "SELECT id FROM incident WHERE grid_worker_id IS NOT NULL ORDER BY id LIMIT 1")).scalar()
    leader, commander = client_as(app, "leader"), client_as(app, "commander")
    assert leader.post("/unmask", json={"id": incident, "reason": "核实身份"}).status_code == 403
    assert commander.post("/unmask", json={"id": incident, "reason": ""}).status_code == 400
    shown = commander.post("/unmask", json={"id": incident, "reason": "回访核实"})
    assert shown.status_code == 200
    with wall_engine.connect() as conn:
        phone = conn.scalar(text("SELECT w.phone FROM incident i JOIN grid_worker w "
                                 "ON w.id = i.grid_worker_id WHERE i.id = :i"), {"i": incident})
        rows = conn.execute(text(
            "SELECT actor, result, detail->>'reason' FROM audit_log WHERE action = "
            "'person.unmask' AND object_id = :i ORDER BY id"), {"i": str(incident)}).all()
        denied = conn.execute(text(
            "SELECT count(*) FROM audit_log WHERE action = 'request.denied' AND actor = :a "
            "AND detail->>'path' = '/unmask'"), {"a": f"user:{leader.user['username']}"}
        ).scalar()
    assert shown.json["grid_worker"]["phone"] == phone  # unmasked, and only after…
    assert (f"user:{commander.user['username']}", "ok", "回访核实") in rows  # …an audit row
    assert denied == 1  # the leader's attempt is in the trail too


def test_exports_name_the_exporter_and_are_audited(clients, wall_engine) -> None:
    commander = clients["commander"]
    page = commander.get(f"/monthly/export?month={MONTH}&level=1&format=html")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "导出人" in html and f"user:{commander.user['username']}" in html
    with wall_engine.connect() as conn:
        logged = conn.scalar(text(
            "SELECT count(*) FROM audit_log WHERE action = 'export.download' AND actor = :a"),
            {"a": f"user:{commander.user['username']}"})
    assert logged >= 1
