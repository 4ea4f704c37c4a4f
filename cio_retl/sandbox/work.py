"""One request's slice of the sandbox: the rows its operations touch, changed in Python as Customer.io would."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

# Customer.io answers 200 to a person update whose timestamp is older than the profile's latest update, and
# applies nothing: the sandbox does the same, and keeps a row in `ignored` saying so.
STALE_UPDATE = "timestamp older than the profile's latest update: ignored, as Customer.io does (answered 200)"
KEY_KINDS = ("id", "email", "anonymous_id", "cio_id")


def norm_identifier(kind: str, value: str) -> tuple[str, str]:
    # Customer.io matches email case-insensitively; every other identifier exactly.
    return (kind, value.lower() if kind == "email" else value)


def _patch(target: dict[str, Any], attributes: dict[str, Any] | None, *, empty_removes: bool) -> None:
    """Merge attributes: null removes a key (and "" too, for objects and relationships)."""
    for name, value in (attributes or {}).items():
        if value is None or (empty_removes and value == ""):
            target.pop(name, None)
        else:
            target[name] = value

@dataclass
class Work:
    """The slice of the tables one request touches, loaded once, changed in Python, written back once."""

    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    index: dict[tuple[str, str], str] = field(default_factory=dict)
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    relationships: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    suppressed: set[tuple[str, str]] = field(default_factory=set)
    events: list[dict[str, Any]] = field(default_factory=list)
    moved_events: list[tuple[str, str]] = field(default_factory=list)
    deleted_people: set[str] = field(default_factory=set)
    metrics: list[str] = field(default_factory=list)
    unsuppressed: set[tuple[str, str]] = field(default_factory=set)
    ignored: list[dict[str, Any]] = field(default_factory=list)

    def index_person(self, person: dict[str, Any]) -> None:
        self.people[person["cio_id"]] = person
        for kind in KEY_KINDS:
            if person.get(kind):
                self.index[norm_identifier(kind, person[kind])] = person["cio_id"]

    # ------------------------------------------------------------ one operation

    def _find(self, identifiers: dict[str, str]) -> str | None:
        kind, value = next(iter(identifiers.items()))
        cio = self.index.get(norm_identifier(kind, value))
        return cio if cio in self.people else None

    def _find_or_create(self, identifiers: dict[str, str], now: int) -> str | None:
        """The person these identifiers name; created if new (not for cio_id or phone, nor if suppressed)."""
        kind, value = next(iter(identifiers.items()))
        cio = self._find(identifiers)
        if cio or kind in ("cio_id", "phone") or norm_identifier(kind, value) in self.suppressed:
            return cio
        person = {"cio_id": secrets.token_hex(10), "id": None, "email": None, "anonymous_id": None,
                  "attributes": {}, "updated_at": now}
        person[kind] = value
        self.index_person(person)
        return person["cio_id"]

    def apply_one(self, op: dict[str, Any], now: int) -> None:
        kind, action = op["type"], op["action"]
        if kind == "delivery":
            self.metrics.append(json.dumps(op))
        elif kind == "object":
            self._object(op, action, now)
        elif action == "merge":
            self._merge(op)
        else:
            self._person(op, action, now)

    def _person(self, op: dict[str, Any], action: str, now: int) -> None:
        identifiers = op["identifiers"]
        if action == "identify":
            self._identify(op, now)
        elif action in ("event", "page", "screen", "viewed_content", "clicked_content"):
            self.events.append({"id": op.get("id"), "cio_id": self._find(identifiers),
                                "identifiers": json.dumps(identifiers), "type": action, "name": op.get("name"),
                                "timestamp": op.get("timestamp", now), "attributes": json.dumps(op.get("attributes") or {}),
                                "received_at": now})
        elif action == "delete":
            cio = self._find(identifiers)
            if cio:
                self._drop_person(cio)
        elif action in ("add_relationships", "delete_relationships"):
            cio = self._find_or_create(identifiers, now) if action == "add_relationships" else self._find(identifiers)
            for relationship in op["cio_relationships"] if cio else []:
                self._relate(cio, relationship, add=action == "add_relationships")
        elif action == "add_device":
            self._add_device(op, now)
        elif action == "delete_device":
            device = self.devices.get(op["device"]["token"])
            if device and device["cio_id"] == self._find(identifiers):
                del self.devices[op["device"]["token"]]
        elif action == "suppress":
            self._suppress(identifiers)
        elif action == "unsuppress":
            key = norm_identifier(*next(iter(identifiers.items())))
            self.suppressed.discard(key)
            self.unsuppressed.add(key)

    def _identify(self, op: dict[str, Any], now: int) -> None:
        attributes = dict(op.get("attributes") or {})
        update_only = attributes.pop("_update", False) is True  # update people who exist, never create
        known = self._find(op["identifiers"])
        stamp = op.get("timestamp")
        if known and isinstance(stamp, int) and stamp < (self.people[known].get("updated_at") or 0):
            self.ignored.append({"identifiers": json.dumps(op["identifiers"]), "action": "identify", "timestamp": stamp,
                                 "updated_at": self.people[known]["updated_at"], "reason": STALE_UPDATE,
                                 "received_at": now})
            return
        cio = known if update_only or known else self._find_or_create(op["identifiers"], now)
        if not cio:
            return
        person = self.people[cio]
        _patch(person["attributes"], attributes, empty_removes=False)
        for key in ("email", "id"):  # an email (or id) attribute becomes that identifier of the person
            value = attributes.get(key)
            if isinstance(value, str) and value and not person.get(key):
                person[key] = value
                self.index[norm_identifier(key, value)] = cio
        # A new profile's latest update is when it arrived; an update never moves it back.
        person["updated_at"] = now if known is None else max(person.get("updated_at") or 0, op.get("timestamp") or now)
        for relationship in op.get("cio_relationships") or []:
            self._relate(cio, relationship, add=True)

    def _relate(self, cio: str, relationship: dict[str, Any], *, add: bool) -> None:
        identifiers = relationship["identifiers"]
        if "cio_object_id" in identifiers:
            return  # the sandbox names objects by type and id only
        key = (cio, identifiers["object_type_id"], identifiers["object_id"])
        if not add:
            self.relationships.pop(key, None)
            return
        self.objects.setdefault(key[1:], {})  # relating to an unknown object creates it
        _patch(self.relationships.setdefault(key, {}), relationship.get("relationship_attributes"), empty_removes=True)

    def _object(self, op: dict[str, Any], action: str, now: int) -> None:
        identifiers = op["identifiers"]
        if "cio_object_id" in identifiers:
            return
        key = (identifiers["object_type_id"], identifiers["object_id"])
        if action == "delete":
            self.objects.pop(key, None)
            for relationship in [k for k in self.relationships if k[1:] == key]:
                del self.relationships[relationship]  # deleting an object removes its relationships
            return
        if action in ("identify", "identify_anonymous"):
            _patch(self.objects.setdefault(key, {}), op.get("attributes"), empty_removes=True)
        elif key not in self.objects:
            return
        for relationship in op.get("cio_relationships") or []:
            add = action != "delete_relationships"
            person = (self._find_or_create(relationship["identifiers"], now) if add
                      else self._find(relationship["identifiers"]))
            if person:
                self._relate(person, {"identifiers": {"object_type_id": key[0], "object_id": key[1]},
                                            "relationship_attributes": relationship.get("relationship_attributes")},
                             add=add)

    def _add_device(self, op: dict[str, Any], now: int) -> None:
        cio = self._find_or_create(op["identifiers"], now)
        if not cio:
            return
        device = op["device"]
        current = self.devices.get(device["token"])
        attributes = dict(current["attributes"]) if current and current["cio_id"] == cio else {}
        _patch(attributes, device.get("attributes"), empty_removes=False)
        self.devices[device["token"]] = {"token": device["token"], "cio_id": cio, "platform": device["platform"],
                                         "last_used": device.get("last_used", now), "attributes": attributes}

    def _suppress(self, identifiers: dict[str, str]) -> None:
        keys = {norm_identifier(*next(iter(identifiers.items())))}
        cio = self._find(identifiers)
        if cio:
            person = self.people[cio]
            keys |= {norm_identifier(k, person[k]) for k in ("id", "email") if person.get(k)}
            self._drop_person(cio)
        self.suppressed |= keys
        self.unsuppressed -= keys

    def _merge(self, op: dict[str, Any]) -> None:
        primary, secondary = self._find(op["primary"]), self._find(op["secondary"])
        if not primary or not secondary or primary == secondary:
            return  # the primary must exist; a missing secondary leaves nothing to merge
        winner, loser = self.people[primary], self.people[secondary]
        winner["attributes"] = {**loser["attributes"], **winner["attributes"]}  # the primary's values win
        for key in ("id", "email", "anonymous_id"):
            if not winner.get(key) and loser.get(key):
                winner[key] = loser[key]
        for (cio, type_id, object_id), attributes in list(self.relationships.items()):
            if cio == secondary:
                self.relationships.setdefault((primary, type_id, object_id), attributes)
        for device in self.devices.values():
            if device["cio_id"] == secondary:
                device["cio_id"] = primary
        for event in self.events:
            if event["cio_id"] == secondary:
                event["cio_id"] = primary
        self.moved_events.append((secondary, primary))
        self._drop_person(secondary, keep_events=True)
        for key in KEY_KINDS:
            if winner.get(key):
                self.index[norm_identifier(key, winner[key])] = primary

    def _drop_person(self, cio: str, *, keep_events: bool = False) -> None:
        self.people.pop(cio, None)
        self.deleted_people.add(cio)
        for key in [k for k in self.relationships if k[0] == cio]:
            del self.relationships[key]
        for token in [t for t, d in self.devices.items() if d["cio_id"] == cio]:
            del self.devices[token]
        if not keep_events:
            self.events = [e for e in self.events if e["cio_id"] != cio]
