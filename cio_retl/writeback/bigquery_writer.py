"""The sync-log writer for BigQuery: the schema is a dataset; rows arrive by load jobs (no streaming buffer)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from cio_retl.project import BigQueryWarehouse
from cio_retl.writeback.tables import AGE_COLUMN, TABLES, TYPES


class BigQueryWriter:
    """Dataset and tables created when missing, rows past retention deleted by DML, new rows loaded."""

    def __init__(self, name: str, config: BigQueryWarehouse, root: Path) -> None:
        from cio_retl.warehouse.bigquery import RETRY_TIMEOUT_S, BigQueryReader

        # The reader's own client: the same credentials, location and endpoint as the extract.
        self.client = BigQueryReader(name, config, root)._connect("writeback")
        self.timeout_s = RETRY_TIMEOUT_S
        self.location = config.location

    def write(self, schema: str, rows: dict[str, list[dict[str, Any]]], cutoff: datetime) -> None:
        from google.cloud import bigquery

        dataset = bigquery.Dataset(f"{self.client.project}.{schema}")
        dataset.location = self.location
        self.client.create_dataset(dataset, exists_ok=True, timeout=self.timeout_s)
        for table, columns in TABLES.items():
            ref = f"{self.client.project}.{schema}.{table}"
            fields = [bigquery.SchemaField(name, TYPES["bigquery"][kind]) for name, kind in columns]
            self.client.create_table(bigquery.Table(ref, schema=fields), exists_ok=True, timeout=self.timeout_s)
            config = bigquery.QueryJobConfig(query_parameters=[
                bigquery.ScalarQueryParameter("cutoff", "TIMESTAMP", cutoff)])
            self.client.query(f"DELETE FROM `{ref}` WHERE {AGE_COLUMN[table]} < @cutoff",
                              job_config=config).result(timeout=self.timeout_s)
            if rows[table]:
                load = bigquery.LoadJobConfig(schema=fields, write_disposition="WRITE_APPEND",
                                              source_format="NEWLINE_DELIMITED_JSON")
                documents = [{name: _json_value(row.get(name)) for name, _ in columns} for row in rows[table]]
                self.client.load_table_from_json(documents, ref, job_config=load).result(timeout=self.timeout_s)

    def close(self) -> None:
        self.client.close()


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
