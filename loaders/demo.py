"""Loading demo data: the built-in sample (tests, quick looks) or a generated real region.

`make run` loads ONEMAP_DEMO_REGION (玉门 by default) into an empty database; `onemap demo
--region …` loads any of them (each region replaces nothing: regions sit side by side).
"""

from __future__ import annotations

import sys
import time

from sqlalchemy import Engine

from loaders.demo_spec import REGIONS
from loaders.sample import build_sample_units
from store import repository

REGION_CHOICES = ("sample", *REGIONS, "all")


def _say(message: str) -> None:
    print(f"[onemap] {message}", file=sys.stderr, flush=True)


def load_region(engine: Engine, region: str) -> dict[str, int]:
    """Generate and store one region in one transaction; returns row counts per table."""
    if region == "sample":
        units = build_sample_units()
        with engine.begin() as conn:
            repository.insert_units(conn, units)
        _say(f"loaded the built-in sample: {len(units)} units")
        return {"unit": len(units)}
    if region not in REGIONS:
        raise ValueError(f"unknown demo region {region!r}; choose from {REGION_CHOICES}")
    from loaders.generate_units import build_units

    spec = REGIONS[region]
    started = time.monotonic()
    _say(f"{spec.name}: generating units …")
    units, _density = build_units(spec)
    rows = [{**u, "wkt": u["geom"].wkt} for u in units]
    with engine.begin() as conn:
        if repository.unit_code_exists(conn, spec.adcode):
            _say(f"{spec.name} is already loaded; skipped")
            return {}
        repository.insert_units(conn, rows)
    _say(f"{spec.name}: {len(units)} units in {time.monotonic() - started:.1f} s")
    return {"unit": len(units)}


def load_demo(engine: Engine, region: str = "sample") -> dict[str, int]:
    regions = list(REGIONS) if region == "all" else [region]
    totals: dict[str, int] = {}
    for key in regions:
        for table, n in load_region(engine, key).items():
            totals[table] = totals.get(table, 0) + n
    return totals


def load_demo_if_empty(engine: Engine, region: str = "sample") -> dict[str, int]:
    """Load demo data only into an empty database, so a second `make run` keeps the user's data."""
    if repository.count_units(engine, current_only=False) > 0:
        return {}
    return load_demo(engine, region)
