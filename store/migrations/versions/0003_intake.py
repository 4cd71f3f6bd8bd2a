"""Intake and the closed loop: idempotency, near-duplicate links, overdue marks, API keys,
the workflow's states, and an address key for locating address-only reports.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATES = ("unlocated", "received", "dispatched", "accepted", "in_progress", "escalated",
          "returned", "resolved", "rated", "reopened", "closed")

# One normalisation of Chinese addresses, used on both sides of a match: NFKC (full-width
# digits and letters), Chinese digits, 号楼/幢/座 → 栋, no trailing 室, no spaces or punctuation.
ADDRESS_KEY = r"""
CREATE FUNCTION onemap_address_key(a text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT AS $$
  SELECT regexp_replace(
           regexp_replace(
             regexp_replace(
               translate(normalize(a, NFKC), '〇零一二三四五六七八九', '00123456789'),
               '(号楼|幢|座|栋)', '栋', 'g'),
             '(室|号房|房)$', ''),
           '[[:space:][:punct:]，。、；：（）【】“”‘’《》—－]', '', 'g')
$$
"""


def upgrade() -> None:
    op.add_column("incident", sa.Column("idempotency_key", sa.Text))
    op.add_column("incident", sa.Column("request_hash", sa.String(64)))
    op.add_column("incident", sa.Column("duplicate_of", sa.BigInteger,
                                        sa.ForeignKey("incident.id")))
    op.add_column("incident", sa.Column("overdue", sa.Boolean, nullable=False,
                                        server_default="false"))
    op.add_column("incident", sa.Column("missed_due_at", sa.DateTime(timezone=True)))
    op.add_column("incident", sa.Column("updated_at", sa.DateTime(timezone=True),
                                        nullable=False, server_default=sa.func.now()))
    op.add_column("incident", sa.Column("reporter", postgresql.JSONB))
    op.add_column("incident", sa.Column("media_urls", postgresql.ARRAY(sa.Text)))
    op.execute("UPDATE incident SET overdue = true WHERE closed_at > due_at")
    op.execute("UPDATE incident SET updated_at = coalesce(closed_at, received_at)")
    op.create_index("ux_incident_idempotency_key", "incident", ["idempotency_key"],
                    unique=True, postgresql_where=sa.text("idempotency_key IS NOT NULL"))
    op.create_index("ix_incident_updated_at", "incident", ["updated_at"])
    op.create_index("ix_incident_duplicate_of", "incident", ["duplicate_of"],
                    postgresql_where=sa.text("duplicate_of IS NOT NULL"))
    op.create_index("ix_incident_village", "incident", ["village_id"])
    op.create_index("ix_incident_county", "incident", ["county_id"])
    op.create_check_constraint(
        "ck_incident_status", "incident",
        f"status IN ({', '.join(repr(s) for s in STATES)})")
    op.create_check_constraint("ck_incident_level", "incident",
                               "handling_level IS NULL OR handling_level >= 0")

    op.create_table(
        "api_key",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False, server_default="reporter"),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("role IN ('reporter', 'operator')", name="ck_api_key_role"),
    )

    # The measures count escalations by time (store/measures.py).
    op.create_index("ix_incident_event_escalate_at", "incident_event", ["at"],
                    postgresql_where=sa.text("action = 'escalate'"))

    op.execute(ADDRESS_KEY)
    op.execute("CREATE INDEX ix_household_address ON household (address)")
    op.execute("CREATE INDEX ix_household_address_key ON household "
               "(reverse(onemap_address_key(address)) text_pattern_ops)")
    op.execute("ANALYZE incident")
    op.execute("ANALYZE household")


def downgrade() -> None:
    op.execute("DROP INDEX ix_household_address_key")
    op.execute("DROP INDEX ix_household_address")
    op.execute("DROP FUNCTION onemap_address_key(text)")
    op.drop_index("ix_incident_event_escalate_at", table_name="incident_event")
    op.drop_table("api_key")
    op.drop_constraint("ck_incident_level", "incident")
    op.drop_constraint("ck_incident_status", "incident")
    for name in ("ix_incident_county", "ix_incident_village", "ix_incident_duplicate_of",
                 "ix_incident_updated_at", "ux_incident_idempotency_key"):
        op.drop_index(name, table_name="incident")
    for column in ("media_urls", "reporter", "updated_at", "missed_due_at", "overdue",
                   "duplicate_of", "request_hash", "idempotency_key"):
        op.drop_column("incident", column)
