"""Stage 2, diff: compare the staged extract with the snapshot by key, hash and configuration, in SQL → changes and removals."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from cio_retl.pipeline.report import SyncReport
from cio_retl.project import Sync
from cio_retl.sqltext import quote_str
from cio_retl.state.schema import stale_sql


@dataclass
class Diff:
    """Counts of the diff; the rows are in TEMP tables `changes`, `unsent` and `removed`.

    `added`/`changed` count model rows with a valid key; `stale` of the changed rows were sent under another
    configuration (model SQL, key, mappings); `unsent` are append-mode changes that are not re-sent.
    """

    added: int
    changed: int
    removed: int
    stale: int
    unsent: int
    snapshot_rows: int
    changed_settings: list[str] = field(default_factory=list)  # what differs from the last successful run's settings

    def record(self, report: SyncReport) -> None:
        """The diff's counts, and what they mean for the run, into the run's report."""
        report.added, report.changed, report.removed = self.added, self.changed, self.removed
        if self.stale:
            report.full_resync = True
            what = " and ".join(f"`{s}`" if s != "model SQL" else s for s in self.changed_settings) or \
                "the configuration (model SQL, primary_key, mode, event, convert_timestamps, nulls or mappings)"
            report.warnings.append(f"{what} changed since {self.stale} row(s) were sent: sending them again "
                                   "(full resync)")
        if self.unsent:
            report.warnings.append(f"{self.unsent} changed row(s) not re-sent: append mode sends each row once")


def compute_diff(con: duckdb.DuckDBPyConnection, sync: Sync, *, config_hash: str, resend_all: bool = False,
                 window: bool = False) -> Diff:
    """Fill TEMP `changes` (rows to send), `unsent` (append changes not re-sent) and `removed` (keys to delete).

    A row is changed when its hash differs from the snapshot's, or when it was settled under another
    configuration (a mapping or model edit): a resync interrupted half-way leaves its rest stale, and the
    next run picks it up. A row no action matched (fate `skipped`) is re-evaluated when the mappings or the
    triggers change; a delivered row only when its content would change (never in append mode). Keys with
    contract violations are never in `changes`, but count as present (a duplicated key is a bad row, not a
    deleted one). A window run (one partition) re-sends every row of its window and removes nothing; only
    mirror mode removes. `changes` keeps each row's stage rowid as `_seq`.
    """
    snapshot_rows = con.execute("SELECT count(*) FROM snapshot").fetchall()[0][0]
    valid = "stage st ANTI JOIN violations v ON st._key = v._key"
    drop_temp(con, "changes")
    if snapshot_rows == 0:  # a first run: every valid row is added — a view over the extract, not a copy of it
        con.execute(f"CREATE OR REPLACE TEMP VIEW changes AS SELECT st.*, st.rowid AS _seq, 'added' AS _change, "
                    f"NULL::VARCHAR[] AS _sent_nulls FROM {valid} WHERE st._key IS NOT NULL")
        con.execute("CREATE OR REPLACE TEMP TABLE unsent AS SELECT * FROM changes WHERE FALSE")
        con.execute("CREATE OR REPLACE TEMP TABLE removed AS SELECT * FROM snapshot WHERE FALSE")
        added = con.execute("SELECT count(*) FROM changes").fetchall()[0][0]
        return Diff(added=added, changed=0, removed=0, stale=0, unsent=0, snapshot_rows=0)
    current = quote_str(config_hash)
    stale = _stale_condition(con, config_hash, append=sync.mode == "append")
    removes = sync.mode == "mirror" and not window
    # What is not sent leaves what Customer.io holds (a NULL under `nulls: skip`, an append-mode change): the
    # snapshot's list of unheld attributes (`nulls`) rides along for convert to carry over — only then, as it
    # widens the join.
    carry = sync.nulls == "skip" or sync.mode == "append"
    sent_nulls, nulls_column = ("sn.nulls", ", nulls") if carry else ("NULL::VARCHAR[]", "")
    # One pass over narrow columns (keys, hashes) finds every added, changed and — in mirror mode, as the other
    # side of a FULL OUTER JOIN — removed key; only then are the few full rows fetched (by rowid). Joining the
    # wide rows, or a second ANTI JOIN for removals, cost several times more on a large table.
    # A removal no delete action matched stays in the snapshot with _hash NULL: not removed again until the
    # configuration changes (a delete action is enabled) or the row comes back.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE diff_keys AS
        SELECT st._rid AS _seq, sn._key AS _snapshot_key,
               CASE WHEN st._rid IS NULL THEN 'removed' WHEN sn._key IS NULL THEN 'added' ELSE 'changed' END AS _change,
               sn._key IS NOT NULL AND {stale} AS _stale,
               coalesce(sn.fate, 'delivered') = 'delivered' AND sn._hash IS NOT NULL AS _was_sent,
               {sent_nulls} AS _sent_nulls
          FROM (SELECT rowid AS _rid, _key, _hash FROM stage WHERE _key IS NOT NULL) st
          {'FULL OUTER JOIN' if removes else 'LEFT JOIN'} (SELECT _key, _hash, config_hash, fate{nulls_column} FROM snapshot) sn
            ON st._key = sn._key
         WHERE CASE WHEN st._rid IS NULL THEN NOT (sn._hash IS NULL AND sn.config_hash = {current})
                    ELSE sn._key IS NULL OR {'TRUE' if resend_all or window else 'FALSE'}
                         OR sn._hash IS DISTINCT FROM st._hash OR {stale} END""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE diffed AS
        SELECT st.*, k._seq, k._change, k._stale, k._was_sent, k._sent_nulls
          FROM {valid} JOIN diff_keys k ON st.rowid = k._seq""")
    resend_changes = resend_all or window
    keep_unsent = "FALSE" if sync.mode != "append" or resend_changes else "(_change = 'changed' AND _was_sent)"
    con.execute(f"CREATE OR REPLACE TEMP TABLE unsent AS SELECT * EXCLUDE (_stale, _was_sent) FROM diffed "
                f"WHERE {keep_unsent}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE changes AS SELECT * EXCLUDE (_stale, _was_sent) FROM diffed "
                f"WHERE NOT {keep_unsent}")
    con.execute("CREATE OR REPLACE TEMP TABLE removed AS SELECT sn.* FROM snapshot sn "
                "SEMI JOIN (SELECT _snapshot_key FROM diff_keys WHERE _change = 'removed') k ON sn._key = k._snapshot_key")
    added, changed, stale_n = con.execute(
        "SELECT count(*) FILTER (_change = 'added'), count(*) FILTER (_change = 'changed'), count(*) FILTER (_stale) "
        "FROM diffed").fetchall()[0]
    con.execute("DROP TABLE diffed")
    con.execute("DROP TABLE diff_keys")
    return Diff(added=added, changed=changed, removed=con.execute("SELECT count(*) FROM removed").fetchall()[0][0],
                stale=stale_n, unsent=con.execute("SELECT count(*) FROM unsent").fetchall()[0][0],
                snapshot_rows=snapshot_rows)


