"""Deterministic ULIDs for event ids: the same (sync, primary key) always gives the same valid ULID."""

from __future__ import annotations

import hashlib
import re

from cio_retl.sqltext import quote_str

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BASE32HEX = "0123456789ABCDEFGHIJKLMNOPQRSTUV"  # what DuckDB's to_base(n, 32) writes
ULID_RE = r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$"
SEP = "\x1f"


def _encode(hex_digest: str) -> str:
    """26 Crockford characters from 124 bits of an md5: 7 hex → 6 chars (first ≤ 7), 12 hex → 10 chars, twice."""
    chunks = ((hex_digest[0:7], 6), (hex_digest[7:19], 10), (hex_digest[19:31], 10))
    out = []
    for chunk, width in chunks:
        number = int(chunk, 16)
        out.append("".join(CROCKFORD[(number >> (5 * i)) & 31] for i in reversed(range(width))))
    return "".join(out)


def ulid_for(*parts: str) -> str:
    """The ULID of some text parts (Python twin of `ulid_sql`, used by tests)."""
    return _encode(hashlib.md5(SEP.join(parts).encode()).hexdigest())


def is_ulid(text: str) -> bool:
    """True for a canonical (upper-case) ULID."""
    return re.fullmatch(ULID_RE, text) is not None


def ulid_sql(*part_sqls: str) -> str:
    """SQL of the ULID of the given SQL text parts, joined by the unit separator before hashing."""
    joined = f" || {quote_str(SEP)} || ".join(f"({p})" for p in part_sqls)
    digest = f"md5({joined})"
    pieces = [f"to_base(('0x' || substr({digest}, {start}, {length}))::BIGINT, 32, {width})"
              for start, length, width in ((1, 7, 6), (8, 12, 10), (20, 12, 10))]
    return f"translate({' || '.join(pieces)}, '{_BASE32HEX}', '{CROCKFORD}')"


def event_id_sql(message_id: str | None, sync_sql: str, key_sql: str) -> str:
    """SQL of an event's id: a ULID messageId kept (upper-cased), another messageId hashed, else (sync, key).

    Never the row's content: an event re-sent after its row was edited (a backfill, a resync, a crash) keeps
    its id, so Customer.io de-duplicates it instead of firing a campaign twice.
    """
    derived = ulid_sql(sync_sql, key_sql)
    if not message_id:
        return derived
    return (f"CASE WHEN regexp_full_match(upper({message_id}), {quote_str(ULID_RE)}) THEN upper({message_id}) "
            f"WHEN {message_id} IS NOT NULL THEN {ulid_sql(quote_str('messageId'), message_id)} ELSE {derived} END")
