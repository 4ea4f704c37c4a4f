"""Type normalisation: every warehouse's Arrow output mapped to one set of Arrow types before the diff."""

from __future__ import annotations

import pyarrow as pa


def normalize_type(arrow_type: pa.DataType) -> pa.DataType:
    """The Arrow type a column of `arrow_type` is stored and diffed as."""
    if pa.types.is_timestamp(arrow_type):
        return pa.timestamp("us", tz="UTC")
    if pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return pa.string()
    if pa.types.is_date64(arrow_type):
        return pa.date32()
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return pa.list_(normalize_type(arrow_type.value_type))
    if pa.types.is_struct(arrow_type):
        return pa.struct([pa.field(f.name, normalize_type(f.type)) for f in arrow_type])
    return arrow_type


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
    # A naive timestamp is read as UTC wall-clock time: the cast only attaches the zone (see README).
    return column.cast(target)
