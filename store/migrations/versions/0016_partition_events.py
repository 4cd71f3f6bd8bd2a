"""Partitioned history (#18): ``incident_event`` is partitioned by month of ``at``.

The table is converted in place, in the migration's one transaction: the old table is renamed,
a partitioned one takes its name (same columns, defaults, checks, sequence, foreign key,
indexes, triggers, row-level security and grants), monthly partitions are created from the
first month of data (24 months back on an empty table) to 12 months ahead, plus a DEFAULT
partition for anything outside them, every row is copied, and the old table dropped — so a
failure leaves the database as it was.  ``onemap_event_partitions(lo, hi)`` creates missing
months; the escalation scheduler and the loaders call it (:mod:`store.partitions`).

What changes for the schema: the primary key is ``(id, at)`` (a partitioned table's unique
keys must hold the partition key; ``id`` still comes from its sequence alone), and the unique
index on an action's Idempotency-Key ``(incident_id, client_key)`` becomes a plain index: an
action takes the case's row lock before it looks for its key (``intake.service.act``), which
is what keeps a resent action single.

``incident`` itself stays one table: PostgreSQL cannot enforce ``(source, external_id)``,
the idempotency key or the citizen token as unique across partitions without the partition
key, and those are what make a report stored exactly once.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ENSURE = """
CREATE FUNCTION onemap_event_partitions(lo timestamptz, hi timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  m date := date_trunc('month', lo AT TIME ZONE 'UTC')::date;
  made integer := 0;
  name text;
BEGIN
  WHILE m <= date_trunc('month', hi AT TIME ZONE 'UTC')::date LOOP
    name := format('incident_event_%s', to_char(m, 'YYYY_MM'));
    IF to_regclass(name) IS NULL THEN
      BEGIN
        EXECUTE format('CREATE TABLE %I PARTITION OF incident_event FOR VALUES FROM (%L) TO (%L)',
                       name, (m::timestamp AT TIME ZONE 'UTC'),
                       ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
        made := made + 1;
      EXCEPTION WHEN check_violation THEN
        -- rows of that month already sit in the DEFAULT partition: leave them there
        RAISE NOTICE 'month % stays in incident_event_default (it holds rows of it)', m;
      END;
    END IF;
    m := m + interval '1 month';
  END LOOP;
  RETURN made;
END $$;
"""


def _move(partitioned: bool) -> None:
    """Rebuild ``incident_event`` as a partitioned (or, back, a plain) table, keeping all."""
    bind = op.get_bind()
    triggers = [r[0] for r in bind.execute(sa.text(
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger "
        "WHERE tgrelid = 'incident_event'::regclass AND NOT tgisinternal"))]
    policies = bind.execute(sa.text(
        "SELECT policyname, qual, with_check FROM pg_policies "
        "WHERE tablename = 'incident_event'")).all()
    grants = [r[0] for r in bind.execute(sa.text(
        "SELECT format('GRANT %s ON incident_event TO %I', string_agg(privilege_type, ', '), "
        "grantee) FROM information_schema.role_table_grants "
        "WHERE table_name = 'incident_event' AND grantee <> current_user "
        "GROUP BY grantee"))]
    forced = bind.execute(sa.text(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
        "WHERE oid = 'incident_event'::regclass")).one()
    op.execute("ALTER TABLE incident_event RENAME TO incident_event_old")
    for old in ("incident_event_pkey", "incident_event_incident_id_fkey"):
        op.execute(f"ALTER TABLE incident_event_old RENAME CONSTRAINT {old} TO {old}_old")
    for index in ("ix_incident_event_incident", "ix_incident_event_escalate_at",
                  "ux_incident_event_client_key"):
        op.execute(f"ALTER INDEX IF EXISTS {index} RENAME TO {index}_old")
    how = " PARTITION BY RANGE (at)" if partitioned else ""
    op.execute("CREATE TABLE incident_event (LIKE incident_event_old INCLUDING DEFAULTS "
               f"INCLUDING CONSTRAINTS INCLUDING STORAGE){how}")
    key = "(id, at)" if partitioned else "(id)"
    op.execute(f"ALTER TABLE incident_event ADD CONSTRAINT incident_event_pkey PRIMARY KEY {key}")
    op.execute("ALTER TABLE incident_event ADD CONSTRAINT incident_event_incident_id_fkey "
               "FOREIGN KEY (incident_id) REFERENCES incident (id)")
    op.execute("CREATE INDEX ix_incident_event_incident ON incident_event (incident_id, at)")
    op.execute("CREATE INDEX ix_incident_event_escalate_at ON incident_event (at) "
               "WHERE action = 'escalate'")
    unique = "" if partitioned else "UNIQUE "
    name = "ix_incident_event_client_key" if partitioned else "ux_incident_event_client_key"
    op.execute(f"CREATE {unique}INDEX {name} ON incident_event (incident_id, client_key) "
               "WHERE client_key IS NOT NULL")
    if partitioned:
        op.execute(ENSURE)
        op.execute("""
            SELECT onemap_event_partitions(
                least(coalesce((SELECT min(at) FROM incident_event_old), now()),
                      now() - interval '24 months'),
                now() + interval '12 months')""")
        op.execute("CREATE TABLE incident_event_default PARTITION OF incident_event DEFAULT")
    else:
        op.execute("DROP FUNCTION IF EXISTS onemap_event_partitions(timestamptz, timestamptz)")
    op.execute("INSERT INTO incident_event SELECT * FROM incident_event_old")
    op.execute("ALTER SEQUENCE incident_event_id_seq OWNED BY incident_event.id")
    op.execute("DROP TABLE incident_event_old CASCADE")  # with its partitions, going back
    for definition in triggers:
        op.execute(definition)
    if forced[0]:
        op.execute("ALTER TABLE incident_event ENABLE ROW LEVEL SECURITY")
    if forced[1]:
        op.execute("ALTER TABLE incident_event FORCE ROW LEVEL SECURITY")
    for name_, qual, check in policies:
        check_sql = f" WITH CHECK ({check})" if check else ""
        op.execute(f"CREATE POLICY {name_} ON incident_event USING ({qual}){check_sql}")
    for grant in grants:
        op.execute(grant)


def upgrade() -> None:
    _move(partitioned=True)


def downgrade() -> None:
    _move(partitioned=False)
