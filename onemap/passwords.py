"""Password rules and hashing (argon2id), as 等保 2.0 level 3 asks: at least 10 characters
from three of the four classes, not the username, changed every 90 days (a setting).

Kernel module: no database here; :mod:`accounts.service` stores the hashes.
"""

from __future__ import annotations

import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from onemap.errors import OneMapError

MIN_LENGTH = 10
_HASHER = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters


class PasswordRejected(OneMapError):
    """A new password breaks a rule; the message says which (in Chinese and English)."""


def _classes(password: str) -> int:
    return sum((
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ))


def check(password: str, username: str) -> None:
    """Raise :class:`PasswordRejected` naming the first rule ``password`` breaks."""
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(f"密码至少 {MIN_LENGTH} 位 / the password needs at least "
                               f"{MIN_LENGTH} characters")
    if _classes(password) < 3:
        raise PasswordRejected("密码需包含大写字母、小写字母、数字、符号中的至少三类 / use at "
                               "least three of: lower case, upper case, digits, symbols")
    if username and username.lower() in password.lower():
        raise PasswordRejected("密码不能包含用户名 / the password must not contain the username")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)


def generate(length: int = 16) -> str:
    """A random password that passes :func:`check` (for the first admin and resets)."""
    alphabet = string.ascii_letters + string.digits + "-_.@%+"
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if _classes(candidate) >= 3:
            return candidate


#: A hash of a random password, verified against when the username is unknown, so a login
#: for a missing user takes as long as one for a real user.
DUMMY_HASH = hash_password(generate())
