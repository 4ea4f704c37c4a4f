"""Customer.io's request limits as delivery packs them, plus the retry policy's defaults."""

from __future__ import annotations

from dataclasses import dataclass

from cio_retl.actions.limits import MAX_OPERATION_BYTES

# Customer.io accepts a /api/v2/batch body "under 500 KB". We stop well short (as cdp-analytics does) so a
# different reading of "KB" or a proxy adding bytes can never push a full batch over the line.
MAX_BATCH_BODY_BYTES = 475_000
# No documented count limit exists; a cap keeps 207 error lists and 400 bisection depth small.
MAX_BATCH_OPS = 1_000
MAX_OP_BYTES = MAX_OPERATION_BYTES
BATCH_PREFIX = b'{"batch":['
BATCH_SUFFIX = b"]}"
BATCH_PATH = "/api/v2/batch"
METRICS_PATH = "/api/v1/metrics"
REGION_PATH = "/api/v1/accounts/region"


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
