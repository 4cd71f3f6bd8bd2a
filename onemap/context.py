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
    replica: Any = None  # store.replica.Replica: a read-only standby, when one is configured

    def for_reading(self) -> Runtime:
        """The same context with the standby's engine when it is fresh enough, for reads that
        need not see this request's own writes (wall aggregates and layers, the monthly
        report, exports).  Never write through it: writes (audit rows too) use ``engine``."""
        if self.replica is None or self.replica.fresh() is None:
            return replace(self, replica=None)
        return replace(self, engine=self.replica.engine)

    def data_as_of(self) -> Any:
        """When reads come from a standby: its ``store.replica.Lag`` (seconds behind, data as
        of); None when they come from the primary."""
        return None if self.replica is None else self.replica.fresh()

    def acting_as(self, actor: Actor, address: str | None = None) -> Runtime:
        """The same context for ``actor``: its unit cache shows the actor's units only (when
        the cache can scope itself, ``for_actor``)."""
        units = self.units.for_actor(actor) if hasattr(self.units, "for_actor") else self.units
        return replace(self, actor=actor, units=units,
                       address=address if address is not None else self.address)
