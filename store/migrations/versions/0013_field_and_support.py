"""Supporting departments of a dispatch (双派单: one lead, any supporting), and what the field
brings to a case's history: the GPS of a check-in (到场) and the client's key of an action
(so an action a phone sends twice, after a lost answer, is stored once).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_HOMES = "((SELECT onemap_scope_homes())::bigint[])"


def _incident_policy(departments: str) -> str:
    return (f"((SELECT onemap_scope_department()) IS NULL OR {departments}) AND ("
            "(SELECT onemap_scope_all()) "
            f"OR county_id = ANY {_HOMES} OR town_id = ANY {_HOMES} "
            f"OR village_id = ANY {_HOMES} OR grid_id = ANY {_HOMES} "
            "OR (coalesce(grid_id, village_id, town_id, county_id) IS NULL "
            "    AND (SELECT onemap_scope_unlocated())))")


OLD = _incident_policy("department_id = (SELECT onemap_scope_department())")
NEW = _incident_policy("department_id = (SELECT onemap_scope_department()) "
                       "OR (SELECT onemap_scope_department()) = ANY (support_department_ids)")


def _policy(rule: str) -> None:
    op.execute("DROP POLICY IF EXISTS onemap_scope ON incident")
    op.execute(f"CREATE POLICY onemap_scope ON incident USING ({rule}) WITH CHECK ({rule})")


def upgrade() -> None:
    op.add_column("incident", sa.Column("support_department_ids",
                                        sa.ARRAY(sa.BigInteger), nullable=False,
                                        server_default="{}"))
    op.add_column("incident_event", sa.Column("lon", sa.Float))
    op.add_column("incident_event", sa.Column("lat", sa.Float))
    op.add_column("incident_event", sa.Column("client_key", sa.String(200)))
    op.create_index("ux_incident_event_client_key", "incident_event",
                    ["incident_id", "client_key"], unique=True,
                    postgresql_where=sa.text("client_key IS NOT NULL"))
    _policy(NEW)


def downgrade() -> None:
    _policy(OLD)
    op.drop_index("ux_incident_event_client_key", "incident_event")
    for column in ("client_key", "lat", "lon"):
        op.drop_column("incident_event", column)
    op.drop_column("incident", "support_department_ids")
