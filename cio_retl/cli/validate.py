"""`cio-retl validate`: check every sync's columns against the actions without sending anything, all problems at once."""

from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass

import pyarrow as pa

from cio_retl import engine
from cio_retl.actions.apply import compile_enabled
from cio_retl.actions.catalog import ACTIONS
from cio_retl.pipeline.direct import pipelines_notes
from cio_retl.actions.columns import CallSchema
from cio_retl.actions.mappings import DIRECTIVES, compile_expr, expr_paths
from cio_retl.actions.render import Scalar
from cio_retl.actions.triggers import BoolOp, Compare, Exists, Node, Not, parse
from cio_retl.project import Project, Sync
from cio_retl.cli.data_checks import sample_warnings
from cio_retl.project.contract import contract_problem, model_label
from cio_retl.errors import CioRetlError, WarehouseError
from cio_retl.project.incremental import render_model
from cio_retl.warehouse.sql import as_subquery

MS_THRESHOLD = 100_000_000_000
SAMPLE_ROWS = 1000


@dataclass(frozen=True)
class Problem:
    """One finding: `error` stops a sync from working, `warning` is probably a mistake."""

    severity: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


def calls_schema(sync: Sync, model: pa.Schema) -> CallSchema:
    """The calls table schema convert.py would build from a model with these columns (no rows needed)."""
    from cio_retl.pipeline.convert import call_select

    con = engine.connect()
    empty = pa.table({"_key": pa.array([], pa.string()), "_hash": pa.array([], pa.string()),
                      "_change": pa.array([], pa.string()), "_seq": pa.array([], pa.int64()),
                      **{f.name: pa.array([], f.type) for f in model}})
    con.register("changes", empty)
    return CallSchema.of(con.sql(f"SELECT _key, _hash, _change, _seq, {call_select(sync, model)} FROM changes"))


def validate_project(project: Project) -> list[Problem]:
    """Every problem of every sync and action override, errors and warnings, in one pass."""
    problems: list[Problem] = []
    schemas: dict[str, CallSchema] = {}
    for name, sync in project.syncs.items():
        where = f"syncs.{name}"
        try:
            model, sample = _read_model(project, name)
        except WarehouseError as exc:
            problems.append(Problem("error", where, exc.in_model(model_label(sync)).detail))
            continue
        except (CioRetlError, OSError) as exc:
            problems.append(Problem("error", where, getattr(exc, "message", str(exc))))
            continue
        problems += _model_problems(where, sync, model, sample)
        problems += _partition_problems(where, sync, model)
        problems += [Problem("warning", where, warning) for warning in sample_warnings(sync, model, sample)]
        schemas[name] = calls_schema(sync, model)
        try:
            compile_enabled(schemas[name], sync_name=name, overrides=project.actions,
                            convert_timestamps=sync.convert_timestamps)
        except CioRetlError as exc:
            problems.append(Problem("error", f"{where} with actions", exc.message))
    problems += _override_problems(project, schemas)
    problems += _event_case_problems(project)
    problems += [Problem("warning", "actions", note) for note in pipelines_notes(project)]
    return problems


def _read_model(project: Project, name: str) -> tuple[pa.Schema, pa.Table | None]:
    """The model's columns (LIMIT 0) and a small sample, rendered as a first run would ({{ last_sync_time }} = 0)."""
    from cio_retl.warehouse import open_warehouse

    sync = project.syncs[name]
    warehouse = open_warehouse(sync.warehouse, project.warehouses[sync.warehouse], project.root)
    try:
        sql = render_model(project.model_sql(name), last_sync_time=0)
        return warehouse.schema(sql, sync=name), _sample(warehouse, sql, name)
    finally:
        warehouse.close()


def _sample(warehouse: object, sql: str, sync: str) -> pa.Table | None:
    batches = list(itertools.islice(warehouse.stream(f"SELECT * FROM {as_subquery(sql)} LIMIT {SAMPLE_ROWS}", sync=sync), 3))
    return pa.Table.from_batches(batches) if batches else None


def _model_problems(where: str, sync: Sync, model: pa.Schema, sample: pa.Table | None) -> list[Problem]:
    breach = contract_problem(sync, model)  # the same contract `run` enforces
    problems = [Problem("error", where, breach)] if breach else []
    return (problems + _millisecond_problems(where, model, sample) + _all_null_problems(where, sync, sample)
            + _profile_timestamp_problems(where, sync, model))


# Customer.io answers 200 to a person or object update older than the profile's latest one, and ignores it.
STALE_UPDATES = ("Customer.io ignores (answering 200) a person or object update whose timestamp is older than the "
                 "profile's latest update, so a resync or a backfill of these rows would change nothing")


def _profile_timestamp_problems(where: str, sync: Sync, model: pa.Schema) -> list[Problem]:
    """An identify or group model with a `timestamp` column: say what happens to it (not sent unless mapped)."""
    if sync.type not in ROW_NOUN or "timestamp" not in model.names:
        return []
    return [Problem("warning", where, f"column timestamp is not sent with the {sync.type} operations: {STALE_UPDATES}. "
                    "It stays available to triggers and mappings as $.timestamp; to store it on the "
                    f"{ROW_NOUN[sync.type]}, give it another name (e.g. updated_at)")]


