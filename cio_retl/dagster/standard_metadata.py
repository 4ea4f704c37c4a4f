"""Dagster's standard metadata of a sync's materialization: row counts, the model's column schema, column lineage."""

from __future__ import annotations

import dagster as dg

from cio_retl.pipeline.convert import CALL_FIELDS, attribute_columns
from cio_retl.project import Sync

# Model columns that become Customer.io identifiers, by their Customer.io names.
IDENTIFIERS = {"user_id": "id", "anonymous_id": "anonymous_id", "group_id": "object_id"}


def standard_metadata(sync: Sync, columns: list[tuple[str, str]], rows: int, *, partitioned: bool,
                      upstream: list[dg.AssetKey]) -> dict[str, dg.MetadataValue]:
    """`dagster/row_count` (or `dagster/partition_row_count` for a partition or range run: the rows the model
    returned for that window), `dagster/column_schema` of the model and, when the asset reads exactly one
    upstream asset, `dagster/column_lineage` from each model column to the Customer.io field it feeds."""
    metadata: dict[str, dg.MetadataValue] = {
        "dagster/partition_row_count" if partitioned else "dagster/row_count": dg.MetadataValue.int(rows)}
    if not columns:
        return metadata
    metadata["dagster/column_schema"] = dg.MetadataValue.table_schema(dg.TableSchema(
        columns=[dg.TableColumn(name, kind) for name, kind in columns]))
    if len(upstream) == 1:
        feeds = customerio_fields(sync, [name for name, _ in columns])
        metadata["dagster/column_lineage"] = dg.MetadataValue.column_lineage(dg.TableColumnLineage(deps_by_column={
            field: [dg.TableColumnDep(asset_key=upstream[0], column_name=column)]
            for column, field in feeds.items()}))
    return metadata


def customerio_fields(sync: Sync, columns: list[str]) -> dict[str, str]:
    """Model column → the Customer.io field it feeds under the default mappings: identifiers (`id`,
    `anonymous_id`, `object_id`), person or object attributes by their own names, event data as `data.<column>`."""
    import pyarrow as pa

    fields = {column: IDENTIFIERS[column] for column in columns if column in IDENTIFIERS}
    if sync.type in ("identify", "group"):
        schema = pa.schema([(name, pa.null()) for name in columns])
        fields.update({column: column for column in attribute_columns(sync, schema)})
    elif sync.type in ("track", "page", "screen"):
        consumed = set(CALL_FIELDS[sync.type]) | {"context"}
        fields.update({column: f"data.{column}" for column in columns if column not in consumed})
    return fields
