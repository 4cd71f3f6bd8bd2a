"""The workflow state machine (pure): every (state, action) pair, levels, notes and ratings."""

from __future__ import annotations

import itertools

import pytest

from geo.workflow import (
    ACTIONS,
    BOTTOM_LEVEL,
    COUNTY,
    DONE_STATES,
    GRID,
    OPEN_STATES,
    RESTARTS_DEADLINE,
    STATES,
    TOP_LEVEL,
    TOWN,
    TRANSITIONS,
    VILLAGE,
    WorkflowError,
    allowed_actions,
    step,
)

# Everything an action may need, so that only the (state, action) pair decides.
GOOD = {"level": VILLAGE, "note": "群众已满意", "rating": 1, "current_rating": 1}
PAIRS = list(itertools.product(STATES, ACTIONS))
ALLOWED = [(s, a) for s, a in PAIRS if s in TRANSITIONS[a][0]]
ILLEGAL = [(s, a) for s, a in PAIRS if s not in TRANSITIONS[a][0]]
LEVELS = (None, COUNTY, TOWN, VILLAGE, GRID)


def test_the_table_is_what_the_issue_describes() -> None:
    # The main loop, in order, and the side roads; a wrong edge here would be a real change.
    assert TRANSITIONS["locate"] == (("unlocated",), "received")
    assert TRANSITIONS["accept"] == (("dispatched",), "accepted")
    assert TRANSITIONS["start"] == (("accepted",), "in_progress")
    assert TRANSITIONS["rate"] == (("resolved",), "rated")
    assert TRANSITIONS["reopen"] == (("rated",), "reopened")
    assert set(TRANSITIONS["close"][0]) == {"resolved", "rated"}
    assert "closed" not in TRANSITIONS["dispatch"][0]
    for action in ("escalate", "return", "dispatch", "accept", "start", "resolve"):
        assert not set(TRANSITIONS[action][0]) & {"closed", "rated", "unlocated"}, action
    assert set(OPEN_STATES) | set(DONE_STATES) == set(STATES)
    assert not set(OPEN_STATES) & set(DONE_STATES)
    assert TOP_LEVEL == COUNTY == 0 and BOTTOM_LEVEL == GRID == 3


@pytest.mark.parametrize(("status", "action"), ALLOWED)
def test_every_allowed_transition_leads_to_its_target(status: str, action: str) -> None:
    s = step(status, action, **GOOD)
    assert s.action == action
    assert s.from_status == status
    assert s.to_status == TRANSITIONS[action][1]
    assert s.from_level == VILLAGE
    assert s.restarts_deadline is (action in RESTARTS_DEADLINE)
    assert s.done is (action == "resolve")


@pytest.mark.parametrize(("status", "action"), ILLEGAL)
def test_every_illegal_pair_is_refused_naming_state_and_action(status: str, action: str) -> None:
    with pytest.raises(WorkflowError) as info:
        step(status, action, **GOOD)
    message = str(info.value)
    assert status in message
    assert action in message


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("status", STATES)
def test_allowed_actions_agree_with_step(status: str, level: int | None) -> None:
    accepted = set()
    for action in ACTIONS:
        try:
            step(status, action, level=level, note="说明", rating=1, current_rating=1)
        except WorkflowError:
            continue
        accepted.add(action)
    assert set(allowed_actions(status, level)) == accepted
    # and in the table's order, with no repeats
    listed = allowed_actions(status, level)
    assert list(listed) == [a for a in ACTIONS if a in accepted]


def test_unknown_status_or_action_is_refused() -> None:
    with pytest.raises(WorkflowError, match="unknown status 'lost'"):
        step("lost", "dispatch", level=GRID)
    with pytest.raises(WorkflowError, match="unknown action 'delete'"):
        step("received", "delete", level=GRID)


def test_illegal_message_lists_what_is_allowed() -> None:
    with pytest.raises(WorkflowError) as info:
        step("closed", "dispatch", level=GRID)
    assert "allowed from closed: none" in str(info.value)
    with pytest.raises(WorkflowError) as info:
        step("received", "accept", level=GRID)
    assert "dispatch" in str(info.value) and "escalate" in str(info.value)


