"""A run's per-key changelog for the sync log: each row's op and fate as settle() recorded them, and what was sent."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from cio_retl.pipeline.commit import UNSENT_CHANGE
from cio_retl.project import Sync
from cio_retl.sqltext import quote_ident, quote_str

OPS = "CASE s._change WHEN 'added' THEN 'add' WHEN 'changed' THEN 'change' WHEN 'removed' THEN 'remove' END"
_BAG = {"identify": "traits", "group": "traits"}  # the other call types send `properties`


def run_changelog(con: duckdb.DuckDBPyConnection, sync: Sync, run_id: str, *, values: bool) -> pa.Table:
    """One row per key the run wrote ahead (TEMP `settled`, left by commit.settle for the run it settled last) and
    per key the model contract rejected: key, key_json, op, fate, reason, attributes (a JSON list of names) and,
    with `values`, the attributes sent (JSON). Empty when the run settled nothing (it failed before delivering)."""
    if not _exists(con, "settled") or not con.execute("SELECT count(*) FROM settled WHERE run_id = ?",
                                                      [run_id]).fetchall()[0][0]:
        return _contract_rejections(con, sync, run_id)
    bag = _BAG.get(sync.type, "properties")
    names = _fields(con, "calls", bag)
    sent_names = f"[{', '.join(map(quote_str, names))}]::VARCHAR[]"
    if sync.nulls == "skip" and names and _has_column(con, "calls", "_nulls"):  # NULLs are left out, not cleared
        sent_names = f"list_filter({sent_names}, lambda n: NOT list_contains(coalesce(c._nulls, []), n))"
    value_sql = f"to_json(c.{quote_ident(bag)})::VARCHAR" if values and names else "NULL::VARCHAR"
    relation = con.sql(f"""
        SELECT s._key AS key, {_key_json(sync, 's._key')} AS key_json, {OPS} AS op,
               CASE s.fate WHEN '{UNSENT_CHANGE}' THEN 'skipped' ELSE s.fate END AS fate,
               CASE WHEN s.fate = 'rejected' THEN r.reason WHEN s.fate = 'pending'
                    THEN 'no answer after the run''s retries: sent again next run'
                    WHEN s.fate IN ('skipped', '{UNSENT_CHANGE}') THEN s.reason END AS reason,
               CASE WHEN c._key IS NULL OR s.fate IN ('skipped', '{UNSENT_CHANGE}') THEN '[]' ELSE to_json({sent_names})::VARCHAR END
                   AS attributes,
               CASE WHEN c._key IS NULL OR s.fate IN ('skipped', '{UNSENT_CHANGE}') THEN NULL ELSE {value_sql} END AS "values"
          FROM settled s
          LEFT JOIN calls c ON c._key = s._key AND s._change <> 'removed'
          LEFT JOIN (SELECT _key, string_agg(action || ': ' || reason, '; ' ORDER BY action) AS reason
                       FROM rejections WHERE run_id = {quote_str(run_id)} GROUP BY _key) r ON r._key = s._key
         WHERE s.run_id = {quote_str(run_id)}""")
    return pa.concat_tables([relation.to_arrow_table(), _contract_rejections(con, sync, run_id)])


def _contract_rejections(con: duckdb.DuckDBPyConnection, sync: Sync, run_id: str) -> pa.Table:
    """Null and duplicate keys: rejected before anything was built, so they have no op."""
    return con.sql(f"""
        SELECT _key AS key, {_key_json(sync, '_key')} AS key_json, NULL::VARCHAR AS op, 'rejected' AS fate,
               reason, '[]' AS attributes, NULL::VARCHAR AS "values"
          FROM rejections WHERE run_id = {quote_str(run_id)} AND action = 'model contract'""").to_arrow_table()


def _key_json(sync: Sync, column: str) -> str:
    """The key as a JSON object of its parts: `_key` is the single column's text, or a JSON array of texts."""
    columns = sync.key_columns
    if len(columns) == 1:
        return f"json_object({quote_str(columns[0])}, {column})::VARCHAR"
    parts = ", ".join(f"{quote_str(c)}, json_extract_string({column}, '$[{i}]')" for i, c in enumerate(columns))
    return f"json_object({parts})::VARCHAR"


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND temporary",
                            [name]).fetchall()[0][0] or con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND temporary", [name]).fetchall()[0][0])


def _has_column(con: duckdb.DuckDBPyConnection, view: str, column: str) -> bool:
    return _exists(con, view) and column in [row[0] for row in con.execute(f"DESCRIBE {view}").fetchall()]


def _fields(con: duckdb.DuckDBPyConnection, view: str, column: str) -> list[str]:
    """The field names of a STRUCT column of a view (the attributes a call carries), none if it has no such column."""
    if not _has_column(con, view, column):
        return []
    struct = con.sql(f"SELECT {quote_ident(column)} FROM {view} LIMIT 0").to_arrow_table().schema.field(0).type
    return [struct.field(i).name for i in range(struct.num_fields)] if pa.types.is_struct(struct) else []
