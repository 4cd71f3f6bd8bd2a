"""Initial schema: units, households (+ personal data), cameras, departments, grid workers,
incidents and their append-only history.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SOURCES = "('grid_app', 'hotline_12345', 'citizen_app', 'police_110', 'petition', 'court', 'other')"


def _gist(table: str, column: str = "geom") -> None:
    op.create_index(f"idx_{table}_{column}", table, [column], postgresql_using="gist")


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    op.create_table(
        "unit",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), sa.ForeignKey("unit.id"), nullable=True),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False),
                  nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("level >= 0", name="ck_unit_level"),
        sa.CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="ck_unit_validity"),
    )
    _gist("unit")
    op.create_index("ux_unit_code_current", "unit", ["code"], unique=True,
                    postgresql_where=sa.text("valid_to IS NULL"))
    op.create_index("ix_unit_parent", "unit", ["parent_id"])
    op.create_index("ix_unit_level", "unit", ["level"])

    op.create_table(
        "household",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("building", sa.Text()),
        sa.Column("room", sa.Text()),
        sa.Column("size", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column("registered", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("floating", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("is_rental", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("is_elderly_alone", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("is_special_care", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("grid_id", sa.BigInteger(), sa.ForeignKey("unit.id")),
        sa.CheckConstraint("size >= 0 AND registered >= 0 AND floating >= 0",
                           name="ck_household_counts"),
    )
    _gist("household")
    op.create_index("ix_household_grid", "household", ["grid_id"])

    op.create_table(
        "household_person",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("household_id", sa.BigInteger(),
                  sa.ForeignKey("household.id", ondelete="CASCADE"), nullable=False),
        sa.Column("is_head", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text()),
        sa.Column("id_number", sa.Text()),
    )
    op.create_index("ix_household_person_household", "household_person", ["household_id"])

    op.create_table(
        "camera",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), server_default="online", nullable=False),
        sa.Column("stream_url", sa.Text()),
        sa.Column("heading_deg", sa.Float()),
        sa.Column("fov_deg", sa.Float()),
        sa.Column("range_m", sa.Float()),
        sa.Column("grid_id", sa.BigInteger(), sa.ForeignKey("unit.id")),
        sa.CheckConstraint("kind IN ('xueliang', 'cuncuntong', 'social')", name="ck_camera_kind"),
        sa.CheckConstraint("status IN ('online', 'offline')", name="ck_camera_status"),
    )
    _gist("camera")
    op.create_index("ix_camera_grid", "camera", ["grid_id"])

    op.create_table(
        "department",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text()),
    )

    op.create_table(
        "grid_worker",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text()),
        sa.Column("grid_id", sa.BigInteger(), sa.ForeignKey("unit.id")),
        sa.Column("full_time", sa.Boolean(), server_default="true", nullable=False),
    )
    op.create_index("ix_grid_worker_grid", "grid_worker", ["grid_id"])

    op.create_table(
        "incident",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("subcategory", sa.Text()),
        sa.Column("severity", sa.String(8), server_default="medium", nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=True),
        sa.Column("address", sa.Text()),
        sa.Column("location_reason", sa.String(16)),
        sa.Column("reported_at", sa.DateTime(timezone=True)),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("status", sa.String(32), server_default="received", nullable=False),
        sa.Column("grid_id", sa.BigInteger(), sa.ForeignKey("unit.id")),
        sa.Column("village_id", sa.BigInteger(), sa.ForeignKey("unit.id")),
        sa.Column("town_id", sa.BigInteger(), sa.ForeignKey("unit.id")),
        sa.Column("county_id", sa.BigInteger(), sa.ForeignKey("unit.id")),
        sa.Column("handling_level", sa.SmallInteger()),
        sa.Column("department_id", sa.BigInteger(), sa.ForeignKey("department.id")),
        sa.Column("grid_worker_id", sa.BigInteger(), sa.ForeignKey("grid_worker.id")),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("rating", sa.SmallInteger()),
        sa.UniqueConstraint("source", "external_id", name="uq_incident_source_external_id"),
        sa.CheckConstraint(f"source IN {SOURCES}", name="ck_incident_source"),
        sa.CheckConstraint("severity IN ('high', 'medium', 'low')", name="ck_incident_severity"),
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="ck_incident_rating"),
    )
    _gist("incident")
    op.create_index("ix_incident_status", "incident", ["status"])
    op.create_index("ix_incident_received_at", "incident", ["received_at"])
    op.create_index("ix_incident_grid", "incident", ["grid_id"])
    op.create_index("ix_incident_town", "incident", ["town_id"])
    op.create_index("ix_incident_due_open", "incident", ["due_at"],
                    postgresql_where=sa.text("closed_at IS NULL"))

    op.create_table(
        "incident_event",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("incident_id", sa.BigInteger(), sa.ForeignKey("incident.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(32)),
        sa.Column("to_status", sa.String(32)),
        sa.Column("note", sa.Text()),
    )
    op.create_index("ix_incident_event_incident", "incident_event", ["incident_id", "at"])
    op.execute("""
        CREATE FUNCTION incident_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'incident_event is append-only: % is not allowed', TG_OP
                USING ERRCODE = 'restrict_violation';
        END $$;
    """)
    op.execute("""
        CREATE TRIGGER incident_event_append_only BEFORE UPDATE OR DELETE ON incident_event
        FOR EACH ROW EXECUTE FUNCTION incident_event_append_only();
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS incident_event_append_only ON incident_event")
    op.execute("DROP FUNCTION IF EXISTS incident_event_append_only()")
    for table in ("incident_event", "incident", "grid_worker", "department", "camera",
                  "household_person", "household", "unit"):
        op.drop_table(table)
