"""The frozen unit columns of ``incident`` indexed with the receipt time: ``(county_id,
received_at)`` and likewise for the city, town, village and grid.

Nearly every read of cases names both — a unit (or an account's scope) and a period — and a
unit's cases spread over all the months it has.  With an index on the unit alone, PostgreSQL
either read every case of the unit (on the scale-1 province, a province-wide choropleth of 86
counties over 7 days visited all 10 M cases: 4.5 s) or every case of the period in the whole
province and then the unit's; with both columns it reads just the unit's cases of the period.
The indexes keep their names and still serve lookups by the unit alone (their first column).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_LEVELS = ("city", "county", "town", "village", "grid")


def _where(level: str) -> dict:
    return ({"postgresql_where": sa.text("city_id IS NOT NULL")} if level == "city" else {})


def upgrade() -> None:
    for level in _LEVELS:
        op.drop_index(f"ix_incident_{level}", "incident")
        op.create_index(f"ix_incident_{level}", "incident", [f"{level}_id", "received_at"],
                        **_where(level))


def downgrade() -> None:
    for level in _LEVELS:
        op.drop_index(f"ix_incident_{level}", "incident")
        op.create_index(f"ix_incident_{level}", "incident", [f"{level}_id"], **_where(level))