# -- levels -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("level", "up"), [(GRID, VILLAGE), (VILLAGE, TOWN), (TOWN, COUNTY)])
def test_escalate_moves_one_level_up(level: int, up: int) -> None:
    s = step("in_progress", "escalate", level=level)
    assert (s.from_level, s.to_level, s.to_status) == (level, up, "escalated")
    assert s.restarts_deadline


def test_escalate_at_county_is_refused() -> None:
    with pytest.raises(WorkflowError, match="county"):
        step("in_progress", "escalate", level=COUNTY)
    assert "escalate" not in allowed_actions("in_progress", COUNTY)


def test_escalate_without_level_is_refused() -> None:
    with pytest.raises(WorkflowError, match="no handling level"):
        step("received", "escalate", level=None)


@pytest.mark.parametrize(("level", "down"), [(COUNTY, TOWN), (TOWN, VILLAGE), (VILLAGE, GRID)])
def test_return_moves_one_level_down(level: int, down: int) -> None:
    s = step("escalated", "return", level=level, note="属村级事务，退回村委会")
    assert (s.from_level, s.to_level, s.to_status) == (level, down, "returned")
    assert s.restarts_deadline


def test_return_at_grid_level_is_refused() -> None:
    with pytest.raises(WorkflowError, match="grid level"):
        step("dispatched", "return", level=GRID, note="理由")
    assert "return" not in allowed_actions("dispatched", GRID)


@pytest.mark.parametrize("note", [None, "", "   "])
def test_return_without_a_note_is_refused(note: str | None) -> None:
    with pytest.raises(WorkflowError, match="note"):
        step("dispatched", "return", level=VILLAGE, note=note)


@pytest.mark.parametrize("action", ["dispatch", "accept", "start", "resolve", "rate", "close"])
def test_other_actions_keep_the_level(action: str) -> None:
    status = {"dispatch": "received", "accept": "dispatched", "start": "accepted",
              "resolve": "in_progress", "rate": "resolved", "close": "rated"}[action]
    s = step(status, action, level=TOWN, rating=4)
    assert s.to_level == TOWN


def test_locate_places_at_grid_level() -> None:
    s = step("unlocated", "locate", level=None)
    assert (s.to_status, s.to_level) == ("received", GRID)


def test_reopen_keeps_level_or_starts_at_grid() -> None:
    assert step("rated", "reopen", level=TOWN, current_rating=1).to_level == TOWN
    assert step("rated", "reopen", level=None, current_rating=2).to_level == GRID


# -- ratings and notes ------------------------------------------------------------------------

@pytest.mark.parametrize("rating", [1, 2, 3, 4, 5])
def test_rate_accepts_1_to_5(rating: int) -> None:
    assert step("resolved", "rate", level=GRID, rating=rating).to_status == "rated"


@pytest.mark.parametrize("rating", [0, 6, -1, True, False, None])
def test_rate_refuses_anything_else(rating) -> None:
    with pytest.raises(WorkflowError, match="rating"):
        step("resolved", "rate", level=GRID, rating=rating)


@pytest.mark.parametrize("current", [1, 2])
def test_reopen_after_a_poor_rating(current: int) -> None:
    s = step("rated", "reopen", level=GRID, current_rating=current)
    assert s.to_status == "reopened" and s.restarts_deadline


@pytest.mark.parametrize("current", [3, 4, 5, None])
def test_reopen_refused_after_a_fair_rating_or_none(current: int | None) -> None:
    with pytest.raises(WorkflowError, match="poor rating"):
        step("rated", "reopen", level=GRID, current_rating=current)


@pytest.mark.parametrize("note", [None, "", "  "])
def test_close_from_resolved_needs_a_note(note: str | None) -> None:
    with pytest.raises(WorkflowError, match="note"):
        step("resolved", "close", level=GRID, note=note)


def test_close_from_resolved_with_a_note_and_from_rated_without() -> None:
    assert step("resolved", "close", level=GRID, note="群众未评价").to_status == "closed"
    assert step("rated", "close", level=GRID).to_status == "closed"


def test_resolve_is_the_only_step_that_finishes_handling() -> None:
    done = {a for s, a in ALLOWED if step(s, a, **GOOD).done}
    assert done == {"resolve"}
