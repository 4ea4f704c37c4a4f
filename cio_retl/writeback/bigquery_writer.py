"""The sync-log writer for BigQuery: the schema is a dataset; rows arrive by load jobs (no streaming buffer)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from cio_retl.project import BigQueryWarehouse
from cio_retl.writeback.tables import AGE_COLUMN, TABLES, TYPES, create_sql

LOAD_CHUNK = 50_000  # rows per load job: a few MB of JSON


class BigQueryWriter:
    """Dataset and tables created by DDL when missing, rows past retention deleted by DML, new rows loaded."""

    def __init__(self, name: str, config: BigQueryWarehouse, root: Path) -> None:
        from google.cloud.bigquery import DEFAULT_RETRY

        from cio_retl.warehouse.bigquery import RETRY_TIMEOUT_S, BigQueryReader

        # The reader's own client: the same credentials, location and endpoint as the extract.
        self.client = BigQueryReader(name, config, root)._connect("writeback")
        self.timeout_s = RETRY_TIMEOUT_S
        # Bounded: the client's default keeps retrying an unreachable endpoint for ten minutes.
        self.retry = DEFAULT_RETRY.with_timeout(RETRY_TIMEOUT_S)
        self.location = config.location

    def write(self, schema: str, tables: dict[str, pa.Table], cutoff: datetime) -> None:
        from google.cloud import bigquery

        dataset = f"`{self.client.project}.{schema}`"
        options = f" OPTIONS(location = '{self.location}')" if self.location else ""
        self._query(f"CREATE SCHEMA IF NOT EXISTS {dataset}{options}")
        for table, columns in TABLES.items():
            ref = f"{self.client.project}.{schema}.{table}"
            self._query(create_sql("bigquery", f"`{ref}`", table))
            self._query(f"DELETE FROM `{ref}` WHERE {AGE_COLUMN[table]} < @cutoff",
                        [bigquery.ScalarQueryParameter("cutoff", "TIMESTAMP", cutoff)])
            rows = tables[table]
            if rows.num_rows:
                fields = [bigquery.SchemaField(name, TYPES["bigquery"][kind]) for name, kind in columns]
                load = bigquery.LoadJobConfig(schema=fields, write_disposition="WRITE_APPEND",
                                              source_format="NEWLINE_DELIMITED_JSON")
                for batch in rows.to_batches(max_chunksize=LOAD_CHUNK):  # one load job per chunk
                    documents = [{name: _json_value(value) for name, value in row.items()} for row in batch.to_pylist()]
                    self.client.load_table_from_json(documents, ref, job_config=load, location=self.location,
                                                     timeout=self.timeout_s).result(timeout=self.timeout_s)

    def _query(self, sql: str, parameters: list[Any] | None = None) -> None:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(query_parameters=parameters or [])
        self.client.query(sql, job_config=config, location=self.location, retry=self.retry).result(
            timeout=self.timeout_s, retry=self.retry)

    def close(self) -> None:
        self.client.close()


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
