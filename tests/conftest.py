"""Shared fixtures: the real PostGIS test database, created fresh for each run.

Nothing here skips: if PostgreSQL, PostGIS or Chromium is missing the fixtures raise, and the
tests that need them fail with the set-up error message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, create_engine

from cli.bootstrap import start_server
from onemap.settings import Settings, load_settings
from store import migrate
from store.engine import database_url, ensure_database, test_database_name

# The five-level deployment's tests run in a process of their own (tests/test_five_levels.py):
# the levels are read when a process starts.
collect_ignore = [] if os.environ.get("ONEMAP_LEVELS", "").startswith("city") \
    else ["five_levels"]


@pytest.fixture(scope="session")
def settings() -> Settings:
    # Many test users sign in from 127.0.0.1 within a minute; the per-address limit itself
    # is checked in tests/dashboard/test_access.py with its real value.
    return load_settings().with_(login_rate="1000 per minute")


@pytest.fixture(scope="session")
def db_url(settings: Settings) -> str:
    """URL of the test database: dropped, recreated and migrated to head once per run."""
    start_server(settings)
    url = database_url(settings, test_database_name(settings))
    ensure_database(url, fresh=True)
    return url


@pytest.fixture(scope="session")
def db_engine(db_url: str) -> Iterator[Engine]:
    engine = create_engine(db_url, pool_pre_ping=True)
    migrate.upgrade(engine)
    from loaders.demo import load_demo

    load_demo(engine)  # the committed baseline every test may read (served by page tests)
    yield engine
    engine.dispose()


@pytest.fixture()
def conn(db_engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that is rolled back: tests leave no trace."""
    with db_engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


# One headless Chromium for the whole session (page tests, exported maps): Playwright's sync
# API allows a single running instance per thread.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    from onemap.system import ensure_browser

    executable = ensure_browser()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
