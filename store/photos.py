"""Case photos: the rows (files are written by :mod:`intake.photos`).  Reads go through the
case's row-level security, so a photo of a case outside the actor's scope is not found."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from store.db import Bindable, rows


def insert_photo(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    """Store a photo row (once per case and content); returns the stored row."""
    row = conn.execute(text("""
        INSERT INTO incident_photo (incident_id, sha256, width, height, bytes, taken_at, lon,
                                    lat, uploaded_by)
        VALUES (:incident_id, :sha256, :width, :height, :bytes, :taken_at, :lon, :lat,
                :uploaded_by)
        ON CONFLICT (incident_id, sha256) DO NOTHING
        RETURNING id, incident_id, sha256, width, height, bytes, taken_at, lon, lat,
                  uploaded_by, uploaded_at, true AS created"""), values).mappings().first()
    if row is not None:
        return dict(row)
    return {**photo(conn, values["incident_id"], values["sha256"]), "created": False}


def photos_of(db: Bindable, incident_id: int) -> list[dict[str, Any]]:
    return rows(db, """
        SELECT id, incident_id, sha256, width, height, bytes, taken_at, lon, lat, uploaded_by,
               uploaded_at FROM incident_photo WHERE incident_id = :i ORDER BY id""",
                {"i": incident_id})


def photo(db: Bindable, incident_id: int, sha256: str) -> dict[str, Any] | None:
    found = rows(db, """
        SELECT p.id, p.incident_id, p.sha256, p.width, p.height, p.bytes, p.taken_at, p.lon,
               p.lat, p.uploaded_by, p.uploaded_at
        FROM incident_photo p JOIN incident i ON i.id = p.incident_id
        WHERE p.incident_id = :i AND p.sha256 = :s""", {"i": incident_id, "s": sha256})
    return found[0] if found else None
