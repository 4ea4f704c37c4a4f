"""Table-driven tests of every action, one Segment-spec event at a time (the tester runs the bulk SQL)."""

from __future__ import annotations

from typing import Any

import pytest

from cio_retl.actions.catalog import ACTIONS
from cio_retl.actions.schema import validate_operation
from cio_retl.actions.tester import simulate
from cio_retl.actions.ulid import is_ulid, ulid_for
from cio_retl.project import ActionOverride
from cio_retl.errors import ActionError

T = "2024-01-02T03:04:05Z"
S = 1704164645


def bodies(event: dict[str, Any], **kwargs: Any) -> list[tuple[str, dict[str, Any]]]:
    out = simulate(event, **kwargs)
    for request in out:  # every operation is checked against our own models of the API
        validate_operation(request["body"], "metrics" if request["url"].endswith("metrics") else "batch")
    return [(r["action"], r["body"]) for r in out]


def only(event: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    out = bodies(event, **kwargs)
    assert len(out) == 1, out
    return out[0][1]


IDENTIFY_CASES = [
    ("by id", {"userId": "u-9", "traits": {"email": "Mixed@Case.COM"}},
     {"id": "u-9"}, {"email": "Mixed@Case.COM"}),
    ("numeric id stringified", {"userId": 42}, {"id": "42"}, {}),
    ("email-looking userId", {"userId": "a@b.co"}, {"email": "a@b.co"}, {}),
    ("by email only", {"traits": {"email": "x@y.co"}}, {"email": "x@y.co"}, {"email": "x@y.co"}),
    ("cio_ id", {"userId": "cio_abc"}, {"cio_id": "abc"}, {}),
    ("cio_ wins over email", {"userId": "cio_x@y.z"}, {"cio_id": "x@y.z"}, {}),
    ("anonymous only", {"anonymousId": "anon-1", "traits": {"plan": "pro"}}, {"anonymous_id": "anon-1"}, {"plan": "pro"}),
    ("anonymous id kept as attribute", {"userId": "u1", "anonymousId": "a1"}, {"id": "u1"}, {"anonymous_id": "a1"}),
    ("nulls and empties preserved", {"userId": "u1", "traits": {"a": None, "b": "", "c": 0, "d": False}},
     {"id": "u1"}, {"a": None, "b": "", "c": 0, "d": False}),
]


@pytest.mark.parametrize(("label", "event", "identifiers", "attributes"), IDENTIFY_CASES, ids=[c[0] for c in IDENTIFY_CASES])
def test_identify_identifiers(label: str, event: dict[str, Any], identifiers: dict, attributes: dict) -> None:
    body = only({"type": "identify", "timestamp": T, **event})
    assert body["identifiers"] == identifiers
    assert body["attributes"] == attributes
    assert "timestamp" not in body  # not unless mapped: Customer.io ignores an update older than the profile's latest


def test_identify_without_identifier_is_rejected() -> None:
    with pytest.raises(ActionError, match="no identifier: set user_id, email or anonymous_id"):
        simulate({"type": "identify", "traits": {"plan": "pro"}})


def test_identify_relationship_from_traits_object_id() -> None:
    body = only({"type": "identify", "userId": "u1", "traits": {
        "objectId": "acme", "objectTypeId": 2, "relationshipAttributes": {"role": "admin", "since": "2024-01-02"},
        "created_at": "2024-01-02", "name": "Ann"}})
    assert body["cio_relationships"] == [{"identifiers": {"object_type_id": "2", "object_id": "acme"},
                                          "relationship_attributes": {"role": "admin", "since": 1704153600}}]
    # objectId stays an attribute (as in the reference); reserved keys do not; created_at is converted
    assert body["attributes"] == {"objectId": "acme", "name": "Ann", "created_at": 1704153600}


def test_identify_created_at_camel_case_and_no_convert_override() -> None:
    event = {"type": "identify", "userId": "u1", "traits": {"createdAt": "2024-01-02T00:00:00+01:00"}}
    assert only(event)["attributes"] == {"created_at": 1704150000}
    off = {"createUpdatePerson": ActionOverride(mapping={"convert_timestamp": False})}
    assert only(event, overrides=off)["attributes"] == {"created_at": "2024-01-02T00:00:00+01:00"}


GROUP_CASES = [
    ("with a user", {"userId": "u1"}, "identify", [{"identifiers": {"id": "u1"}, "relationship_attributes": {"role": "x"}}]),
    ("anonymous only", {"anonymousId": "a1"}, "identify_anonymous",
     [{"identifiers": {"anonymous_id": "a1"}, "relationship_attributes": {"role": "x"}}]),
    ("neither", {}, "identify", None),
]


@pytest.mark.parametrize(("label", "who", "action", "relationships"), GROUP_CASES, ids=[c[0] for c in GROUP_CASES])
def test_group(label: str, who: dict, action: str, relationships: list | None) -> None:
    body = only({"type": "group", "groupId": "acme", **who, "traits": {
        "name": "Acme", "object_type_id": "3", "created_at": "2024-01-02", "relationshipAttributes": {"role": "x"}}})
    assert body["identifiers"] == {"object_type_id": "3", "object_id": "acme"}
    assert body["action"] == action
    assert body.get("cio_relationships") == relationships
    # flat traits are the object's attributes; created_at stays inside them, never top-level
    assert body["attributes"] == {"name": "Acme", "created_at": 1704153600}
    assert "created_at" not in body


def test_group_default_type_and_missing_object_id() -> None:
    assert only({"type": "group", "groupId": 7})["identifiers"] == {"object_type_id": "1", "object_id": "7"}
    with pytest.raises(ActionError, match="missing object id"):
        simulate({"type": "group", "userId": "u1"})


def test_track_event_with_ulid_and_timestamp() -> None:
    event = {"type": "track", "event": "Order Placed", "userId": "u1", "timestamp": "2024-01-02T05:04:05+02:00",
             "properties": {"price": 23.45, "at": "2024-01-02", "ms": 1704164645000, "digits": "1700000000"}}
    body = only(event)
    assert body["name"] == "Order Placed" and body["timestamp"] == S
    assert body["attributes"] == {"price": 23.45, "at": 1704153600, "ms": 1704164645000, "digits": "1700000000"}
    assert is_ulid(body["id"]) and body["id"] == only(event)["id"]  # deterministic


def test_event_ids_follow_message_id() -> None:
    base = {"type": "track", "event": "e", "userId": "u1"}
    kept = "01J0ABCDEFGHJKMNPQRSTVWXYZ"
    assert only({**base, "messageId": kept})["id"] == kept
    assert only({**base, "messageId": kept.lower()})["id"] == kept
    assert only({**base, "messageId": "4vl6zh"})["id"] == ulid_for("messageId", "4vl6zh")
    assert only({**base, "messageId": "4vl6zh"})["id"] != only({**base, "messageId": "4vl6zi"})["id"]


@pytest.mark.parametrize("name", ["User Deleted", "Device Deleted", "Object Deleted", "Report Delivery Event"])
def test_semantic_events_are_not_track_events(name: str) -> None:
    fired = [a for a, _ in bodies({"type": "track", "event": name, "userId": "u1", "context": {"device": {"token": "t"}},
                                   "properties": {"objectId": "o", "deliveryId": "d", "metric": "opened"}})]
    assert "trackEvent" not in fired and len(fired) == 1


def test_track_without_identifier_and_oversize_name_are_rejected() -> None:
    with pytest.raises(ActionError, match="no identifier"):
        simulate({"type": "track", "event": "e"})
    with pytest.raises(ActionError, match=r"name is 101 bytes \(limit 100\)"):
        simulate({"type": "track", "event": "x" * 101, "userId": "u1"})


def test_page_and_screen() -> None:
    page = only({"type": "page", "userId": "u1", "name": "home", "properties": {"url": "https://x.co/a", "title": "A"}})
    assert (page["action"], page["name"], page["attributes"]["title"]) == ("page", "https://x.co/a", "A")
    with pytest.raises(ActionError, match="missing url"):
        simulate({"type": "page", "userId": "u1", "context": {"page": {"url": "https://x.co"}}})
    screen = only({"type": "screen", "anonymousId": "a1", "name": "Home"})
    assert (screen["action"], screen["name"], screen["identifiers"]) == ("screen", "Home", {"anonymous_id": "a1"})


def test_semantic_deletes() -> None:
    assert only({"type": "track", "event": "User Deleted", "userId": "u1"}) == \
        {"type": "person", "identifiers": {"id": "u1"}, "action": "delete"}
    assert only({"type": "track", "event": "User Deleted", "properties": {"email": "a@b.co"}})["identifiers"] == \
        {"email": "a@b.co"}
    assert only({"type": "track", "event": "Object Deleted", "properties": {"objectId": "acme"}}) == \
        {"type": "object", "identifiers": {"object_type_id": "1", "object_id": "acme"}, "action": "delete"}
    rel = only({"type": "track", "event": "Relationship Deleted", "userId": "u1",
                "properties": {"objectId": "acme", "objectTypeId": 2}})
    assert rel == {"type": "object", "identifiers": {"object_type_id": "2", "object_id": "acme"},
                   "action": "delete_relationships", "cio_relationships": [{"identifiers": {"id": "u1"}}]}
    anonymous = only({"type": "track", "event": "Relationship Deleted", "anonymousId": "a", "properties": {"objectId": "o"}})
    assert anonymous["cio_relationships"] == [{"identifiers": {"anonymous_id": "a"}}]
    with pytest.raises(ActionError, match="no identifier"):
        simulate({"type": "track", "event": "Relationship Deleted", "properties": {"objectId": "o"}})
    assert only({"type": "track", "event": "User Suppressed", "userId": "u1"})["action"] == "suppress"
    assert only({"type": "track", "event": "User Unsuppressed", "userId": "cio_9"})["identifiers"] == {"cio_id": "9"}


def test_devices() -> None:
    event = {"type": "track", "event": "Application Opened", "userId": "u1", "timestamp": "2024-01-02T03:04:05",
             "context": {"device": {"token": "tok", "type": "iOS"}, "app": {"version": "1.2"}},
             "properties": {"device_model": "X"}}
    assert only(event)["device"] == {"token": "tok", "platform": "ios", "last_used": S,
                                     "attributes": {"device_model": "X", "app_version": "1.2"}}
    with pytest.raises(ActionError, match="device platform must be ios or android"):
        simulate({**event, "context": {"device": {"token": "tok", "type": "web"}}})
    gone = only({"type": "track", "event": "Application Uninstalled", "userId": "u1", "context": {"device": {"token": "t"}}})
    assert gone == {"type": "person", "identifiers": {"id": "u1"}, "action": "delete_device", "device": {"token": "t"}}


def test_merge() -> None:
    assert only({"type": "alias", "userId": "u1", "previousId": "old@x.co"}) == \
        {"type": "person", "action": "merge", "primary": {"id": "u1"}, "secondary": {"email": "old@x.co"}}
    with pytest.raises(ActionError, match="missing secondary"):
        simulate({"type": "alias", "userId": "u1"})


def test_report_events() -> None:
    metric = bodies({"type": "track", "event": "Report Delivery Event", "timestamp": T,
                     "properties": {"deliveryId": "d1", "metric": "opened", "actionName": "btn"}})
    assert metric == [("reportDeliveryEvent", {"delivery_id": "d1", "metric": "opened", "timestamp": S,
                                               "metadata": {"action_name": "btn"}})]
    content = only({"type": "track", "event": "Report Content Event", "anonymousId": "a1",
                    "properties": {"actionType": "viewed_content", "contentId": 3}})
    assert content["action"] == content["name"] == "viewed_content" and content["attributes"] == {"contentId": 3}


def test_overrides_trigger_mapping_and_disable() -> None:
    event = {"type": "identify", "userId": "u1", "traits": {"first_name": "Ann", "plan": "pro"}}
    custom = {"createUpdatePerson": ActionOverride(mapping={"custom_attributes": {
        "name": {"@template": "{{traits.first_name}}!"}, "tier": {"@coalesce": [{"@path": "$.traits.tier"}, "free"]}}})}
    assert only(event, overrides=custom)["attributes"] == {"name": "Ann!", "tier": "free"}
    assert bodies(event, overrides={"createUpdatePerson": ActionOverride(enabled=False)}) == []
    retrigger = {"trackEvent": ActionOverride(trigger='type = "track" and properties.plan = "pro"')}
    assert bodies({"type": "track", "event": "e", "userId": "u", "properties": {"plan": "free"}}, overrides=retrigger) == []
    assert len(bodies({"type": "track", "event": "e", "userId": "u", "properties": {"plan": "pro"}}, overrides=retrigger)) == 1


def test_action_flag_and_complete_mapping() -> None:
    out = bodies({"type": "track", "event": "e", "userId": "u"}, action="trackEvent",
                 mapping={"id": {"@path": "$.userId"}, "name": "Renamed", "data": {"k": 1}, "convert_timestamp": False})
    assert out[0][1]["name"] == "Renamed" and out[0][1]["attributes"] == {"k": 1}
    with pytest.raises(ActionError, match="trackEvent has no field 'nope'"):
        simulate({"type": "track", "event": "e"}, action="trackEvent", mapping={"nope": 1})


def test_unmatched_call_prints_nothing_and_region_url() -> None:
    assert bodies({"type": "screen_view_unknown"}) == []
    out = simulate({"type": "identify", "userId": "u"}, region="eu")
    assert out[0]["url"] == "https://track-eu.customer.io/api/v2/entity"


def test_oversize_attribute_value_rejected() -> None:
    with pytest.raises(ActionError, match=r"attribute bio is 1001 bytes \(limit 1,000\)"):
        simulate({"type": "identify", "userId": "u1", "traits": {"bio": "é" * 500 + "x"}})
    with pytest.raises(ActionError, match=r"identifier id is 151 bytes"):
        simulate({"type": "identify", "userId": "u" * 151})
    with pytest.raises(ActionError, match=r"operation is \d+ bytes \(limit 32 KB\)"):
        simulate({"type": "identify", "userId": "u", "traits": {f"k{i}": "v" * 900 for i in range(40)}})


def test_every_action_is_exercised() -> None:
    assert len(ACTIONS) == 15
