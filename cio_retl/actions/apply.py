"""Stage 4, act: compile the enabled actions (trigger and mappings) into DuckDB SQL over a calls view."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from cio_retl.actions import limits
from cio_retl.actions.catalog import ACTIONS, UI_ONLY_FIELDS, Action, Override, override_problems
from cio_retl.actions.columns import CallSchema
from cio_retl.sqltext import quote_str
from cio_retl.actions.mappings import compile_expr, is_literal_true
from cio_retl.actions.operations import BUILDERS
from cio_retl.actions.plan import Plan
from cio_retl.actions.triggers import parse, to_sql
from cio_retl.errors import ActionError


@dataclass(frozen=True)
class CompiledAction:
    """One action compiled against one calls schema: its trigger as SQL and its Plan."""

    action: Action
    trigger_sql: str
    plan: Plan


def effective_mapping(action: Action, override: Override | None, replace: dict[str, Any] | None = None) -> dict[str, Any]:
    """The action's mapping: defaults merged with the override's, or `replace` as the complete mapping."""
    mapping = dict(replace) if replace is not None else {**action.default_mapping(), **(override.mapping if override else {})}
    for name in UI_ONLY_FIELDS:  # a complete mapping copied from Customer.io's UI carries them
        mapping.pop(name, None)
    problems = override_problems(action.slug, sorted(mapping))
    if problems:
        raise ActionError("; ".join(problems))
    return mapping


def compile_action(action: Action, schema: CallSchema, *, sync_name: str, convert_timestamps: bool,
                   override: Override | None = None, mapping: dict[str, Any] | None = None,
                   skip_nulls: bool = False) -> CompiledAction:
    """Compile one action's trigger and mappings against a calls schema (paths not in the schema are absent).

    `skip_nulls` (the sync's `nulls: skip`) leaves NULL attributes out of the operation instead of clearing them.
    """
    trigger = override.trigger if override and override.trigger else action.trigger
    try:
        trigger_sql = to_sql(parse(trigger), schema)
    except ActionError as exc:
        raise ActionError(f"actions.{action.slug}.trigger: {exc.message}", hint=exc.hint) from exc
    mapping = effective_mapping(action, override, mapping)
    convert = convert_timestamps and is_literal_true(mapping.get("convert_timestamp", False)) \
        if action.field("convert_timestamp") else False
    values = {f.name: compile_expr(mapping.get(f.name), schema, f"actions.{action.slug}.mapping.{f.name}")
              for f in action.fields}
    plan = Plan(skip_nulls=skip_nulls)
    BUILDERS[action.slug](plan, values, convert, quote_str(sync_name))
    return CompiledAction(action, trigger_sql, plan)


def select_sql(compiled: CompiledAction, calls_table: str) -> str:
    """SQL yielding _key, _hash, _change, _seq, body, reason for every call the action's trigger matches."""
    plan = compiled.plan
    first = ", ".join(f"{sql} AS {name}" for name, sql in plan.layers[0].items())
    sql = f"SELECT _key, _hash, _change, _seq{', ' + first if first else ''} FROM {calls_table} WHERE {compiled.trigger_sql}"
    for layer in plan.layers[1:]:
        if layer:
            sql = f"SELECT *, {', '.join(f'{s} AS {n}' for n, s in layer.items())} FROM ({sql})"
    sql = f"SELECT *, {plan.body} AS body FROM ({sql})"
    checks = [*plan.checks, (f"strlen(body) >= {limits.MAX_OPERATION_BYTES}",
                             "'operation is ' || strlen(body) || ' bytes (limit 32 KB): send fewer or smaller attributes'")]
    reason = "CASE " + " ".join(f"WHEN {cond} THEN {why}" for cond, why in checks) + " END"
    return f"SELECT _key, _hash, _change, _seq, body, {reason} AS reason FROM ({sql})"


def compile_enabled(schema: CallSchema, *, sync_name: str, overrides: dict[str, Override],
                    convert_timestamps: bool, skip_nulls: bool = False) -> list[CompiledAction]:
    """Every enabled action, compiled; an override naming an unknown action is an error."""
    problems = [p for slug in sorted(set(overrides) - set(ACTIONS)) for p in override_problems(slug, ())]
    if problems:
        raise ActionError("; ".join(problems))
    return [compile_action(action, schema, sync_name=sync_name, convert_timestamps=convert_timestamps,
                           override=overrides.get(slug), skip_nulls=skip_nulls)
            for slug, action in ACTIONS.items() if overrides.get(slug) is None or overrides[slug].enabled]


def attribute_nulls(compiled: list[CompiledAction]) -> tuple[str, list[str]]:
    """SQL over a calls view of the person/object attributes each call's operations write as null (sent as null, or
    left out under `nulls: skip`), and the attribute names they send that are known when compiling.

    What the clear guard compares with the snapshot, and what the snapshot keeps of each accepted row (`nulls`).
    """
    lists = [f"CASE WHEN {item.trigger_sql} THEN {sql} END" for item in compiled for sql in item.plan.attribute_nulls]
    names = list(dict.fromkeys(name for item in compiled for name in item.plan.attribute_names))
    if not lists:
        return "NULL::VARCHAR[]", names
    if len(lists) == 1:
        return lists[0], names
    return "list_distinct(flatten([" + ", ".join(f"coalesce({sql}, [])" for sql in lists) + "]))", names


def count_warnings(con: duckdb.DuckDBPyConnection, compiled: list[CompiledAction], calls_table: str,
                   keys: dict[str, list[str]] | None = None) -> dict[str, int]:
    """One scan of the calls counting, per action and label, calls that triggered a warning condition; with `keys`
    (a table with `_key`), the first few keys of each label too."""
    labels, exprs = [], []
    for item in compiled:
        for label, conditions in item.plan.warnings.items():
            labels.append(f"{item.action.slug}: {label}")
            where = f"({item.trigger_sql}) AND ({' OR '.join(conditions)})"
            exprs.append(f"count(*) FILTER (WHERE {where})")
            if keys is not None:
                exprs.append(f"(list(_key ORDER BY _key) FILTER (WHERE {where}))[1:{SAMPLE_KEYS}]")
    if not exprs:
        return {}
    row = con.execute(f"SELECT {', '.join(exprs)} FROM {calls_table}").fetchone()
    counts, samples = (row[0::2], row[1::2]) if keys is not None else (row, [None] * len(labels))
    merged: dict[str, int] = {}
    for label, count, sample in zip(labels, counts, samples, strict=True):
        if count:
            merged[label] = merged.get(label, 0) + count
            if keys is not None:
                keys[label] = [*keys.get(label, []), *(sample or [])][:SAMPLE_KEYS]
    return merged


SAMPLE_KEYS = 3
# What to do about a warning, by the words of its label.
WARNING_FIXES = {"unparseable": "Customer.io then uses the time it receives the call; fix the model's column: a native "
                                "timestamp, ISO-8601 text like 2024-01-02T03:04:05Z, or Unix seconds"}


def describe_warning(label: str, count: int, keys: list[str]) -> str:
    """One warning of a run: the label, how many rows, which keys, and the fix."""
    shown = f", e.g. key {', '.join(keys)}" if keys else ""
    fix = next((fix for words, fix in WARNING_FIXES.items() if words in label), None)
    return f"{label} ({count} row(s){shown})" + (f": {fix}" if fix else "")
