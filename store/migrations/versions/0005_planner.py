"""The grid planner: a log of saved boundary edits, and unit versions looked up by code.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unit_change",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("parent_id", sa.BigInteger, sa.ForeignKey("unit.id")),
        sa.Column("kind", sa.Text),
        sa.Column("removed_ids", postgresql.ARRAY(sa.BigInteger)),
        sa.Column("added_ids", postgresql.ARRAY(sa.BigInteger)),
        sa.Column("note", sa.Text),
        sa.Column("summary", postgresql.JSONB),
    )
    op.create_index("ix_unit_change_parent_at", "unit_change", ["parent_id", "at"])
    # Every version of a code, in order (history, grid_at, the next version number).
    op.create_index("ix_unit_code_valid_from", "unit", ["code", "valid_from"])


def downgrade() -> None:
    op.drop_index("ix_unit_code_valid_from", table_name="unit")
    op.drop_index("ix_unit_change_parent_at", table_name="unit_change")
    op.drop_table("unit_change")
