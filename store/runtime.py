"""Building the runtime context (:class:`onemap.context.Runtime`) for one database.

The app factory and the command line call :func:`build_runtime` once; everything below them
receives the object.  Engines and unit caches are shared per database URL within a process, so
two runtimes on one database (an app and a test, two actors) see the same cache and signal.
"""

from __future__ import annotations

from sqlalchemy import Engine

from geo.policy import policy_from
from onemap.access import WALL_OPERATOR, Actor
from onemap.context import Runtime
from onemap.settings import Settings
from store.engine import database_url, get_engine
from store.units import unit_cache


def build_runtime(settings: Settings, *, engine: Engine | None = None,
                  actor: Actor = WALL_OPERATOR) -> Runtime:
    """Settings, the engine (of ``settings`` unless given), the unit cache, the intake policy
    and the actor, in one object."""
    engine = engine if engine is not None else get_engine(database_url(settings))
    return Runtime(settings=settings, engine=engine, units=unit_cache(engine),
                   policy=policy_from(settings), actor=actor)
