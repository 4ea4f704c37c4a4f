"""The sandbox's "Customer.io": DuckDB tables of people, objects, relationships, devices, events, suppressions."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pyarrow as pa

from cio_retl import engine
from cio_retl.sandbox.work import Work, norm_identifier
from cio_retl.sandbox.tables import DDL, arrow_rows, dump_connection



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
                work.apply_one(op, now)
            self._write(work, now)

    def _load(self, ops: list[dict[str, Any]]) -> Work:
        people_keys, object_keys, tokens = _references(ops)
        work = Work()
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
                work.index_person(row)
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

    # ------------------------------------------------------------ write back

    def _write(self, work: Work, now: int) -> None:
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
            self.con.register(f"new_{table}", arrow_rows(table, rows))
            self.con.execute(f"INSERT INTO {table} SELECT * FROM new_{table}")
            self.con.unregister(f"new_{table}")

    def _write_events(self, work: Work) -> None:
        con = self.con
        for secondary, primary in work.moved_events:
            con.execute("UPDATE events SET cio_id = ? WHERE cio_id = ?", [primary, secondary])
        gone = work.deleted_people - {s for s, _ in work.moved_events}
        if gone:
            con.register("gone", pa.table({"cio_id": pa.array(sorted(gone), pa.string())}))
            con.execute("DELETE FROM events WHERE cio_id IN (SELECT cio_id FROM gone)")
        if work.events:
            # De-duplicate by id: within this request, and against every event already received.
            con.register("new_events", arrow_rows("events", work.events))
            con.execute("""
                INSERT INTO events SELECT * EXCLUDE (rn) FROM (
                  SELECT *, row_number() OVER (PARTITION BY id ORDER BY received_at) AS rn FROM new_events) n
                 WHERE n.id IS NULL OR (rn = 1 AND n.id NOT IN (SELECT id FROM events WHERE id IS NOT NULL))""")

    def _write_suppressed(self, work: Work) -> None:
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


def _references(ops: list[dict[str, Any]]) -> tuple[set[tuple[str, str]], set[tuple[str, str]], set[str]]:
    """Person identifiers, object keys and device tokens that a list of operations names."""
    people: set[tuple[str, str]] = set()
    objects: set[tuple[str, str]] = set()
    tokens: set[str] = set()

    def person(identifiers: Any) -> None:
        if isinstance(identifiers, dict) and len(identifiers) == 1:
            people.add(norm_identifier(*next(iter(identifiers.items()))))

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
                people.add(norm_identifier(key, value))
        if isinstance(op.get("device"), dict) and op["device"].get("token"):
            tokens.add(op["device"]["token"])
    return people, objects, tokens