def _stale_condition(con: duckdb.DuckDBPyConnection, config_hash: str, *, append: bool) -> str:
    """SQL on snapshot rows `sn`: settled under a configuration to re-evaluate (state.schema.stale_sql), decided
    once per distinct (configuration, fate) — a handful — instead of once per row of a large snapshot."""
    stale = con.execute(f"SELECT config_hash, fate FROM (SELECT DISTINCT config_hash, fate FROM snapshot) sn "
                        f"WHERE {stale_sql('sn', config_hash, append=append)}").fetchall()
    if not stale:
        return "FALSE"
    pairs = " OR ".join(f"(sn.config_hash IS NOT DISTINCT FROM {_literal_or_null(c)} AND sn.fate IS NOT DISTINCT FROM "
                        f"{_literal_or_null(f)})" for c, f in stale)
    return f"({pairs})"


def _literal_or_null(text: str | None) -> str:
    return "NULL" if text is None else quote_str(text)


def drop_temp(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a TEMP table or view of that name, whichever it is (a first run makes `changes` a view)."""
    for kind, catalog in (("VIEW", "duckdb_views()"), ("TABLE", "duckdb_tables()")):
        if con.execute(f"SELECT count(*) FROM {catalog} WHERE temporary AND {kind.lower()}_name = ?", [name]).fetchall()[0][0]:
            con.execute(f"DROP {kind} {name}")

