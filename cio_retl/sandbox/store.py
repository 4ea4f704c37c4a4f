"""The sandbox's "Customer.io": DuckDB tables of people, objects, relationships, devices, events, suppressions."""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from cio_retl import engine

DDL = """
CREATE TABLE IF NOT EXISTS people (cio_id VARCHAR, id VARCHAR, email VARCHAR, anonymous_id VARCHAR,
                                   attributes VARCHAR, updated_at BIGINT);
CREATE TABLE IF NOT EXISTS objects (object_type_id VARCHAR, object_id VARCHAR, attributes VARCHAR);
CREATE TABLE IF NOT EXISTS relationships (cio_id VARCHAR, object_type_id VARCHAR, object_id VARCHAR,
                                          attributes VARCHAR);
CREATE TABLE IF NOT EXISTS devices (token VARCHAR, cio_id VARCHAR, platform VARCHAR, last_used BIGINT,
                                    attributes VARCHAR);
CREATE TABLE IF NOT EXISTS events (id VARCHAR, cio_id VARCHAR, identifiers VARCHAR, type VARCHAR, name VARCHAR,
                                   timestamp BIGINT, attributes VARCHAR, received_at BIGINT);
CREATE TABLE IF NOT EXISTS suppressed (kind VARCHAR, value VARCHAR);
CREATE TABLE IF NOT EXISTS metrics (body VARCHAR, received_at BIGINT);
CREATE TABLE IF NOT EXISTS segment_members (segment_id BIGINT, cio_id VARCHAR);
CREATE TABLE IF NOT EXISTS ignored (identifiers VARCHAR, action VARCHAR, timestamp BIGINT, updated_at BIGINT,
                                    reason VARCHAR, received_at BIGINT);
"""
SCHEMAS = {
    "people": ["cio_id", "id", "email", "anonymous_id", "attributes", "updated_at"],
    "objects": ["object_type_id", "object_id", "attributes"],
    "relationships": ["cio_id", "object_type_id", "object_id", "attributes"],
    "devices": ["token", "cio_id", "platform", "last_used", "attributes"],
    "events": ["id", "cio_id", "identifiers", "type", "name", "timestamp", "attributes", "received_at"],
    "suppressed": ["kind", "value"],
    "ignored": ["identifiers", "action", "timestamp", "updated_at", "reason", "received_at"],
}
# Customer.io answers 200 to a person update whose timestamp is older than the profile's latest update, and
# applies nothing: the sandbox does the same, and keeps a row in `ignored` saying so.
STALE_UPDATE = "timestamp older than the profile's latest update: ignored, as Customer.io does (answered 200)"
INT_COLUMNS = {"updated_at", "last_used", "timestamp", "received_at"}
KEY_KINDS = ("id", "email", "anonymous_id", "cio_id")


def _norm(kind: str, value: str) -> tuple[str, str]:
    # Customer.io matches email case-insensitively; every other identifier exactly.
    return (kind, value.lower() if kind == "email" else value)


def _arrow(table: str, rows: list[dict[str, Any]]) -> pa.Table:
    columns = SCHEMAS[table]
    types = [pa.int64() if name in INT_COLUMNS else pa.string() for name in columns]
    return pa.table({name: pa.array([row.get(name) for row in rows], kind) for name, kind in zip(columns, types)})


def _patch(target: dict[str, Any], attributes: dict[str, Any] | None, *, empty_removes: bool) -> None:
    """Merge attributes: null removes a key (and "" too, for objects and relationships)."""
    for name, value in (attributes or {}).items():
        if value is None or (empty_removes and value == ""):
            target.pop(name, None)
        else:
            target[name] = value


@dataclass
class _Work:
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


