"""`cio-retl explain SYNC KEY…`: one row's journey — the model now, what Customer.io accepted, each action's trigger,
the recent operations — and a one-line verdict. Reads the warehouse and the state; changes nothing."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from cio_retl import engine
from cio_retl.actions.apply import compile_enabled, select_sql
from cio_retl.actions.columns import CallSchema
from cio_retl.actions.explain import trigger_report
from cio_retl.project import Project
from cio_retl.pipeline.convert import build_calls
from cio_retl.pipeline.direct import explain_direct, uses_direct_operations
from cio_retl.errors import ConfigError
from cio_retl.project.incremental import render_model
from cio_retl.rowhash import key_sql, row_hash_sql
from cio_retl.state.schema import stale_sql
from cio_retl.state.store import STUCK_AFTER_ATTEMPTS
from cio_retl.state.views import StateUnavailable, reading, row_story
from cio_retl.warehouse import open_warehouse
from cio_retl.warehouse.dialect import key_filter_sql
from cio_retl.cli.data_checks import old_event_note, unknown_person_note

STATES = ("in_sync", "out_of_sync", "pending", "rejected", "skipped", "not_found")


@dataclass
class Explanation:
    """What `explain --json` prints: exactly these keys."""

    sync: str
    key: list[str]
    state: str = "not_found"
    verdict: str = ""
    source: dict[str, Any] | None = None
    snapshot: dict[str, Any] | None = None
    workspace: str | None = None  # the Customer.io workspace the state describes
    actions: list[dict[str, Any]] = field(default_factory=list)
    operations: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. a run in progress: the state shown is as it started

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))


def explain_row(project: Project, sync_name: str, values: list[str]) -> Explanation:
    """Everything known of the row with this primary key (its values in `primary_key` order)."""
    sync = project.sync(sync_name)
    if len(values) != len(sync.key_columns):
        raise ConfigError(f"sync '{sync_name}' has the primary key ({', '.join(sync.key_columns)}): give "
                          f"{len(sync.key_columns)} value(s), not {len(values)}",
                          hint=f"cio-retl explain {sync_name} " + " ".join(f"<{c}>" for c in sync.key_columns))
    key = values[0] if len(values) == 1 else json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    found = Explanation(sync=sync_name, key=values)
    source = _source_rows(project, sync_name, values)
    with reading(project.state_location(), sync_name, found.notes) as state:
        story = row_story(state, key) if not isinstance(state, StateUnavailable) else \
            {"snapshot": None, "rejections": [], "operations": [], "settled_through": -1, "workspace": None}
    con = engine.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        row = _stage_row(con, project, sync_name, source, story["snapshot"])
        found.source = source.to_pylist()[0] if source.num_rows else None
        found.actions = _actions(con, project, sync_name)
    finally:
        con.close()
    found.snapshot = _snapshot(story["snapshot"], project.config_hash(sync_name), sync.mode == "append")
    found.operations = _operations(story)
    found.workspace = story["workspace"]
    found.state, found.verdict = _verdict(found, story, row, source.num_rows, sync.mode)
    source_row = found.source or {}
    notes = [old_event_note(sync, source_row.get("timestamp")),
             unknown_person_note(project, sync, source_row.get("user_id"))]
    found.notes += [note for note in notes if note]
    return found


def _source_rows(project: Project, sync_name: str, values: list[str]) -> pa.Table:
    """The model run for this key only (the values bound as query parameters), `{{ last_sync_time }}` as 0."""
    sync = project.sync(sync_name)
    config = project.warehouses[sync.warehouse]
    sql = key_filter_sql(config.type, render_model(project.model_sql(sync_name), last_sync_time=0).strip(),
                         sync.key_columns)
    warehouse = open_warehouse(sync.warehouse, config, project.root)
    try:
        batches = list(warehouse.stream(sql, sync=sync_name, params=values))
        schema = batches[0].schema if batches else warehouse.schema(project.model_sql(sync_name), sync=sync_name)
    finally:
        warehouse.close()
    return pa.Table.from_batches(batches, schema=schema)


def _stage_row(con: duckdb.DuckDBPyConnection, project: Project, sync_name: str, source: pa.Table,
               snapshot: dict[str, Any] | None) -> dict[str, Any]:
    """The row as a run would stage it (key, hash) and its calls: a change of it, or the delete a mirror sends."""
    sync = project.sync(sync_name)
    con.register("source", source.slice(0, 1))
    con.execute(f"CREATE TEMP TABLE stage AS SELECT *, {key_sql(sync.key_columns)} AS _key, "
                f"{row_hash_sql(source.schema)} AS _hash FROM source")
    change = "changed" if snapshot else "added"
    con.execute(f"CREATE TEMP TABLE changes AS SELECT *, rowid AS _seq, '{change}' AS _change FROM stage")
    con.execute("CREATE TEMP TABLE unsent AS SELECT * FROM changes WHERE FALSE")
    idents = ", ".join(f"NULL::VARCHAR AS {c}" for c in ("user_id", "email", "anonymous_id", "group_id", "object_type_id"))
    con.execute(f"CREATE TEMP TABLE removed AS SELECT ''::VARCHAR AS _key, 0::UBIGINT AS _hash, {idents} WHERE FALSE")
    build_calls(con, sync, source.schema, sync_name=sync_name, overrides=project.actions, removed_from=1)
    rows = con.execute("SELECT _key, _hash FROM stage").fetchall()
    return {"key": rows[0][0], "hash": rows[0][1]} if rows else {}


def _actions(con: duckdb.DuckDBPyConnection, project: Project, sync_name: str) -> list[dict[str, Any]]:
    """Each action: did its trigger fire for this row's call (else the part that was false), and what it sends."""
    sync = project.sync(sync_name)
    if not con.execute("SELECT count(*) FROM calls").fetchall()[0][0]:
        return []
    if uses_direct_operations(project, sync):  # a segment sync, or a Data Pipelines destination: no actions here
        return explain_direct(con, project, sync_name, sync)
    report = trigger_report(con, "calls", project.actions)
    compiled = {item.action.slug: item for item in compile_enabled(
        CallSchema.of(con.table("calls")), sync_name=sync_name, overrides=project.actions,
        convert_timestamps=sync.convert_timestamps, skip_nulls=sync.nulls == "skip")}
    for entry in report:
        item = compiled.get(entry["action"])
        if entry.get("fired") and item is not None:
            body, reason = con.execute(f"SELECT body, reason FROM ({select_sql(item, 'calls')})").fetchall()[0]
            entry["operation"] = json.loads(body) if body else None
            entry["refused_locally"] = reason
    return report


