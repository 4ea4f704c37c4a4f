"""Sync-log writeback: after a run, its row in `sync_runs` and its keys in `sync_changelog`, in a named warehouse."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pyarrow as pa

from cio_retl.project import (BigQueryWarehouse, DuckDBWarehouse, PostgresWarehouse, Project, SnowflakeWarehouse,
                              Writeback)
from cio_retl.writeback.tables import conform


def write_sync_log(project: Project, writeback: Writeback, run: dict[str, Any],
                   changelog: pa.Table | None) -> None:
    """Append the run and its changelog through the warehouse's own client, deleting rows older than
    `retention_days` first; raises whatever the client raises (the caller turns it into a warning)."""
    config = project.warehouses[writeback.warehouse]
    cutoff = datetime.now(timezone.utc) - timedelta(days=writeback.retention_days)
    writer: Any
    if isinstance(config, DuckDBWarehouse):
        from cio_retl.writeback.sql_writers import DuckDBWriter

        writer = DuckDBWriter(config, project.root)
    elif isinstance(config, PostgresWarehouse):
        from cio_retl.writeback.sql_writers import PostgresWriter

        writer = PostgresWriter(config)
    elif isinstance(config, SnowflakeWarehouse):
        from cio_retl.writeback.sql_writers import SnowflakeWriter

        writer = SnowflakeWriter(writeback.warehouse, config, project.root)
    elif isinstance(config, BigQueryWarehouse):
        from cio_retl.writeback.bigquery_writer import BigQueryWriter

        writer = BigQueryWriter(writeback.warehouse, config, project.root)
    else:
        raise ValueError(f"writeback to a {config.type} warehouse is not supported")
    try:
        writer.write(writeback.schema_, {"sync_runs": conform("sync_runs", [run]),
                                         "sync_changelog": conform("sync_changelog", changelog)}, cutoff)
    finally:
        writer.close()


__all__ = ["write_sync_log"]
