"""Case photos (#16): one row per stored photo of a case (the file lives under the media
directory, named by the SHA-256 of its re-encoded bytes), with the time and place the photo
itself recorded (read from its EXIF before the EXIF is stripped).  Scoped like the case.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

RULE = ("(SELECT onemap_scope_all()) OR "
        "EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_photo.incident_id)")


def upgrade() -> None:
    op.create_table(
        "incident_photo",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("incident_id", sa.BigInteger, sa.ForeignKey("incident.id"), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True)),
        sa.Column("lon", sa.Float),
        sa.Column("lat", sa.Float),
        sa.Column("uploaded_by", sa.Text, nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.UniqueConstraint("incident_id", "sha256", name="uq_incident_photo_sha"),
    )
    op.create_index("ix_incident_photo_incident", "incident_photo", ["incident_id"])
    op.execute("ALTER TABLE incident_photo ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY onemap_scope ON incident_photo USING ({RULE}) "
               f"WITH CHECK ({RULE})")


def downgrade() -> None:
    op.drop_table("incident_photo")
