"""Natural keys for idempotent re-loads: household and grid worker codes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("household", sa.Column("code", sa.String(64), nullable=True))
    op.create_index("ux_household_code", "household", ["code"], unique=True)
    op.add_column("grid_worker", sa.Column("code", sa.String(64), nullable=True))
    op.create_index("ux_grid_worker_code", "grid_worker", ["code"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_grid_worker_code", table_name="grid_worker")
    op.drop_column("grid_worker", "code")
    op.drop_index("ux_household_code", table_name="household")
    op.drop_column("household", "code")
