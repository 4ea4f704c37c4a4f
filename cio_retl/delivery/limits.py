"""Customer.io's request limits as delivery packs them, plus the retry policy's defaults."""

from __future__ import annotations

from dataclasses import dataclass

from cio_retl.actions.limits import MAX_OPERATION_BYTES

# Customer.io accepts a /api/v2/batch body "under 500 KB": bodies are filled to 1 KB short of 500,000 bytes
# (the strictest reading of "KB"); the body is exactly what we send, so nothing can push it over.
MAX_BATCH_BODY_BYTES = 499_000
# No documented count limit exists: bodies are packed by bytes only, unless destination.max_batch_operations
# sets a cap (207 error lists and 400 bisection work for any size: bisection takes log2(size) rounds).
MAX_BATCH_OPS: int | None = None
MAX_OP_BYTES = MAX_OPERATION_BYTES
BATCH_PREFIX = b'{"batch":['
BATCH_SUFFIX = b"]}"


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait between attempts; the attempt count itself is `destination.max_attempts`."""

    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    # A Retry-After beyond this is clamped: a run should not sleep for an hour on one header.
    max_retry_after_s: float = 120.0
    # Responses' own Retry-After may be "0"; waiting at least a little avoids a tight retry loop.
    min_delay_s: float = 0.05


DEFAULT_POLICY = RetryPolicy()
