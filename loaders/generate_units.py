"""The nested units of a demo region: county → towns → villages → grids, tiling exactly.

Population drives everything: a density model (the county seat, other settlements, a thin
background) yields sample points; each level is split with `geo.partition.split_polygon`, and
the number of children a unit gets follows its population, so town grids are small and
pastoral grids huge.  Deterministic for a given region seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from geo.coverage import node_coverage
from geo.coverage_repair import repair_coverage
from geo.crs import area_m2
from geo.levels import COUNTY, GRID, TOWN, VILLAGE
from geo.partition import sample_in_polygon, split_polygon
from loaders.demo_spec import NAME_HEADS, NAME_TAILS, RegionSpec


@dataclass
class Density:
    """Where people live: Gaussian settlements plus a uniform background share."""

    centres: NDArray[np.float64]
    spreads: NDArray[np.float64]
    weights: NDArray[np.float64]
    background: float

    def sample(self, polygon: BaseGeometry, n: int, rng: np.random.Generator) -> NDArray:
        return sample_in_polygon(polygon, n, rng, self.centres, self.spreads, self.weights,
                                 self.background)


def build_density(spec: RegionSpec, county: BaseGeometry, rng: np.random.Generator) -> Density:
    seat = np.array(spec.seat)
    if not county.contains(shapely.Point(seat)):
        p = county.representative_point()
        seat = np.array([p.x, p.y])
    others = sample_in_polygon(county, spec.settlements, rng)
    size = np.sqrt(county.area)  # degrees
    spreads = np.concatenate([[size * (0.12 if spec.urban else 0.025)],
                              rng.uniform(0.004, 0.012, spec.settlements) * (
                                  3 if spec.urban else 1)])
    weights = np.concatenate([[spec.seat_share],
                              rng.pareto(1.5, spec.settlements) + 0.2])
    weights[1:] *= (1 - spec.seat_share) / weights[1:].sum()
    return Density(np.vstack([seat, others]), spreads, weights, spec.background)


def allocate(total: int, populations: NDArray, power: float, minimum: int = 1) -> NDArray:
    """Split ``total`` children among parents ∝ population**power, each at least ``minimum``
    (largest-remainder rounding, so the counts add up exactly)."""
    n = len(populations)
    if total < n * minimum:
        raise ValueError(f"cannot give {n} parents {minimum} each out of {total}")
    share = np.maximum(populations.astype(float), 1.0) ** power
    ideal = minimum + share / share.sum() * (total - n * minimum)
    counts = np.floor(ideal).astype(int)
    remainder = total - counts.sum()
    counts[np.argsort(-(ideal - counts), kind="stable")[:remainder]] += 1
    return counts


def _samples_within(parts: list[BaseGeometry], samples: NDArray) -> list[NDArray]:
    tree = shapely.STRtree(parts)
    pts = shapely.points(samples)
    point_idx, part_idx = tree.query(pts, predicate="within")
    return [samples[point_idx[part_idx == j]] for j in range(len(parts))]


def _village_name(i: int, suffix: str, used: set[str]) -> str:
    head = NAME_HEADS[i % len(NAME_HEADS)]
    tail = NAME_TAILS[(i // len(NAME_HEADS)) % len(NAME_TAILS)]
    name = f"{head}{tail}{suffix}"
    n = 2
    while name in used:
        name = f"{head}{tail}{n}{suffix}"
        n += 1
    used.add(name)
    return name


def build_units(spec: RegionSpec, *, samples_per_grid: int = 60
                ) -> tuple[list[dict[str, Any]], Density]:
    """Units top-down (code, name, level, parent_code, geom, area_m2) and the density model."""
    rng = np.random.default_rng(spec.seed)
    county = spec.boundary()
    density = build_density(spec, county, rng)
    samples = density.sample(county, spec.grids * samples_per_grid, rng)
    units: list[dict[str, Any]] = [{"code": spec.adcode, "name": spec.name, "level": COUNTY,
                                    "parent_code": spec.parent_code, "geom": county}]

    def split(parent_geom, parent_samples, k, min_samples):
        if len(parent_samples) < max(min_samples, 3 * k):  # too few people sampled: top up
            extra = sample_in_polygon(parent_geom, max(min_samples, 3 * k), rng)
            parent_samples = np.vstack([parent_samples, extra])
        return split_polygon(parent_geom, parent_samples, k, rng=rng)

    towns = split(county, samples, spec.towns, spec.towns * 20)
    town_samples = _samples_within(towns, samples)
    # Densest towns get the first names (街道 / the seat town).
    order = np.argsort([-len(s) / max(t.area, 1e-12) for s, t in zip(town_samples, towns,
                                                                      strict=True)])
    village_counts = allocate(spec.villages, np.array([len(s) for s in town_samples]), 0.7,
                              minimum=2 if spec.villages >= 2 * len(towns) else 1)
    used: set[str] = set()
    village_index = 0
    for rank, t in enumerate(order):
        town_code = f"{spec.adcode}{rank + 1:03d}"
        town_name = spec.town_names[rank % len(spec.town_names)]
        units.append({"code": town_code, "name": town_name, "level": TOWN,
                      "parent_code": spec.adcode, "geom": towns[t]})
        villages = split(towns[t], town_samples[t], int(village_counts[t]), 20)
        village_samples = _samples_within(villages, town_samples[t])
        village_pops = np.array([len(s) for s in village_samples])
        for v, village in enumerate(villages):
            village_code = f"{town_code}{v + 1:03d}"
            suffix = "社区" if (spec.urban or (rank == 0 and v % 2 == 0)) else spec.village_suffix
            units.append({"code": village_code, "name": _village_name(village_index, suffix, used),
                          "level": VILLAGE, "parent_code": town_code, "geom": village,
                          "population": int(village_pops[v])})
            village_index += 1
    # Grids: allocate the region's total across all villages at once, by population.
    villages = [u for u in units if u["level"] == VILLAGE]
    grid_counts = allocate(spec.grids, np.array([u.pop("population") for u in villages]), 0.85)
    village_samples = _samples_within([u["geom"] for u in villages], samples)
    for village, k, vs in zip(villages, grid_counts, village_samples, strict=True):
        grids = split(village["geom"], vs, int(k), 10)
        for g, grid in enumerate(grids):
            units.append({"code": f"{village['code']}{g + 1:03d}",
                          "name": f"{village['name']}第{g + 1}网格", "level": GRID,
                          "parent_code": village["code"], "geom": grid})
    # Each level is cut parent by parent, so neighbours of different parents carry different
    # vertices along the edge they share: node every level as a whole (a valid coverage,
    # which the map simplifies without slivers).
    for level in (TOWN, VILLAGE, GRID):
        rows = [u for u in units if u["level"] == level]
        noded = node_coverage([u["geom"] for u in rows])
        if not shapely.coverage_is_valid(noded):  # the odd nearly collinear meeting left:
            noded, _ = repair_coverage(noded, tolerance_m=0.05)  # one planar partition
        for unit, geom in zip(rows, noded, strict=True):
            unit["geom"] = geom
    areas = area_m2([u["geom"] for u in units])
    for unit, area in zip(units, areas, strict=True):
        unit["area_m2"] = float(area)
    return units, density


def units_frame(units: list[dict[str, Any]], ids: dict[str, int]) -> Any:
    """Generated units as the GeoDataFrame `geo.assign` and `geo.coverage` take, with the
    given ``{code: id}`` (database ids, or any unique numbering)."""
    import geopandas as gpd

    frame = gpd.GeoDataFrame({
        "id": [ids[u["code"]] for u in units], "code": [u["code"] for u in units],
        "level": [u["level"] for u in units],
        "parent_id": [ids.get(u["parent_code"]) for u in units],
    }, geometry=[u["geom"] for u in units], crs="EPSG:4326")
    frame["parent_id"] = frame["parent_id"].astype("Int64")
    return frame
