"""Stage 2, diff: compare the staged extract with the snapshot by key and hash, in SQL → changes and removals."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from cio_retl.config import Sync
from cio_retl.errors import MassDeleteError


@dataclass
class Diff:
    """Counts of the diff; the rows are in TEMP tables `changes` (stage rows + _change) and `removed`."""

    added: int
    changed: int
    removed: int
    snapshot_rows: int


def compute_diff(con: duckdb.DuckDBPyConnection, *, full_resync: bool = False, window: bool = False) -> Diff:
    """Fill TEMP `changes` (added/changed rows of stage) and `removed` (snapshot keys gone from stage).

    Removals are computed against every staged key, including keys with contract violations: a duplicated
    key is a bad row, not a deleted one. A window run (one partition) re-sends every row of its window and
    removes nothing. A full resync re-sends every row but still removes what disappeared.
    """
    snapshot_rows = con.execute("SELECT count(*) FROM snapshot").fetchall()[0][0]
    if window:
        con.execute("CREATE OR REPLACE TEMP TABLE removed AS SELECT * FROM snapshot WHERE FALSE")
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE removed AS "
                    "SELECT sn.* FROM snapshot sn ANTI JOIN stage st ON sn._key = st._key")
    same_rows_too = "TRUE" if (full_resync or window) else "sn._hash IS DISTINCT FROM st._hash"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE changes AS
        SELECT st.*, CASE WHEN sn._key IS NULL THEN 'added' ELSE 'changed' END AS _change
          FROM stage st LEFT JOIN snapshot sn ON st._key = sn._key
         WHERE sn._key IS NULL OR {same_rows_too}""")
    added, changed = con.execute(
        "SELECT count(*) FILTER (_change = 'added'), count(*) FILTER (_change = 'changed') FROM changes").fetchall()[0]
    removed = con.execute("SELECT count(*) FROM removed").fetchall()[0][0]
    return Diff(added=added, changed=changed, removed=removed, snapshot_rows=snapshot_rows)


def apply_mode(con: duckdb.DuckDBPyConnection, sync: Sync, *, resend: bool = False) -> int:
    """Keep only what the sync's mode acts on; return the removals it will delete.

    Only mirror deletes. upsert and append leave rows that left the model alone — in Customer.io and in the
    snapshot — which is also what keeps incremental models ({{ last_sync_time }}) correct. append drops
    changed rows unless `resend` (a full resync or a partition window): event ids are derived from the row,
    so Customer.io de-duplicates what it already has.
    """
    if sync.mode == "append" and not resend:
        con.execute("DELETE FROM changes WHERE _change = 'changed'")
    if sync.mode != "mirror":
        con.execute("DELETE FROM removed")
    return con.execute("SELECT count(*) FROM removed").fetchall()[0][0]


def drop_violations(con: duckdb.DuckDBPyConnection) -> None:
    """Take null-key and duplicate-key rows out of the change set: they are recorded as rejections, never sent."""
    con.execute("DELETE FROM changes WHERE _key IS NULL OR _key IN (SELECT _key FROM violations)")


def guard_mass_delete(sync_name: str, sync: Sync, diff: Diff, *, allowed: bool) -> None:
    """Fail a mirror run before anything is sent if it would delete too much of the snapshot."""
    if sync.mode != "mirror" or allowed or diff.snapshot_rows == 0:
        return
    fraction = diff.removed / diff.snapshot_rows
    if fraction > sync.max_delete_fraction:
        raise MassDeleteError(
            sync_name, f"would delete {diff.removed} of {diff.snapshot_rows} people/objects ({fraction:.0%}), more than "
                       f"max_delete_fraction {sync.max_delete_fraction:.0%}; nothing was sent",
            hint="check that the model returns everything (an empty or broken query looks like mass deletion); "
                 "if the deletes are intended, rerun with --allow-mass-delete")
