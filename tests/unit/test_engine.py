"""Every DuckDB connection cio-retl opens keeps stdout clean: DuckDB's progress bar would corrupt `run --json`."""

from __future__ import annotations

from pathlib import Path

from cio_retl import engine
from cio_retl.project import DuckDBWarehouse
from cio_retl.state import StateStore
from cio_retl.state.store import auto_memory_limit
from cio_retl.warehouse.duckdb import DuckDBReader


def progress_bar(con) -> bool:
    return con.execute("SELECT current_setting('enable_progress_bar')").fetchall()[0][0]


def test_state_and_warehouse_connections_draw_no_progress_bar(tmp_path: Path) -> None:
    assert progress_bar(engine.connect()) is False
    with StateStore.open(tmp_path / "state", "people", run_id="r1") as state:
        assert progress_bar(state.con) is False
    engine.connect(str(tmp_path / "wh.duckdb")).close()
    reader = DuckDBReader("wh", DuckDBWarehouse(type="duckdb", path="wh.duckdb"), tmp_path)
    assert progress_bar(reader._connect("people")) is False


def test_auto_memory_limit_grows_with_the_snapshot_within_bounds() -> None:
    small, big, huge = (int(auto_memory_limit(rows).removesuffix("MB")) for rows in (0, 10_000_000, 10**9))
    assert small == 192 and 192 < big <= 1024 and huge <= 1024 and big <= huge
