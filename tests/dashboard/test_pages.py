"""Pages and callbacks are module-level functions: called here without a browser, inside the
app's request context (where they find the runtime), against the test database."""

from __future__ import annotations

import pytest
from dash import page_registry

from dashboard import wall_callbacks
from dashboard.app import create_app
from dashboard.pages import wall as wall_page

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def app(settings, db_engine, db_url):
    return create_app(settings.with_(database_url=db_url, escalate_every_s=0))


def _ids(component) -> set[str]:
    found = set()
    stack = list(component) if isinstance(component, list) else [component]
    while stack:
        node = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend(node)
            continue
        if getattr(node, "id", None) is not None and isinstance(node.id, str):
            found.add(node.id)
        children = getattr(node, "children", None)
        if children is not None and not isinstance(children, str):
            stack.append(children)
    return found


def test_three_pages_are_registered_with_dash(app) -> None:
    paths = {page["path"] for page in page_registry.values()}
    assert {"/", "/planner", "/monthly"} <= paths


def test_the_wall_layout_takes_the_query_string(app) -> None:
    with app.server.test_request_context("/?lang=en&wall=1"):
        ids = _ids(wall_page.layout(lang="en", wall="1", tour="1"))
    assert {"map", "legend", "tour"} <= ids
    assert wall_page.tour_seconds("1") == 20 and wall_page.tour_seconds("3") is None
    assert wall_page.tour_seconds("30") == 30 and wall_page.tour_seconds("x") is None


def test_a_callback_runs_without_a_browser(app) -> None:
    with app.server.test_request_context("/_dash-update-component"):
        units, context = wall_callbacks._geometry({"level": 1, "parent": None, "path": []}, 11)
    assert units.startswith("/wall/units.geojson?") and "level=1" in units and "z=12" in units
    assert "level=any" in context
