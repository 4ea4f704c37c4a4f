"""The compiled form of one action: SQL column layers, the body, ordered rejection checks and warnings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from cio_retl.actions import limits
from cio_retl.actions.columns import kind
from cio_retl.sqltext import quote_str
from cio_retl.actions.identifiers import INVALID_EMAIL, NO_IDENTIFIER, OBJECT_TYPE_RE, OBJECT_TYPE_RULE, person_kind, \
    person_value
from cio_retl.actions.render import Obj, Scalar, Val, as_object, json_text, key_json, object_text, text_of
from cio_retl.actions.timestamps import seconds_sql

# Attribute keys the reference strips from person traits before sending them as attributes.
PERSON_RESERVED = ("created_at", "createdAt", "object_type_id", "objectTypeId", "relationshipAttributes",
                   "relationship_attributes")
OBJECT_RESERVED = PERSON_RESERVED
# The Segment/Pipelines group shape: the object's attributes under traits.objectAttributes, minus the keys the
# reference strips from them.
NESTED = "objectAttributes"
NESTED_RESERVED = ("object_type_id", "objectTypeId", "relationshipAttributes", "relationship_attributes")


@dataclass
class Plan:
    """Layers of SQL columns (each over the previous), then `body`; `checks` decide rejections in order."""

    layers: list[dict[str, str]] = field(default_factory=lambda: [{}])
    body_pieces: list[str] = field(default_factory=list)
    checks: list[tuple[str, str]] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)  # label → SQL conditions over the calls table
    skip_nulls: bool = False  # the sync's `nulls: skip`: a NULL attribute is left out, not sent as null
    # Person/object attributes (what the clear guard and the snapshot's `nulls` track): SQL over the calls table, one
    # VARCHAR[] per attributes object, of the attributes whose value is null (sent as null, or left out under skip);
    # and the attribute names known when compiling.
    attribute_nulls: list[str] = field(default_factory=list)
    attribute_names: list[str] = field(default_factory=list)
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


def person(plan: Plan, person_id: str | None, email: str | None = None, anonymous_id: str | None = None,
           id_from_email: str | None = None) -> tuple[str, str]:
    """Resolve one person identifier from text columns: (kind column, value column), with the usual checks."""
    kind_col = plan.col(person_kind(person_id, email, anonymous_id, id_from_email), 1)
    value_col = plan.col(person_value(kind_col, person_id, email, anonymous_id), 2)
    plan.reject(f"{kind_col} IS NULL", quote_str(NO_IDENTIFIER))
    plan.reject(f"{kind_col} = '{INVALID_EMAIL}'",
                f"'email ' || to_json(left({value_col}, 80)) || ' is not a valid email address, so it cannot identify "
                f"the person: fix the email in the model, or select user_id'")
    id_limit(plan, value_col, kind_col)
    return kind_col, value_col


def id_limit(plan: Plan, value_col: str, what_sql: str) -> None:
    """An identifier must not be blank, nor longer than Customer.io takes."""
    plan.reject(f"regexp_full_match({value_col}, '\\s+')",
                f"'identifier ' || {what_sql} || ' is blank (' || to_json({value_col}) || '): fix the model so it holds "
                f"a real id, or NULL'")
    plan.reject(f"strlen({value_col}) > {limits.MAX_ID_BYTES}",
                f"'identifier ' || {what_sql} || ' is ' || strlen({value_col}) || ' bytes (limit {limits.MAX_ID_BYTES}):"
                f" shorten it in the model or map a shorter identifier'")


def object_type(plan: Plan, val: Val, used: str) -> str:
    """A column with the object type id ("1" when absent); one that is not a whole number from 1 is rejected
    where `used` (SQL) says the operation needs it."""
    otype = plan.col(f"coalesce({text_of(val)}, '1')")
    plan.reject(f"({used}) AND NOT regexp_full_match({otype}, {quote_str(OBJECT_TYPE_RE)})",
                f"'object_type_id ' || to_json(left({otype}, 40)) || ' is not valid: ' || {quote_str(OBJECT_TYPE_RULE)} || "
                f"'; set object_type_id to the number of the object type in Customer.io (numbered from 1 as they are "
                f"created), or leave it out for 1'")
    return otype


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
               layer: int = 1, null_extras: dict[str, str] | None = None) -> str:
    """A column (at `layer`) with the attributes object: `base` minus `reserved` keys, plus `extras` (key → JSON text SQL
    over layer 0, left out when NULL, and overriding a base key of the same name). Checks names, values and count.

    `null_extras` (SQL over the calls table: when each extra is NULL) marks the attributes of a person or object,
    whose nulls are recorded in `plan.attribute_nulls`; an extra it does not name is taken to hold a value."""
    nonfinite_warnings(plan, base)
    obj = Obj(()) if isinstance(base, Scalar) and base.dtype is None else as_object(base)  # absent: no keys
    if obj is None:  # a JSON/MAP value: keys unknown when compiling, so merge in SQL
        return _bag_attributes(plan, _without(json_text(base, convert), reserved), extras, value_limit, what, layer)
    # A mapped path no column provides leaves its attribute out, as the reference does: never a null that clears it.
    obj = Obj(tuple((name, val) for name, val in obj.without(*reserved).fields
                    if not (isinstance(val, Scalar) and val.dtype is None)), obj.present)
    present = plan.col(obj.present) if obj.present else "true"  # the struct itself may be NULL
    pieces = []
    for name, val in obj.fields:
        value = plan.col(json_text(val, convert))
        if name in extras:
            value = f"coalesce({extras[name]}, {value})"
        shown = f"nullif({value}, 'null')" if plan.skip_nulls else f"coalesce({value}, 'null')"
        pieces.append(f"{key_json(name)} || (CASE WHEN {present} THEN {shown} END)")
        if value_limit:
            _value_limit(plan, name, value, val, value_limit, what)
    names = {name for name, _ in obj.fields}
    if null_extras is not None:
        _record_nulls(plan, obj, extras, null_extras)
    pieces += [f"{key_json(k)} || {v}" for k, v in extras.items() if k not in names]
    _static_limits(plan, [n for n, _ in obj.fields] + [k for k in extras if k not in names], what)
    return plan.col("'{' || concat_ws(',', " + (", ".join(pieces) or "''") + ") || '}'", layer)


def null_sql(val: Val) -> str:
    """SQL over the calls table: is this value written as a JSON null (NULL, a JSON null, NaN or ±Infinity)?"""
    if isinstance(val, Obj):
        return f"NOT ({val.present})" if val.present else "false"
    k = kind(val.dtype)
    if k == "null":
        return "true"
    if k == "json":
        return f"coalesce(json_type({val.sql}), 'NULL') = 'NULL'"
    if k in ("float", "double"):
        return f"coalesce(NOT isfinite({val.sql}), true)"
    return f"({val.sql}) IS NULL"


def _record_nulls(plan: Plan, obj: Obj, extras: dict[str, str], null_extras: dict[str, str]) -> None:
    """The attributes of `obj` (plus `extras` over them) that an operation writes as null, as a VARCHAR[] in SQL."""
    cases = []
    for name, val in obj.fields:
        if name in extras and name not in null_extras:
            continue  # an extra that may hold a value overrides it
        condition = null_sql(val) + (f" AND {null_extras[name]}" if name in extras else "")
        if obj.present:
            condition = f"({obj.present}) AND {condition}"
        cases.append(f"CASE WHEN {condition} THEN {quote_str(name)} END")
    plan.attribute_names += [name for name, _ in obj.fields]
    plan.attribute_nulls.append(f"list_filter([{', '.join(cases)}]::VARCHAR[], lambda _a: _a IS NOT NULL)"
                                if cases else "[]::VARCHAR[]")


def object_attributes(plan: Plan, base: Val, convert: bool, extras: dict[str, str]) -> str:
    """A group call's object attributes: the flat traits minus OBJECT_RESERVED, and over them the fields of
    `traits.objectAttributes` (the reference's attributes) minus NESTED_RESERVED; `extras` as in `attributes`."""
    obj = as_object(base)
    if obj is not None and NESTED not in {name for name, _ in obj.fields}:
        # keys known when compiling; created_at, the only extra, is reserved: never over an attribute
        return attributes(plan, base, convert, OBJECT_RESERVED, extras, null_extras={})
    nonfinite_warnings(plan, base)
    if obj is not None:
        raw, flat = "'{}'", object_text(obj.without(NESTED, *OBJECT_RESERVED), convert)
        inner = json_text(dict(obj.fields)[NESTED], convert)
    else:
        raw = json_text(base, convert)
        flat, inner = _without(raw, (NESTED, *OBJECT_RESERVED)), f"(({raw})::JSON -> {quote_str(NESTED)})"
    inner = f"(CASE WHEN json_type({inner}) = 'OBJECT' THEN {_without(inner, NESTED_RESERVED)} END)"
    merged = f"(CASE WHEN coalesce(json_type({raw}), 'OBJECT') = 'OBJECT' THEN {_merge_objects(flat, inner)} ELSE {raw} END)"
    return _bag_attributes(plan, merged, extras, limits.MAX_ATTRIBUTE_VALUE_BYTES, "attribute", 1)


def _without(json_sql: str, keys: tuple[str, ...]) -> str:
    """SQL of a JSON object without some keys (a value that is not an object is left as it is)."""
    if not keys:
        return json_sql
    patch = quote_str(json.dumps(dict.fromkeys(keys)))
    return f"(CASE WHEN json_type({json_sql}) = 'OBJECT' THEN json_merge_patch({json_sql}, {patch})::VARCHAR ELSE {json_sql} END)"


def _merge_objects(first: str, second: str) -> str:
    """SQL of two JSON objects' members in one object, the second's winning; unlike a merge patch, nulls are kept."""
    as_map = "TRY_CAST(({})::JSON AS MAP(VARCHAR, JSON))"
    return f"to_json(map_concat({as_map.format(first)}, {as_map.format(second)}))::VARCHAR"


_JSON_KINDS = ("CASE json_type({0}) WHEN 'ARRAY' THEN 'a list' WHEN 'VARCHAR' THEN 'a string' "
               "WHEN 'BOOLEAN' THEN 'a boolean' ELSE 'a number' END")


def _bag_attributes(plan: Plan, raw_sql: str, extras: dict[str, str], value_limit: int | None, what: str,
                    layer: int) -> str:
    """The attributes column of an object whose keys come with the data (JSON text `raw_sql` over the calls table)."""
    raw = plan.col(raw_sql)  # layer 0: only it sees the calls table's columns
    plan.reject(f"{raw} IS NOT NULL AND json_type({raw}) NOT IN ('OBJECT', 'NULL')",
                f"'{what}s must be an object (key → value), not ' || {_JSON_KINDS.format(raw)} || "
                f"': map the field to an object, a struct or a JSON object column'")
    added = "'{' || concat_ws(',', " + ", ".join(f"{key_json(k)} || {v}" for k, v in extras.items()) + ") || '}'" \
        if extras else "'{}'"
    start = f"CASE WHEN json_type({raw}) = 'OBJECT' THEN {raw} ELSE '{{}}' END"
    if plan.skip_nulls:  # top-level null members left out (nested values are sent as they are)
        start = (f"to_json(map_from_entries(list_filter(map_entries(TRY_CAST(({start})::JSON AS MAP(VARCHAR, JSON))), "
                 f"lambda _e: json_type(_e.value) <> 'NULL')))::VARCHAR")
    merged = plan.col(f"json_merge_patch(({start})::JSON, ({added})::JSON)::VARCHAR", layer)
    _bag_limits(plan, merged, value_limit, what, layer + 1)
    return merged


def _bag_limits(plan: Plan, merged: str, value_limit: int | None, what: str, layer: int) -> None:
    """The limits of `_static_limits` and `_value_limit`, checked in SQL on an object whose keys come with the data."""
    entries = plan.col(f"map_entries(TRY_CAST(({merged})::JSON AS MAP(VARCHAR, JSON)))", layer)
    long_name = plan.col(f"list_filter({entries}, lambda _n: strlen(_n.key) > {limits.MAX_ATTRIBUTE_NAME_BYTES})[1].key",
                         layer + 1)
    plan.reject(f"{long_name} IS NOT NULL",
                f"'{what} name ' || left({long_name}, 40) || '… is ' || strlen({long_name}) || "
                f"' bytes (limit {limits.MAX_ATTRIBUTE_NAME_BYTES}): rename the key'")
    plan.reject(f"len({entries}) > {limits.MAX_ATTRIBUTES}",
                f"len({entries}) || ' {what}s (limit {limits.MAX_ATTRIBUTES}): send fewer keys'")
    if value_limit:
        # A string's JSON text carries two quotes more than its bytes.
        size = "strlen(_v.value) - CASE WHEN starts_with(_v.value, '\"') THEN 2 ELSE 0 END"
        big = plan.col(f"list_filter(list_transform({entries}, lambda _v: {{'key': _v.key, 'size': {size}}}), "
                       f"lambda _s: _s.size > {value_limit})[1]", layer + 1)
        plan.reject(f"{big} IS NOT NULL",
                    f"'{what} ' || {big}.key || ' is ' || {big}.size || ' bytes (limit {value_limit:,}): "
                    f"shorten it or leave it out of the model'")


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
