"""Build a calls table's operations through the pipeline's own path (plan_operations, then materialize) for tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from cio_retl.pipeline.writeahead import plan_operations
from cio_retl.project import ActionOverride, Sync
from cio_retl.state.schema import row_of_op_sql


@dataclass
class Built:
    """The operations of `calls` in table `ops` (op_id order), counted per action and status."""

    rows: list[dict[str, Any]]
    operations: dict[str, int] = field(default_factory=dict)  # operations to send, per action
    rejected: dict[str, int] = field(default_factory=dict)    # operations refused by a local check, per action
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.operations.values()) + sum(self.rejected.values())


def build_ops(con: duckdb.DuckDBPyConnection, *, sync_name: str = "s", overrides: dict[str, ActionOverride] | None = None,
              convert_timestamps: bool = True) -> Built:
    """Run TEMP/table `calls` through the enabled actions into table `ops` with each operation's `_key` and status."""
    con.execute("CREATE OR REPLACE TEMP VIEW delete_calls AS SELECT * FROM calls WHERE FALSE")
    sync = Sync(warehouse="w", query="SELECT 1", primary_key="k", type="identify", convert_timestamps=convert_timestamps)
    operations = plan_operations(con, sync_name=sync_name, sync=sync, overrides=overrides or {}, run_id="r",
                                 config_hash="c")
    operations.materialize("planned")
    con.execute(f"""CREATE OR REPLACE TABLE ops AS
        SELECT p.*, c._key, CASE WHEN p.reason IS NULL THEN 'pending' ELSE 'rejected' END AS status
          FROM planned p JOIN calls c ON c._seq = {row_of_op_sql('p.op_id')} ORDER BY p.op_id""")
    cur = con.execute("SELECT * FROM ops ORDER BY op_id")
    names = [d[0] for d in cur.description]
    built = Built([dict(zip(names, row)) for row in cur.fetchall()], warnings=operations.warnings)
    for row in built.rows:
        counts = built.operations if row["status"] == "pending" else built.rejected
        counts[row["action"]] = counts.get(row["action"], 0) + 1
    return built
