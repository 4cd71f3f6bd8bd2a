"""The one permission function: what each actor may do, and nothing more."""

from __future__ import annotations

from onemap.access import SYSTEM, Actor, can, cli_actor

COMMAND = Actor(kind="user", id=1, name="指挥中心", role="commander", username="cmd")

REPORTER = Actor(kind="apikey", id=7, name="12345热线", role="reporter",
                 source="hotline_12345", prefix="abcd1234")


def test_a_reporter_key_acts_only_for_its_own_channel() -> None:
    assert can(REPORTER, "incident.submit", "hotline_12345")
    assert not can(REPORTER, "incident.submit", "citizen_app")
    assert can(REPORTER, "incident.read", {"source": "hotline_12345"})
    assert not can(REPORTER, "incident.read", {"source": "grid_app"})
    assert can(REPORTER, "incident.rate", {"source": "hotline_12345"})
    assert not can(REPORTER, "incident.act", {"source": "hotline_12345"})
    assert not can(REPORTER, "incident.read_private")
    assert not can(REPORTER, "plan.save")


def test_operators_and_the_system_act_anywhere_but_nobody_unknown_does() -> None:
    for actor in (COMMAND, cli_actor("root")):
        assert can(actor, "incident.act", {"source": "grid_app"})
        assert can(actor, "incident.read_private")
        assert can(actor, "incident.submit", "citizen_app")
    assert can(SYSTEM, "incident.escalate")
    assert not can(COMMAND, "incident.escalate")
    assert not can(None, "incident.read")
    assert not can(Actor(kind="apikey", id=1, name="x", role="nobody"), "incident.read")


def test_a_scoped_actor_sees_only_cases_in_its_units() -> None:
    town = Actor(kind="user", id=3, name="镇综治中心", role="commander", units=frozenset({11}))
    assert can(town, "incident.act", {"source": "grid_app", "unit_ids": {1: 11, 3: 501}})
    assert not can(town, "incident.act", {"source": "grid_app", "unit_ids": {1: 12}})


def test_labels_name_the_actor_in_the_audit_trail() -> None:
    assert REPORTER.label == "key:abcd1234"
    assert COMMAND.label == "user:cmd"
    assert cli_actor("root").label == "cli:root"
