"""Feedback to the reporter (#16): each case reported through the intake gets a citizen token
(the link ``/r/<token>`` an SMS can carry); only the token's SHA-256 is stored.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("incident", sa.Column("citizen_token_hash", sa.String(64)))
    op.create_index("ux_incident_citizen_token", "incident", ["citizen_token_hash"],
                    unique=True, postgresql_where=sa.text("citizen_token_hash IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ux_incident_citizen_token", "incident")
    op.drop_column("incident", "citizen_token_hash")
