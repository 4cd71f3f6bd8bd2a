"""Row-level security and the spatial index (#15): PostgreSQL uses a condition as an index
condition under row-level security only when its operator is LEAKPROOF, and PostGIS does not
mark its bounding-box operators so — every ``geom && box`` of the app's role became a
sequential scan (the near-duplicate check, the wall's layers).  The bounding-box comparisons
raise no error that depends on a row's value (only for mixed SRIDs, which the schema's typmod
forbids), so they are marked LEAKPROOF here.  That needs a superuser: without one the
migration says so and goes on (the app stays correct, only slower).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from alembic import op
from sqlalchemy import text

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

FUNCTIONS = ("geometry_overlaps(geometry, geometry)", "geometry_within(geometry, geometry)",
             "geometry_contains(geometry, geometry)", "geography_overlaps(geography, geography)")


def _superuser() -> bool:
    return bool(op.get_bind().scalar(text(
        "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")))


def _set(value: str) -> None:
    if not _superuser():
        print("[onemap] migration 0009: not a superuser, so PostGIS's bounding-box operators "
              "stay non-LEAKPROOF; spatial queries of the app role will not use the spatial "
              "index (ask the DBA to run the ALTER FUNCTION … LEAKPROOF of this migration)")
        return
    for fn in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {fn} {value}")


def upgrade() -> None:
    _set("LEAKPROOF")


def downgrade() -> None:
    _set("NOT LEAKPROOF")
