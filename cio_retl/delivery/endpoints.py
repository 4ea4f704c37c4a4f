"""The request shapes operations are packed into, by an operation's `endpoint`: path, envelope and limits."""

from __future__ import annotations

from dataclasses import dataclass

from cio_retl.actions.endpoints import BATCH_PATH, METRICS_PATH
from cio_retl.delivery.limits import BATCH_PREFIX, BATCH_SUFFIX, MAX_BATCH_BODY_BYTES, MAX_OP_BYTES

# Manual segments: "You are limited to 1000 customer IDs per request" (add_customers, remove_customers).
MAX_SEGMENT_IDS = 1_000
SEGMENT_PREFIX = b'{"ids":['
SEGMENTS_PATH = "/api/v1/segments/{segment_id}/{verb}_customers"
# Data Pipelines: a call over 32 KB or a /v1/batch over 500 KB is answered 200 and never processed (unless
# X-Strict-Mode is on), so both are checked here, before sending: nothing may be lost to a silent 200.
PIPELINES_PATH = "/v1/batch"
PIPELINES_MAX_CALL_BYTES = 32 * 1024
PIPELINES_MAX_BODY_BYTES = MAX_BATCH_BODY_BYTES


@dataclass(frozen=True)
class Endpoint:
    """How operations of one `endpoint` value travel: the path, the body around them and what one request holds."""

    name: str
    path: str
    prefix: bytes = BATCH_PREFIX
    suffix: bytes = BATCH_SUFFIX
    single: bool = False            # one operation per request, sent as its own body (v1 metrics)
    max_ops: int | None = None      # a count cap of the API itself (segments: 1,000 ids)
    max_body_bytes: int = MAX_BATCH_BODY_BYTES
    max_op_bytes: int = MAX_OP_BYTES
    splittable: bool = True         # a 400 may name one bad item: halve the request to find it
    what: str = "operation"         # how a rejection names one item

    def too_large(self, size: int) -> str:
        """The local rejection of an item of `size` bytes."""
        if size == 0:
            return f"empty {self.what} body"
        return (f"{self.what} is {size:,} bytes; Customer.io accepts at most {self.max_op_bytes:,} bytes per "
                f"{self.what}" + (" (Data Pipelines answers 200 to a larger one and never processes it): send fewer "
                                  "or smaller properties" if self.name == "pipelines" else ""))


BATCH = Endpoint("batch", BATCH_PATH)
METRICS = Endpoint("metrics", METRICS_PATH, prefix=b"", suffix=b"", single=True)
PIPELINES = Endpoint("pipelines", PIPELINES_PATH, max_body_bytes=PIPELINES_MAX_BODY_BYTES,
                     max_op_bytes=PIPELINES_MAX_CALL_BYTES, what="call")


def segment_endpoint_name(segment_id: int, verb: str, id_type: str) -> str:
    """The `endpoint` value of a segment membership operation: `segment:<id>:<add|remove>:<id_type>`."""
    return f"segment:{segment_id}:{verb}:{id_type}"


def endpoint_for(name: str) -> Endpoint:
    """The Endpoint of an operation's `endpoint` value."""
    if name == "batch":
        return BATCH
    if name == "metrics":
        return METRICS
    if name == "pipelines":
        return PIPELINES
    if name.startswith("segment:"):
        _, segment_id, verb, id_type = name.split(":")
        # remove_customers takes ids only (Customer.io: "This endpoint requires people to have `id` attributes").
        query = f"?id_type={id_type}" if verb == "add" else ""
        return Endpoint(name, SEGMENTS_PATH.format(segment_id=segment_id, verb=verb) + query, prefix=SEGMENT_PREFIX,
                        max_ops=MAX_SEGMENT_IDS, splittable=False, what="id")
    raise ValueError(f"unknown endpoint {name!r}")
