"""The planner's 修复拓扑 button (#17) on a real village: a demo village is a valid
coverage, so the button says there is nothing to repair (the repair itself is tested on a
messy layer in tests/geo/test_coverage_repair.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dashboard import planner_callbacks as pc
from dashboard.app import create_app
from onemap.errors import OneMapError
from tests.helpers import acting

pytestmark = pytest.mark.db


def test_repair_button_on_a_valid_village(settings, wall_engine, wall_db_url) -> None:
    app = create_app(settings.with_(database_url=wall_db_url, escalate_every_s=0))
    with wall_engine.connect() as conn:
        village = conn.scalar(text("SELECT id FROM unit WHERE level = 2 AND valid_to IS NULL "
                                   "ORDER BY code LIMIT 1"))
    with acting(app, "planner"):
        with pytest.raises(OneMapError, match="无需修复"):
            pc._edit("p-repair", int(village), None, None, None, [], 2.0, None, None, None,
                     "zh")
