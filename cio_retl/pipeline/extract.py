"""Stage 1, extract: stage a model in a DuckDB TEMP table with row keys and hashes, and enforce the model contract."""

from __future__ import annotations

import functools
from datetime import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import chain

import duckdb
import pyarrow as pa

from cio_retl.pipeline.report import SyncReport
from cio_retl.project import Project, Sync
from cio_retl.project.incremental import render_model
from cio_retl.project.contract import check_contract
from cio_retl.errors import SyncError, WarehouseError
from cio_retl.rowhash import key_sql, quote, row_hash_sql
from cio_retl.warehouse import Warehouse
from cio_retl.warehouse.dialect import window_sql

VIOLATION_SAMPLES = 20


@dataclass
class Extracted:
    """What the extract stage left in the TEMP table `stage`."""

    rows: int
    schema: pa.Schema
    violations: int = 0
    violation_samples: list[str] = field(default_factory=list)

    def record(self, report: SyncReport) -> None:
        """The extract's counts into the run's report."""
        report.extracted = self.rows
        report.contract_violations, report.violation_samples = self.violations, self.violation_samples


def stage_model(con: duckdb.DuckDBPyConnection, batches: Iterator[pa.RecordBatch], *, empty_schema: Callable[[], pa.Schema],
                key_columns: list[str], check: Callable[[pa.Schema], None],
                on_rows: Callable[[int], None] | None = None) -> pa.Schema:
    """Stream batches into TEMP table `stage` (model columns + _key, _hash) without holding them in memory.

    `check` sees the schema before any row is staged, so a contract error stops the run before it reads on.
    """
    first = next(batches, None)
    schema = first.schema if first is not None else empty_schema()
    check(schema)
    stream = chain([first], batches) if first is not None else iter(())

    failure: list[BaseException] = []

    def counted() -> Iterator[pa.RecordBatch]:
        try:
            for batch in stream:
                if on_rows:
                    on_rows(batch.num_rows)
                yield batch
        except BaseException as exc:  # DuckDB would wrap it; keep the warehouse's own error for the caller
            failure.append(exc)
            raise

    con.register("model_stream", pa.RecordBatchReader.from_batches(schema, counted()))
    try:
        # Two passes: reading a Python stream is single-threaded, hashing a DuckDB table is not.
        con.execute("CREATE OR REPLACE TEMP TABLE stage_raw AS SELECT * FROM model_stream")
    except duckdb.Error:
        if failure:
            raise failure[0] from None
        raise
    finally:
        con.unregister("model_stream")
    con.execute(f"CREATE OR REPLACE TEMP TABLE stage AS SELECT *, {key_sql(key_columns)} AS _key, "
                f"{row_hash_sql(schema)} AS _hash FROM stage_raw")
    con.execute("DROP TABLE stage_raw")
    return schema


def find_violations(con: duckdb.DuckDBPyConnection, key_columns: list[str]) -> tuple[int, list[str]]:
    """Collect null and duplicate keys into TEMP table `violations` (_key, reason); return count and samples."""
    any_null = " OR ".join(f"{quote(c)} IS NULL" for c in key_columns)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE violations AS
        SELECT _key, 'null primary key (' || count(*) || ' rows)' AS reason, count(*) AS n_rows
          FROM stage WHERE {any_null} GROUP BY 1
        UNION ALL
        SELECT _key, 'duplicate primary key (' || count(*) || ' rows)' AS reason, count(*) AS n_rows
          FROM stage WHERE NOT ({any_null}) GROUP BY _key HAVING count(*) > 1""")
    rows = con.execute("SELECT sum(n_rows) FROM violations").fetchall()[0][0] or 0
    # A NULL key stays NULL (one column) or JSON null (several): never the text 'NULL', which a real key may be.
    samples = [reason if key is None else f"{key}: {reason}" for key, reason in con.execute(
        f"SELECT _key, reason FROM violations ORDER BY _key NULLS FIRST LIMIT {VIOLATION_SAMPLES}").fetchall()]
    return int(rows), samples


def extract(con: duckdb.DuckDBPyConnection, warehouse: Warehouse, sql: str, *, sync_name: str, sync: Sync,
            model: str, on_rows: Callable[[int], None] | None = None) -> Extracted:
    """Run the model, check its contract, stage its rows (keys and hashes) and find key violations.

    A warehouse that is itself DuckDB is read by the engine in one parallel pass (`stage_in_engine`); any
    other streams Arrow batches through `stage_model`.
    """
    check = functools.partial(check_contract, sync_name, sync)
    try:
        in_engine = getattr(warehouse, "stage_in_engine", None)
        schema = in_engine(con, sql, sync=sync_name, key_columns=sync.key_columns, check=check) if in_engine else None
        staged_in_engine = schema is not None  # else the batches below are counted as they stream
        if schema is None:
            schema = stage_model(con, warehouse.stream(sql, sync=sync_name),
                                 empty_schema=lambda: warehouse.schema(sql, sync=sync_name),
                                 key_columns=sync.key_columns, check=check, on_rows=on_rows)
    except WarehouseError as exc:
        raise exc.in_model(model) from exc
    rows = con.execute("SELECT count(*) FROM stage").fetchall()[0][0]
    if on_rows and staged_in_engine:
        on_rows(rows)
    violations, samples = find_violations(con, sync.key_columns)
    return Extracted(rows=rows, schema=schema, violations=violations, violation_samples=samples)


def run_model_sql(project: Project, sync_name: str, sync: Sync, watermark: int,
                  window: tuple[datetime, datetime] | None) -> tuple[str, str]:
    """The model's label and the SQL a run sends: `{{ last_sync_time }}` rendered, cut to a partition window in the
    warehouse's own dialect."""
    model = sync.model or ("query" if sync.query else f"table {sync.table}")
    sql = render_model(project.model_sql(sync_name), last_sync_time=watermark).strip().rstrip(";")
    if window is not None:
        if not sync.partition_by:
            raise SyncError(sync_name, "a partition window needs `partition_by` on the sync",
                            hint="set partition_by to the event timestamp column")
        # The warehouse's own dialect: its identifier quoting and timestamp literals (BigQuery, Snowflake differ).
        sql = window_sql(project.warehouses[sync.warehouse].type, sql, sync.partition_by, *window)
    return model, sql
