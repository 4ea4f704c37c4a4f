"""Guards that stop a run before it sends anything: a mass delete, and a mass clear of one attribute."""

from __future__ import annotations

import duckdb

from cio_retl.project import Sync
from cio_retl.pipeline.diff import Diff
from cio_retl.errors import MassClearError, MassDeleteError
from cio_retl.sqltext import quote_str

# Fewer rows than this never trip the clear guard: one person clearing a field is not a broken join.
MIN_CLEARED_ROWS = 10


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


def guard_mass_clear(con: duckdb.DuckDBPyConnection, sync_name: str, sync: Sync, known: list[str], *,
                     allowed: bool) -> None:
    """Fail before sending if the run would set one attribute to null for more than `max_clear_fraction` of the
    rows it sends, where Customer.io holds a value for it (not in the snapshot's `nulls` of the last accepted row).

    What counts is what the operations write (the calls' `_nulls`, from the compiled actions): a NULL column, a
    literal null, or a mapping that reads a NULL column under another attribute's name — one SQL pass. `known`
    are the attribute names the last run sent: an attribute new to the operations clears nothing.
    """
    if allowed or sync.nulls == "skip" or sync.type not in ("identify", "group") or not known:
        return
    sent = con.execute("SELECT count(*) FROM calls").fetchall()[0][0]
    cleared = con.execute(f"""
        SELECT attribute, count(*) AS n FROM (
            SELECT unnest(c._nulls) AS attribute, sn.nulls AS before
              FROM calls c JOIN snapshot sn ON sn._key = c._key
             WHERE c._change = 'changed' AND sn.fate = 'delivered')
         WHERE NOT list_contains(coalesce(before, []), attribute)
           AND attribute IN ({", ".join(map(quote_str, known))})
         GROUP BY 1 ORDER BY 2 DESC, 1""").fetchall()
    too_many = [(column, n) for column, n in cleared if n >= MIN_CLEARED_ROWS and n > sync.max_clear_fraction * sent]
    if too_many:
        what = "; ".join(f"{column} for {n} of them ({n / sent:.0%})" for column, n in too_many)
        raise MassClearError(
            sync_name, f"would clear {what} of the {sent} rows it sends — attributes Customer.io holds a value for and "
                       f"the operations would now set to null — more than max_clear_fraction {sync.max_clear_fraction:.0%}; "
                       "nothing was sent",
            hint="check the model (a broken join?) and the action mappings (a path that reads an empty column, a "
                 "literal null); if the values are really gone, rerun with --allow-clear; to leave "
                 "NULL attributes out instead of clearing them, set `nulls: skip` on the sync")
