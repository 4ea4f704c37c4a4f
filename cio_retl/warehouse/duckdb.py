"""DuckDB warehouse: a local database file, read through DuckDB's Arrow record-batch reader."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from cio_retl import engine
from cio_retl.project import DuckDBWarehouse
from cio_retl.errors import WarehouseError
from cio_retl.rowhash import key_sql, row_hash_sql
from cio_retl.sqltext import quote_ident, quote_str
from cio_retl.warehouse.sql import as_subquery, limit_zero
from cio_retl.warehouse.types import normalize_batch, normalize_schema

# Reading streams batch by batch; a small buffer pool keeps the warehouse's cache out of our RSS.
READER_MEMORY_LIMIT = "128MB"
ATTACHED_AS = "cio_retl_warehouse"
# Column types the in-engine read stages exactly as the Arrow path would (timestamps made UTC with a cast);
# any other type (decimals, HUGEINT, nanosecond timestamps, MAP, ENUM…) takes the Arrow path and its rules.
_AS_IS = {"VARCHAR", "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER",
          "FLOAT", "DOUBLE", "DATE", "JSON", "TIMESTAMP WITH TIME ZONE"}
_TO_UTC = {"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS"}


class DuckDBReader:
    """Streams a model's rows from a DuckDB file, read-only."""

    def __init__(self, name: str, config: DuckDBWarehouse, root: Path) -> None:
        self.name = name
        self.config = config
        self.path = config.path if config.path == ":memory:" else str((root / config.path).resolve())
        self._con: duckdb.DuckDBPyConnection | None = None

    def _connect(self, sync: str) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            if self.path != ":memory:" and not Path(self.path).is_file():
                raise WarehouseError(sync, self.name, f"DuckDB file {self.path} does not exist",
                                     hint="check warehouses.<name>.path, or run `cio-retl demo` to build the example")
            try:
                self._con = engine.connect(self.path, read_only=self.path != ":memory:")
                self._con.execute("SET TimeZone = 'UTC'")
                self._con.execute(f"SET memory_limit = '{READER_MEMORY_LIMIT}'")
            except duckdb.Error as exc:
                raise WarehouseError(sync, self.name, f"cannot open {self.path}: {exc}",
                                     hint="is another process writing to it?") from exc
        return self._con

    def _relation(self, sql: str, sync: str, params: Sequence[str] = ()) -> duckdb.DuckDBPyRelation:
        """The model as a relation, parsed as written: an error quotes the model's own line, not a wrapper's."""
        relation = self._connect(sync).sql(sql, params=list(params)) if params else self._connect(sync).sql(sql)
        if relation is None:
            raise WarehouseError(sync, self.name, "the model is not a query", hint="a model is one SELECT statement")
        return relation

    def stream(self, sql: str, *, sync: str, params: Sequence[str] = ()) -> Iterator[pa.RecordBatch]:
        try:
            relation = _with_iso_text(self._relation(sql, sync, params))
            json_columns = _json_columns(relation)
            for batch in relation.to_arrow_reader(self.config.batch_size):  # streams; execute() would copy
                yield normalize_batch(_mark_json(batch, json_columns))
        except duckdb.Error as exc:
            raise WarehouseError(sync, self.name, f"query failed: {exc}", hint="fix the model SQL and rerun") from exc

    def schema(self, sql: str, *, sync: str) -> pa.Schema:
        try:
            relation = _with_iso_text(self._relation(sql, sync)).limit(0)
            table = relation.to_arrow_table()
        except duckdb.Error as exc:
            raise WarehouseError(sync, self.name, f"query failed: {exc}", hint="fix the model SQL and rerun") from exc
        json_columns = _json_columns(relation)
        return normalize_schema(pa.schema([pa.field(f.name, pa.json_() if f.name in json_columns else f.type)
                                           for f in table.schema]))

    def stage_in_engine(self, con: duckdb.DuckDBPyConnection, sql: str, *, sync: str, key_columns: list[str],
                        check: Callable[[pa.Schema], None]) -> pa.Schema | None:
        """Stage the model in the state database itself — the file attached read-only, keys and hashes computed in
        the same parallel scan — when every column is of a type the Arrow path stages unchanged; else None."""
        if self.path == ":memory:":
            return None
        try:
            con.execute(f"ATTACH {quote_str(self.path)} AS {ATTACHED_AS} (READ_ONLY)")
        except duckdb.Error as exc:
            raise WarehouseError(sync, self.name, f"cannot open {self.path}: {exc}",
                                 hint="check warehouses.<name>.path; is another process writing to it?") from exc
        home = con.execute("SELECT current_database()").fetchall()[0][0]
        try:
            con.execute(f"USE {ATTACHED_AS}")  # the model names its tables as in the warehouse
            return self._stage(con, sql, sync=sync, key_columns=key_columns, check=check)
        except duckdb.Error as exc:
            raise WarehouseError(sync, self.name, f"query failed: {exc}", hint="fix the model SQL and rerun") from exc
        finally:
            con.execute(f"USE {quote_ident(home)}")
            con.execute(f"DETACH {ATTACHED_AS}")

    def _stage(self, con: duckdb.DuckDBPyConnection, sql: str, *, sync: str, key_columns: list[str],
               check: Callable[[pa.Schema], None]) -> pa.Schema | None:
        relation = con.sql(sql).limit(0)  # parsed as written: an error quotes the model's own line
        types = {name: str(kind) for name, kind in zip(relation.columns, relation.types)}
        if not all(kind in _AS_IS or kind in _TO_UTC for kind in types.values()):
            return None
        columns = ", ".join(f"CAST({quote_ident(name)} AS TIMESTAMPTZ) AS {quote_ident(name)}" if kind in _TO_UTC
                            else quote_ident(name) for name, kind in types.items())
        table = con.sql(f"SELECT {columns} FROM {as_subquery(limit_zero(sql))}").to_arrow_table()
        schema = normalize_schema(pa.schema([pa.field(f.name, pa.json_() if types[f.name] == "JSON" else f.type)
                                             for f in table.schema]))
        check(schema)
        con.execute(f"CREATE OR REPLACE TEMP TABLE stage AS SELECT *, {key_sql(key_columns)} AS _key, "
                    f"{row_hash_sql(schema)} AS _hash FROM (SELECT {columns} FROM {as_subquery(sql)})")
        return schema

    def check(self) -> None:
        self._connect("doctor").execute("SELECT 1").fetchall()

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


def _with_iso_text(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """TIMETZ columns as their ISO text ('03:04:05+05:30'): Arrow has no time with an offset, and would drop it."""
    zoned = {name for name, kind in zip(relation.columns, relation.types) if str(kind) == "TIME WITH TIME ZONE"}
    if not zoned:
        return relation
    return relation.project(", ".join(f"CAST({quote_ident(name)} AS VARCHAR) AS {quote_ident(name)}" if name in zoned
                                      else quote_ident(name) for name in relation.columns))


def _json_columns(relation: duckdb.DuckDBPyRelation) -> set[str]:
    return {name for name, kind in zip(relation.columns, relation.types) if str(kind) == "JSON"}


def _mark_json(batch: pa.RecordBatch, json_columns: set[str]) -> pa.RecordBatch:
    """DuckDB exports JSON as plain text; mark it JSON so it is sent as nested values, as from other warehouses."""
    if not json_columns:
        return batch
    columns = [c.cast(pa.json_()) if name in json_columns else c for c, name in zip(batch.columns, batch.schema.names)]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
