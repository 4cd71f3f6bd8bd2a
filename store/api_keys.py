"""API keys of the channels: created once, shown once, stored as SHA-256 only.

Keys are 32 random bytes (``om_<prefix>_<secret>``), so a plain SHA-256 is enough: there is
nothing to brute-force, unlike a password.  Each key belongs to one channel (``source``) and a
role: ``reporter`` may submit reports of its channel and rate its own cases; ``operator`` may
also act on any case.  Lookups are cached for a few seconds per process; a revoked key stops
working within :data:`CACHE_SECONDS`.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text

from geo.catalog import SOURCES
from onemap.access import Actor
from onemap.errors import OneMapError

ROLES = ("reporter", "operator")
CACHE_SECONDS = 10.0


class ApiKeyError(OneMapError):
    """A key cannot be created or revoked as asked."""


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    source: str
    role: str
    prefix: str
    unit_code: str | None = None
    units: frozenset[int] | None = None  # every version of unit_code (None: everywhere)
    unlocated: bool = True

    @property
    def actor(self) -> Actor:
        """The identity this key acts as (what :func:`onemap.access.can` decides on), scoped
        to its unit when it has one."""
        return Actor(kind="apikey", id=self.id, name=self.name, role=self.role,
                     source=self.source, prefix=self.prefix, units=self.units,
                     unlocated=self.unlocated)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(conn: Connection, name: str, source: str, role: str = "reporter",
               unit_code: str | None = None) -> str:
    """Store a new key and return it in clear — the only time it is ever visible.  With
    ``unit_code`` the key's reports and reads are limited to that unit and below."""
    if source not in SOURCES:
        raise ApiKeyError(f"unknown channel {source!r}; expected one of {', '.join(SOURCES)}")
    if role not in ROLES:
        raise ApiKeyError(f"unknown role {role!r}; expected reporter or operator")
    if not name.strip():
        raise ApiKeyError("give the key a name (who uses it), e.g. '12345热线平台'")
    if unit_code and not conn.scalar(text("SELECT 1 FROM unit WHERE code = :c "
                                          "AND valid_to IS NULL"), {"c": unit_code}):
        raise ApiKeyError(f"no current unit with code {unit_code!r}")
    prefix = secrets.token_hex(4)
    key = f"om_{prefix}_{secrets.token_urlsafe(32)}"
    conn.execute(text("INSERT INTO api_key (name, source, role, prefix, key_hash, unit_code) "
                      "VALUES (:n, :s, :r, :p, :h, :u)"),
                 {"n": name.strip(), "s": source, "r": role, "p": prefix, "h": hash_key(key),
                  "u": unit_code or None})
    return key


def revoke_key(conn: Connection, prefix: str) -> int:
    """Revoke the key(s) with this prefix; returns how many were revoked."""
    return conn.execute(text("UPDATE api_key SET revoked_at = now() "
                             "WHERE prefix = :p AND revoked_at IS NULL"), {"p": prefix}).rowcount


def list_keys(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(text(
        "SELECT prefix, name, source, role, unit_code, created_at, revoked_at FROM api_key "
        "ORDER BY created_at, id")).mappings()]


_cache: dict[tuple[str, str], tuple[float, ApiKey | None]] = {}
_lock = threading.Lock()


def verify_key(engine: Engine, key: str | None) -> ApiKey | None:
    """The active key matching ``key``, or None."""
    if not key or len(key) > 200:
        return None
    digest = hash_key(key)
    cache_key = (str(engine.url), digest)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(cache_key)
        if hit and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    with engine.connect() as conn:
        row = conn.execute(text("""
            SELECT k.id, k.name, k.source, k.role, k.prefix, k.unit_code,
                   (SELECT array_agg(u.id) FROM unit u WHERE u.code = k.unit_code) AS ids,
                   (SELECT min(u.level) FROM unit u WHERE u.code = k.unit_code) AS level
            FROM api_key k WHERE k.key_hash = :h AND k.revoked_at IS NULL"""),
                           {"h": digest}).mappings().first()
    found = None
    if row:
        scoped = row["unit_code"] is not None
        found = ApiKey(id=row["id"], name=row["name"], source=row["source"], role=row["role"],
                       prefix=row["prefix"], unit_code=row["unit_code"],
                       units=frozenset(row["ids"] or ()) if scoped else None,
                       unlocated=not scoped or row["level"] == 0)
    with _lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[cache_key] = (now, found)
    return found


def clear_cache() -> None:
    with _lock:
        _cache.clear()
