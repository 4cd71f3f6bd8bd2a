"""Channels from the one registry: the incident source constraint is built from
``geo.catalog.SOURCES`` (a new channel = one registry entry + a migration like this one).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from alembic import op

from geo.catalog import SOURCES

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The channels of 0001, for the way back.
INITIAL = ("grid_app", "hotline_12345", "citizen_app", "police_110", "petition", "court", "other")


def _constraint(codes) -> None:
    op.drop_constraint("ck_incident_source", "incident", type_="check")
    op.create_check_constraint("ck_incident_source", "incident",
                               f"source IN ({', '.join(repr(c) for c in codes)})")


def upgrade() -> None:
    _constraint(tuple(SOURCES))


def downgrade() -> None:
    _constraint(INITIAL)
