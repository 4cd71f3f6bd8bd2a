"""A synthetic province for scale tests (`onemap demo --region province-synthetic --scale S`).

At ``--scale 1``: a province outline of about 400,000 km² (a noisy ellipse over central
Gansu's latitudes; no real boundary is shipped for it) cut into 86 counties, each like a large
county of the demo (15 towns, 200 villages, 1,160 grids, 116,000 households, as many incidents
a year) — ~100k grids, 10 M households, 10 M incidents a year with their histories.  ``S``
keeps that share of the counties (and of the area): 0.1 is 9 counties, ~10k grids, 1 M
households.  ``people`` shrinks the people and incidents of each county (tests).

Every level is a valid coverage of the whole province: each county is cut on its own, then
every level is noded across the counties, so neighbours of different counties share their
edges vertex for vertex.  In a four-level deployment the counties are OneMap's top level
(level 0): the province is the set of them, as the wall shows when an actor's scope is every
unit.  With five levels (``ONEMAP_LEVELS=city,…``) the outline is first cut into cities (14 at
scale 1, as 甘肃 has 14 市州), each city into its counties (by area), and each city is the
union of its counties.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Polygon

from geo.coverage import node_coverage
from geo.coverage_repair import repair_coverage
from geo.levels import CITY, GRID, TOWN, VILLAGE
from geo.partition import sample_in_polygon, split_polygon
from loaders.demo_spec import RegionSpec

COUNTIES = 86
CITIES = 14
AREA_KM2 = 400_000.0
CENTRE = (103.8, 36.2)
PER_COUNTY = {"towns": 15, "villages": 200, "grids": 1_160, "households": 116_000,
              "incidents_per_year": 116_000, "workers": 1_300, "cameras": 1_500}
CODE_PREFIX = "69"  # not a real province code: 69xxxx never clashes with the demo counties


def _say(message: str) -> None:
    print(f"[onemap] province: {message}", file=sys.stderr, flush=True)


def outline(scale: float, rng: np.random.Generator) -> Polygon:
    """A noisy ellipse of ``scale`` × 400,000 km² (lon/lat; 1.3 : 1 east-west)."""
    km_per_deg_y = 111.32
    km_per_deg_x = km_per_deg_y * np.cos(np.radians(CENTRE[1]))
    area = AREA_KM2 * scale
    b = np.sqrt(area / (np.pi * 1.3))  # km
    a = 1.3 * b
    t = np.linspace(0, 2 * np.pi, 240, endpoint=False)
    wobble = 1 + 0.08 * np.sin(3 * t + rng.uniform(0, 6)) + 0.05 * np.sin(7 * t + rng.uniform(0, 6))
    x = CENTRE[0] + a * wobble * np.cos(t) / km_per_deg_x
    y = CENTRE[1] + b * wobble * np.sin(t) / km_per_deg_y
    shape = Polygon(np.column_stack([x, y]))
    return shapely.make_valid(shape) if not shape.is_valid else shape


def _cut(shape: Polygon, n: int, rng: np.random.Generator) -> list:
    samples = sample_in_polygon(shape, n * 300, rng, background=1.0)
    return list(split_polygon(shape, samples, n, rng=rng, warp=0.08)) if n > 1 else [shape]


def plan(scale: float, people: float = 1.0, seed: int = 690000, *, cities: bool = False,
         size: float = 1.0) -> tuple[list[dict[str, Any]], list[RegionSpec]]:
    """The cities (code, name, geom; none unless ``cities``) and the counties of the province
    at ``scale``, each county with its own outline (and its city as ``parent_code``).
    ``size`` shrinks the towns, villages and grids of each county (tests)."""
    if not 0 < scale <= 1 or not 0 < people <= 1 or not 0 < size <= 1:
        raise ValueError("scale, people and size must be in (0, 1]")
    towns = max(2, round(PER_COUNTY["towns"] * size))
    villages = max(2 * towns, round(PER_COUNTY["villages"] * size))
    grids = max(2 * villages, round(PER_COUNTY["grids"] * size))
    rng = np.random.default_rng(seed)
    n = max(2, round(COUNTIES * scale))
    shape = outline(scale, rng)
    if not cities:
        parts, parents, city_rows = node_coverage(_cut(shape, n, rng)), [None] * n, []
    else:
        from geo.crs import area_m2
        from loaders.generate_units import allocate

        k = min(max(2, round(CITIES * scale)), n)
        city_geoms = node_coverage(_cut(shape, k, rng))
        per_city = allocate(n, area_m2(city_geoms), 1.0, minimum=1)
        cut, parents = [], []
        for c, (geom, m) in enumerate(zip(city_geoms, per_city, strict=True)):
            cut += _cut(geom, int(m), rng)
            parents += [f"{CODE_PREFIX}{c + 1:02d}00"] * int(m)
        parts = node_coverage(cut)
        city_rows = [{"code": f"{CODE_PREFIX}{c + 1:02d}00", "name": f"模拟市{c + 1:02d}",
                      "geom": shapely.coverage_union_all(
                          [p for p, q in zip(parts, parents, strict=True)
                           if q == f"{CODE_PREFIX}{c + 1:02d}00"])}
                     for c in range(k)]
    specs = []
    serial: dict[str | None, int] = {}
    for i, part in enumerate(parts):
        seat = part.representative_point()
        parent = parents[i]
        serial[parent] = serial.get(parent, 0) + 1
        code = (f"{CODE_PREFIX}{i + 1:04d}" if parent is None
                else f"{parent[:4]}{serial[parent]:02d}")
        specs.append(RegionSpec(
            key=f"province-{i + 1}", adcode=code, name=f"模拟县{i + 1:02d}", parent_code=parent,
            towns=towns, villages=villages, grids=grids,
            households=max(200, round(PER_COUNTY["households"] * people)),
            workers=max(grids, round(PER_COUNTY["workers"] * people)),
            cameras=max(20, round(PER_COUNTY["cameras"] * people)),
            incidents_per_year=max(200, round(PER_COUNTY["incidents_per_year"] * people)),
            seat=(seat.x, seat.y), seat_share=0.3, settlements=10, background=0.3,
            town_names=tuple(f"第{k + 1}镇" for k in range(towns)),
            village_suffix="村", seed=seed + i + 1, outline=part))
    return city_rows, specs


def county_specs(scale: float, people: float = 1.0, seed: int = 690000) -> list[RegionSpec]:
    """The counties of the province at ``scale`` (four levels: no city above them)."""
    return plan(scale, people, seed)[1]


def build_province(specs: list[RegionSpec]) -> list[tuple[list[dict[str, Any]], Any]]:
    """Each county's units (and density model), with every level noded province-wide."""
    from loaders.generate_units import build_units

    built = []
    for k, spec in enumerate(specs):
        t0 = time.monotonic()
        built.append(build_units(spec))
        _say(f"units of {spec.name} ({k + 1}/{len(specs)}) in {time.monotonic() - t0:.1f} s")
    for level in (TOWN, VILLAGE, GRID):
        rows = [u for units, _ in built for u in units if u["level"] == level]
        noded = node_coverage([u["geom"] for u in rows])
        if not shapely.coverage_is_valid(noded):
            noded, _ = repair_coverage(noded, tolerance_m=0.05)
        for unit, geom in zip(rows, noded, strict=True):
            unit["geom"] = geom
    return built