class Store:
    """Applies valid operations, in order, to DuckDB tables; one request is one transaction."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self.con = engine.connect(path)
        self.con.execute(DDL)
        self.lock = threading.Lock()

    def close(self) -> None:
        with self.lock:
            self.con.close()

    # ------------------------------------------------------------ apply

    def apply(self, ops: list[dict[str, Any]]) -> None:
        """Apply operations in order: read what they touch, change it in Python, write it back in bulk."""
        if not ops:
            return
        with self.lock:
            work = self._load(ops)
            now = int(time.time())
            for op in ops:
                self._apply_one(work, op, now)
            self._write(work, now)

    def _load(self, ops: list[dict[str, Any]]) -> _Work:
        people_keys, object_keys, tokens = _references(ops)
        work = _Work()
        con = self.con
        con.register("ref_people", pa.table({"kind": [k for k, _ in people_keys], "value": [v for _, v in people_keys]}))
        con.register("ref_objects", pa.table({"t": [t for t, _ in object_keys], "o": [o for _, o in object_keys]}))
        con.register("ref_tokens", pa.table({"token": pa.array(sorted(tokens), pa.string())}))
        try:
            rows = con.sql("""
                SELECT p.* FROM people p WHERE p.cio_id IN (
                  SELECT cio_id FROM people JOIN ref_people r ON r.kind = 'id' AND people.id = r.value
                  UNION ALL SELECT cio_id FROM people JOIN ref_people r ON r.kind = 'email' AND lower(people.email) = r.value
                  UNION ALL SELECT cio_id FROM people JOIN ref_people r ON r.kind = 'anonymous_id' AND people.anonymous_id = r.value
                  UNION ALL SELECT cio_id FROM people JOIN ref_people r ON r.kind = 'cio_id' AND people.cio_id = r.value
                  UNION ALL SELECT cio_id FROM devices JOIN ref_tokens USING (token))""").to_arrow_table().to_pylist()
            for row in rows:
                row["attributes"] = json.loads(row["attributes"] or "{}")
                self._index(work, row)
            for row in con.sql("SELECT o.* FROM objects o SEMI JOIN ref_objects r ON o.object_type_id = r.t "
                                   "AND o.object_id = r.o").to_arrow_table().to_pylist():
                work.objects[(row["object_type_id"], row["object_id"])] = json.loads(row["attributes"] or "{}")
            con.register("loaded_people", pa.table({"cio_id": pa.array(list(work.people), pa.string())}))
            for row in con.sql(self._relationships_sql("SELECT *")).to_arrow_table().to_pylist():
                work.relationships[(row["cio_id"], row["object_type_id"], row["object_id"])] = json.loads(
                    row["attributes"] or "{}")
            for row in con.sql("SELECT * FROM devices WHERE cio_id IN (SELECT cio_id FROM loaded_people) "
                                   "OR token IN (SELECT token FROM ref_tokens)").to_arrow_table().to_pylist():
                row["attributes"] = json.loads(row["attributes"] or "{}")
                work.devices[row["token"]] = row
            work.suppressed = {(k, v) for k, v in con.execute(
                "SELECT kind, value FROM suppressed SEMI JOIN ref_people r ON suppressed.kind = r.kind "
                "AND suppressed.value = r.value").fetchall()}
        finally:
            for name in ("ref_people", "ref_objects", "ref_tokens"):
                con.unregister(name)
        work.loaded_people = set(work.people)  # type: ignore[attr-defined]
        work.loaded_objects = set(object_keys)  # type: ignore[attr-defined]
        work.loaded_tokens = set(work.devices) | set(tokens)  # type: ignore[attr-defined]
        return work

    @staticmethod
    def _relationships_sql(select: str) -> str:
        return (f"{select} FROM relationships WHERE cio_id IN (SELECT cio_id FROM loaded_people) "
                "OR (object_type_id, object_id) IN (SELECT (t, o) FROM ref_objects)")

    @staticmethod
    def _index(work: _Work, person: dict[str, Any]) -> None:
        work.people[person["cio_id"]] = person
        for kind in KEY_KINDS:
            if person.get(kind):
                work.index[_norm(kind, person[kind])] = person["cio_id"]

    # ------------------------------------------------------------ one operation

    def _find(self, work: _Work, identifiers: dict[str, str]) -> str | None:
        kind, value = next(iter(identifiers.items()))
        cio = work.index.get(_norm(kind, value))
        return cio if cio in work.people else None

    def _find_or_create(self, work: _Work, identifiers: dict[str, str], now: int) -> str | None:
        """The person these identifiers name; created if new (not for cio_id or phone, nor if suppressed)."""
        kind, value = next(iter(identifiers.items()))
        cio = self._find(work, identifiers)
        if cio or kind in ("cio_id", "phone") or _norm(kind, value) in work.suppressed:
            return cio
        person = {"cio_id": secrets.token_hex(10), "id": None, "email": None, "anonymous_id": None,
                  "attributes": {}, "updated_at": now}
        person[kind] = value
        self._index(work, person)
        return person["cio_id"]

    def _apply_one(self, work: _Work, op: dict[str, Any], now: int) -> None:
        kind, action = op["type"], op["action"]
        if kind == "delivery":
            work.metrics.append(json.dumps(op))
        elif kind == "object":
            self._object(work, op, action, now)
        elif action == "merge":
            self._merge(work, op)
        else:
            self._person(work, op, action, now)

    def _person(self, work: _Work, op: dict[str, Any], action: str, now: int) -> None:
        identifiers = op["identifiers"]
        if action == "identify":
            self._identify(work, op, now)
        elif action in ("event", "page", "screen", "viewed_content", "clicked_content"):
            work.events.append({"id": op.get("id"), "cio_id": self._find(work, identifiers),
                                "identifiers": json.dumps(identifiers), "type": action, "name": op.get("name"),
                                "timestamp": op.get("timestamp", now), "attributes": json.dumps(op.get("attributes") or {}),
                                "received_at": now})
        elif action == "delete":
            cio = self._find(work, identifiers)
            if cio:
                self._drop_person(work, cio)
        elif action in ("add_relationships", "delete_relationships"):
            cio = self._find_or_create(work, identifiers, now) if action == "add_relationships" else self._find(work, identifiers)
            for relationship in op["cio_relationships"] if cio else []:
                self._relate(work, cio, relationship, add=action == "add_relationships")
        elif action == "add_device":
            self._add_device(work, op, now)
        elif action == "delete_device":
            device = work.devices.get(op["device"]["token"])
            if device and device["cio_id"] == self._find(work, identifiers):
                del work.devices[op["device"]["token"]]
        elif action == "suppress":
            self._suppress(work, identifiers)
        elif action == "unsuppress":
            key = _norm(*next(iter(identifiers.items())))
            work.suppressed.discard(key)
            work.unsuppressed.add(key)

    def _identify(self, work: _Work, op: dict[str, Any], now: int) -> None:
        attributes = dict(op.get("attributes") or {})
        update_only = attributes.pop("_update", False) is True  # update people who exist, never create
        known = self._find(work, op["identifiers"])
        stamp = op.get("timestamp")
        if known and isinstance(stamp, int) and stamp < (work.people[known].get("updated_at") or 0):
            work.ignored.append({"identifiers": json.dumps(op["identifiers"]), "action": "identify", "timestamp": stamp,
                                 "updated_at": work.people[known]["updated_at"], "reason": STALE_UPDATE,
                                 "received_at": now})
            return
        cio = known if update_only or known else self._find_or_create(work, op["identifiers"], now)
        if not cio:
            return
        person = work.people[cio]
        _patch(person["attributes"], attributes, empty_removes=False)
        for key in ("email", "id"):  # an email (or id) attribute becomes that identifier of the person
            value = attributes.get(key)
            if isinstance(value, str) and value and not person.get(key):
                person[key] = value
                work.index[_norm(key, value)] = cio
        # A new profile's latest update is when it arrived; an update never moves it back.
        person["updated_at"] = now if known is None else max(person.get("updated_at") or 0, op.get("timestamp") or now)
        for relationship in op.get("cio_relationships") or []:
            self._relate(work, cio, relationship, add=True)

    def _relate(self, work: _Work, cio: str, relationship: dict[str, Any], *, add: bool) -> None:
        identifiers = relationship["identifiers"]
        if "cio_object_id" in identifiers:
            return  # the sandbox names objects by type and id only
        key = (cio, identifiers["object_type_id"], identifiers["object_id"])
        if not add:
            work.relationships.pop(key, None)
            return
        work.objects.setdefault(key[1:], {})  # relating to an unknown object creates it
        _patch(work.relationships.setdefault(key, {}), relationship.get("relationship_attributes"), empty_removes=True)

    def _object(self, work: _Work, op: dict[str, Any], action: str, now: int) -> None:
        identifiers = op["identifiers"]
        if "cio_object_id" in identifiers:
            return
        key = (identifiers["object_type_id"], identifiers["object_id"])
        if action == "delete":
            work.objects.pop(key, None)
            for relationship in [k for k in work.relationships if k[1:] == key]:
                del work.relationships[relationship]  # deleting an object removes its relationships
            return
        if action in ("identify", "identify_anonymous"):
            _patch(work.objects.setdefault(key, {}), op.get("attributes"), empty_removes=True)
        elif key not in work.objects:
            return
        for relationship in op.get("cio_relationships") or []:
            add = action != "delete_relationships"
            person = (self._find_or_create(work, relationship["identifiers"], now) if add
                      else self._find(work, relationship["identifiers"]))
            if person:
                self._relate(work, person, {"identifiers": {"object_type_id": key[0], "object_id": key[1]},
                                            "relationship_attributes": relationship.get("relationship_attributes")},
                             add=add)

    def _add_device(self, work: _Work, op: dict[str, Any], now: int) -> None:
        cio = self._find_or_create(work, op["identifiers"], now)
        if not cio:
            return
        device = op["device"]
        current = work.devices.get(device["token"])
        attributes = dict(current["attributes"]) if current and current["cio_id"] == cio else {}
        _patch(attributes, device.get("attributes"), empty_removes=False)
        work.devices[device["token"]] = {"token": device["token"], "cio_id": cio, "platform": device["platform"],
                                         "last_used": device.get("last_used", now), "attributes": attributes}

    def _suppress(self, work: _Work, identifiers: dict[str, str]) -> None:
        keys = {_norm(*next(iter(identifiers.items())))}
        cio = self._find(work, identifiers)
        if cio:
            person = work.people[cio]
            keys |= {_norm(k, person[k]) for k in ("id", "email") if person.get(k)}
            self._drop_person(work, cio)
        work.suppressed |= keys
        work.unsuppressed -= keys

    def _merge(self, work: _Work, op: dict[str, Any]) -> None:
        primary, secondary = self._find(work, op["primary"]), self._find(work, op["secondary"])
        if not primary or not secondary or primary == secondary:
            return  # the primary must exist; a missing secondary leaves nothing to merge
        winner, loser = work.people[primary], work.people[secondary]
        winner["attributes"] = {**loser["attributes"], **winner["attributes"]}  # the primary's values win
        for key in ("id", "email", "anonymous_id"):
            if not winner.get(key) and loser.get(key):
                winner[key] = loser[key]
        for (cio, type_id, object_id), attributes in list(work.relationships.items()):
            if cio == secondary:
                work.relationships.setdefault((primary, type_id, object_id), attributes)
        for device in work.devices.values():
            if device["cio_id"] == secondary:
                device["cio_id"] = primary
        for event in work.events:
            if event["cio_id"] == secondary:
                event["cio_id"] = primary
        work.moved_events.append((secondary, primary))
        self._drop_person(work, secondary, keep_events=True)
        for key in KEY_KINDS:
            if winner.get(key):
                work.index[_norm(key, winner[key])] = primary

    def _drop_person(self, work: _Work, cio: str, *, keep_events: bool = False) -> None:
        work.people.pop(cio, None)
        work.deleted_people.add(cio)
        for key in [k for k in work.relationships if k[0] == cio]:
            del work.relationships[key]
        for token in [t for t, d in work.devices.items() if d["cio_id"] == cio]:
            del work.devices[token]
        if not keep_events:
            work.events = [e for e in work.events if e["cio_id"] != cio]

    # ------------------------------------------------------------ write back

    def _write(self, work: _Work, now: int) -> None:
        con = self.con
        touched_people = work.loaded_people | set(work.people) | work.deleted_people  # type: ignore[attr-defined]
        object_keys = work.loaded_objects | set(work.objects)  # type: ignore[attr-defined]
        tokens = work.loaded_tokens | set(work.devices)  # type: ignore[attr-defined]
        con.execute("BEGIN TRANSACTION")
        try:
            con.register("loaded_people", pa.table({"cio_id": pa.array(sorted(touched_people), pa.string())}))
            con.register("ref_objects", pa.table({"t": [k[0] for k in object_keys], "o": [k[1] for k in object_keys]}))
            con.register("ref_tokens", pa.table({"token": pa.array(sorted(tokens), pa.string())}))
            con.execute(self._relationships_sql("DELETE"))
            con.execute("DELETE FROM people WHERE cio_id IN (SELECT cio_id FROM loaded_people)")
            con.execute("DELETE FROM objects WHERE (object_type_id, object_id) IN (SELECT (t, o) FROM ref_objects)")
            con.execute("DELETE FROM devices WHERE token IN (SELECT token FROM ref_tokens) "
                        "OR cio_id IN (SELECT cio_id FROM loaded_people)")
            self._insert("people", [{**p, "attributes": json.dumps(p["attributes"])} for p in work.people.values()])
            self._insert("objects", [{"object_type_id": t, "object_id": o, "attributes": json.dumps(a)}
                                     for (t, o), a in work.objects.items()])
            self._insert("relationships", [{"cio_id": c, "object_type_id": t, "object_id": o, "attributes": json.dumps(a)}
                                           for (c, t, o), a in work.relationships.items()])
            self._insert("devices", [{**d, "attributes": json.dumps(d["attributes"])} for d in work.devices.values()])
            self._write_events(work)
            self._write_suppressed(work)
            self._insert("ignored", work.ignored)
            if work.metrics:
                con.register("new_metrics", pa.table({"body": work.metrics, "received_at": [now] * len(work.metrics)}))
                con.execute("INSERT INTO metrics SELECT * FROM new_metrics")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.con.register(f"new_{table}", _arrow(table, rows))
            self.con.execute(f"INSERT INTO {table} SELECT * FROM new_{table}")
            self.con.unregister(f"new_{table}")

    def _write_events(self, work: _Work) -> None:
        con = self.con
        for secondary, primary in work.moved_events:
            con.execute("UPDATE events SET cio_id = ? WHERE cio_id = ?", [primary, secondary])
        gone = work.deleted_people - {s for s, _ in work.moved_events}
        if gone:
            con.register("gone", pa.table({"cio_id": pa.array(sorted(gone), pa.string())}))
            con.execute("DELETE FROM events WHERE cio_id IN (SELECT cio_id FROM gone)")
        if work.events:
            # De-duplicate by id: within this request, and against every event already received.
            con.register("new_events", _arrow("events", work.events))
            con.execute("""
                INSERT INTO events SELECT * EXCLUDE (rn) FROM (
                  SELECT *, row_number() OVER (PARTITION BY id ORDER BY received_at) AS rn FROM new_events) n
                 WHERE n.id IS NULL OR (rn = 1 AND n.id NOT IN (SELECT id FROM events WHERE id IS NOT NULL))""")

    def _write_suppressed(self, work: _Work) -> None:
        con = self.con
        changed = work.unsuppressed | work.suppressed
        if not changed:
            return
        con.register("changed", pa.table({"kind": [k for k, _ in changed], "value": [v for _, v in changed]}))
        con.execute("DELETE FROM suppressed WHERE (kind, value) IN (SELECT (kind, value) FROM changed)")
        self._insert("suppressed", [{"kind": k, "value": v} for k, v in work.suppressed])

    # ------------------------------------------------------------ read

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Everything the sandbox holds, as plain JSON-ready lists (people by id/email, events by received order)."""
        with self.lock:
            return dump_connection(self.con)

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {table: self.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
                    for table in ("people", "objects", "relationships", "devices", "events", "suppressed", "metrics",
                          "segment_members")}


