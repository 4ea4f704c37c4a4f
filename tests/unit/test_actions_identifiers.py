"""Identifiers through the one SQL path (test-action runs the bulk SQL): a JSON null is never "null", invalid
emails and blank ids are rejected locally with the reason, object type ids are checked, created_at "" is left out."""

from __future__ import annotations

from typing import Any

import pytest

from cio_retl.actions.schema import operation_problems, validate_operation
from cio_retl.actions.tester import simulate
from cio_retl.errors import ActionError


def bodies(event: dict[str, Any], **kwargs: Any) -> dict[str, dict[str, Any]]:
    out = simulate(event, **kwargs)
    for request in out:
        validate_operation(request["body"], "metrics" if request["url"].endswith("metrics") else "batch")
    return {r["action"]: r["body"] for r in out}


NULL_CASES = [  # event, action, where to look, expected identifiers
    ({"type": "identify", "userId": None, "traits": {"email": "a@b.co"}}, "createUpdatePerson", "identifiers",
     {"email": "a@b.co"}),
    ({"type": "identify", "userId": None, "anonymousId": "a1"}, "createUpdatePerson", "identifiers", {"anonymous_id": "a1"}),
    ({"type": "track", "event": "e", "userId": None, "anonymousId": "a1"}, "trackEvent", "identifiers",
     {"anonymous_id": "a1"}),
    ({"type": "page", "userId": None, "anonymousId": "a1", "properties": {"url": "/x"}}, "trackPageView", "identifiers",
     {"anonymous_id": "a1"}),
    ({"type": "screen", "name": "Home", "userId": None, "anonymousId": "a1"}, "trackScreenView", "identifiers",
     {"anonymous_id": "a1"}),
    ({"type": "group", "groupId": "g", "userId": None, "anonymousId": "a1"}, "createUpdateObject", "cio_relationships",
     [{"identifiers": {"anonymous_id": "a1"}}]),
    ({"type": "track", "event": "User Deleted", "userId": None, "properties": {"email": "a@b.co"}}, "deletePerson",
     "identifiers", {"email": "a@b.co"}),
    ({"type": "track", "event": "User Suppressed", "userId": None, "properties": {"email": "a@b.co"}}, "suppressPerson",
     "identifiers", {"email": "a@b.co"}),
    ({"type": "identify", "userId": "u1", "anonymousId": None}, "createUpdatePerson", "attributes", {}),
]


@pytest.mark.parametrize(("event", "action", "key", "expected"), NULL_CASES, ids=[c[1] + str(i) for i, c in enumerate(NULL_CASES)])
def test_a_json_null_is_absent_never_the_string_null(event: dict, action: str, key: str, expected: Any) -> None:
    body = bodies(event)[action]
    assert body[key] == expected
    assert '"null"' not in str(body).replace("'", '"')


@pytest.mark.parametrize(("event", "reason"), [
    ({"type": "alias", "userId": None, "previousId": "old"}, "mergePeople: missing primary: set user_id"),
    ({"type": "alias", "userId": "u1", "previousId": None}, "mergePeople: missing secondary: set previous_id"),
    ({"type": "track", "event": "Relationship Deleted", "userId": None, "properties": {"objectId": "g"}},
     "deleteRelationship: no identifier"),
    ({"type": "track", "event": "Device Deleted", "userId": None, "context": {"device": {"token": "t"}}},
     "deleteDevice: no identifier"),
])
def test_missing_ids_fail_locally(event: dict, reason: str) -> None:
    with pytest.raises(ActionError, match=reason):
        simulate(event)


@pytest.mark.parametrize(("event", "reason"), [
    ({"type": "identify", "traits": {"email": "not-an-email"}},
     'createUpdatePerson: email "not-an-email" is not a valid email address, so it cannot identify the person'),
    ({"type": "identify", "userId": None, "anonymousId": "a1", "traits": {"email": "still-no@email"}},
     'createUpdatePerson: email "still-no@email" is not a valid email address'),
    ({"type": "track", "event": "User Deleted", "properties": {"email": "nope"}}, 'deletePerson: email "nope" is not'),
    ({"type": "identify", "userId": "   "}, 'createUpdatePerson: identifier id is blank \\("   "\\)'),
    ({"type": "identify", "userId": "\t"}, "createUpdatePerson: identifier id is blank"),
    ({"type": "identify", "userId": None, "anonymousId": " "}, "createUpdatePerson: identifier anonymous_id is blank"),
    ({"type": "track", "event": "e", "userId": "cio_  "}, "trackEvent: identifier cio_id is blank"),
    ({"type": "group", "groupId": "  ", "userId": "u1"}, "createUpdateObject: identifier object_id is blank"),
    ({"type": "group", "groupId": "g", "userId": " "}, "createUpdateObject: identifier id is blank"),
    ({"type": "group", "groupId": "g", "anonymousId": " "}, "createUpdateObject: identifier anonymous_id is blank"),
    ({"type": "alias", "userId": "u1", "previousId": "  "}, "mergePeople: identifier id is blank"),
])
def test_invalid_emails_and_blank_ids_are_rejected_with_the_reason(event: dict, reason: str) -> None:
    with pytest.raises(ActionError, match=reason):
        simulate(event)