def load_province(engine: Any, *, scale: float = 0.1, people: float = 1.0, size: float = 1.0,
                  now: pd.Timestamp | None = None, tz: str = "Asia/Shanghai",
                  var_dir: str) -> dict[str, int]:
    """Generate the province and store it, one transaction per county (a county already
    there is skipped, so an interrupted load resumes)."""
    from loaders.demo import _generate_and_store
    from store import repository

    cities, specs = plan(scale, people, cities=CITY is not None, size=size)
    if cities:
        from geo.crs import area_m2

        with engine.begin() as conn:
            new = [c for c in cities if not repository.unit_code_exists(conn, c["code"])]
            areas = area_m2([c["geom"] for c in new]) if new else []
            repository.insert_units(conn, [
                {**c, "level": CITY, "parent_code": None, "wkt": c["geom"].wkt,
                 "area_m2": float(a)} for c, a in zip(new, areas, strict=True)])
        if new:
            _say(f"{len(new)} cities above the counties")
    with engine.connect() as conn:
        todo = {s.adcode for s in specs if not repository.unit_code_exists(conn, s.adcode)}
    if not todo:
        _say("already loaded")
        return {}
    built = build_province(specs)
    now = now or pd.Timestamp.now(tz="UTC")
    totals: dict[str, int] = {}
    for spec, units in zip(specs, built, strict=True):
        if spec.adcode not in todo:
            continue
        with engine.begin() as conn:
            counts = _generate_and_store(conn, spec, now, tz, var_dir, built=units)
        for table, n in counts.items():
            totals[table] = totals.get(table, 0) + n
    return totals
