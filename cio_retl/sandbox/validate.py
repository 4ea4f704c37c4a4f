"""Check one Track API v2 operation against the documented shapes and limits, as the sandbox's 207 does."""

from __future__ import annotations

import json
import re
from typing import Any

Problem = tuple[str, str, str]  # reason, field, message

PERSON_IDENTIFIERS = {"id", "email", "cio_id", "phone", "anonymous_id"}
MERGE_IDENTIFIERS = {"id", "email", "cio_id"}
PERSON_ACTIONS = {"identify", "delete", "event", "page", "screen", "add_relationships", "delete_relationships",
                  "add_device", "delete_device", "merge", "suppress", "unsuppress", "viewed_content",
                  "clicked_content"}
OBJECT_ACTIONS = {"identify", "identify_anonymous", "delete", "add_relationships", "delete_relationships"}
EVENT_ACTIONS = {"event", "page", "screen"}
RELATIONSHIP_ACTIONS = {"add_relationships", "delete_relationships"}
ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
MAX_OPERATION_BYTES = 32 * 1024
MAX_ID_BYTES = 150
MAX_ATTRIBUTE_NAME_BYTES = 150
MAX_ATTRIBUTE_VALUE_BYTES = 1000
MAX_ATTRIBUTES = 300
MAX_EVENT_NAME_BYTES = 100
MAX_EVENT_DATA_BYTES = 100_000


def operation_problem(op: Any, size: int | None = None) -> Problem | None:
    """The first thing wrong with `op` (reason, field, message), or None when Customer.io would take it."""
    if not isinstance(op, dict):
        return ("invalid", "", "each operation must be a JSON object")
    if size is not None and size >= MAX_OPERATION_BYTES:
        return ("too_large", "", f"operation is {size} bytes; the limit is 32 KB")
    kind, action = op.get("type"), op.get("action")
    if kind not in ("person", "object", "delivery"):
        return ("invalid", "type", "type must be one of person, object, delivery")
    allowed = {"person": PERSON_ACTIONS, "object": OBJECT_ACTIONS, "delivery": {"event"}}[kind]
    if action not in allowed:
        return ("invalid", "action", f"action must be one of {', '.join(sorted(allowed))} for type {kind}")
    if kind == "person" and action == "merge":
        return _merge_problem(op)
    checks = {"person": _person_problem, "object": _object_problem, "delivery": _delivery_problem}
    return checks[kind](op, action)


def _one_identifier(identifiers: Any, allowed: set[str], field: str) -> Problem | None:
    if not isinstance(identifiers, dict) or not identifiers:
        return ("required", field, f"{field} is required")
    if len(identifiers) != 1 or next(iter(identifiers)) not in allowed:
        return ("invalid", field, f"{field} must have exactly one of {', '.join(sorted(allowed))}")
    value = next(iter(identifiers.values()))
    if not isinstance(value, str) or not value:
        return ("invalid", field, f"{field} value must be a non-empty string")
    if len(value.encode()) > MAX_ID_BYTES:
        return ("too_long", field, f"identifier is longer than {MAX_ID_BYTES} bytes")
    return None


def _object_identifiers(identifiers: Any, field: str) -> Problem | None:
    if not isinstance(identifiers, dict):
        return ("required", field, f"{field} is required")
    if set(identifiers) == {"cio_object_id"}:
        return None
    if set(identifiers) != {"object_type_id", "object_id"}:
        return ("invalid", field, f"{field} must be object_type_id and object_id, or cio_object_id")
    type_id, object_id = identifiers["object_type_id"], identifiers["object_id"]
    if not isinstance(type_id, str) or not type_id.isdigit() or type_id == "0":
        return ("invalid", f"{field}.object_type_id", "object_type_id must be a string integer from \"1\"")
    if not isinstance(object_id, str) or not object_id or len(object_id.encode()) > MAX_ID_BYTES:
        return ("invalid", f"{field}.object_id", f"object_id must be a non-empty string of at most {MAX_ID_BYTES} bytes")
    return None


def _attributes_problem(attributes: Any, field: str = "attributes") -> Problem | None:
    if attributes is None:
        return None
    if not isinstance(attributes, dict):
        return ("invalid", field, f"{field} must be an object")
    if len(attributes) > MAX_ATTRIBUTES:
        return ("too_many", field, f"more than {MAX_ATTRIBUTES} attributes")
    for name, value in attributes.items():
        if len(name.encode()) > MAX_ATTRIBUTE_NAME_BYTES:
            return ("too_long", f"{field}.{name[:40]}", f"attribute name longer than {MAX_ATTRIBUTE_NAME_BYTES} bytes")
        encoded = value.encode() if isinstance(value, str) else json.dumps(value).encode()
        if len(encoded) > MAX_ATTRIBUTE_VALUE_BYTES and field != "event attributes":
            return ("too_long", f"{field}.{name}", f"value of attribute '{name}' cannot be longer than "
                                                    f"{MAX_ATTRIBUTE_VALUE_BYTES} bytes")
    return None


