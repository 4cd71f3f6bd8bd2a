"""The project's one exception hierarchy.

Every error the project raises on purpose derives from :class:`OneMapError`.  It carries a
``user_msg`` that is safe to show an operator (what is wrong and what to do) and an optional
``detail`` for logs.  This module must stay free of third-party imports: `geo` uses it.
"""

from __future__ import annotations


class OneMapError(Exception):
    """Root of all OneMap errors; ``str(err)`` is the message a user can act on."""

    def __init__(self, user_msg: str, *, detail: str | None = None) -> None:
        super().__init__(user_msg)
        self.user_msg = user_msg
        self.detail = detail


class ConfigError(OneMapError):
    """A setting is missing or has a value the project cannot use."""


class SetupError(OneMapError):
    """The machine lacks something the project needs (PostgreSQL, PostGIS, a free port…)."""


class DatabaseError(OneMapError):
    """The database refused or failed an operation in a way the user can do something about."""
