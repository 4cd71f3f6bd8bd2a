"""A fifth level: a city (市) above the districts and counties (``ONEMAP_LEVELS``).

``incident`` gets the city's frozen column ``city_id`` (NULL in a four-level deployment, with a
partial index that is empty there), and the two places in SQL that list the frozen columns read
it too: the row-level security policy (a city account sees its city's cases) and the live-change
trigger (a city wall hears of a case of any of its counties).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_HOMES = "((SELECT onemap_scope_homes())::bigint[])"


def _columns(city: bool) -> list[str]:
    return (["city_id"] if city else []) + ["county_id", "town_id", "village_id", "grid_id"]


def _incident_policy(city: bool) -> str:
    cols = _columns(city)
    homes = " OR ".join(f"{c} = ANY {_HOMES}" for c in cols)
    return ("((SELECT onemap_scope_department()) IS NULL "
            "OR department_id = (SELECT onemap_scope_department()) "
            "OR (SELECT onemap_scope_department()) = ANY (support_department_ids)) AND ("
            f"(SELECT onemap_scope_all()) OR {homes} "
            f"OR (coalesce({', '.join(reversed(cols))}) IS NULL "
            "    AND (SELECT onemap_scope_unlocated())))")


def _notify(city: bool) -> str:
    cols = _columns(city)
    unplaced = " AND ".join(f"c.{c} IS NULL" for c in cols)
    array = ", ".join(f"c.{c}" for c in cols)
    return f"""
CREATE OR REPLACE FUNCTION onemap_notify_incident() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  ids bigint[];
  unplaced boolean;
BEGIN
  SELECT array_agg(DISTINCT u), bool_or({unplaced})
    INTO ids, unplaced
  FROM changed c
  CROSS JOIN LATERAL unnest(ARRAY[{array}]) AS u
  WHERE true;
  IF ids IS NULL AND unplaced IS NULL THEN
    RETURN NULL;  -- the statement changed no row
  END IF;
  ids := array_remove(ids, NULL);
  IF unplaced OR cardinality(ids) > 200 THEN
    PERFORM pg_notify('onemap_incident', '{{"g": true}}');
  ELSE
    PERFORM pg_notify('onemap_incident', json_build_object('u', ids)::text);
  END IF;
  RETURN NULL;
END
$$"""


def _policy(rule: str) -> None:
    op.execute("DROP POLICY IF EXISTS onemap_scope ON incident")
    op.execute(f"CREATE POLICY onemap_scope ON incident USING ({rule}) WITH CHECK ({rule})")


def upgrade() -> None:
    op.add_column("incident", sa.Column("city_id", sa.BigInteger,
                                        sa.ForeignKey("unit.id", name="incident_city_id_fkey")))
    op.create_index("ix_incident_city", "incident", ["city_id"],
                    postgresql_where=sa.text("city_id IS NOT NULL"))
    _policy(_incident_policy(city=True))
    op.execute(_notify(city=True))


def downgrade() -> None:
    op.execute(_notify(city=False))
    _policy(_incident_policy(city=False))
    op.drop_index("ix_incident_city", "incident")
    op.drop_column("incident", "city_id")
