"""Secrets at rest: the key file, sealing (AES-256-GCM) and keyed lookup hashes.

Application-side AEAD rather than pgcrypto: the key lives in a file under ``var/keys/``
(0600), outside the database, so a copy of the database or a backup alone reveals nothing, and
no key ever travels in SQL text (where ``pg_stat_statements`` or a log line could keep it).
Phones are also stored as a keyed hash (HMAC-SHA256 with a second key) so a lookup by phone
works without decrypting every row.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from onemap.errors import ConfigError


def _key_file(directory: Path, name: str, size: int = 32) -> bytes:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    path = directory / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(size))
    data = path.read_bytes()
    if len(data) != size:
        raise ConfigError(f"{path} is not a {size}-byte key file; restore it from the backup "
                          "of var/keys (without it, sealed data cannot be read).")
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return data


@lru_cache(maxsize=8)
def keys(var_dir: str) -> tuple[bytes, bytes, bytes]:
    """(sealing key, lookup-hash key, cookie-signing key) from ``<var_dir>/keys``; created
    on first use."""
    directory = Path(var_dir) / "keys"
    return (_key_file(directory, "data.key"), _key_file(directory, "lookup.key"),
            _key_file(directory, "session.key"))


def seal(var_dir: str, plaintext: str | None, context: str) -> bytes | None:
    """Encrypt ``plaintext``; ``context`` (e.g. ``household_person.phone``) is bound to it,
    so a sealed value moved to another column does not open."""
    if plaintext is None or plaintext == "":
        return None
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(keys(var_dir)[0]).encrypt(nonce, plaintext.encode(), context.encode())


def unseal(var_dir: str, sealed: bytes | None, context: str) -> str | None:
    if sealed is None:
        return None
    sealed = bytes(sealed)
    try:
        return AESGCM(keys(var_dir)[0]).decrypt(sealed[:12], sealed[12:],
                                                context.encode()).decode()
    except InvalidTag:
        raise ConfigError("a sealed value does not open with var/keys/data.key: the key file "
                          "is not the one it was sealed with") from None


def lookup_hash(var_dir: str, value: str | None) -> str | None:
    """Keyed hash for equality lookups (e.g. a phone number, digits only)."""
    if not value:
        return None
    normal = "".join(c for c in value if c.isdigit()) or value.strip()
    return hmac.new(keys(var_dir)[1], normal.encode(), hashlib.sha256).hexdigest()


def session_key(var_dir: str) -> bytes:
    return keys(var_dir)[2]


#: The contexts (associated data) of sealed personal fields.
PERSON_PHONE, PERSON_ID_NUMBER = "household_person.phone", "household_person.id_number"


def seal_people(var_dir: str, phones: list, id_numbers: list) -> dict[str, list]:
    """Sealed phones and ID numbers plus phone lookup hashes, for a batch of persons."""
    return {"phone_sealed": [seal(var_dir, p, PERSON_PHONE) for p in phones],
            "id_number_sealed": [seal(var_dir, i, PERSON_ID_NUMBER) for i in id_numbers],
            "phone_hash": [lookup_hash(var_dir, p) for p in phones]}
