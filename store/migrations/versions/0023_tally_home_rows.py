"""A desk reads its own home units' rows of the monthly tallies.

Until now only whole-jurisdiction readers could read ``incident_tally``: a county commander's
monthly report read its county's cases (2.4 s warm at the scale-1 province) for a headline, a
trend and top categories that one tally row per month answers.  A row of a desk's *home* unit
counts only cases that the desk sees (a case is visible to a desk when one of its frozen unit
columns is a home unit, and that row's cases have the home in that column), so exactly those
rows — of a desk without a department — are now visible to it as well.  Rows of the units
below its homes stay hidden: a unit moved under another parent keeps its cases' old frozen
ancestors, so they need not all be the desk's.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04
"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
DROP POLICY onemap_scope ON incident_tally;
CREATE POLICY onemap_scope ON incident_tally
  USING ((SELECT onemap_scope_department()) IS NULL
         AND ((SELECT onemap_scope_all())
              OR unit_id = ANY ((SELECT onemap_scope_homes())::bigint[])));
""")


def downgrade() -> None:
    op.execute("""
DROP POLICY onemap_scope ON incident_tally;
CREATE POLICY onemap_scope ON incident_tally
  USING ((SELECT onemap_scope_all()) AND (SELECT onemap_scope_department()) IS NULL);
""")
