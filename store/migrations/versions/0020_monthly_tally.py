"""Monthly tallies of the cases (``incident_tally``), kept current by the database itself.

A monthly report read every case of the month, the month before and the year (its trend), and
the month's escalation events: at the scale-1 province (10 M cases, more than the machine's
memory) 28 s warm.  ``incident_tally`` holds, per local month of receipt, frozen unit of each
level and category (none at the grid level), the sums every measure of the report is a ratio
of (cases, located, resolved, on time, resolved per handling level, dispatched, urged, rated
and their ratings, accepted and the seconds to 签收, supervised cases closed late or still
open) — and, per month of the event, the escalations.

Kept by statement triggers with transition tables: an insert adds the new rows' sums, an
update adds the new rows' and subtracts the old rows' (groups that net to zero write nothing,
so most workflow steps write no tally row), a delete subtracts, a TRUNCATE empties it.  The
rows are deltas, so concurrent reports never wait on each other's tally row; readers sum them,
and :func:`store.tally.compact` folds them (the escalation scheduler does, hourly).  Every
case counts once under each of the five level columns (``city`` … ``grid``; unit 0 where the
column is NULL), so the ``city`` rows are the whole jurisdiction in any deployment.

The month is the local month in ``incident_tally_setting.tz`` (Asia/Shanghai here); a
deployment in another zone rebuilds with ``onemap db tally --rebuild`` (the readers use the
tallies only when the zones agree).  Archiving event months subtracts their escalations
(:func:`store.partitions.archive`).  Row-level security: only whole-jurisdiction actors read
the tallies; scoped desks read the cases themselves.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

#: (column, the value a case adds) — sums over non-duplicate cases
_SUMS = (
    ("n", "1"),
    ("located", "(r.geom IS NOT NULL)::int"),
    ("resolved", "(r.closed_at IS NOT NULL)::int"),
    ("on_time", "coalesce(r.closed_at IS NOT NULL AND NOT r.overdue "
                "AND r.closed_at <= r.due_at, false)::int"),
    *((f"closed_l{k}", f"coalesce(r.closed_at IS NOT NULL AND r.handling_level = {k}, "
                       "false)::int") for k in range(5)),
    ("dispatched", "(r.dispatched_at IS NOT NULL)::int"),
    ("urged", "(r.urged_count > 0)::int"),
    ("rated", "(r.rating IS NOT NULL)::int"),
    ("rating_sum", "coalesce(r.rating, 0)"),
    ("accepted", "(r.accepted_at IS NOT NULL)::int"),
    ("accept_secs", "coalesce(extract(epoch FROM r.accepted_at - r.received_at), 0)::float8"),
    ("sup_late", "coalesce(r.supervised_due IS NOT NULL AND r.closed_at > r.supervised_due, "
                 "false)::int"),
    ("sup_open", "(r.supervised_due IS NOT NULL AND r.closed_at IS NULL)::int"),
)
_INTS = [name for name, _ in _SUMS if name != "accept_secs"]
_KEY = "month, lvl, unit_id, category"
# Each level column with the category its rows keep: a grid's month has a handful of cases,
# so its rows keep none ('') — split by category they were as many as the cases, and the
# grid counts of a province's hot spots read 600,000 rows a month instead of 100,000.
_LEVELS = ("(VALUES ('city', r.city_id, r.category), ('county', r.county_id, r.category), "
           "('town', r.town_id, r.category), ('village', r.village_id, r.category), "
           "('grid', r.grid_id, '')) AS l(lvl, u, cat)")
_MONTH = "date_trunc('month', {at} AT TIME ZONE tz)::date"
_COLUMNS = ", ".join(name for name, _ in _SUMS)
_SUMMED = ", ".join(f"sum(r.sign * {expr})" for _, expr in _SUMS)
_NONZERO = " OR ".join(f"sum(r.sign * {expr}) <> 0" for _, expr in _SUMS)
_CASE_ROWS = f"""
    INSERT INTO incident_tally ({_KEY}, {_COLUMNS})
    SELECT {_MONTH.format(at="r.received_at")}, l.lvl, coalesce(l.u, 0), l.cat, {_SUMMED}
    FROM ({{rows}}) r CROSS JOIN LATERAL {_LEVELS}
    WHERE r.duplicate_of IS NULL
    GROUP BY 1, 2, 3, 4 HAVING {_NONZERO}
    ORDER BY 2, 1, 3  /* the readers' index order: a level's month on few pages */"""
_EVENT_ROWS = f"""
    INSERT INTO incident_tally ({_KEY}, escalations)
    SELECT {_MONTH.format(at="e.at")}, l.lvl, coalesce(l.u, 0), l.cat, sum(r.sign)
    FROM ({{rows}}) r JOIN {{events}} e ON e.incident_id = r.id AND e.action = 'escalate'
         CROSS JOIN LATERAL {_LEVELS}
    WHERE r.duplicate_of IS NULL
    GROUP BY 1, 2, 3, 4 HAVING sum(r.sign) <> 0"""
# The rebuild: the cases' sums and the escalations in one row per key (two INSERTs would leave
# two rows for most keys, the second only read, never folded, by everything after).
_ZEROS = ", ".join(f"0 AS {name}" for name, _ in _SUMS)
_REBUILD = f"""
    INSERT INTO incident_tally ({_KEY}, {_COLUMNS}, escalations)
    SELECT {_KEY}, {", ".join(f"sum({name})" for name, _ in _SUMS)}, sum(escalations)
    FROM (
        SELECT {_MONTH.format(at="r.received_at")} AS month, l.lvl, coalesce(l.u, 0) AS unit_id,
               l.cat AS category, {", ".join(f"sum({expr}) AS {name}" for name, expr in _SUMS)},
               0 AS escalations
        FROM incident r CROSS JOIN LATERAL {_LEVELS}
        WHERE r.duplicate_of IS NULL
        GROUP BY 1, 2, 3, 4
        UNION ALL
        SELECT {_MONTH.format(at="e.at")}, l.lvl, coalesce(l.u, 0), l.cat, {_ZEROS}, count(*)
        FROM incident r JOIN incident_event e ON e.incident_id = r.id AND e.action = 'escalate'
             CROSS JOIN LATERAL {_LEVELS}
        WHERE r.duplicate_of IS NULL
        GROUP BY 1, 2, 3, 4) x
    GROUP BY 1, 2, 3, 4
    ORDER BY 2, 1, 3"""
#: what moves a case's escalations to other tally rows
_KEYS_OF = "(x.duplicate_of IS NULL, x.category, x.city_id, x.county_id, x.town_id, " \
           "x.village_id, x.grid_id)"

_FUNCTIONS = f"""
CREATE FUNCTION onemap_tally_incident() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  tz text := (SELECT s.tz FROM incident_tally_setting s);
BEGIN
  IF TG_OP = 'INSERT' THEN
    {_CASE_ROWS.format(rows="SELECT 1 AS sign, * FROM new_rows")};
  ELSIF TG_OP = 'DELETE' THEN
    {_CASE_ROWS.format(rows="SELECT -1 AS sign, * FROM old_rows")};
  ELSE
    {_CASE_ROWS.format(rows="SELECT -1 AS sign, * FROM old_rows "
                            "UNION ALL SELECT 1, * FROM new_rows")};
    -- a case that became a duplicate, changed category or units: its escalations move too
    -- (looked for first: most updates move nothing, and the join would plan a scan)
    IF EXISTS (SELECT 1 FROM old_rows x JOIN new_rows y USING (id)
               WHERE {_KEYS_OF} IS DISTINCT FROM {_KEYS_OF.replace("x.", "y.")}) THEN
    {_EVENT_ROWS.format(rows=f'''
        SELECT -1 AS sign, x.* FROM old_rows x JOIN new_rows y USING (id)
        WHERE {_KEYS_OF} IS DISTINCT FROM {_KEYS_OF.replace("x.", "y.")}
        UNION ALL
        SELECT 1, y.* FROM old_rows x JOIN new_rows y USING (id)
        WHERE {_KEYS_OF} IS DISTINCT FROM {_KEYS_OF.replace("x.", "y.")}''',
                        events="incident_event")};
    END IF;
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION onemap_tally_event() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  tz text := (SELECT s.tz FROM incident_tally_setting s);
BEGIN
  {_EVENT_ROWS.format(
      rows="SELECT 1 AS sign, i.* FROM incident i "
           "WHERE i.id IN (SELECT incident_id FROM new_events WHERE action = 'escalate')",
      events="new_events")};
  RETURN NULL;