def test_user_ids_may_be_any_non_blank_string_and_a_valid_email_fallback_still_works() -> None:
    assert bodies({"type": "identify", "userId": "not-an-email"})["createUpdatePerson"]["identifiers"] == {"id": "not-an-email"}
    assert bodies({"type": "identify", "userId": " u1 "})["createUpdatePerson"]["identifiers"] == {"id": " u1 "}
    body = bodies({"type": "identify", "userId": "u1", "traits": {"email": "bad"}})["createUpdatePerson"]
    assert body["identifiers"] == {"id": "u1"} and body["attributes"] == {"email": "bad"}  # only identifiers are checked
    assert bodies({"type": "identify", "traits": {"email": "x@y.co"}})["createUpdatePerson"]["identifiers"] == {"email": "x@y.co"}


@pytest.mark.parametrize("created_at", ["", None])
def test_empty_created_at_is_left_out(created_at: str | None) -> None:
    for event in ({"type": "identify", "userId": "u1", "traits": {"created_at": created_at, "plan": "pro"}},
                  {"type": "group", "groupId": "g", "traits": {"createdAt": created_at, "plan": "pro"}}):
        body = next(iter(bodies(event).values()))
        assert body["attributes"] == {"plan": "pro"}, body


def test_group_object_attributes_become_the_object_attributes_as_the_reference() -> None:
    traits = {"object_type_id": "1", "objectAttributes": {"name": "Sales", "industry": "Technology",
                                                          "created_at": "2024-01-02T03:04:05Z", "objectTypeId": "7"}}
    body = bodies({"type": "group", "groupId": "grp123", "userId": "abc123", "traits": traits})["createUpdateObject"]
    assert body["attributes"] == {"name": "Sales", "industry": "Technology", "created_at": 1704164645}
    assert body["identifiers"] == {"object_type_id": "1", "object_id": "grp123"}
    flat = bodies({"type": "group", "groupId": "g", "traits": {"name": "Flat", "plan": "pro",
                                                               "objectAttributes": {"name": "Nested"}}})
    assert flat["createUpdateObject"]["attributes"] == {"name": "Nested", "plan": "pro"}  # objectAttributes wins


@pytest.mark.parametrize(("event", "value"), [
    ({"type": "group", "groupId": "g", "traits": {"object_type_id": "abc"}}, "abc"),
    ({"type": "group", "groupId": "g", "traits": {"objectTypeId": "0"}}, "0"),
    ({"type": "identify", "userId": "u", "traits": {"objectId": "g", "object_type_id": "1.5"}}, "1.5"),
    ({"type": "track", "event": "Object Deleted", "properties": {"objectId": "g", "object_type_id": "x"}}, "x"),
])
def test_object_type_ids_are_checked_in_our_words(event: dict, value: str) -> None:
    with pytest.raises(ActionError) as caught:
        simulate(event)
    message = caught.value.message
    assert f'object_type_id "{value}" is not valid: object type ids are whole numbers from 1, as strings ("1", "2")' \
        in message and "set object_type_id" in message
    assert "pydantic" not in message and "Input should" not in message


def test_a_person_without_a_relationship_may_carry_any_object_type_id() -> None:
    assert bodies({"type": "identify", "userId": "u", "traits": {"objectTypeId": "x"}})["createUpdatePerson"]


def test_operation_problems_say_field_value_and_rule_without_library_text() -> None:
    problems = operation_problems({"type": "object", "action": "identify",
                                   "identifiers": {"object_type_id": "abc", "object_id": ""}, "extra": 1})
    assert problems == ['identifiers.object_type_id: object type ids are whole numbers from 1, as strings ("1", "2") '
                        '(got "abc")', "identifiers.object_id: must not be empty", "extra: is not a known field here"]
    mapping = {"id": {"@path": "$.userId"}, "name": "e", "timestamp": "99999999999999999"}
    with pytest.raises(ActionError) as caught:  # a hand-made mapping can still build what the API refuses
        simulate({"type": "track", "userId": "u"}, action="trackEvent", mapping=mapping)
    assert caught.value.message == ("trackEvent: the operation does not fit the Track API: timestamp: must be at most "
                                    "1099511627776 (got 100000000000000)")
