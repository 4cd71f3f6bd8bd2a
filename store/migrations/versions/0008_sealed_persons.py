"""Personal data at rest (#15): phones and ID numbers of ``household_person`` are sealed with
AES-256-GCM by the application (key file ``var/keys/data.key``, outside the database), and the
phone is also kept as a keyed hash for lookups.  Existing rows are sealed in place.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PHONE, ID_NUMBER = "household_person.phone", "household_person.id_number"


def _var_dir() -> str:
    from onemap.settings import load_settings

    return load_settings().var_dir


def upgrade() -> None:
    from onemap import crypto

    op.add_column("household_person", sa.Column("phone_sealed", sa.LargeBinary))
    op.add_column("household_person", sa.Column("id_number_sealed", sa.LargeBinary))
    op.add_column("household_person", sa.Column("phone_hash", sa.String(64)))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, phone, id_number FROM household_person "
                                "WHERE phone IS NOT NULL OR id_number IS NOT NULL")).all()
    if rows:
        var_dir = _var_dir()
        conn.execute(sa.text("""
            UPDATE household_person SET phone_sealed = :p, id_number_sealed = :i,
                   phone_hash = :h WHERE id = :id"""), [
            {"id": r.id, "p": crypto.seal(var_dir, r.phone, PHONE),
             "i": crypto.seal(var_dir, r.id_number, ID_NUMBER),
             "h": crypto.lookup_hash(var_dir, r.phone)} for r in rows])
    op.drop_column("household_person", "phone")
    op.drop_column("household_person", "id_number")
    op.create_index("ix_household_person_phone_hash", "household_person", ["phone_hash"])


def downgrade() -> None:
    from onemap import crypto

    op.add_column("household_person", sa.Column("phone", sa.Text))
    op.add_column("household_person", sa.Column("id_number", sa.Text))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, phone_sealed, id_number_sealed "
                                "FROM household_person WHERE phone_sealed IS NOT NULL "
                                "OR id_number_sealed IS NOT NULL")).all()
    if rows:
        var_dir = _var_dir()
        conn.execute(sa.text("UPDATE household_person SET phone = :p, id_number = :i "
                             "WHERE id = :id"), [
            {"id": r.id, "p": crypto.unseal(var_dir, r.phone_sealed, PHONE),
             "i": crypto.unseal(var_dir, r.id_number_sealed, ID_NUMBER)} for r in rows])
    op.drop_index("ix_household_person_phone_hash", "household_person")
    op.drop_column("household_person", "phone_hash")
    op.drop_column("household_person", "id_number_sealed")
    op.drop_column("household_person", "phone_sealed")
