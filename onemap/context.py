"""The runtime context: one object, built once by the app factory and by the command line,
passed down to every service.

It holds the settings, the database engine, the one cache of the unit hierarchy (with its one
"units changed" signal), the intake policy and the acting identity.  The kernel only defines
its shape; ``store.runtime.build_runtime`` fills it (the kernel imports nothing else of the
project, so the engine, cache and policy are typed by what they offer).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from onemap.access import WALL_OPERATOR, Actor
from onemap.settings import Settings


class UnitCache(Protocol):
    """The unit hierarchy of one database, rebuilt when the units signature changes."""

    def signature(self) -> tuple: ...

    def changed(self) -> None: ...


@dataclass(frozen=True)
class Runtime:
    """Settings, engine, unit cache, intake policy and the actor — passed down, never rebuilt.

    ``acting_as(actor)`` gives the same context for another identity (an API request's key);
    everything else is shared.
    """

    settings: Settings
    engine: Any
    units: Any
    policy: Any = None
    actor: Actor = WALL_OPERATOR
    extras: dict[str, Any] = field(default_factory=dict, compare=False)

    def acting_as(self, actor: Actor) -> Runtime:
        return replace(self, actor=actor)

    @property
    def timezone(self) -> str:
        return self.settings.timezone
