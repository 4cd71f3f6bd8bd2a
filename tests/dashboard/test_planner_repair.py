"""The planner's 修复拓扑 button (#17) on a real village: the demo grids meet their village
outline to within a few square metres; the button proposes exactly those fixes — slivers
outside the village cut off, slivers inside given to a grid — as one valid proposal whose
note lists them (the repair of a messy layer is in tests/geo/test_coverage_repair.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import shapely
from sqlalchemy import text

from dashboard import planner_callbacks as pc
from dashboard.app import create_app
from geo import planning as gp
from store import planning as sp
from tests.helpers import acting

pytestmark = pytest.mark.db


def test_repair_button_on_a_demo_village(settings, wall_engine, wall_db_url) -> None:
    app = create_app(settings.with_(database_url=wall_db_url, escalate_every_s=0))
    with wall_engine.connect() as conn:
        village = conn.scalar(text("SELECT id FROM unit WHERE level = 2 AND valid_to IS NULL "
                                   "ORDER BY code LIMIT 1"))
    with acting(app, "planner"):
        proposal, _chosen = pc._edit("p-repair", int(village), None, None, None, [], 2.0,
                                     None, None, None, "zh")
    assert proposal.kind == "repair" and proposal.note.startswith("修复拓扑")
    areas = [float(a) for a in re.findall(r"([\d.]+) m²", proposal.note)]
    assert areas and max(areas) < 20  # slivers, not a redrawn village
    context = sp.plan_context(wall_engine, int(village))
    assert gp.validate(context, proposal).ok
    after = gp.applied(context, proposal)
    assert shapely.coverage_is_valid(np.asarray(after.units.geometry.values, dtype=object))
    assert {u.code for u in proposal.added} <= set(context.units["code"])
