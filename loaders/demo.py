"""Loading demo data: the built-in sample (tests, quick looks) or a generated real region.

`make run` loads ONEMAP_DEMO_REGION (玉门 by default) into an empty database; `onemap demo
--region …` loads any of them (each region replaces nothing: regions sit side by side).
"""

from __future__ import annotations

import dataclasses
import sys
import time

import pandas as pd
from sqlalchemy import Engine

from geo.levels import CITY, GRID, VILLAGE
from loaders.demo_spec import REGIONS
from loaders.sample import build_sample_units
from onemap import crypto
from onemap.settings import Settings
from store import repository

REGION_CHOICES = ("sample", *REGIONS, "all", "province-synthetic")


def _say(message: str) -> None:
    print(f"[onemap] {message}", file=sys.stderr, flush=True)


def load_region(engine: Engine, region: str, *, now: pd.Timestamp | None = None,
                tz: str = "Asia/Shanghai", scale: float = 1.0,
                var_dir: str | None = None) -> dict[str, int]:
    """Generate and store one region in one transaction; returns row counts per table.

    ``scale`` shrinks the people, cameras and incidents (not the units), so tests can use a
    real region's boundaries with a few thousand rows.  ``var_dir`` holds ``keys/`` that seal
    the generated phones and ID numbers (default: the project's ``var``).
    """
    if region == "province-synthetic":
        from loaders.province import load_province

        return load_province(engine, scale=scale, now=now, tz=tz,
                             var_dir=var_dir or Settings().var_dir)
    if region == "sample":
        units = build_sample_units()
        with engine.begin() as conn:
            repository.insert_units(conn, units)
        _say(f"loaded the built-in sample: {len(units)} units")
        return {"unit": len(units)}
    if region not in REGIONS:
        raise ValueError(f"unknown demo region {region!r}; choose from {REGION_CHOICES}")
    spec = REGIONS[region]
    if scale != 1.0:
        if not 0 < scale <= 1:
            raise ValueError(f"scale must be in (0, 1], got {scale!r}")
        spec = dataclasses.replace(
            spec, households=max(100, round(spec.households * scale)),
            workers=max(spec.grids, round(spec.workers * scale)),
            cameras=max(20, round(spec.cameras * scale)),
            incidents_per_year=max(200, round(spec.incidents_per_year * scale)))
    with engine.begin() as conn:
        if repository.unit_code_exists(conn, spec.adcode):
            _say(f"{spec.name} is already loaded; skipped")
            return {}
        if CITY is not None:  # five levels: the county goes under its city
            spec = _under_city(conn, spec)
        return _generate_and_store(conn, spec, now or pd.Timestamp.now(tz="UTC"), tz,
                                   var_dir or Settings().var_dir)


def _under_city(conn, spec):
    """The demo county's city unit, stored when missing (drawn as the county: only the
    county's boundary is shipped), and the spec that names it as the county's parent."""
    from geo.crs import area_m2
    from loaders.demo_spec import CITIES

    code, name = CITIES[spec.key]
    if not repository.unit_code_exists(conn, code):
        geom = spec.boundary()
        repository.insert_units(conn, [{"code": code, "name": name, "level": CITY,
                                        "parent_code": None, "wkt": geom.wkt,
                                        "area_m2": float(area_m2([geom])[0])}])
    return dataclasses.replace(spec, parent_code=code)


