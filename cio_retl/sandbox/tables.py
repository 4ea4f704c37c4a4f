"""The sandbox's tables: their DDL, their columns, and reading everything back as plain JSON-ready lists (dump)."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pyarrow as pa

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
INT_COLUMNS = {"updated_at", "last_used", "timestamp", "received_at"}


def arrow_rows(table: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows of one of the sandbox's tables as Arrow, typed by SCHEMAS (integers for the time columns)."""
    columns = SCHEMAS[table]
    types = [pa.int64() if name in INT_COLUMNS else pa.string() for name in columns]
    return pa.table({name: pa.array([row.get(name) for row in rows], kind) for name, kind in zip(columns, types)})


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
