"""Households per grid (``household_tally``), kept by the database like the monthly tallies.

The monthly report divides by households: a province's report counted its 10 M households by
grid (0.6 s) for the units' measures and all of them again (0.5 s) for the headline, on every
build.  Statement triggers with transition tables add +1/−1 delta rows per grid as households
are added, moved or removed (grid 0: none); readers sum them, :func:`store.tally.compact`
folds them.  Read only by whole-jurisdiction readers, as ``incident_tally``.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_ROWS = """
    INSERT INTO household_tally (grid_id, n)
    SELECT coalesce(r.grid_id, 0), sum(r.sign) FROM ({rows}) r
    GROUP BY 1 HAVING sum(r.sign) <> 0 ORDER BY 1"""

_FUNCTIONS = f"""
CREATE FUNCTION onemap_tally_household() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM household_tally;
  ELSIF TG_OP = 'INSERT' THEN
    {_ROWS.format(rows="SELECT 1 AS sign, grid_id FROM new_rows")};
  ELSIF TG_OP = 'DELETE' THEN
    {_ROWS.format(rows="SELECT -1 AS sign, grid_id FROM old_rows")};
  ELSE
    {_ROWS.format(rows="SELECT -1 AS sign, grid_id FROM old_rows "
                       "UNION ALL SELECT 1, grid_id FROM new_rows")};
  END IF;
  RETURN NULL;
END
$$;
"""

_TRIGGERS = """
CREATE TRIGGER household_tally_insert AFTER INSERT ON household
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_tally_household();
CREATE TRIGGER household_tally_update AFTER UPDATE ON household
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_tally_household();
CREATE TRIGGER household_tally_delete AFTER DELETE ON household
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_tally_household();
CREATE TRIGGER household_tally_truncate AFTER TRUNCATE ON household
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_tally_household();
"""


def upgrade() -> None:
    op.execute("""
CREATE TABLE household_tally (
  id bigserial PRIMARY KEY,
  grid_id bigint NOT NULL,
  n integer NOT NULL
);
CREATE INDEX ix_household_tally_grid ON household_tally (grid_id);
ALTER TABLE household_tally ENABLE ROW LEVEL SECURITY;
CREATE POLICY onemap_scope ON household_tally
  USING ((SELECT onemap_scope_all()) AND (SELECT onemap_scope_department()) IS NULL);
INSERT INTO household_tally (grid_id, n)
  SELECT coalesce(grid_id, 0), count(*) FROM household GROUP BY 1 ORDER BY 1;
""")
    op.execute(_FUNCTIONS)
    op.execute(_TRIGGERS)


def downgrade() -> None:
    op.execute("""
DROP TRIGGER IF EXISTS household_tally_truncate ON household;
DROP TRIGGER IF EXISTS household_tally_delete ON household;
DROP TRIGGER IF EXISTS household_tally_update ON household;
DROP TRIGGER IF EXISTS household_tally_insert ON household;
DROP FUNCTION IF EXISTS onemap_tally_household();
DROP TABLE IF EXISTS household_tally;
""")
