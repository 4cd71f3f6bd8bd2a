"""Loading the data a fresh installation shows: for now the built-in sample (`loaders.sample`);
the demo regions replace it when they arrive."""

from __future__ import annotations

import sys

from sqlalchemy import Engine

from loaders.sample import build_sample_units
from store import repository


def load_demo(engine: Engine) -> int:
    """Load the demo units in one transaction; returns how many were inserted."""
    units = build_sample_units()
    with engine.begin() as conn:
        repository.insert_units(conn, units)
    print(f"[onemap] loaded the built-in sample: {len(units)} units", file=sys.stderr)
    return len(units)


def load_demo_if_empty(engine: Engine) -> int:
    """Load demo data only into an empty database, so a second `make run` keeps the user's data."""
    if repository.count_units(engine, current_only=False) > 0:
        return 0
    return load_demo(engine)
