"""The closed loop as one pure state machine (网格员填单—村接单—乡镇解单—群众评单).

Every change of an incident's status goes through :func:`step`; the database layer only stores
what it returns and appends the event.  The allowed transitions are the table
:data:`TRANSITIONS` (documented in the README, checked by a test against it):

    received → dispatched → accepted → in_progress → resolved → rated → closed

plus ``escalated`` (handed up one level), ``returned`` (sent back down one level with a
reason) and ``reopened`` (after a poor rating).  An incident whose place is unknown waits as
``unlocated`` until an operator places it (``locate``).  Levels are numbered from the top:
county 0, town 1, village 2, grid 3.  The county is the end of the line (终点站): it cannot
escalate further.
"""

from __future__ import annotations

from dataclasses import dataclass

from geo.errors import GeoError
from geo.levels import BOTTOM, CITY, COUNTY, GRID, TOP, TOWN, VILLAGE  # noqa: F401  (re-exported)

#: escalation ends at the deployment's top (the county's, or the city's backstop)
TOP_LEVEL, BOTTOM_LEVEL = TOP, BOTTOM

STATES = ("unlocated", "received", "dispatched", "accepted", "in_progress", "escalated",
          "returned", "resolved", "rated", "reopened", "closed")
OPEN_STATES = ("unlocated", "received", "dispatched", "accepted", "in_progress", "escalated",
               "returned", "reopened")
DONE_STATES = ("resolved", "rated", "closed")  # handling finished (办结)
STATE_LABELS = {
    "unlocated": ("待定位", "Unlocated"), "received": ("已受理", "Received"),
    "dispatched": ("已派单", "Dispatched"), "accepted": ("已签收", "Accepted"),
    "in_progress": ("处置中", "In progress"), "escalated": ("已上报", "Escalated"),
    "returned": ("已退回", "Returned"), "resolved": ("已办结", "Resolved"),
    "rated": ("已评价", "Rated"), "reopened": ("已重办", "Reopened"),
    "closed": ("已归档", "Closed"),
}

# Handled at one level lower in the hierarchy: events the escalation job writes.
_ESCALABLE = ("received", "dispatched", "accepted", "in_progress", "escalated", "returned",
              "reopened")
_RETURNABLE = ("dispatched", "accepted", "in_progress", "escalated")
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    # action: (states it may start from, state it leads to)
    "locate": (("unlocated",), "received"),
    "dispatch": (("received", "escalated", "returned", "reopened"), "dispatched"),
    "accept": (("dispatched",), "accepted"),
    "start": (("accepted",), "in_progress"),
    "resolve": (("accepted", "in_progress"), "resolved"),
    "rate": (("resolved",), "rated"),
    "close": (("resolved", "rated"), "closed"),
    "escalate": (_ESCALABLE, "escalated"),
    "return": (_RETURNABLE, "returned"),
    "reopen": (("rated",), "reopened"),
}
#: 催办 / 督办: notes on an open case from above, in its history; the state does not change.
#: ``urge`` puts a note at the top of the handler's case; ``supervise`` puts the case on the
#: supervised list with a deadline of its own.
NOTE_ACTIONS = ("urge", "supervise")
#: 到场: the person in the field checks in at the case (GPS and time in its history); the
#: state does not change.
FIELD_ACTIONS = ("checkin",)
OPEN_FOR_NOTES = _ESCALABLE
ACTIONS = tuple(TRANSITIONS)  # the state machine's
ALL_ACTIONS = (*ACTIONS, *NOTE_ACTIONS, *FIELD_ACTIONS)  # what a client may send
ACTION_LABELS = {
    "urge": ("催办", "Urge"), "supervise": ("督办", "Supervise"), "checkin": ("到场", "Check in"),
    "locate": ("定位", "Locate"), "dispatch": ("派单", "Dispatch"), "accept": ("签收", "Accept"),
    "start": ("开始处置", "Start"), "resolve": ("办结", "Resolve"), "rate": ("评价", "Rate"),
    "close": ("归档", "Close"), "escalate": ("上报", "Escalate"), "return": ("退回", "Return"),
    "reopen": ("重办", "Reopen"),
}
POOR_RATING = 2  # a rating at or below this may reopen the case
# Actions after which the deadline is counted afresh from the moment of the action.
RESTARTS_DEADLINE = frozenset({"locate", "escalate", "return", "reopen"})


class WorkflowError(GeoError):
    """An action that the workflow does not allow from the incident's current state."""


@dataclass(frozen=True)
class Step:
    """The outcome of an allowed action: the new status and handling level."""

    action: str
    from_status: str
    to_status: str
    from_level: int | None
    to_level: int | None
    restarts_deadline: bool
    done: bool  # handling finished by this step (sets 办结 time)


def allowed_actions(status: str, level: int | None = None) -> tuple[str, ...]:
    """Actions that :func:`step` would accept from ``status`` (ignoring notes and ratings)."""
    out = []
    for action, (sources, _target) in TRANSITIONS.items():
        if status not in sources:
            continue
        if action == "escalate" and (level is None or level <= TOP_LEVEL):
            continue
        if action == "return" and (level is None or level >= BOTTOM_LEVEL):
            continue
        out.append(action)
    return tuple(out)


def step(status: str, action: str, *, level: int | None, note: str | None = None,
         rating: int | None = None, current_rating: int | None = None) -> Step:
    """Apply ``action`` to an incident in ``status`` handled at ``level``.

    Raises :class:`WorkflowError` with a message an operator can act on when the action is
    unknown, not allowed from this state, or lacks what it needs (a reason to return, a rating
    of 1-5 to rate, a poor rating to reopen).
    """
    if status not in STATES:
        raise WorkflowError(f"unknown status {status!r}; expected one of {', '.join(STATES)}")
    if action not in TRANSITIONS:
        raise WorkflowError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    sources, target = TRANSITIONS[action]
    if status not in sources:
        allowed = ", ".join(allowed_actions(status, level)) or "none"
        raise WorkflowError(f"cannot {action} an incident that is {status}; "
                            f"allowed from {status}: {allowed}")
    to_level = level
    if action == "escalate":
        if level is None:
            raise WorkflowError("cannot escalate: the incident has no handling level yet")
        if level <= TOP_LEVEL:
            raise WorkflowError("cannot escalate: the county is the top level (终点站); "
                                "resolve it there or return it down")
        to_level = level - 1
    elif action == "return":
        if level is None or level >= BOTTOM_LEVEL:
            raise WorkflowError("cannot return: the incident is already at grid level")
        if not (note and note.strip()):
            raise WorkflowError("returning an incident needs a reason in 'note'")
        to_level = level + 1
    elif action == "rate":
        if rating is None or isinstance(rating, bool) or rating not in (1, 2, 3, 4, 5):
            raise WorkflowError(f"'rating' must be an integer from 1 to 5, got {rating!r}")
    elif action == "reopen":
        if current_rating is None or current_rating > POOR_RATING:
            raise WorkflowError(f"only a poor rating (≤ {POOR_RATING}) reopens a case; "
                                f"this one is rated {current_rating}")
        to_level = BOTTOM_LEVEL if level is None else level
    elif action == "close" and status == "resolved" and not (note and note.strip()):
        raise WorkflowError("closing without a rating needs a reason in 'note' "
                            "(e.g. 群众未评价)")
    elif action == "locate":
        to_level = BOTTOM_LEVEL
    return Step(action, status, target, level, to_level, action in RESTARTS_DEADLINE,
                done=action == "resolve")
