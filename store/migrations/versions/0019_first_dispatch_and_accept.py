"""A case's first dispatch (派单) and first acceptance (签收) kept on the case:
``incident.dispatched_at`` and ``incident.accepted_at``.

The measures "dispatched" and "hours to 签收" read them from the history, one probe of
``incident_event`` per case: a province's month is 830,000 cases, and those probes were two
thirds of its monthly report (6 of 9 s for the units' measures on the scale-1 province).  The
workflow sets them with the event that first makes them true (:func:`intake.service.act`),
the demo generator with its history, and this migration fills them from the history there is,
in its one transaction — so the numbers stay the ones the events give.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


_KEEP = """
CREATE FUNCTION onemap_keep_first_times() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  UPDATE incident i SET dispatched_at = least(i.dispatched_at, f.dispatched),
                        accepted_at = least(i.accepted_at, f.accepted)
  FROM (SELECT incident_id,
               min(at) FILTER (WHERE action = 'dispatch') AS dispatched,
               min(at) FILTER (WHERE action = 'accept') AS accepted
        FROM inserted WHERE action IN ('dispatch', 'accept')
        GROUP BY incident_id) f
  WHERE i.id = f.incident_id
    AND (i.dispatched_at IS DISTINCT FROM least(i.dispatched_at, f.dispatched)
         OR i.accepted_at IS DISTINCT FROM least(i.accepted_at, f.accepted));
  RETURN NULL;
END
$$;
CREATE TRIGGER incident_event_first_times AFTER INSERT ON incident_event
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_keep_first_times();
"""


def upgrade() -> None:
    op.add_column("incident", sa.Column("dispatched_at", sa.DateTime(timezone=True)))
    op.add_column("incident", sa.Column("accepted_at", sa.DateTime(timezone=True)))
    op.execute(_KEEP)
    op.execute("""
        UPDATE incident i SET dispatched_at = f.dispatched, accepted_at = f.accepted
        FROM (SELECT incident_id,
                     min(at) FILTER (WHERE action = 'dispatch') AS dispatched,
                     min(at) FILTER (WHERE action = 'accept') AS accepted
              FROM incident_event WHERE action IN ('dispatch', 'accept')
              GROUP BY incident_id) f
        WHERE f.incident_id = i.id""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS incident_event_first_times ON incident_event; "
               "DROP FUNCTION IF EXISTS onemap_keep_first_times()")
    op.drop_column("incident", "accepted_at")
    op.drop_column("incident", "dispatched_at")