def _timestamp_problem(value: Any, field: str) -> Problem | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return ("invalid", field, f"{field} must be an integer of Unix seconds")
    if value > 100_000_000_000:
        return ("invalid", field, f"{field} looks like milliseconds; send Unix seconds")
    return None


def _relationships_problem(relationships: Any, people: bool, required: bool) -> Problem | None:
    if relationships is None and not required:
        return None
    if not isinstance(relationships, list) or (required and not relationships):
        return ("required", "cio_relationships", "cio_relationships must be a non-empty array")
    for i, relationship in enumerate(relationships):
        field = f"cio_relationships[{i}].identifiers"
        identifiers = relationship.get("identifiers") if isinstance(relationship, dict) else None
        problem = (_one_identifier(identifiers, PERSON_IDENTIFIERS, field) if people
                   else _object_identifiers(identifiers, field))
        problem = problem or _attributes_problem(relationship.get("relationship_attributes"),
                                                 f"cio_relationships[{i}].relationship_attributes")
        if problem:
            return problem
    return None


def _person_problem(op: dict[str, Any], action: str) -> Problem | None:
    problem = _one_identifier(op.get("identifiers"), PERSON_IDENTIFIERS, "identifiers")
    if problem:
        return problem
    if action in EVENT_ACTIONS:
        return _event_problem(op)
    if action == "identify":
        return (_attributes_problem(op.get("attributes")) or _timestamp_problem(op.get("timestamp"), "timestamp")
                or _relationships_problem(op.get("cio_relationships"), people=False, required=False))
    if action in RELATIONSHIP_ACTIONS:
        return _relationships_problem(op.get("cio_relationships"), people=False, required=True)
    if action in ("add_device", "delete_device"):
        return _device_problem(op.get("device"), action)
    return None


def _event_problem(op: dict[str, Any]) -> Problem | None:
    name = op.get("name")
    if not isinstance(name, str) or not name.strip():
        return ("required", "name", "name is required")
    if len(name.encode()) > MAX_EVENT_NAME_BYTES:
        return ("too_long", "name", f"name is longer than {MAX_EVENT_NAME_BYTES} bytes")
    if "id" in op and (not isinstance(op["id"], str) or not ULID.match(op["id"])):
        return ("invalid", "id", "id must be a ULID")
    attributes = op.get("attributes")
    if attributes is not None and len(json.dumps(attributes).encode()) > MAX_EVENT_DATA_BYTES:
        return ("too_large", "attributes", f"event data is larger than {MAX_EVENT_DATA_BYTES} bytes")
    return _attributes_problem(attributes, "event attributes") or _timestamp_problem(op.get("timestamp"), "timestamp")


def _device_problem(device: Any, action: str) -> Problem | None:
    if not isinstance(device, dict) or not isinstance(device.get("token"), str) or not device["token"]:
        return ("required", "device.token", "device.token is required")
    if action == "add_device":
        if device.get("platform") not in ("ios", "android"):
            return ("invalid", "device.platform", "device.platform must be ios or android")
        attributes = device.get("attributes")
        if attributes is not None and (not isinstance(attributes, dict)
                                       or not all(isinstance(v, str) for v in attributes.values())):
            return ("invalid", "device.attributes", "device attributes must be strings")
        return _timestamp_problem(device.get("last_used"), "device.last_used")
    return None


def _merge_problem(op: dict[str, Any]) -> Problem | None:
    if "identifiers" in op:
        return ("invalid", "identifiers", "merge takes primary and secondary, not identifiers")
    return (_one_identifier(op.get("primary"), MERGE_IDENTIFIERS, "primary")
            or _one_identifier(op.get("secondary"), MERGE_IDENTIFIERS, "secondary"))


def _object_problem(op: dict[str, Any], action: str) -> Problem | None:
    problem = _object_identifiers(op.get("identifiers"), "identifiers")
    if problem:
        return problem
    if action in ("identify", "identify_anonymous"):
        if action == "identify_anonymous":
            relationships = op.get("cio_relationships") or []
            if any(set((r or {}).get("identifiers") or {}) != {"anonymous_id"} for r in relationships):
                return ("invalid", "cio_relationships", "identify_anonymous relates people by anonymous_id only")
        return (_attributes_problem(op.get("attributes"))
                or _relationships_problem(op.get("cio_relationships"), people=True, required=False))
    if action in RELATIONSHIP_ACTIONS:
        return _relationships_problem(op.get("cio_relationships"), people=True, required=True)
    return None


def _delivery_problem(op: dict[str, Any], action: str) -> Problem | None:
    identifiers = op.get("identifiers")
    if not isinstance(identifiers, dict) or not isinstance(identifiers.get("id"), str):
        return ("required", "identifiers.id", "delivery identifiers.id is required")
    if op.get("name") not in ("opened", "converted", "delivered"):
        return ("invalid", "name", "name must be opened, converted or delivered")
    attributes = op.get("attributes")
    if not isinstance(attributes, dict) or not attributes.get("device_token"):
        return ("required", "attributes.device_token", "attributes.device_token is required")
    return None
