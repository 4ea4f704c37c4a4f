"""Why an event fired no action: each trigger's false part and the value that made it false, from the trigger SQL."""

from __future__ import annotations

import pytest

from cio_retl.actions.tester import simulate, why_no_action
from cio_retl.actions.triggers import parse, render
from cio_retl.project import ActionOverride


def explained(event: dict, **overrides: ActionOverride) -> dict[str, str]:
    return {item["action"]: item["explanation"] for item in why_no_action(event, overrides=overrides)}


def test_every_action_says_what_was_false() -> None:
    event = {"type": "identify", "userId": "u1"}
    assert simulate(event, overrides={"createUpdatePerson": ActionOverride(enabled=False)}) == []
    why = explained(event, createUpdatePerson=ActionOverride(enabled=False))
    assert len(why) == 15
    assert why["createUpdatePerson"] == "createUpdatePerson: disabled (actions.createUpdatePerson.enabled)"
    assert why["trackEvent"] == 'trackEvent: type = "track" was false (type is "identify")'
    assert why["deletePerson"] == 'deletePerson: event = "User Deleted" was false (event is absent)'
    assert why["createUpdateDevice"] == ('createUpdateDevice: event = "Application Installed" or event = "Application '
                                         'Opened" or event = "Device Created or Updated" was false (event is absent)')


@pytest.mark.parametrize(("trigger", "event", "explanation"), [
    ('type = "track" and event != "Order Placed"', {"type": "track", "event": "Order Placed"},
     'event != "Order Placed" was false (event is "Order Placed")'),
    ('type = "track" and (properties.vip exists or not (event = "x"))', {"type": "track", "event": "x"},
     'properties.vip exists or not (event = "x") was false (properties.vip is absent, event = "x" is true)'),
    ('type = "track" and properties.count = "2"', {"type": "track", "event": "e", "properties": {"count": 3}},
     'properties.count = "2" was false (properties.count is "3")'),
    ('type = "track" and properties.ok = "true"', {"type": "track", "event": "e", "properties": {"ok": False}},
     'properties.ok = "true" was false (properties.ok is "false")'),
])
def test_the_smallest_false_part_is_named(trigger: str, event: dict, explanation: str) -> None:
    why = explained(event, trackEvent=ActionOverride(trigger=trigger))
    assert why["trackEvent"] == f"trackEvent: {explanation}"


def test_matching_actions_are_not_explained() -> None:
    assert "createUpdatePerson" not in explained({"type": "identify", "userId": "u1"})


@pytest.mark.parametrize("trigger", ['type = "a" and (event = "b" or not (name exists))', 'traits.x = "say \\"hi\\""'])
def test_render_writes_a_trigger_back_that_parses_the_same(trigger: str) -> None:
    assert parse(render(parse(trigger))) == parse(trigger)
