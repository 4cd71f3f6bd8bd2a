"""Live changes pushed by PostgreSQL: every statement that inserts or updates incidents sends
one NOTIFY on ``onemap_incident`` (at commit) naming the units it touched, so the app nodes'
listeners know which walls have something new, instead of every wall polling the database.

Payload: ``{"u": [unit ids of every level], "g": true}``; ``g`` (global) when a case has no
unit or a statement touched more than 200 units (then every wall looks).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_BODY = """
DECLARE
  ids bigint[];
  unplaced boolean;
BEGIN
  SELECT array_agg(DISTINCT u), bool_or(c.grid_id IS NULL AND c.village_id IS NULL
                                        AND c.town_id IS NULL AND c.county_id IS NULL)
    INTO ids, unplaced
  FROM changed c
  CROSS JOIN LATERAL unnest(ARRAY[c.county_id, c.town_id, c.village_id, c.grid_id]) AS u
  WHERE true;
  IF ids IS NULL AND unplaced IS NULL THEN
    RETURN NULL;  -- the statement changed no row
  END IF;
  ids := array_remove(ids, NULL);
  IF unplaced OR cardinality(ids) > 200 THEN
    PERFORM pg_notify('onemap_incident', '{"g": true}');
  ELSE
    PERFORM pg_notify('onemap_incident', json_build_object('u', ids)::text);
  END IF;
  RETURN NULL;
END
"""


def upgrade() -> None:
    op.execute(f"""
        CREATE FUNCTION onemap_notify_incident() RETURNS trigger LANGUAGE plpgsql AS $${_BODY}$$;
        CREATE TRIGGER incident_notify_insert AFTER INSERT ON incident
          REFERENCING NEW TABLE AS changed
          FOR EACH STATEMENT EXECUTE FUNCTION onemap_notify_incident();
        CREATE TRIGGER incident_notify_update AFTER UPDATE ON incident
          REFERENCING NEW TABLE AS changed
          FOR EACH STATEMENT EXECUTE FUNCTION onemap_notify_incident();
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS incident_notify_update ON incident; "
               "DROP TRIGGER IF EXISTS incident_notify_insert ON incident; "
               "DROP FUNCTION IF EXISTS onemap_notify_incident();")
