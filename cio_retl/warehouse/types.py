"""Type normalisation: every warehouse's Arrow output mapped to one set of Arrow types before the diff.

Decimals never lose precision silently (docs/warehouses.md, "Type mapping"):

- scale 0 and precision ≤ 18 → int64 (every value fits);
- precision ≤ 15 → float64: a decimal of at most 15 significant digits converts to the nearest double,
  whose shortest text is that decimal again, so the number sent is exactly the number stored;
- wider decimals (BigQuery NUMERIC, Snowflake NUMBER(38, s), PostgreSQL numeric without a precision) → a
  JSON number written exactly (`12.5`, `123456789012345678901.25`): still a number in the operation,
  with no digits dropped. Trailing zeros of the fraction are trimmed so the same value gives the same text
  whatever scale a warehouse declares.

Timestamps of every precision become UTC microseconds; nanosecond digits (Snowflake `TIMESTAMP_*(9)`,
DuckDB `TIMESTAMP_NS`) are floored away, never rounded up: Customer.io receives whole seconds (floored) anyway.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

MAX_EXACT_FLOAT_DIGITS = 15  # every decimal with this many significant digits round-trips through a double
MAX_INT64_DIGITS = 18
# "12.500000000" → "12.5", "100.000" → "100.0", "1.50E-7" → "1.5E-7"; integers are left alone.
_TRAILING_ZEROS = r"(\.\d+?)0+((?:E[-+]?\d+)?)$"
_ZERO_FRACTION = r"\.0+((?:E[-+]?\d+)?)$"  # 12.000 → 12: a whole number, so an id stays "12", not "12.0"
_NOT_A_NUMBER = {"NaN", "Infinity", "-Infinity"}


def normalize_type(arrow_type: pa.DataType) -> pa.DataType:
    """The Arrow type a column of `arrow_type` is stored and diffed as."""
    if pa.types.is_timestamp(arrow_type):
        return pa.timestamp("us", tz="UTC")
    if pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return pa.string()
    if pa.types.is_date64(arrow_type):
        return pa.date32()
    if pa.types.is_decimal(arrow_type):
        return _decimal_type(arrow_type)
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return pa.list_(normalize_type(arrow_type.value_type))
    if pa.types.is_struct(arrow_type):
        return pa.struct([pa.field(f.name, normalize_type(f.type)) for f in arrow_type])
    if pa.types.is_map(arrow_type):
        return pa.map_(normalize_type(arrow_type.key_type), normalize_type(arrow_type.item_type))
    return arrow_type


def _decimal_type(arrow_type: pa.DataType) -> pa.DataType:
    if arrow_type.scale == 0 and arrow_type.precision <= MAX_INT64_DIGITS:
        return pa.int64()
    if arrow_type.scale >= 0 and arrow_type.precision <= MAX_EXACT_FLOAT_DIGITS:
        return pa.float64()
    return pa.json_()


def normalize_schema(schema: pa.Schema) -> pa.Schema:
    """The schema a warehouse's result is staged with, whatever the warehouse."""
    return pa.schema([pa.field(f.name, normalize_type(f.type)) for f in schema])


def normalize_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Cast a batch's columns to their normalised types (timestamps to UTC microseconds, strings to utf8)."""
    target = normalize_schema(batch.schema)
    if target == batch.schema:
        return batch
    columns = [_cast(column, field.type) for column, field in zip(batch.columns, target)]
    return pa.RecordBatch.from_arrays(columns, schema=target)


def _cast(column: pa.Array, target: pa.DataType) -> pa.Array:
    if column.type == target:
        return column
    if pa.types.is_decimal(column.type):
        return _cast_decimal(column, target)
    if pa.types.is_timestamp(column.type) and column.type.unit == "ns":
        # A plain cast refuses to drop sub-microsecond digits, and truncation would move a time before 1970 up.
        return pc.floor_temporal(column, unit="microsecond").cast(target)
    if not _needs_own_cast(column.type):
        # A naive timestamp is read as UTC wall-clock time: the cast only attaches the zone (docs/warehouses.md).
        return column.cast(target)
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        offsets = column.offsets  # of a sliced list they index the whole child array: rebase them
        start, end = offsets[0].as_py(), offsets[-1].as_py()
        values = _cast(column.values.slice(start, end - start), target.value_type)
        return pa.ListArray.from_arrays(pc.subtract(offsets, start).cast(pa.int32()), values, type=target,
                                        mask=column.is_null())
    if pa.types.is_struct(column.type):
        children = [_cast(column.field(i), f.type) for i, f in enumerate(target)]
        return pa.StructArray.from_arrays(children, fields=list(target), mask=column.is_null())
    if pa.types.is_map(column.type):
        offsets = column.offsets
        start, end = offsets[0].as_py(), offsets[-1].as_py()
        keys = _cast(column.keys.slice(start, end - start), target.key_type)
        items = _cast(column.items.slice(start, end - start), target.item_type)
        return pa.MapArray.from_arrays(pc.subtract(offsets, start).cast(pa.int32()), keys, items, type=target,
                                       mask=column.is_null())
    return column.cast(target)


def _needs_own_cast(arrow_type: pa.DataType) -> bool:
    """Does the type hold a decimal or a nanosecond timestamp, which Arrow's cast does not convert our way?"""
    if pa.types.is_decimal(arrow_type) or (pa.types.is_timestamp(arrow_type) and arrow_type.unit == "ns"):
        return True
    return any(_needs_own_cast(arrow_type.field(i).type) for i in range(arrow_type.num_fields))


def _cast_decimal(column: pa.Array, target: pa.DataType) -> pa.Array:
    text = column.cast(pa.string())
    if pa.types.is_floating(target):
        # Through text: Arrow's direct decimal → double cast is not correctly rounded, its text parser is.
        return text.cast(target)
    if pa.types.is_integer(target):
        return column.cast(target)
    return number_json(text)


def number_json(text: pa.Array) -> pa.Array:
    """Exact decimal text ("12.500", "NaN") → JSON: a number with the fraction's trailing zeros trimmed.

    NaN and ±Infinity (PostgreSQL numeric allows them) have no JSON number, so they travel as JSON strings.
    """
    trimmed = pc.replace_substring_regex(pc.replace_substring_regex(text, _ZERO_FRACTION, r"\1"),
                                         _TRAILING_ZEROS, r"\1\2")
    special = pc.is_in(trimmed, value_set=pa.array(sorted(_NOT_A_NUMBER)))
    if pc.any(special).as_py():
        trimmed = pc.if_else(special, pc.binary_join_element_wise('"', trimmed, '"', ""), trimmed)
    return trimmed.cast(pa.json_())
