"""`cio-retl validate`: check every sync's columns against the actions without sending anything, all problems at once."""

from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from cio_retl.actions.apply import compile_enabled
from cio_retl.actions.catalog import ACTIONS
from cio_retl.actions.columns import CallSchema
from cio_retl.actions.mappings import expr_paths
from cio_retl.actions.triggers import BoolOp, Compare, Exists, Node, Not, parse
from cio_retl.config import Project, Sync
from cio_retl.errors import CioRetlError
from cio_retl.warehouse.sql import as_subquery

MS_THRESHOLD = 100_000_000_000
SAMPLE_ROWS = 1000
IDENTITY = {"identify": (("user_id", "email", "anonymous_id"), "user_id, email or anonymous_id"),
            "group": (("group_id",), "group_id"), "track": (("user_id", "anonymous_id"), "user_id or anonymous_id"),
            "page": (("user_id", "anonymous_id"), "user_id or anonymous_id"),
            "screen": (("user_id", "anonymous_id"), "user_id or anonymous_id"),
            "alias": (("user_id",), "user_id (and previous_id)")}


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
    from cio_retl.convert import call_select

    con = duckdb.connect()
    empty = pa.table({"_key": pa.array([], pa.string()), "_hash": pa.array([], pa.string()),
                      "_change": pa.array([], pa.string()), "_seq": pa.array([], pa.int64()),
                      **{f.name: pa.array([], f.type) for f in model}})
    con.register("changes", empty)
    return CallSchema.of(con.sql(f"SELECT _key, _hash, _change, _seq, {call_select(sync, model)} FROM changes"))


def validate_project(project: Project) -> list[Problem]:
    """Every problem of every sync and action override, errors and warnings, in one pass."""
    from cio_retl.warehouse import open_warehouse

    problems: list[Problem] = []
    schemas: dict[str, CallSchema] = {}
    for name, sync in project.syncs.items():
        where = f"syncs.{name}"
        try:
            warehouse = open_warehouse(sync.warehouse, project.warehouses[sync.warehouse], project.root)
            try:
                sql = project.model_sql(name)
                model = warehouse.schema(sql, sync=name)
                sample = _sample(warehouse, sql, name)
            finally:
                warehouse.close()
        except (CioRetlError, OSError) as exc:
            problems.append(Problem("error", where, str(exc).splitlines()[0]))
            continue
        problems += _model_problems(where, sync, model, sample)
        problems += _partition_problems(where, sync, model)
        schemas[name] = calls_schema(sync, model)
        try:
            compile_enabled(schemas[name], sync_name=name, overrides=project.actions,
                            convert_timestamps=sync.convert_timestamps)
        except CioRetlError as exc:
            problems.append(Problem("error", f"{where} with actions", exc.message))
    problems += _override_problems(project, schemas)
    problems += _event_case_problems(project)
    return problems


def _sample(warehouse: object, sql: str, sync: str) -> pa.Table | None:
    batches = list(itertools.islice(warehouse.stream(f"SELECT * FROM {as_subquery(sql)} LIMIT {SAMPLE_ROWS}", sync=sync), 3))
    return pa.Table.from_batches(batches) if batches else None


def _model_problems(where: str, sync: Sync, model: pa.Schema, sample: pa.Table | None) -> list[Problem]:
    names = set(model.names)
    problems = [Problem("error", where, f"primary key column {key!r} is not in the model (columns: {', '.join(model.names)})")
                for key in sync.key_columns if key not in names]
    needed, label = IDENTITY[sync.type]
    if not names & set(needed):
        problems.append(Problem("error", where, f"{sync.type} sync has no identifier column: select {label}"))
    if sync.type == "alias" and "previous_id" not in names:
        problems.append(Problem("error", where, "alias sync needs a previous_id column"))
    if sync.type == "track" and "event" not in names and not sync.event:
        problems.append(Problem("error", where, "track sync needs an event column or `event:` in the sync"))
    if sync.type == "page" and "url" not in names:
        problems.append(Problem("warning", where, "page sync has no url column: page operations need properties.url"))
    if sync.type == "screen" and "name" not in names:
        problems.append(Problem("error", where, "screen sync needs a name column"))
    return problems + _millisecond_problems(where, model, sample)


def _partition_problems(where: str, sync: Sync, model: pa.Schema) -> list[Problem]:
    """partition_by must name a timestamp or date column: partition windows compare it with UTC instants."""
    if not sync.partition_by:
        return []
    if sync.partition_by not in model.names:
        return [Problem("error", f"{where}.partition_by", f"{sync.partition_by!r} is not a column of the model "
                        f"(columns: {', '.join(model.names)})")]
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
        if override.trigger:
            try:
                node = parse(override.trigger)
            except CioRetlError as exc:
                problems.append(Problem("error", f"{where}.trigger", exc.message))
                node = None
            if node is not None and schemas and not any(_can_fire(node, project.syncs[n], s) for n, s in schemas.items()):
                problems.append(Problem("warning", f"{where}.trigger", f"can never fire for any sync: {override.trigger!r} "
                                        f"(e.g. track calls carry properties, not traits; identify calls carry traits)"))
        for path in sorted({p for expr in override.mapping.values() for p in expr_paths(expr)}):
            if schemas and not any(s.resolve(path) for s in schemas.values()):
                known = sorted({p for s in schemas.values() for p in s.paths()})
                problems.append(Problem("warning", f"{where}.mapping", f"no column provides $.{path}{_near_miss(path, known)}"))
    return problems


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
