"""The synthetic province (#18): counties over one outline, every level a valid coverage of
the whole province, people and cases in them, and a second load that adds nothing."""

from __future__ import annotations

import pytest
import shapely
from sqlalchemy import create_engine, text

from loaders.province import AREA_KM2, county_specs, load_province
from store import migrate
from store.engine import ensure_database
from store.repository import load_units_frame
from tests.helpers import sibling_database

pytestmark = [pytest.mark.db, pytest.mark.slow]


def test_the_outline_and_its_counties_have_the_size_asked_for():
    from geo.crs import area_m2

    specs = county_specs(0.05)
    assert len(specs) == 4  # 5 % of 86 counties
    total_km2 = float(area_m2([s.outline for s in specs]).sum()) / 1e6
    assert total_km2 == pytest.approx(AREA_KM2 * 0.05, rel=0.1)
    assert shapely.coverage_is_valid([s.outline for s in specs])
    assert len({s.adcode for s in specs}) == 4
    with pytest.raises(ValueError):
        county_specs(0)


@pytest.fixture(scope="module")
def province(db_url, tmp_path_factory):
    url = sibling_database(db_url, "province")
    ensure_database(url, fresh=True)
    engine = create_engine(url)
    migrate.upgrade(engine)
    counts = load_province(engine, scale=0.03, people=0.01,
                           var_dir=str(tmp_path_factory.mktemp("var")))
    yield engine, counts
    engine.dispose()


def test_every_level_tiles_the_province(province):
    engine, counts = province
    with engine.connect() as conn:
        units = load_units_frame(conn)
    levels = units.groupby("level").size().to_dict()
    assert levels[0] == 3 and levels[1] == 45
    assert levels[3] >= 3 * 1_000
    for level in range(4):
        geoms = units[units["level"] == level].geometry.to_numpy()
        assert shapely.coverage_is_valid(geoms), f"level {level} is not a valid coverage"
    # children tile their parent: the grids' union is the counties' union
    grids = shapely.union_all(units[units["level"] == 3].geometry.to_numpy())
    counties = shapely.union_all(units[units["level"] == 0].geometry.to_numpy())
    assert abs(grids.area - counties.area) / counties.area < 1e-9
    assert counts["unit"] == len(units)


def test_people_and_cases_sit_in_their_grids(province):
    engine, counts = province
    with engine.connect() as conn:
        outside = conn.execute(text("""
            SELECT count(*) FROM household h JOIN unit g ON g.id = h.grid_id
            WHERE NOT ST_Covers(g.geom, h.geom)""")).scalar()
        per_county = conn.execute(text("""
            SELECT count(DISTINCT county_id), count(*) FROM incident
            WHERE county_id IS NOT NULL""")).one()
    assert counts["household"] >= 3 * 1_000 and outside == 0
    assert per_county[0] == 3 and per_county[1] > 0
    assert load_province(engine, scale=0.03, people=0.01, var_dir="/nonexistent") == {}


def test_the_generated_history_and_the_kept_times_agree(province) -> None:
    """The demo generator writes the same first dispatch and 签收 as its events (the
    migration fills existing databases the same way)."""
    engine, _ = province
    with engine.connect() as conn:
        differ = conn.scalar(text("""
            SELECT count(*) FROM incident i LEFT JOIN (
                SELECT incident_id, min(at) FILTER (WHERE action = 'dispatch') AS d,
                       min(at) FILTER (WHERE action = 'accept') AS a
                FROM incident_event GROUP BY incident_id) f ON f.incident_id = i.id
            WHERE i.source <> 'import' AND (i.dispatched_at IS DISTINCT FROM f.d
                                            OR i.accepted_at IS DISTINCT FROM f.a)"""))
        kept = conn.scalar(text("SELECT count(*) FROM incident WHERE accepted_at IS NOT NULL"))
    assert kept > 500 and differ == 0