END
$$;

CREATE FUNCTION onemap_tally_truncate() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_TABLE_NAME = 'incident' THEN
    DELETE FROM incident_tally;
  ELSE
    UPDATE incident_tally SET escalations = 0 WHERE escalations <> 0;
  END IF;
  RETURN NULL;
END
$$;

-- Every tally row again from the cases and their history, in the zone given (a deployment
-- in another zone, or a check).
CREATE FUNCTION onemap_tally_rebuild(zone text) RETURNS bigint LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  tz text := zone;
  made bigint;
BEGIN
  PERFORM now() AT TIME ZONE zone;  -- refuses an unknown zone before anything is changed
  LOCK TABLE incident_tally IN EXCLUSIVE MODE;
  DELETE FROM incident_tally;
  UPDATE incident_tally_setting SET tz = zone, compacted_to = 0;
  {_REBUILD};
  SELECT count(*) INTO made FROM incident_tally;
  UPDATE incident_tally_setting SET compacted_to = (SELECT coalesce(max(id), 0)
                                                     FROM incident_tally);
  RETURN made;
END
$$;
"""

_TRIGGERS = """
CREATE TRIGGER incident_tally_insert AFTER INSERT ON incident
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_tally_incident();
CREATE TRIGGER incident_tally_update AFTER UPDATE ON incident
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_tally_incident();
CREATE TRIGGER incident_tally_delete AFTER DELETE ON incident
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION onemap_tally_incident();
CREATE TRIGGER incident_tally_truncate AFTER TRUNCATE ON incident
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_tally_truncate();
CREATE TRIGGER incident_event_tally AFTER INSERT ON incident_event
  REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION onemap_tally_event();
