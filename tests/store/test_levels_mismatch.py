"""A database whose units do not fit ONEMAP_LEVELS is refused at `onemap serve` (it would be
drawn and counted under the wrong level names); one without grids yet is warned about."""

from __future__ import annotations

import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.levels import ACTIVE_KEYS, BOTTOM
from onemap.errors import ConfigError
from store.models import Unit
from store.units import levels_mismatch
from tests.helpers import fresh_demo_database, sibling_database

pytestmark = pytest.mark.db

SQUARE = MultiPolygon([Polygon([(97.0, 40.0), (97.01, 40.0), (97.01, 40.01), (97.0, 40.01)])])


def _deeper_unit(bind) -> None:
    session = Session(bind=bind)
    parent = bind.execute(text("SELECT id FROM unit WHERE level = :g AND valid_to IS NULL "
                               "LIMIT 1"), {"g": BOTTOM}).scalar()
    session.add(Unit(code="T-DEEPER-1", name="比网格更深", level=BOTTOM + 1, parent_id=parent,
                     geom=from_shape(SQUARE, srid=4326), area_m2=1.0))
    session.flush()


def test_the_demo_fits_the_levels(conn):
    assert levels_mismatch(conn) is None


def test_units_deeper_than_the_grid_are_an_error(conn):
    _deeper_unit(conn)
    severity, sentence = levels_mismatch(conn)
    assert severity == "error"
    assert f"{BOTTOM + 2} levels deep" in sentence and ",".join(ACTIVE_KEYS) in sentence


def test_no_grids_is_a_warning(conn):
    conn.execute(text("UPDATE unit SET valid_to = now() WHERE level = :g AND valid_to IS NULL"),
                 {"g": BOTTOM})
    severity, sentence = levels_mismatch(conn)
    assert severity == "warning" and f"only {BOTTOM} levels deep" in sentence


def test_serve_refuses_such_a_database(db_url, settings):
    from cli.serve import _check_levels

    url = sibling_database(db_url, "levels")
    engine = fresh_demo_database(url, "sample")
    try:
        mine = settings.with_(database_url=url)
        _check_levels(mine)  # fits: nothing said
        with engine.begin() as conn:
            _deeper_unit(conn)
        with pytest.raises(ConfigError, match="levels deep"):
            _check_levels(mine)
    finally:
        engine.dispose()