def _snapshot(snapshot: dict[str, Any] | None, config_hash: str, append: bool) -> dict[str, Any] | None:
    if snapshot is None:
        return None
    con = engine.connect()
    try:
        stale = con.execute(f"SELECT {stale_sql('sn', config_hash, append=append)} FROM "
                            "(SELECT ?::VARCHAR AS config_hash, ?::VARCHAR AS fate) sn",
                            [snapshot["config_hash"], snapshot["fate"]]).fetchall()[0][0]
    finally:
        con.close()
    return {"accepted_at": snapshot["committed_at"], "run_id": snapshot["run_id"], "hash": snapshot["_hash"],
            "fate": snapshot["fate"], "reason": snapshot["reason"], "config_current": not stale,
            "null_attributes": snapshot["nulls"] or []}


def _operations(story: dict[str, Any]) -> list[dict[str, Any]]:
    attempts = {r["action"]: r["attempts"] for r in story["rejections"]}
    out = []
    for op in story["operations"]:
        if op["action"] is None and not op["n_ops"]:
            out.append({"run_id": op["run_id"], "status": "skipped", "reason": op["skip_reason"] or op["preset_fate"]})
            continue
        status = op["status"] or ("pending" if op["run_no"] <= story["settled_through"] else "in flight")
        out.append({"run_id": op["run_id"], "action": op["action"], "status": status,
                    "status_code": op["status_code"], "reason": op["answer"], "body": _json(op["body"]),
                    "attempts": attempts.get(op["action"]) if status == "rejected" else None,
                    "at": op["answered_at"] or op["run_started_at"]})
    return out


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def _verdict(found: Explanation, story: dict[str, Any], row: dict[str, Any], rows: int,
             mode: str) -> tuple[str, str]:
    """The state of the row and one line saying why, with the fix where there is one."""
    snapshot, rejections = story["snapshot"], story["rejections"]
    fired = [a for a in found.actions if a.get("fired")]
    if rows > 1:
        return "rejected", f"the model returns {rows} rows with this key: make the primary key unique in the model"
    if rejections:
        worst = max(rejections, key=lambda r: r["attempts"])
        who = "a local check" if worst["status_code"] is None else f"Customer.io (HTTP {worst['status_code']})"
        stuck = " — stuck: it will not get through on its own" if worst["attempts"] >= STUCK_AFTER_ATTEMPTS else ""
        return "rejected", (f"rejected by {who} {worst['attempts']} time(s) ({worst['action']}): {worst['reason']}"
                            f"{stuck}; fix the model (or the action's mapping) and the next run sends it again")
    latest = [op for op in found.operations if op.get("run_id") == (story["operations"] or [{}])[0].get("run_id")]
    if latest and any(op["status"] in ("pending", "retryable", "in flight") for op in latest) and not (
            snapshot and snapshot["run_id"] == latest[0]["run_id"]):
        why = next((op["reason"] for op in latest if op.get("reason")), "the run stopped before sending it")
        return "pending", f"not delivered in run {latest[0]['run_id']} ({why}); the next run sends it again"
    if rows == 0:
        if snapshot is None:
            return "not_found", ("no row with this key in the model, and none was ever sent: check the key "
                                 f"({', '.join(found.key)}) and the model")
        if mode == "mirror" and snapshot["_hash"] is not None:
            return "out_of_sync", "the row left the model: the next run deletes it from Customer.io"
        return "in_sync", (f"the row left the model; {mode} mode keeps what Customer.io has (accepted in run "
                           f"{snapshot['run_id']})")
    current = found.snapshot and found.snapshot["config_current"]
    if snapshot and snapshot["fate"] == "skipped" and current and snapshot["_hash"] == row.get("hash"):
        return "skipped", f"skipped: {snapshot['reason']}"
    if snapshot and snapshot["fate"] == "delivered" and current and snapshot["_hash"] == row.get("hash"):
        return "in_sync", (f"in sync: Customer.io accepted this row as it is now (run {snapshot['run_id']}, "
                           f"{snapshot['committed_at']:%Y-%m-%d %H:%M} UTC)")
    sends = ", ".join(a["action"] for a in fired) or "nothing (no action's trigger fires for it)"
    why = ("never sent" if snapshot is None else "changed in the warehouse since it was accepted"
           if snapshot["_hash"] != row.get("hash") else "sent under another model or mapping")
    return "out_of_sync", f"out of sync: {why}; the next run sends {sends}"
