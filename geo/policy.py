"""The intake policy: one object, built from settings, that every door for reports uses.

The API, Open311, the wall's actions and `onemap load incidents` place, time and deduplicate
reports by the same rules: how far outside the jurisdiction a point is snapped to the nearest
grid, the deadline rules (by handling level and risk, calendar or working days), and the
near-duplicate radius and window.  Pure: the assignment engine of the current units comes from
the runtime context's unit cache, not from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from geo.deadlines import DeadlineRules, WorkCalendar, level_days
from onemap.settings import Settings


@dataclass(frozen=True)
class IntakePolicy:
    snap_m: float
    deadlines: DeadlineRules
    duplicate_radius_m: float
    duplicate_hours: float

    @property
    def duplicate_seconds(self) -> float:
        return self.duplicate_hours * 3600.0

    def duplicate_note(self, first_id: int) -> str:
        """The event note of a near-duplicate (the same words for every door)."""
        return (f"疑似重复：与事件 {first_id} 同类，{self.duplicate_radius_m:g} 米、"
                f"{self.duplicate_hours:g} 小时内")


@lru_cache(maxsize=16)
def policy_from(settings: Settings) -> IntakePolicy:
    """The policy the settings describe (cached: the calendar is read once)."""
    return IntakePolicy(
        snap_m=settings.snap_m,
        deadlines=DeadlineRules(
            level_days=level_days(settings.level_deadline_days),
            severity_days=dict(settings.severity_deadline_days),
            timezone=settings.timezone,
            calendar=WorkCalendar.from_csv() if settings.working_days else None,
        ),
        duplicate_radius_m=settings.duplicate_radius_m,
        duplicate_hours=settings.duplicate_hours,
    )
