"""Fixtures for the HTTP API: its own database (tests here commit, as the API does), with the
sample units, departments, a worker per grid and a small household register."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, text

from dashboard.app import create_app
from geo.catalog import DEPARTMENTS
from onemap.settings import Settings
from store import api_keys
from store.units import forget_all as forget_unit_caches
from tests.helpers import fresh_demo_database, sibling_database

# The sample county (loaders/sample.py): lon 97.00-97.12, lat 40.25-40.33; towns split at lon
# 97.06, villages at lat 40.29, grids 0.02° wide.
INSIDE = (97.01, 40.26)  # 西城南社区第1网格
EDGE = (97.02, 40.26)  # on the edge of grids 1 and 2
OUTSIDE = (97.30, 40.40)  # in China, far from every unit
HOUSEHOLDS = [  # address, lon, lat
    ("玉门市示例县西城南社区1号楼101室", 97.011, 40.261),
    ("玉门市示例县西城南社区1号楼102室", 97.011, 40.262),
    ("玉门市示例县东城北社区3号楼201室", 97.101, 40.311),
    ("玉门市示例县和平路8号", 97.031, 40.301),  # the same address in two places:
    ("玉门市示例县和平路8号", 97.091, 40.271),  # ambiguous, never guessed
]


@pytest.fixture(scope="session")
def api_url(db_url: str) -> str:
    return sibling_database(db_url, "api")


@pytest.fixture(scope="session")
def api_engine(api_url: str) -> Iterator[Engine]:
    engine = fresh_demo_database(api_url)
    with engine.begin() as conn:
        for code, name, kind in DEPARTMENTS:
            conn.execute(text("INSERT INTO department (code, name, kind) VALUES (:c, :n, :k)"),
                         {"c": code, "n": name, "k": kind})
        conn.execute(text("""
            INSERT INTO grid_worker (code, name, phone, grid_id)
            SELECT 'W' || code, '网格员' || right(code, 3), '1390000' || right(code, 4), id
            FROM unit WHERE level = 3"""))
        for i, (address, lon, lat) in enumerate(HOUSEHOLDS):
            conn.execute(text("""
                INSERT INTO household (code, address, geom, grid_id)
                VALUES (:code, :a, ST_SetSRID(ST_MakePoint(:x, :y), 4326),
                        (SELECT id FROM unit WHERE level = 3 AND valid_to IS NULL
                         AND ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))
                         ORDER BY code LIMIT 1))"""),
                         {"code": f"HAPI{i:03d}", "a": address, "x": lon, "y": lat})
    forget_unit_caches()
    api_keys.clear_cache()
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def api_settings(settings: Settings, api_url: str) -> Settings:
    return settings.with_(database_url=api_url, escalate_every_s=0)


@pytest.fixture(scope="session")
def keys(api_engine: Engine) -> dict[str, str]:
    """Keys in clear: an operator (12345 hotline centre) and two reporter channels."""
    with api_engine.begin() as conn:
        return {
            "operator": api_keys.create_key(conn, "指挥中心", "hotline_12345", "operator"),
            "hotline": api_keys.create_key(conn, "12345热线", "hotline_12345", "reporter"),
            "citizen": api_keys.create_key(conn, "随手拍", "citizen_app", "reporter"),
        }


@pytest.fixture(scope="session")
def app(api_engine: Engine, api_settings: Settings):
    return create_app(api_settings)


@pytest.fixture()
def client(app):
    return app.server.test_client()


def lattice(lon0: float, lon1: float, lat0: float, lat1: float) -> Iterator[tuple[float, float]]:
    """Points > 100 m apart, > 150 m from grid edges and from the fixed points above, so that
    no two reports a test file places on them are near-duplicates by accident (each test file
    takes its own village)."""
    fixed = [INSIDE, EDGE, *[(x, y) for _a, x, y in HOUSEHOLDS]]
    for lat in np.arange(lat0 + 0.002, lat1 - 0.0019, 0.0015):
        for lon in np.arange(lon0 + 0.002, lon1 - 0.0019, 0.0015):
            x, y = round(float(lon), 6), round(float(lat), 6)
            if (x - 97.0) % 0.02 < 0.002 or (x - 97.0) % 0.02 > 0.018:
                continue
            if any(abs(x - fx) < 0.002 and abs(y - fy) < 0.002 for fx, fy in fixed):
                continue
            yield x, y


def new_report(**overrides: Any) -> dict[str, Any]:
    """A valid hotline report inside grid 1 with a fresh external_id; override any field."""
    body: dict[str, Any] = {
        "source": "hotline_12345", "external_id": f"T-{uuid.uuid4().hex[:12]}",
        "category": "sanitation", "description": "小区门口垃圾堆放三天无人清理",
        "location": {"lon": INSIDE[0], "lat": INSIDE[1]},
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def headers(key: str, **extra: str) -> dict[str, str]:
    return {"X-API-Key": key, **extra}
