"""Bulk jobs (#18): a job record and its id ranges, so a partitioned job run on Dask resumes
where it stopped instead of doing (or writing) anything twice.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bulk_job",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("params", JSONB, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", _TS),
    )
    op.create_index("ix_bulk_job_kind_open", "bulk_job", ["kind"],
                    postgresql_where=sa.text("finished_at IS NULL"))
    op.create_table(
        "bulk_job_part",
        sa.Column("job_id", sa.BigInteger, sa.ForeignKey("bulk_job.id"), primary_key=True),
        sa.Column("part", sa.Integer, primary_key=True),
        sa.Column("lo", sa.BigInteger, nullable=False),
        sa.Column("hi", sa.BigInteger, nullable=False),
        sa.Column("rows", sa.Integer),
        sa.Column("changed", sa.Integer),
        sa.Column("worker", sa.Text),
        sa.Column("done_at", _TS),
    )


def downgrade() -> None:
    op.drop_table("bulk_job_part")
    op.drop_index("ix_bulk_job_kind_open", table_name="bulk_job")
    op.drop_table("bulk_job")
