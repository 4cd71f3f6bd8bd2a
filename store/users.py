"""Accounts, sessions and personal tokens: the SQL only (rules are in accounts.service).

Sessions and tokens are stored by SHA-256 of their random secret; the secret itself exists
only in the user's cookie or in the one answer that showed the token.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from store.db import Bindable, connection, rows

USER_COLUMNS = ("username", "display_name", "phone", "role", "unit_code", "department_id",
                "active", "password_hash", "password_changed_at", "must_change_password",
                "failed_logins", "locked_until", "totp_secret", "totp_enabled",
                "last_login_at")
_PUBLIC = ("u.id, u.username, u.display_name, u.phone, u.role, u.unit_code, u.department_id, "
           "u.active, u.password_changed_at, u.must_change_password, u.failed_logins, "
           "u.locked_until, u.totp_enabled, u.last_login_at, u.created_at")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def insert_user(conn: Connection, values: dict[str, Any]) -> int:
    cols = [c for c in USER_COLUMNS if c in values]
    return conn.scalar(text(
        f"INSERT INTO app_user ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)}) "
        "RETURNING id"), {c: values[c] for c in cols})


def update_user(conn: Connection, user_id: int, values: dict[str, Any]) -> None:
    cols = [c for c in USER_COLUMNS if c in values]
    if not cols:
        return
    conn.execute(text(f"UPDATE app_user SET {', '.join(f'{c} = :{c}' for c in cols)} "
                      "WHERE id = :id"), {**{c: values[c] for c in cols}, "id": user_id})


def user(db: Bindable, *, username: str | None = None, user_id: int | None = None,
         secrets: bool = False) -> dict[str, Any] | None:
    """One account by name or id (with its password hash and TOTP secret if ``secrets``)."""
    extra = ", u.password_hash, u.totp_secret" if secrets else ""
    where = "u.username = :v" if username is not None else "u.id = :v"
    found = rows(db, f"SELECT {_PUBLIC}{extra}, d.code AS department_code FROM app_user u "
                     f"LEFT JOIN department d ON d.id = u.department_id WHERE {where}",
                 {"v": username if username is not None else user_id})
    return found[0] if found else None


def users(db: Bindable) -> list[dict[str, Any]]:
    return rows(db, f"SELECT {_PUBLIC}, d.code AS department_code FROM app_user u "
                    "LEFT JOIN department d ON d.id = u.department_id ORDER BY u.username")


def count_users(db: Bindable, role: str | None = None) -> int:
    with connection(db) as conn:
        return conn.scalar(text("SELECT count(*) FROM app_user WHERE (:r)::text IS NULL "
                                "OR role = :r"), {"r": role})


def record_failure(conn: Connection, user_id: int, max_failures: int, lock_minutes: float
                   ) -> dict[str, Any]:
    """Count a failed sign-in; lock the account when it reaches ``max_failures``."""
    return dict(conn.execute(text("""
        UPDATE app_user SET failed_logins = failed_logins + 1,
          locked_until = CASE WHEN failed_logins + 1 >= :max
                              THEN now() + make_interval(secs => :mins * 60) ELSE locked_until END
        WHERE id = :id RETURNING failed_logins, locked_until"""),
        {"id": user_id, "max": max_failures, "mins": lock_minutes}).mappings().one())


def record_success(conn: Connection, user_id: int) -> None:
    conn.execute(text("UPDATE app_user SET failed_logins = 0, locked_until = NULL, "
                      "last_login_at = now() WHERE id = :id"), {"id": user_id})


def unit_versions(db: Bindable, code: str) -> list[dict[str, Any]]:
    """Every version of the unit with ``code`` (id, level, current or not)."""
    return rows(db, "SELECT id, level, name, valid_to IS NULL AS current FROM unit "
                    "WHERE code = :c ORDER BY valid_from", {"c": code})


def department_id(db: Bindable, code: str) -> int | None:
    found = rows(db, "SELECT id FROM department WHERE code = :c", {"c": code})
    return found[0]["id"] if found else None


def department_codes(db: Bindable) -> list[str]:
    return [r["code"] for r in rows(db, "SELECT code FROM department ORDER BY code")]


def department_name(db: Bindable, code: str) -> str | None:
    found = rows(db, "SELECT name FROM department WHERE code = :c LIMIT 1", {"c": code})
    return found[0]["name"] if found else None


def first_branch(db: Bindable) -> dict[int, str]:
    """A current unit code per level, down the first branch of the first top unit (homes for
    demo users)."""
    found = rows(db, """
        WITH RECURSIVE chain AS (
          (SELECT id, code, level FROM unit WHERE parent_id IS NULL AND valid_to IS NULL
           ORDER BY code LIMIT 1)
          UNION ALL
          SELECT c.id, c.code, c.level FROM chain p
          CROSS JOIN LATERAL (SELECT id, code, level FROM unit u
                              WHERE u.parent_id = p.id AND u.valid_to IS NULL
                              ORDER BY code LIMIT 1) c)
        SELECT level, code FROM chain""")
    return {r["level"]: r["code"] for r in found}


# --- sessions ---------------------------------------------------------------------------

def insert_session(conn: Connection, user_id: int, sid: str, csrf: str, address: str | None,
                   second_factor_ok: bool) -> int:
    return conn.scalar(text(
        "INSERT INTO user_session (user_id, sid_hash, csrf, address, second_factor_ok) "
        "VALUES (:u, :h, :c, :a, :f) RETURNING id"),
        {"u": user_id, "h": digest(sid), "c": csrf, "a": address, "f": second_factor_ok})


def session(db: Bindable, sid: str) -> dict[str, Any] | None:
    """The open session of ``sid`` with its times (database clock) and user id."""
    found = rows(db, """
        SELECT s.id, s.user_id, s.csrf, s.created_at, s.last_seen_at, s.second_factor_ok,
               now() AS now
        FROM user_session s WHERE s.sid_hash = :h AND s.ended_at IS NULL""",
                 {"h": digest(sid)})
    return found[0] if found else None


def touch_session(conn: Connection, session_id: int) -> None:
    conn.execute(text("UPDATE user_session SET last_seen_at = now() WHERE id = :id"),
                 {"id": session_id})


def set_second_factor(conn: Connection, session_id: int) -> None:
    conn.execute(text("UPDATE user_session SET second_factor_ok = true WHERE id = :id"),
                 {"id": session_id})


def end_session(conn: Connection, session_id: int, reason: str) -> None:
    conn.execute(text("UPDATE user_session SET ended_at = now(), end_reason = :r "
                      "WHERE id = :id AND ended_at IS NULL"), {"id": session_id, "r": reason})


def end_sessions_of(conn: Connection, user_id: int, reason: str) -> int:
    return conn.execute(text("UPDATE user_session SET ended_at = now(), end_reason = :r "
                             "WHERE user_id = :u AND ended_at IS NULL"),
                        {"u": user_id, "r": reason}).rowcount


# --- personal tokens --------------------------------------------------------------------

def insert_token(conn: Connection, user_id: int, prefix: str, token: str,
                 expires_at: datetime) -> int:
    return conn.scalar(text(
        "INSERT INTO user_token (user_id, prefix, token_hash, expires_at) "
        "VALUES (:u, :p, :h, :e) RETURNING id"),
        {"u": user_id, "p": prefix, "h": digest(token), "e": expires_at})


def token_user(db: Bindable, token: str) -> dict[str, Any] | None:
    """The user id behind an active, unexpired token."""
    found = rows(db, "SELECT t.id AS token_id, t.prefix, t.user_id FROM user_token t "
                     "WHERE t.token_hash = :h AND t.revoked_at IS NULL "
                     "AND t.expires_at > now()", {"h": digest(token)})
    return found[0] if found else None


def revoke_token(conn: Connection, prefix: str) -> int:
    return conn.execute(text("UPDATE user_token SET revoked_at = now() "
                             "WHERE prefix = :p AND revoked_at IS NULL"), {"p": prefix}).rowcount


def tokens(db: Bindable, user_id: int | None = None) -> list[dict[str, Any]]:
    return rows(db, "SELECT t.prefix, u.username, t.created_at, t.expires_at, t.revoked_at "
                    "FROM user_token t JOIN app_user u ON u.id = t.user_id "
                    "WHERE (:u)::bigint IS NULL OR t.user_id = :u ORDER BY t.created_at",
                {"u": user_id})