def _generate_and_store(conn, spec, now: pd.Timestamp, tz: str, var_dir: str,
                        built: tuple | None = None) -> dict[str, int]:
    """Every table of one region, written with COPY inside the caller's transaction.
    ``built``: its units and density model made already (``build_units``), e.g. noded with
    the neighbouring counties of a province."""
    import numpy as np

    from geo.assign import AssignmentEngine
    from loaders.generate_incidents import build_incidents
    from loaders.generate_people import (
        build_cameras,
        build_departments,
        build_households,
        build_workers,
    )
    from loaders.generate_units import build_units, units_frame
    from store.bulk import copy_frame, reserve_ids

    clock = _Clock(spec.name)
    rng = np.random.default_rng(spec.seed + 1)
    units, density = built if built is not None else build_units(spec)
    ids = repository.insert_units(conn, [{**u, "wkt": u["geom"].wkt} for u in units])
    county = units[0]["geom"]
    # A county under a city: the engine needs the city too, so every case has every level.
    above = [] if units[0]["parent_code"] is None else \
        repository.ancestors(conn, units[0]["parent_code"])
    ids.update({a["code"]: a["id"] for a in above})
    assigner = AssignmentEngine.build(units_frame([*above, *units], ids))
    counts = {"unit": len(units)}
    clock.step(f"{len(units)} units")

    names = {ids[u["code"]]: u["name"] for u in units}
    grid_codes = {ids[u["code"]]: u["code"] for u in units if u["level"] == GRID}
    households, persons = build_households(spec, density, county, assigner, grid_codes, names,
                                           rng)
    households.insert(0, "id", np.arange(len(households)) + reserve_ids(
        conn, "household", len(households)))
    counts["household"] = copy_frame(conn, "household", households)
    persons["household_id"] = households["id"].to_numpy()
    sealed = crypto.seal_people(var_dir, list(persons["phone"]), list(persons["id_number"]))
    for column in ("phone_sealed", "id_number_sealed"):  # bytea as hex text in the CSV copy
        persons[column] = ["\\x" + v.hex() if v is not None else None for v in sealed[column]]
    persons["phone_hash"] = sealed["phone_hash"]
    counts["household_person"] = copy_frame(
        conn, "household_person", persons[["household_id", "is_head", "name", "phone_sealed",
                                           "id_number_sealed", "phone_hash"]])
    clock.step(f"{len(households):,} households")

    departments = build_departments(spec)
    departments.insert(0, "id", np.arange(len(departments)) + reserve_ids(
        conn, "department", len(departments)))
    counts["department"] = copy_frame(conn, "department", departments)
    per_grid = households.groupby("grid_id").size()
    workers = build_workers(spec, np.array(sorted(grid_codes)), grid_codes, per_grid, rng)
    workers.insert(0, "id", np.arange(len(workers)) + reserve_ids(conn, "grid_worker",
                                                                  len(workers)))
    counts["grid_worker"] = copy_frame(conn, "grid_worker", workers)
    villages = [u["geom"] for u in units if u["level"] == VILLAGE]
    centroids = np.array([(p.x, p.y) for p in (v.representative_point() for v in villages)])
    cameras = build_cameras(spec, density, county, assigner, centroids, rng)
    counts["camera"] = copy_frame(conn, "camera", cameras)
    clock.step(f"{len(workers):,} grid workers, {len(cameras):,} cameras")

    import shapely

    hh_xy = shapely.get_coordinates(shapely.from_wkb(households["geom"].to_numpy()))
    n_incidents = spec.incidents_per_year
    first = reserve_ids(conn, "incident", n_incidents)
    dept_ids = {code.split("-", 1)[1]: i for code, i in zip(departments["code"],
                                                            departments["id"], strict=True)}
    year = build_incidents(spec, hh_xy, assigner, workers, dept_ids, first, now, rng, tz)
    counts["incident"] = copy_frame(conn, "incident", year.incidents)
    if len(year.events):  # the history's months first (else they would land in the default)
        from store import partitions

        partitions.ensure(conn, year.events["at"].min().to_pydatetime(),
                          year.events["at"].max().to_pydatetime())
    counts["incident_event"] = copy_frame(conn, "incident_event", year.events)
    clock.step(f"{len(year.incidents):,} incidents, {len(year.events):,} events")
    conn.exec_driver_sql("ANALYZE")
    clock.done()
    return counts


class _Clock:
    """Progress lines with elapsed time, so a long load is never silent."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.start = self.last = time.monotonic()

    def step(self, what: str) -> None:
        now = time.monotonic()
        _say(f"{self.name}: {what} ({now - self.last:.1f} s)")
        self.last = now

    def done(self) -> None:
        _say(f"{self.name}: done in {time.monotonic() - self.start:.1f} s")


def load_demo(engine: Engine, region: str = "sample", *, now: pd.Timestamp | None = None,
              tz: str = "Asia/Shanghai", scale: float = 1.0,
              var_dir: str | None = None) -> dict[str, int]:
    regions = list(REGIONS) if region == "all" else [region]
    totals: dict[str, int] = {}
    for key in regions:
        for table, n in load_region(engine, key, now=now, tz=tz, scale=scale,
                                    var_dir=var_dir).items():
            totals[table] = totals.get(table, 0) + n
    return totals


def load_demo_if_empty(engine: Engine, region: str = "sample", *,
                       tz: str = "Asia/Shanghai", var_dir: str | None = None) -> dict[str, int]:
    """Load demo data only into an empty database, so a second `make run` keeps the user's data."""
    if repository.count_units(engine, current_only=False) > 0:
        return {}
    return load_demo(engine, region, tz=tz, var_dir=var_dir)
