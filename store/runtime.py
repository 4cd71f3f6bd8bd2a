"""Building the runtime context (:class:`onemap.context.Runtime`) for one database.

The app factory and the command line call :func:`build_runtime` once; everything below them
receives the object.  Engines and unit caches are shared per database URL within a process, so
two runtimes on one database (an app and a test, two actors) see the same cache and signal.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine

from geo.policy import policy_from
from onemap.access import ANONYMOUS, Actor
from onemap.context import Runtime
from onemap.errors import ConfigError
from onemap.settings import Settings
from store.engine import database_url, get_engine, replica_url
from store.replica import Replica
from store.units import unit_cache


def check_levels(settings: Settings) -> None:
    """The settings describe this process's levels: ``ONEMAP_LEVELS`` as the registry read it
    at start, and ``ONEMAP_LEVEL_NAMES`` naming every level (or none)."""
    from geo import levels

    if settings.levels != levels.ACTIVE_KEYS:
        raise ConfigError(f"the settings name the levels {','.join(settings.levels)}, but this "
                          f"process started with {','.join(levels.ACTIVE_KEYS)}: the levels are "
                          "read from ONEMAP_LEVELS when a process starts; set it there")
    names = settings.level_names
    if names and len(names) != len(levels.LEVELS):
        raise ConfigError(f"ONEMAP_LEVEL_NAMES gives {len(names)} name(s) "
                          f"({','.join(names)}); this deployment has {len(levels.LEVELS)} "
                          f"levels ({','.join(levels.ACTIVE_KEYS)}): name each, top down")


def build_runtime(settings: Settings, *, engine: Engine | None = None,
                  actor: Actor = ANONYMOUS) -> Runtime:
    """Settings, the engine, the unit cache, the intake policy and the actor, in one object.

    Without ``engine``: the engine of ``settings`` acting as the application's database role
    (``ONEMAP_DB_APP_ROLE``), so row-level security scopes every read to the actor
    (:mod:`store.scope`).  The command line passes its own (owner) engine."""
    check_levels(settings)
    app = engine is None
    engine = engine if engine is not None else get_engine(database_url(settings),
                                                          settings.db_app_role)
    replica = (_replica(settings.replica_url, settings.db_app_role, settings.replica_max_lag_s)
               if settings.replica_url and app else None)
    return Runtime(settings=settings, engine=engine, units=unit_cache(engine, settings.var_path),
                   policy=policy_from(settings), actor=actor, replica=replica)


@lru_cache(maxsize=4)
def _replica(url: str, role: str, max_lag_s: float) -> Replica:
    """One :class:`Replica` per standby URL in a process (its lag check is shared)."""
    return Replica(get_engine(replica_url(url), role), max_lag_s)