# Call fields that are often NULL on purpose; every other column all NULL in the sample is suspicious.
OPTIONAL_FIELDS = {"anonymous_id", "message_id", "timestamp"}
ROW_NOUN = {"identify": "person", "group": "object"}


def _all_null_problems(where: str, sync: Sync, sample: pa.Table | None) -> list[Problem]:
    """Columns NULL in every sampled row: an attribute would be cleared for everyone (a broken join?)."""
    from cio_retl.pipeline.convert import CALL_FIELDS

    if sample is None or sample.num_rows == 0 or sync.type == "alias":
        return []
    problems = []
    for name in sample.column_names:
        if sample.column(name).null_count < sample.num_rows or name in OPTIONAL_FIELDS:
            continue
        if name in CALL_FIELDS[sync.type] or name in ("group_id", "object_type_id", "context"):
            effect = "no operation would carry it"
        elif sync.type in ROW_NOUN:
            effect = f"every {ROW_NOUN[sync.type]} would get {name} = null, clearing it in Customer.io"
        else:
            effect = f"every event would carry {name} = null"
        problems.append(Problem("warning", where, f"column {name} is NULL in all {sample.num_rows} sampled rows: {effect}; "
                                "a broken join? check the model"))
    return problems


def _partition_problems(where: str, sync: Sync, model: pa.Schema) -> list[Problem]:
    """partition_by must name a timestamp or date column: partition windows compare it with UTC instants.
    (A partition_by the model lacks is a model-contract problem, reported with the others.)"""
    if not sync.partition_by or sync.partition_by not in model.names:
        return []
    kind = model.field(sync.partition_by).type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return []
    return [Problem("error", f"{where}.partition_by", f"{sync.partition_by!r} is a {kind} column; daily partitions "
                    "need a timestamp or date column: cast it in the model (e.g. CAST(col AS TIMESTAMP))")]


def _millisecond_problems(where: str, model: pa.Schema, sample: pa.Table | None) -> list[Problem]:
    if sample is None:
        return []
    problems = []
    for field in model:
        if not pa.types.is_integer(field.type) or not field.name.endswith(("_at", "_time")) or field.name not in sample.column_names:
            continue
        values = [abs(v) for v in sample.column(field.name).to_pylist() if v is not None]
        if values and max(values) > MS_THRESHOLD:
            problems.append(Problem("warning", where, f"column {field.name} holds values like {max(values)}: milliseconds? "
                                    "Customer.io reads Unix seconds and would see far-future dates; divide by 1000 in the model"))
    return problems


def _override_problems(project: Project, schemas: dict[str, CallSchema]) -> list[Problem]:
    problems = []
    for slug, override in project.actions.items():
        if slug not in ACTIONS or not override.enabled:
            continue
        where = f"actions.{slug}"
        node = None
        if override.trigger:
            try:
                node = parse(override.trigger)
            except CioRetlError as exc:
                problems.append(Problem("error", f"{where}.trigger", exc.message))
            if node is not None and schemas and not any(_can_fire(node, project.syncs[n], s) for n, s in schemas.items()):
                problems.append(Problem("warning", f"{where}.trigger", f"can never fire for any sync: {override.trigger!r} "
                                        f"(e.g. track calls carry properties, not traits; identify calls carry traits)"))
        firing = {n: s for n, s in schemas.items()
                  if _can_fire(node or parse(ACTIONS[slug].trigger), project.syncs[n], s)}
        if "timestamp" in override.mapping and any(project.syncs[n].type in ROW_NOUN for n in firing):
            problems.append(Problem("warning", f"{where}.mapping.timestamp",
                                    f"sends the rows' own time as the operation timestamp: {STALE_UPDATES}; leave "
                                    "timestamp unmapped to have each update applied when it arrives"))
        optional = {path.removeprefix("$.") for path in override.optional_paths}
        wiped, wipe_problems = _null_leaf_problems(slug, override.mapping, firing, optional)
        problems += wipe_problems
        for path in sorted({p for expr in override.mapping.values() for p in expr_paths(expr)} - wiped - optional):
            if schemas and not any(s.resolve(path) for s in schemas.values()):
                problems.append(Problem("warning", f"{where}.mapping", f"no column provides $.{path}{_near_miss(path, _known(schemas))}"))
    return problems + _ignored_field_notes(project)


def _known(schemas: dict[str, CallSchema]) -> list[str]:
    return sorted({p for s in schemas.values() for p in s.paths()})


