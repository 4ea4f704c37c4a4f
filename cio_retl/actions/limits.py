"""Customer.io's documented limits, checked before sending; each breach becomes a locally rejected operation."""

from __future__ import annotations

MAX_ID_BYTES = 150
MAX_ATTRIBUTE_NAME_BYTES = 150
MAX_ATTRIBUTE_VALUE_BYTES = 1_000
MAX_ATTRIBUTES = 300
MAX_EVENT_NAME_BYTES = 100
MAX_EVENT_DATA_BYTES = 100_000
# "each operation ≤ 32 KB": we reject 32 KB or more, leaving no doubt about the boundary.
MAX_OPERATION_BYTES = 32 * 1024


def name_too_long(name: str) -> bool:
    return len(name.encode()) > MAX_ATTRIBUTE_NAME_BYTES
