"""The compiled form of one action: SQL column layers, the body, ordered rejection checks and warnings."""

from __future__ import annotations

from dataclasses import dataclass, field

from cio_retl.actions import limits
from cio_retl.actions.columns import quote_str
from cio_retl.actions.identifiers import NO_IDENTIFIER, person_kind, person_value
from cio_retl.actions.render import Obj, Scalar, Val, as_object, json_text, key_json, text_of
from cio_retl.timestamps import seconds_sql

# Attribute keys the reference strips from person traits before sending them as attributes.
PERSON_RESERVED = ("created_at", "createdAt", "object_type_id", "objectTypeId", "relationshipAttributes",
                   "relationship_attributes")
OBJECT_RESERVED = PERSON_RESERVED


@dataclass
class Plan:
    """Layers of SQL columns (each over the previous), then `body`; `checks` decide rejections in order."""

    layers: list[dict[str, str]] = field(default_factory=lambda: [{}])
    body_pieces: list[str] = field(default_factory=list)
    checks: list[tuple[str, str]] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)  # label → SQL conditions over the calls table
    _n: int = 0

    def col(self, sql: str, layer: int = 0) -> str:
        """Add a column computed at `layer` and return its name."""
        while len(self.layers) <= layer:
            self.layers.append({})
        self._n += 1
        name = f"_c{self._n}"
        self.layers[layer][name] = sql
        return name

    def piece(self, key: str, text_sql: str) -> None:
        """A body key whose JSON text is `text_sql`; the key is left out when the text is NULL."""
        self.body_pieces.append(f"{key_json(key)} || {text_sql}")

    def const(self, key: str, value: str) -> None:
        self.body_pieces.append(quote_str(f'"{key}":"{value}"'))

    def reject(self, condition: str, reason_sql: str) -> None:
        self.checks.append((condition, reason_sql))

    def warn(self, label: str, condition: str) -> None:
        self.warnings.setdefault(label, []).append(condition)

    @property
    def body(self) -> str:
        return "'{' || concat_ws(',', " + ", ".join(self.body_pieces) + ") || '}'"


def text(plan: Plan, val: Val) -> str:
    """A layer-0 column holding a value as text (NULL when absent or empty)."""
    return plan.col(text_of(val))


def timestamp(plan: Plan, val: Val, label: str = "timestamp") -> str:
    """A layer-0 BIGINT seconds column; a present but unparseable value is counted as a warning."""
    if isinstance(val, Obj) or val.dtype is None:
        return plan.col("NULL::BIGINT")
    seconds = seconds_sql(val.sql, val.dtype)
    plan.warn(f"unparseable {label} (left out)", f"({val.sql}) IS NOT NULL AND ({seconds}) IS NULL")
    return plan.col(seconds)


def person(plan: Plan, person_id: str | None, email: str | None = None, anonymous_id: str | None = None) -> tuple[str, str]:
    """Resolve one person identifier from text columns: (kind column, value column), with the usual checks."""
    kind_col = plan.col(person_kind(person_id, email, anonymous_id), 1)
    value_col = plan.col(person_value(kind_col, person_id, email, anonymous_id), 2)
    plan.reject(f"{kind_col} IS NULL", quote_str(NO_IDENTIFIER))
    id_limit(plan, value_col, kind_col)
    return kind_col, value_col


def id_limit(plan: Plan, value_col: str, what_sql: str) -> None:
    plan.reject(f"strlen({value_col}) > {limits.MAX_ID_BYTES}",
                f"'identifier ' || {what_sql} || ' is ' || strlen({value_col}) || ' bytes (limit {limits.MAX_ID_BYTES}):"
                f" shorten it in the model or map a shorter identifier'")


def required(plan: Plan, column: str, field: str, hint: str) -> None:
    plan.reject(f"{column} IS NULL", quote_str(f"missing {field}: {hint}"))


def nonfinite_warnings(plan: Plan, val: Val, depth: int = 0) -> None:
    """Count NaN/±Infinity attribute values (sent as null) at the top level and inside structs."""
    obj = as_object(val)
    if obj is None or depth > 3:
        if isinstance(val, Scalar) and val.dtype is not None and val.dtype.id in ("float", "double"):
            plan.warn("NaN/Infinity attribute (sent as null)", f"NOT isfinite({val.sql})")
        return
    for _, child in obj.fields:
        nonfinite_warnings(plan, child, depth + 1)


def attributes(plan: Plan, base: Val, convert: bool, reserved: tuple[str, ...], extras: dict[str, str],
               *, value_limit: int | None = limits.MAX_ATTRIBUTE_VALUE_BYTES, what: str = "attribute",
               layer: int = 1) -> str:
    """A column (at `layer`) with the attributes object: `base` minus `reserved` keys, plus `extras` (key → JSON text SQL
    over layer 0, left out when NULL, and overriding a base key of the same name). Checks names, values and count."""
    nonfinite_warnings(plan, base)
    obj = as_object(base)
    if obj is None:  # a JSON/MAP/absent value: keys unknown when compiling, so merge in SQL
        raw = plan.col(json_text(base, convert))  # layer 0: only it sees the calls table's columns
        removal = "{" + ",".join(f'"{k}":null' for k in reserved if k not in extras) + "}"
        added = "'{' || concat_ws(',', " + ", ".join(f"{key_json(k)} || {v}" for k, v in extras.items()) + ") || '}'" \
            if extras else "'{}'"
        sql = (f"json_merge_patch(json_merge_patch(coalesce({raw}, '{{}}')::JSON, {quote_str(removal)}), ({added})::JSON)"
               f"::VARCHAR")
        return plan.col(sql, layer)
    obj = obj.without(*reserved)
    present = plan.col(obj.present) if obj.present else "true"  # the struct itself may be NULL
    pieces = []
    for name, val in obj.fields:
        value = plan.col(json_text(val, convert))
        if name in extras:
            value = f"coalesce({extras[name]}, {value})"
        pieces.append(f"{key_json(name)} || (CASE WHEN {present} THEN coalesce({value}, 'null') END)")
        if value_limit:
            _value_limit(plan, name, value, val, value_limit, what)
    names = {name for name, _ in obj.fields}
    pieces += [f"{key_json(k)} || {v}" for k, v in extras.items() if k not in names]
    _static_limits(plan, [n for n, _ in obj.fields] + [k for k in extras if k not in names], what)
    return plan.col("'{' || concat_ws(',', " + (", ".join(pieces) or "''") + ") || '}'", layer)


def _value_limit(plan: Plan, name: str, value: str, val: Val, limit: int, what: str) -> None:
    # A string's JSON text carries two quotes more than its bytes.
    slack = 2 if isinstance(val, Scalar) and val.dtype is not None and val.dtype.id == "varchar" else 0
    plan.reject(f"coalesce(strlen({value}), 0) > {limit + slack}",
                f"'{what} {name.replace(chr(39), chr(39) * 2)} is ' || (strlen({value}) - {slack}) || "
                f"' bytes (limit {limit:,}): shorten it or leave it out of the model'")


def _static_limits(plan: Plan, names: list[str], what: str) -> None:
    for name in names:
        if limits.name_too_long(name):
            plan.reject("true", quote_str(f"{what} name {name[:40]}… is {len(name.encode())} bytes "
                                          f"(limit {limits.MAX_ATTRIBUTE_NAME_BYTES}): rename the column"))
    if len(names) > limits.MAX_ATTRIBUTES:
        plan.reject("true", quote_str(f"{len(names)} {what}s (limit {limits.MAX_ATTRIBUTES}): "
                                      "select fewer columns in the model"))
