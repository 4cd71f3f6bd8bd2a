"""The runtime context: one object, built once by the app factory and by the command line,
passed down to every service.

It holds the settings, the database engine, the one cache of the unit hierarchy (with its one
"units changed" signal), the intake policy and the acting identity.  The kernel only defines
its shape; ``store.runtime.build_runtime`` fills it (the kernel imports nothing else of the
project, so the engine, cache and policy are typed by what they offer).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from onemap.access import ANONYMOUS, Actor
from onemap.settings import Settings


@dataclass(frozen=True)
class Runtime:
    """Settings, engine, unit cache, intake policy and the actor — passed down, never rebuilt.

    ``acting_as(actor)`` gives the same context for another identity (an API request's key);
    everything else is shared.
    """

    settings: Settings
    engine: Any  # sqlalchemy Engine
    units: Any  # store.units.UnitCache: tree(), places(), signature(), changed()
    policy: Any = None  # geo.policy.IntakePolicy
    actor: Actor = ANONYMOUS
    address: str | None = None  # where the actor's request came from (the audit trail's)

    def acting_as(self, actor: Actor, address: str | None = None) -> Runtime:
        """The same context for ``actor``: its unit cache shows the actor's units only (when
        the cache can scope itself, ``for_actor``)."""
        units = self.units.for_actor(actor) if hasattr(self.units, "for_actor") else self.units
        return replace(self, actor=actor, units=units,
                       address=address if address is not None else self.address)
