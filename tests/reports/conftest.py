"""A small demo database of its own (玉门 at 2 % of its population) and one report built
from it; exports are written once per session and inspected by several tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from onemap.settings import Settings
from tests.helpers import fresh_demo_database, sibling_database


@pytest.fixture(scope="session")
def reports_db_url(db_url: str) -> str:
    return sibling_database(db_url, "reports")


@pytest.fixture(scope="session")
def reports_engine(reports_db_url: str) -> Iterator[Engine]:
    engine = fresh_demo_database(reports_db_url, "yumen", scale=0.02)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def report_month(reports_engine: Engine, settings: Settings) -> str:
    """The newest complete month: the second-newest month with incidents."""
    from store import monthly

    months = monthly.months_with_data(reports_engine, settings.timezone)
    assert len(months) >= 5, f"the demo should span months, got {months}"
    return months[1]


@pytest.fixture(scope="session")
def town_report(reports_engine: Engine, report_month: str, settings: Settings):
    from reports import monthly

    return monthly.build(reports_engine, report_month, "town", settings)


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="session")
def offline_settings(settings: Settings) -> Settings:
    """No basemap: the exported files must need nothing from the network."""
    return settings.with_(basemap_url="")