CREATE TRIGGER incident_event_tally_truncate AFTER TRUNCATE ON incident_event
  FOR EACH STATEMENT EXECUTE FUNCTION onemap_tally_truncate();
"""


def upgrade() -> None:
    ints = ",\n  ".join(f"{name} integer NOT NULL DEFAULT 0" for name in _INTS)
    op.execute(f"""
CREATE TABLE incident_tally_setting (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  tz text NOT NULL,
  compacted_to bigint NOT NULL DEFAULT 0
);
INSERT INTO incident_tally_setting (tz) VALUES ('Asia/Shanghai');
CREATE TABLE incident_tally (
  id bigserial PRIMARY KEY,
  month date NOT NULL,
  lvl text NOT NULL CHECK (lvl IN ('city', 'county', 'town', 'village', 'grid')),
  unit_id bigint NOT NULL,
  category text NOT NULL,
  {ints},
  accept_secs float8 NOT NULL DEFAULT 0,
  escalations integer NOT NULL DEFAULT 0
);
CREATE INDEX ix_incident_tally ON incident_tally (lvl, month, unit_id);
ALTER TABLE incident_tally ENABLE ROW LEVEL SECURITY;
CREATE POLICY onemap_scope ON incident_tally
  USING ((SELECT onemap_scope_all()) AND (SELECT onemap_scope_department()) IS NULL);
ALTER TABLE incident_tally_setting ENABLE ROW LEVEL SECURITY;
CREATE POLICY onemap_read ON incident_tally_setting FOR SELECT USING (true);
-- the cases still open under supervision: the one part of a month's numbers that moves
-- with the clock (督办 overdue), read from the cases
CREATE INDEX ix_incident_supervised_open ON incident (received_at)
  WHERE closed_at IS NULL AND supervised_due IS NOT NULL AND duplicate_of IS NULL;
""")
    op.execute(_FUNCTIONS)
    op.execute(_TRIGGERS)
    op.execute("SELECT onemap_tally_rebuild('Asia/Shanghai')")


def downgrade() -> None:
    op.execute("""
DROP TRIGGER IF EXISTS incident_event_tally_truncate ON incident_event;
DROP TRIGGER IF EXISTS incident_event_tally ON incident_event;
DROP TRIGGER IF EXISTS incident_tally_truncate ON incident;
DROP TRIGGER IF EXISTS incident_tally_delete ON incident;
DROP TRIGGER IF EXISTS incident_tally_update ON incident;
DROP TRIGGER IF EXISTS incident_tally_insert ON incident;
DROP FUNCTION IF EXISTS onemap_tally_rebuild(text);
DROP FUNCTION IF EXISTS onemap_tally_truncate();
DROP FUNCTION IF EXISTS onemap_tally_event();
DROP FUNCTION IF EXISTS onemap_tally_incident();
DROP INDEX IF EXISTS ix_incident_supervised_open;
DROP TABLE IF EXISTS incident_tally;
DROP TABLE IF EXISTS incident_tally_setting;
""")
