"""The app as gunicorn loads it: ready before its first real request."""

from __future__ import annotations

import pytest

from dashboard.app import create_app
from tests.helpers import client_as

pytestmark = pytest.mark.db


def test_dash_is_set_up_before_the_first_request(settings, db_engine, db_url):
    # A fresh worker may get a page's parallel script requests first; Dash registers its
    # script paths on its first request without a lock, so create_app does that itself.
    app = create_app(settings.with_(database_url=db_url, escalate_every_s=0))
    assert {"dash", "dash_leaflet"} <= set(app.registered_paths)
    client = app.server.test_client()
    script = next(p for p in app.registered_paths["dash_leaflet"] if p.endswith(".js"))
    assert client.get(f"/_dash-component-suites/dash_leaflet/{script}").status_code == 200


def test_registry_is_served_as_json(settings, db_engine, db_url):
    from geo import measures

    app = create_app(settings.with_(database_url=db_url, escalate_every_s=0,
                                    level_names=("市辖区", "街道", "社区", "网格")))
    assert app.server.test_client().get("/registry.json").status_code == 401  # no session
    body = client_as(app, "viewer").get("/registry.json").get_json()
    assert [lv["zh"] for lv in body["levels"]] == ["市辖区", "街道", "社区", "网格"]
    assert [m["key"] for m in body["measures"]] == [m.key for m in measures.MEASURES]
    per_1000 = next(m for m in body["measures"] if m["key"] == "per_1000_households")
    assert per_1000["decimals"] == 1 and "wall" in per_1000["pages"]
