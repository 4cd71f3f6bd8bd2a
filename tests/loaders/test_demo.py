"""The demo generator: documents' counts, exact tilings, deterministic output, and a stored
region whose rows agree with each other (points in their grids, histories with statuses)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from geo.coverage import check_hierarchy
from loaders.demo import _generate_and_store
from loaders.demo_spec import REGIONS
from loaders.generate_units import allocate, build_units, units_frame

DOCUMENT_COUNTS = {  # county / towns / villages / grids, from shared/seeds
    "etuoke": (1, 4, 84, 401),
    "yumen": (1, 12, 84, 550),
    "donghai": (1, 21, 371, 1_076),
    "chengguan": (1, 25, 200, 1_700),
}


def _frame(units: list[dict]):
    return units_frame(units, {u["code"]: i + 1 for i, u in enumerate(units)})


@pytest.fixture(scope="module", params=list(DOCUMENT_COUNTS))
def region(request):
    units, _ = build_units(REGIONS[request.param])
    return request.param, units


def test_levels_have_the_documents_counts(region):
    key, units = region
    counts = tuple(sum(u["level"] == level for u in units) for level in range(4))
    assert counts == DOCUMENT_COUNTS[key]


def test_children_tile_their_parent_exactly(region):
    key, units = region
    by_parent: dict[str, list] = {}
    for unit in units:
        by_parent.setdefault(unit["parent_code"], []).append(unit["geom"])
    for unit in units:
        children = by_parent.get(unit["code"])
        if not children:
            continue
        assert shapely.coverage_is_valid(np.array(children)), unit["code"]
        union = shapely.union_all(children)
        leftover = unit["geom"].symmetric_difference(union).area / unit["geom"].area
        assert leftover < 1e-9, (unit["code"], leftover)


def test_coverage_check_finds_no_gaps_or_overlaps(region):
    key, units = region
    report = check_hierarchy(_frame(units))
    assert report.errors == [], report.summary()
    assert report.of_kind("gap") == [] and report.of_kind("overlap") == [], report.summary()


def test_grids_are_small_where_people_live_and_large_elsewhere(region):
    key, units = region
    areas = np.array([u["area_m2"] for u in units if u["level"] == 3])
    p10, p90 = np.percentile(areas, [10, 90])
    assert p90 / p10 > 20  # grids follow people: dense quarters small, open land large


def test_generation_is_deterministic():
    first, _ = build_units(REGIONS["etuoke"])
    second, _ = build_units(REGIONS["etuoke"])
    assert [u["code"] for u in first] == [u["code"] for u in second]
    assert all(a["geom"].equals_exact(b["geom"], 0) for a, b in zip(first, second, strict=True))


def test_allocate_keeps_the_total_and_the_minimum():
    counts = allocate(100, np.array([1, 10, 100, 1000]), 0.8, minimum=2)
    assert counts.sum() == 100 and counts.min() >= 2
    assert list(counts) == sorted(counts)  # more people, more children


@pytest.mark.db
@pytest.mark.slow
def test_a_stored_region_is_consistent(conn):
    spec = replace(REGIONS["etuoke"], households=3_000, incidents_per_year=4_000, cameras=300)
    now = pd.Timestamp("2026-11-15 04:00", tz="UTC")
    from onemap import crypto
    from onemap.settings import Settings

    var_dir = Settings().var_dir
    counts = _generate_and_store(conn, spec, now, "Asia/Shanghai", var_dir)
    assert counts["unit"] == sum(DOCUMENT_COUNTS["etuoke"])
    assert counts["household"] == counts["household_person"] > 2_900
    # Phones and ID numbers are sealed at rest: the bytes hold no digits of them, and the
    # key under var/keys opens them into an 11-digit mobile and an 18-character ID number.
    person = conn.execute(text("SELECT phone_sealed, id_number_sealed, phone_hash "
                               "FROM household_person ORDER BY id DESC LIMIT 1")).one()
    phone = crypto.unseal(var_dir, person.phone_sealed, crypto.PERSON_PHONE)
    id_number = crypto.unseal(var_dir, person.id_number_sealed, crypto.PERSON_ID_NUMBER)
    assert len(phone) == 11 and phone.isdigit() and len(id_number) == 18
    assert phone.encode() not in bytes(person.phone_sealed)
    assert person.phone_hash == crypto.lookup_hash(var_dir, phone)
    assert counts["department"] >= 30 and counts["grid_worker"] == spec.workers

    def one(sql: str):
        return conn.scalar(text(sql), {"c": spec.adcode})

    region_units = "(SELECT id FROM unit WHERE code LIKE :c || '%')"
    # Every household and camera lies in the grid it is bound to.
    assert one(f"SELECT count(*) FROM household h JOIN unit g ON g.id = h.grid_id "
               f"WHERE g.id IN {region_units} AND NOT ST_Covers(g.geom, h.geom)") == 0
    assert one(f"SELECT count(*) FROM camera c JOIN unit g ON g.id = c.grid_id "
               f"WHERE g.id IN {region_units} AND NOT ST_Covers(g.geom, c.geom)") == 0
    # Incidents carry a consistent chain of units: grid → village → town → county.
    assert one(f"SELECT count(*) FROM incident i JOIN unit g ON g.id = i.grid_id "
               f"JOIN unit v ON v.id = g.parent_id JOIN unit t ON t.id = v.parent_id "
               f"WHERE g.id IN {region_units} AND (i.village_id <> v.id OR i.town_id <> t.id "
               f"OR i.county_id <> t.parent_id)") == 0
    # Nothing happened after "now", and each status is the last step of its history.
    assert one("SELECT count(*) FROM incident_event WHERE at > '2026-11-15 04:00+00'") == 0
    assert one(f"""SELECT count(*) FROM incident i JOIN LATERAL (
                     SELECT to_status FROM incident_event e WHERE e.incident_id = i.id
                     ORDER BY at DESC, id DESC LIMIT 1) last ON true
                   WHERE i.grid_id IN {region_units} AND last.to_status <> i.status""") == 0
    shares = conn.execute(text(f"""
        SELECT avg((handling_level = 3)::int) AS in_grid,
               avg((handling_level >= 2)::int) AS in_village,
               avg((closed_at <= due_at)::int) FILTER (WHERE closed_at IS NOT NULL) AS on_time,
               count(*) FILTER (WHERE closed_at IS NULL) AS open_now
        FROM incident WHERE grid_id IN {region_units}"""), {"c": spec.adcode}).one()
    assert 0.6 < shares.in_grid < 0.8  # "70 % inside the grid"
    assert shares.in_village > 0.85  # "90 %+ at town/village"
    assert 0.8 < shares.on_time < 0.97
    assert shares.open_now > 0