def dump_connection(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, Any]]]:
    """The dump of a sandbox database (also used on a file opened read-only)."""
    person = "struct_pack(id := p.id, email := p.email, cio_id := p.cio_id)"
    queries = {
        "people": "SELECT cio_id, id, email, anonymous_id, attributes FROM people ORDER BY id, email, anonymous_id, cio_id",
        "objects": "SELECT object_type_id, object_id, attributes FROM objects ORDER BY 1, 2",
        "relationships": f"SELECT {person} AS person, r.object_type_id, r.object_id, r.attributes FROM relationships r "
                         "LEFT JOIN people p USING (cio_id) ORDER BY p.id, p.email, 2, 3",
        "devices": f"SELECT {person} AS person, d.token, d.platform, d.last_used, d.attributes FROM devices d "
                   "LEFT JOIN people p USING (cio_id) ORDER BY d.token",
        # person_known: the person existed when the event arrived (an event before its identify is not)
        "events": "SELECT e.id, e.type, e.name, e.identifiers AS person, e.cio_id IS NOT NULL AS person_known, "
                  "e.timestamp, e.attributes FROM events e ORDER BY e.received_at, e.id",
        "suppressed": "SELECT kind, value FROM suppressed ORDER BY 1, 2",
        # a deleted person leaves every segment: only members who still exist
        "segments": f"SELECT m.segment_id, {person} AS person FROM segment_members m JOIN people p USING (cio_id) "
                    "ORDER BY 1, p.id, p.email",
        "ignored": "SELECT identifiers, action, timestamp, updated_at, reason FROM ignored ORDER BY received_at",
    }
    result = {}
    for name, sql in queries.items():
        rows = con.sql(sql).to_arrow_table().to_pylist()
        for row in rows:
            for key in ("attributes", "person", "identifiers"):
                if isinstance(row.get(key), str):
                    row[key] = json.loads(row[key])
        result[name] = rows
    return result


