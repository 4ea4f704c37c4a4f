"""Deterministic ULIDs: SQL and Python agree, values are valid and distinct."""

from __future__ import annotations

import random

import duckdb

from cio_retl.actions.ulid import event_id_sql, is_ulid, ulid_for, ulid_sql


def test_sql_and_python_agree_on_random_inputs() -> None:
    rng = random.Random(7)
    parts = [("".join(rng.choice("ab'\"é\x00 1") for _ in range(rng.randint(0, 12))), str(rng.random()), "h")
             for _ in range(300)]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (a VARCHAR, b VARCHAR, c VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", parts)
    got = [r[0] for r in con.execute(f"SELECT {ulid_sql('a', 'b', 'c')} FROM t").fetchall()]
    assert got == [ulid_for(*p) for p in parts]
    assert all(is_ulid(u) for u in got) and len(set(got)) == len(set(parts))


def test_separator_keeps_parts_apart() -> None:
    assert ulid_for("ab", "c") != ulid_for("a", "bc")


def test_message_ids() -> None:
    sql = event_id_sql("m", "'s'", "'k'")
    rows = duckdb.execute(f"SELECT {sql} FROM (VALUES ('01ARZ3NDEKTSV4RRFFQ69G5FAV'), ('uuid-1'), (NULL)) t(m)").fetchall()
    assert [r[0] for r in rows] == ["01ARZ3NDEKTSV4RRFFQ69G5FAV", ulid_for("messageId", "uuid-1"), ulid_for("s", "k")]
