"""催办 / 督办 (#16): how often a case was urged, and the deadline of its supervision.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("incident", sa.Column("urged_count", sa.SmallInteger, nullable=False,
                                        server_default="0"))
    op.add_column("incident", sa.Column("supervised_due", sa.DateTime(timezone=True)))
    op.create_index("ix_incident_supervised", "incident", ["supervised_due"],
                    postgresql_where=sa.text("supervised_due IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_incident_supervised", "incident")
    op.drop_column("incident", "supervised_due")
    op.drop_column("incident", "urged_count")
