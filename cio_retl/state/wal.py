"""The write-ahead log of a sync's runs, beside its DuckDB file: per run, the rows it must settle as Parquet chunks
and the delivery outcomes as one Arrow IPC stream. Appending files is several times cheaper than appending to
DuckDB tables (measured on 1M rows: 0.7 s against 2.2 s for the rows, 0.27 s against 1.3 s for the outcomes).

    <state>/<sync>.wal/run-00000042/rows-00001.parquet   a chunk, written whole then renamed (never half there)
    <state>/<sync>.wal/run-00000042/outcomes.arrows      commit groups appended, each flushed to disk (fsync)

A run killed mid-write leaves at most a `.tmp` chunk (ignored) or a torn last outcome group (ignored on read).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.ipc as ipc

from cio_retl.delivery.outcomes import OUTCOME_SCHEMA
from cio_retl.sqltext import quote_str
from cio_retl.state.schema import IDENTITY_COLUMNS

# Delivery's outcomes, stamped with when each commit group was written.
OUTCOME_COLUMNS = OUTCOME_SCHEMA.append(pa.field("answered_at", pa.timestamp("us", tz="UTC")))
# The write-ahead's rows, in file order: what settle needs to give each row its fate and its snapshot entry.
ROW_COLUMNS = {"row_id": "BIGINT", "_key": "VARCHAR", "_hash": "UBIGINT", "_change": "VARCHAR",
               **{column: "VARCHAR" for column in IDENTITY_COLUMNS}, "run_id": "VARCHAR", "config_hash": "VARCHAR",
               "fate": "VARCHAR", "reason": "VARCHAR", "n_ops": "INTEGER", "nulls": "VARCHAR[]", "run_no": "INTEGER"}
_RUN = re.compile(r"^run-(\d{8})$")


def rows_select(source: str, values: dict[str, str]) -> str:
    """SELECT of write-ahead rows from `source`: every column of ROW_COLUMNS, from `values` (SQL by column), typed."""
    missing = set(ROW_COLUMNS) - set(values)
    assert not missing, f"write-ahead columns without a value: {sorted(missing)}"
    columns = ", ".join(f"({values[name]})::{kind} AS {name}" for name, kind in ROW_COLUMNS.items())
    return f"SELECT {columns} FROM {source}"


def wal_of(state_path: Path) -> WriteAheadLog:
    """The run log of the sync whose DuckDB file is `state_path`."""
    return WriteAheadLog(state_path.with_suffix(".wal"))


class WriteAheadLog:
    """The log folder of one sync: a folder per run, numbered."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def run(self, run_no: int) -> RunLog:
        return RunLog(self.folder / f"run-{run_no:08d}", run_no)

    def runs(self) -> list[int]:
        """The numbers of the runs the log holds, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.folder.iterdir() if (m := _RUN.match(p.name)))

    def prune(self, below: int) -> None:
        """Forget the runs numbered below `below` (settled, and older than the history kept)."""
        for run_no in self.runs():
            if run_no < below:
                shutil.rmtree(self.run(run_no).folder, ignore_errors=True)

    def rows_sql(self, runs: list[int]) -> str:
        """SQL of the rows of these runs (a relation with the write-ahead's columns), empty when none."""
        files = [str(f) for run_no in runs for f in self.run(run_no).row_files()]
        if not files:
            return rows_select("(SELECT 1) WHERE FALSE", {name: "NULL" for name in ROW_COLUMNS})
        return f"SELECT * FROM read_parquet([{', '.join(map(quote_str, files))}], union_by_name = true)"

    def outcomes(self, runs: list[int]) -> pa.Table:
        """The outcomes of these runs, each row with its `run_no`."""
        tables = [self.run(run_no).outcomes() for run_no in runs]
        if not tables:
            return RunLog.empty_outcomes()
        return pa.concat_tables(tables)


class RunLog:
    """The log of one run: row chunks and outcomes."""

    def __init__(self, folder: Path, run_no: int) -> None:
        self.folder, self.run_no = folder, run_no
        self._chunks = len(self.row_files())

    def row_files(self) -> list[Path]:
        return sorted(self.folder.glob("rows-*.parquet")) if self.folder.is_dir() else []

    def write_rows(self, con: duckdb.DuckDBPyConnection, select_sql: str) -> Path:
        """Write a chunk of rows: whole, on disk, then under its final name."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._chunks += 1
        path = self.folder / f"rows-{self._chunks:05d}.parquet"
        partial = path.with_suffix(".parquet.tmp")
        con.execute(f"COPY ({select_sql}) TO {quote_str(str(partial))} (FORMAT parquet, COMPRESSION zstd)")
        _fsync(partial)
        os.replace(partial, path)
        return path

    def add_rows(self, name: str, chunk: Path) -> None:
        """A chunk restored from elsewhere (object storage, downloaded to `chunk`), moved in under its own name."""
        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.move(chunk, self.folder / name)
        self._chunks = len(self.row_files())

    @property
    def outcomes_path(self) -> Path:
        return self.folder / "outcomes.arrows"

    def outcomes(self) -> pa.Table:
        """The outcomes committed so far (a torn last group, from a kill mid-write, is left out)."""
        if not self.outcomes_path.exists():
            return self.empty_outcomes()
        batches = []
        with open(self.outcomes_path, "rb") as source:
            try:
                reader = ipc.open_stream(source)
                while True:
                    batches.append(reader.read_next_batch())
            except (StopIteration, pa.ArrowInvalid, OSError):
                pass
        table = pa.Table.from_batches(batches, schema=OUTCOME_COLUMNS)
        return table.append_column("run_no", pa.repeat(pa.scalar(self.run_no, pa.int32()), table.num_rows))

    @staticmethod
    def empty_outcomes() -> pa.Table:
        return OUTCOME_COLUMNS.empty_table().append_column("run_no", pa.array([], pa.int32()))


class OutcomeLog:
    """Appends commit groups of outcomes to a new run's stream, each group on disk before `append` returns."""

    def __init__(self, run: RunLog) -> None:
        run.folder.mkdir(parents=True, exist_ok=True)
        # Created once, by the run that owns the number (or the restore of that run): never reopened.
        self._file = open(run.outcomes_path, "xb")
        self._writer = ipc.new_stream(self._file, OUTCOME_COLUMNS)
        self._lock = threading.Lock()

    def append(self, group: pa.Table) -> None:
        with self._lock:
            self._writer.write_table(group.select(OUTCOME_COLUMNS.names).cast(OUTCOME_COLUMNS))
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            self._writer.close()
            self._file.close()


def _fsync(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def adopt_version_2(con: duckdb.DuckDBPyConnection, wal: WriteAheadLog) -> list[str]:
    """A version-2 state file kept its write-ahead in tables: the runs above `settled_through` in `pending_rows`
    move, with their `outcomes`, into the run log (where the next run settles them first, as any interrupted
    run), then the tables go. Never dropped unsettled: their rows' fates depend on those outcomes."""
    columns = {(t, c) for t, c in con.execute("SELECT table_name, column_name FROM duckdb_columns() "
                                               "WHERE database_name = current_database()").fetchall()}
    if ("pending_rows", "_key") not in columns:
        return []
    through = con.execute("SELECT max(value::INTEGER) FROM meta WHERE name = 'settled_through'").fetchall()[0][0]
    run_no = "run_no" if ("pending_rows", "run_no") in columns else "0"
    runs = [r for (r,) in con.execute(f"SELECT DISTINCT {run_no} FROM pending_rows WHERE {run_no} > "
                                      f"{-1 if through is None else int(through)} ORDER BY 1").fetchall()]
    for number in runs:
        run = wal.run(number)
        if run.row_files():  # moved by an upgrade killed before it dropped the tables
            continue
        values = {name: name if ("pending_rows", name) in columns else "NULL" for name in ROW_COLUMNS}
        run.write_rows(con, rows_select(f"pending_rows WHERE {run_no} = {number}", {**values, "run_no": str(number)}))
        outcomes = RunLog.empty_outcomes().drop_columns(["run_no"])
        if ("outcomes", "op_id") in columns:
            when = "answered_at" if ("outcomes", "answered_at") in columns else "NULL::TIMESTAMPTZ"
            outcomes = con.execute(
                f"SELECT op_id, status, status_code, reason, body, {when} AS answered_at FROM outcomes "
                f"WHERE {'run_no' if ('outcomes', 'run_no') in columns else '0'} = {number}").to_arrow_table()
        log = OutcomeLog(run)
        log.append(outcomes)
        log.close()
    for table in ("pending_rows", "outcomes"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return [f"state file upgraded from version 2: the write-ahead of {len(runs)} unsettled run(s) moved into "
            f"the run log {wal.folder}; a run settles them before it sends anything"] if runs else []

