"""The audit trail: append a row, search it, verify its hash chain (the SQL only).

The table is append-only (triggers refuse UPDATE, DELETE and TRUNCATE, whoever asks) and each
row's hash covers the previous row's hash and its own fields (``onemap_audit_hash``, migration
0007), so an edit made by someone who can switch the triggers off is still found by
:func:`verify`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from store.db import Bindable, rows

RESULTS = ("ok", "denied", "failed")


def append(conn: Connection, *, actor: str, role: str | None, action: str,
           result: str = "ok", object_type: str | None = None, object_id: Any = None,
           address: str | None = None, detail: dict[str, Any] | None = None) -> None:
    conn.execute(text("""
        INSERT INTO audit_log (actor, role, address, action, object_type, object_id, result,
                               detail, prev_hash, hash)
        VALUES (:actor, :role, :address, :action, :otype, :oid, :result,
                CAST(:detail AS jsonb), '', '')"""), {
        "actor": actor, "role": role, "address": address, "action": action,
        "otype": object_type, "oid": None if object_id is None else str(object_id),
        "result": result,
        "detail": None if detail is None else json.dumps(detail, ensure_ascii=False,
                                                         default=str)})


def search(db: Bindable, *, actor: str | None = None, action: str | None = None,
           object_type: str | None = None, object_id: str | None = None,
           since: datetime | None = None, until: datetime | None = None,
           result: str | None = None, limit: int = 100, offset: int = 0
           ) -> list[dict[str, Any]]:
    """Rows newest first; every filter optional (``action`` matches a prefix: ``login``
    finds ``login.ok`` and ``login.failed``)."""
    return rows(db, """
        SELECT id, at, actor, role, address, action, object_type, object_id, result, detail
        FROM audit_log
        WHERE (CAST(:actor AS text) IS NULL OR actor = :actor)
          AND (CAST(:action AS text) IS NULL OR action LIKE :action || '%')
          AND (CAST(:otype AS text) IS NULL OR object_type = :otype)
          AND (CAST(:oid AS text) IS NULL OR object_id = :oid)
          AND (CAST(:result AS text) IS NULL OR result = :result)
          AND (CAST(:since AS timestamptz) IS NULL OR at >= :since)
          AND (CAST(:until AS timestamptz) IS NULL OR at < :until)
        ORDER BY id DESC LIMIT :limit OFFSET :offset""", {
        "actor": actor, "action": action, "otype": object_type, "oid": object_id,
        "result": result, "since": since, "until": until, "limit": limit, "offset": offset})


def verify(db: Bindable) -> dict[str, Any]:
    """Walk the chain in id order: ``{"rows": n, "first_broken": id or None, "reason": …}``.
    A row is broken when its ``prev_hash`` is not the previous row's hash or its ``hash`` is
    not what its fields give."""
    found = rows(db, """
        WITH chain AS (
          SELECT a.id, a.prev_hash, a.hash,
                 lag(a.hash) OVER (ORDER BY a.id) AS expected_prev,
                 row_number() OVER (ORDER BY a.id) AS n,
                 onemap_audit_hash(a.prev_hash, a) AS recomputed
          FROM audit_log a)
        SELECT (SELECT count(*) FROM chain) AS rows,
               (SELECT min(id) FROM chain
                WHERE (n > 1 AND prev_hash IS DISTINCT FROM expected_prev)
                   OR hash IS DISTINCT FROM recomputed) AS first_broken""")[0]
    reason = None
    if found["first_broken"] is not None:
        row = rows(db, """
            SELECT a.hash = onemap_audit_hash(a.prev_hash, a) AS own_ok FROM audit_log a
            WHERE a.id = :id""", {"id": found["first_broken"]})[0]
        reason = ("its fields were changed after it was written" if not row["own_ok"]
                  else "the row before it was changed or removed")
    return {"rows": found["rows"], "first_broken": found["first_broken"], "reason": reason}
