"""The model contract: the columns each call type needs, checked on a model's schema before any row is read.

One definition for every command: `run` (extract) stops on it, `validate` and `doctor` report it.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from cio_retl.project.syncs import Sync
from cio_retl.errors import ModelContractError

# Columns a model must have, per call type: each inner tuple is "at least one of".
REQUIRED_COLUMNS: dict[str, list[tuple[str, ...]]] = {
    "identify": [("user_id", "email", "anonymous_id")],
    "group": [("group_id",)],
    "track": [("user_id", "anonymous_id")],
    "page": [("user_id", "anonymous_id"), ("url",)],
    "screen": [("user_id", "anonymous_id"), ("name",)],
    "alias": [("user_id",), ("previous_id",)],
    "segment": [],  # the member column is the primary key, checked below
}


def model_label(sync: Sync) -> str:
    """How messages name a sync's model: its file, `query`, or `table <name>`."""
    return sync.model or ("query" if sync.query else f"table {sync.table}")


def missing_columns(sync: Sync, columns: Iterable[str]) -> list[str]:
    """What the call type, the primary key, `event:` and `partition_by` need and `columns` lack ("a or b" per need)."""
    have = set(columns)
    missing = [" or ".join(group) for group in REQUIRED_COLUMNS[sync.type] if not have.intersection(group)]
    missing += [f"{c} (primary key)" for c in sync.key_columns if c not in have]
    if sync.type == "track" and not sync.event and "event" not in have:
        missing.append("event (or set `event:` on the sync)")
    if sync.partition_by and sync.partition_by not in have:
        missing.append(f"{sync.partition_by} (partition_by)")
    return missing


def contract_problem(sync: Sync, schema: pa.Schema) -> str | None:
    """The contract breach of a model with this schema, as one sentence; None when it fits."""
    missing = missing_columns(sync, schema.names)
    if not missing:
        return None
    return f"model {model_label(sync)} lacks column(s) {', '.join(missing)}; it returns {', '.join(schema.names)}"


def contract_hint(sync: Sync) -> str:
    """What to do about a breach."""
    return f"alias the columns in the SELECT (see 'The model contract' in README.md for {sync.type} syncs)"


def check_contract(sync_name: str, sync: Sync, schema: pa.Schema) -> None:
    """Raise ModelContractError listing every column the sync needs and the model lacks."""
    problem = contract_problem(sync, schema)
    if problem:
        raise ModelContractError(sync_name, problem, hint=contract_hint(sync))