def _null_leaf_problems(slug: str, mapping: dict, firing: dict[str, CallSchema],
                        optional: set[str]) -> tuple[set[str], list[Problem]]:
    """Keys of object mappings that no column of a sync fills: left out of every operation of that sync (as the
    reference does) — an error, most likely a misspelled path, unless all its paths are in `optional_paths`."""
    wiped: set[str] = set()
    problems = []
    for field, expr in mapping.items():
        for key, leaf in _object_leaves(expr, field):
            syncs = sorted(name for name, schema in firing.items() if _always_null(leaf, schema))
            paths = expr_paths(leaf)
            wiped.update(paths)
            if not syncs or (paths and set(paths) <= optional):
                continue
            near = _near_miss(paths[0], _known({n: firing[n] for n in syncs})) if paths else ""
            problems.append(Problem("error", f"actions.{slug}.mapping.{key}",
                                    f"no column of sync {', '.join(syncs)} provides {', '.join('$.' + p for p in paths)}"
                                    f"{near}: {key.split('.', 1)[-1]} is left out of every {slug} operation of "
                                    f"{'that sync' if len(syncs) == 1 else 'those syncs'}; fix the path, or list it "
                                    f"under actions.{slug}.optional_paths if those models lack it on purpose"))
    return wiped, problems


def _always_null(expr: object, schema: CallSchema) -> bool:
    try:
        value = compile_expr(expr, schema)
    except CioRetlError:
        return False  # a malformed expression is reported when the actions compile
    return isinstance(value, Scalar) and value.dtype is None


def _object_leaves(expr: object, prefix: str) -> list[tuple[str, object]]:
    """(dotted key, expression) of the values inside an object literal of a mapping (not the field itself)."""
    if not isinstance(expr, dict) or (len(expr) == 1 and next(iter(expr)) in DIRECTIVES):
        return []
    leaves = []
    for key, value in expr.items():
        is_object = isinstance(value, dict) and not (len(value) == 1 and next(iter(value)) in DIRECTIVES)
        leaves += _object_leaves(value, f"{prefix}.{key}") if is_object else [(f"{prefix}.{key}", value)]
    return leaves


def _ignored_field_notes(project: Project) -> list[Problem]:
    """A note (as a warning: nothing to fix) naming the actions given UI-only fields, which are ignored."""
    given = {slug: override.ignored for slug, override in project.actions.items() if override.ignored}
    if not given:
        return []
    names = sorted({name for fields in given.values() for name in fields})
    return [Problem("warning", "actions", f"note: {' and '.join(names)} (fields of Customer.io's UI) are accepted and "
                    f"ignored in {', '.join(sorted(given))}: cio-retl sizes its own batches; nothing to fix")]


def _near_miss(path: str, known: list[str]) -> str:
    squash = {k.lower().replace("_", ""): k for k in known}
    exact = squash.get(path.lower().replace("_", ""))
    close = [exact] if exact else difflib.get_close_matches(path, known, n=1, cutoff=0.75)
    return f" (did you mean $.{close[0]}?)" if close else ""


def _can_fire(node: Node, sync: Sync, schema: CallSchema) -> bool:
    """Is there any assignment of the unknown conditions that makes the trigger true for this sync's calls?"""
    fixed = {"type": sync.type}
    if sync.type == "track" and sync.event and schema.resolve("event") is None:
        fixed["event"] = sync.event
    atoms = sorted({a for a in _atoms(node) if a[0] not in fixed and schema.resolve(a[0]) is not None})[:12]
    for values in itertools.product((False, True), repeat=len(atoms)):
        if _eval(node, fixed, schema, dict(zip(atoms, values))):
            return True
    return False


def _atoms(node: Node) -> list[tuple[str, str | None]]:
    if isinstance(node, Compare):
        return [(node.path, node.value)]
    if isinstance(node, Exists):
        return [(node.path, None)]
    if isinstance(node, Not):
        return _atoms(node.inner)
    return [a for item in node.items for a in _atoms(item)]


def _eval(node: Node, fixed: dict[str, str], schema: CallSchema, free: dict) -> bool:
    if isinstance(node, (Compare, Exists)):
        value = node.value if isinstance(node, Compare) else None
        if node.path in fixed:
            truth = True if value is None else fixed[node.path] == value
        elif node.path == "type" or schema.resolve(node.path) is None:
            truth = False  # the sync's calls never carry this field (type is fixed per sync)
        else:
            truth = free.get((node.path, value), False)
        return truth if isinstance(node, Exists) or node.op == "=" else not truth
    if isinstance(node, Not):
        return not _eval(node.inner, fixed, schema, free)
    results = [_eval(item, fixed, schema, free) for item in node.items]
    return all(results) if isinstance(node, BoolOp) and node.op == "and" else any(results)


def _event_case_problems(project: Project) -> list[Problem]:
    events = {name: sync.event for name, sync in project.syncs.items() if sync.event}
    problems = []
    for (a, ea), (b, eb) in itertools.combinations(sorted(events.items()), 2):
        if ea != eb and ea.lower() == eb.lower():
            problems.append(Problem("warning", f"syncs.{b}", f"event {eb!r} differs only in case from {ea!r} of sync {a}: "
                                    "Customer.io may treat them as two events"))
    return problems
