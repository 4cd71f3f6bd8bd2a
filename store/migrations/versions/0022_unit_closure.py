"""Every unit's ancestors kept in a table (``unit_closure``), so an actor's scope is one index
read instead of a walk down the tree in every statement.

Row-level security on the grid-bound tables (households, persons, grid workers, cameras) asks
:func:`onemap_scope_units` for every unit under the actor's home units.  It walked the tree
down level by level (a recursive query, once per statement): 1.6 ms for 玉门's 647 units, more
for a prefecture's districts — and an intake answer joins the grid worker, so every report paid
it.  ``unit_closure(ancestor_id, unit_id)`` holds each unit with itself and each of its
ancestors (every version, as the walk did: it followed ``parent_id`` whatever the validity),
and the function reads it through the primary key (a county of the scale-0.1 province:
2.4 ms → 0.25 ms inside the server, `EXPLAIN ANALYZE`; from the client, `python
bench/scope.py`).

Kept by statement triggers with transition tables on ``unit``: new units get their chain up
through ``parent_id`` (a whole province in one COPY too), a unit whose parent changes gets its
subtree's chains recomputed, deleted units leave, TRUNCATE empties it.  Only those triggers
(SECURITY DEFINER) write it; the application's role reads it.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

APP_ROLE = "onemap_app"

#: every (ancestor, unit) of the units in ``{start}`` (a query of ids), each unit with itself
_CHAINS = """
    WITH RECURSIVE up(unit_id, ancestor_id) AS (
        SELECT u.id, u.id FROM unit u WHERE u.id IN ({start})
        UNION
        SELECT up.unit_id, p.parent_id FROM up JOIN unit p ON p.id = up.ancestor_id
        WHERE p.parent_id IS NOT NULL)
    INSERT INTO unit_closure (ancestor_id, unit_id)
    SELECT ancestor_id, unit_id FROM up ORDER BY 1, 2 ON CONFLICT DO NOTHING"""

_FUNCTIONS = f"""
CREATE FUNCTION onemap_unit_closure() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  moved bigint[];
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM unit_closure;
  ELSIF TG_OP = 'INSERT' THEN
    {_CHAINS.format(start="SELECT id FROM new_rows")};
  ELSIF TG_OP = 'DELETE' THEN
    DELETE FROM unit_closure c USING old_rows o WHERE c.unit_id = o.id OR c.ancestor_id = o.id;
  ELSE
    -- the units whose parent changed, and everything under them: their chains recomputed
    SELECT array_agg(DISTINCT c.unit_id) INTO moved FROM unit_closure c
    WHERE c.ancestor_id IN (SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
                            WHERE n.parent_id IS DISTINCT FROM o.parent_id);
    IF moved IS NOT NULL THEN
      DELETE FROM unit_closure WHERE unit_id = ANY (moved);
      {_CHAINS.format(start="SELECT unnest(moved)")};
    END IF;
  END IF;
  RETURN NULL;
END
$$;
-- (a unit under two nested home units is listed twice: the policies only ask membership)
CREATE OR REPLACE FUNCTION onemap_scope_units() RETURNS bigint[] LANGUAGE sql STABLE AS $$
  SELECT ARRAY(SELECT c.unit_id FROM unit_closure c
               WHERE c.ancestor_id = ANY (onemap_scope_homes())) $$;
"""

_TRIGGERS = """
CREATE TRIGGER unit_closure_insert AFTER INSERT ON unit
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_unit_closure();
CREATE TRIGGER unit_closure_update AFTER UPDATE ON unit
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_unit_closure();
CREATE TRIGGER unit_closure_delete AFTER DELETE ON unit
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_unit_closure();
CREATE TRIGGER unit_closure_truncate AFTER TRUNCATE ON unit
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_unit_closure();
"""

#: the function as migration 0007 made it: the walk down the tree
_WALK = """
CREATE OR REPLACE FUNCTION onemap_scope_units() RETURNS bigint[] LANGUAGE sql STABLE AS $$
  WITH RECURSIVE tree(id) AS (
    SELECT u.id FROM unit u WHERE u.id = ANY (onemap_scope_homes())
    UNION
    SELECT c.id FROM unit c JOIN tree t ON c.parent_id = t.id)
  SELECT coalesce(array_agg(id), '{}') FROM tree $$;
"""


def upgrade() -> None:
    op.execute(f"""
CREATE TABLE unit_closure (
  ancestor_id bigint NOT NULL,
  unit_id bigint NOT NULL,
  PRIMARY KEY (ancestor_id, unit_id)
);
CREATE INDEX ix_unit_closure_unit ON unit_closure (unit_id);
{_CHAINS.format(start="SELECT id FROM unit")};
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    GRANT SELECT ON unit_closure TO {APP_ROLE};
    REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON unit_closure FROM {APP_ROLE};
  END IF;
END $$;
""")
    op.execute(_FUNCTIONS)
    op.execute(_TRIGGERS)


def downgrade() -> None:
    op.execute(_WALK)
    op.execute("""
DROP TRIGGER IF EXISTS unit_closure_truncate ON unit;
DROP TRIGGER IF EXISTS unit_closure_delete ON unit;
DROP TRIGGER IF EXISTS unit_closure_update ON unit;
DROP TRIGGER IF EXISTS unit_closure_insert ON unit;
DROP FUNCTION IF EXISTS onemap_unit_closure();
DROP TABLE IF EXISTS unit_closure;
""")
