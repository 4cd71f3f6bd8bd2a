"""The command wall: "handled today" looks incidents up by the time they were finished.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_incident_closed_at", "incident", ["closed_at"],
                    postgresql_where=sa.text("closed_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_incident_closed_at", table_name="incident")
