"""Migrations: from an empty database to head and back, and in step with the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from store import migrate
from store.engine import ensure_database
from store.models import Base

pytestmark = pytest.mark.db

TABLES = {"unit", "household", "household_person", "camera", "department", "grid_worker",
          "incident", "incident_event", "api_key", "unit_change"}


@pytest.fixture()
def scratch_engine(db_url):
    url = make_url(db_url)
    url = url.set(database=f"{url.database}_migrations").render_as_string(hide_password=False)
    ensure_database(url, fresh=True)
    engine = create_engine(url)
    yield engine
    engine.dispose()


def test_upgrade_from_empty_then_downgrade_to_base(scratch_engine):
    assert migrate.current_revision(scratch_engine) is None
    migrate.upgrade(scratch_engine)
    assert migrate.current_revision(scratch_engine) == migrate.head_revision(scratch_engine)
    inspector = inspect(scratch_engine)
    assert TABLES <= set(inspector.get_table_names())
    gist = [ix["name"] for ix in inspector.get_indexes("unit") if ix["name"] == "idx_unit_geom"]
    assert gist == ["idx_unit_geom"]  # exactly one spatial index, not two

    migrate.upgrade(scratch_engine)  # at head: a no-op, not an error

    migrate.downgrade(scratch_engine, "base")
    assert migrate.current_revision(scratch_engine) is None
    assert not TABLES & set(inspect(scratch_engine).get_table_names())

    migrate.upgrade(scratch_engine)  # and up again after a downgrade
    assert TABLES <= set(inspect(scratch_engine).get_table_names())


def test_models_and_migrations_agree(db_engine):
    """Autogenerate finds nothing to do: the models describe the migrated schema."""
    from store.migrate import include_object

    with db_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_object": include_object, "compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