def _references(ops: list[dict[str, Any]]) -> tuple[set[tuple[str, str]], set[tuple[str, str]], set[str]]:
    """Person identifiers, object keys and device tokens that a list of operations names."""
    people: set[tuple[str, str]] = set()
    objects: set[tuple[str, str]] = set()
    tokens: set[str] = set()

    def person(identifiers: Any) -> None:
        if isinstance(identifiers, dict) and len(identifiers) == 1:
            people.add(_norm(*next(iter(identifiers.items()))))

    def obj(identifiers: Any) -> None:
        if isinstance(identifiers, dict) and "object_id" in identifiers:
            objects.add((identifiers["object_type_id"], identifiers["object_id"]))

    for op in ops:
        is_object = op.get("type") == "object"
        (obj if is_object else person)(op.get("identifiers"))
        for side in ("primary", "secondary"):
            person(op.get(side))
        for relationship in op.get("cio_relationships") or []:
            (person if is_object else obj)(relationship.get("identifiers"))
        for key in ("email", "id"):
            value = (op.get("attributes") or {}).get(key) if op.get("action") == "identify" and not is_object else None
            if isinstance(value, str) and value:
                people.add(_norm(key, value))
        if isinstance(op.get("device"), dict) and op["device"].get("token"):
            tokens.add(op["device"]["token"])
    return people, objects, tokens
