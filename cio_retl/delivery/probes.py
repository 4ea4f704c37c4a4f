"""Side-effect-free requests `doctor` sends: is a Data Pipelines write key accepted, does a manual segment exist."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from cio_retl.delivery.client import request_headers
from cio_retl.delivery.endpoints import PIPELINES_PATH, SEGMENTS_PATH
from cio_retl.project import Destination

# Removing an id no person can have changes nothing, and Customer.io still has to find the segment to answer.
PROBE_ID = "cio-retl-doctor-probe-not-a-person"


@dataclass(frozen=True)
class ProbeAnswer:
    """The status of a probe (None: no answer) and a short detail."""

    status_code: int | None
    detail: str = ""


def _post(destination: Destination, path: str, body: bytes, timeout_s: float) -> ProbeAnswer:
    try:
        with httpx.Client(headers=request_headers(destination), timeout=timeout_s, follow_redirects=False) as http:
            response = http.post(destination.base_url + path, content=body)
    except httpx.HTTPError as exc:
        return ProbeAnswer(None, f"{type(exc).__name__}: {exc or 'no details'}")
    return ProbeAnswer(response.status_code, response.text[:200])


def probe_write_key(destination: Destination, *, timeout_s: float = 10.0) -> ProbeAnswer:
    """POST an empty /v1/batch in strict mode: 401/403 means the key is refused; it carries no call to process."""
    return _post(destination, PIPELINES_PATH, b'{"batch":[]}', timeout_s)


def probe_segment(destination: Destination, segment_id: int, *, timeout_s: float = 10.0) -> ProbeAnswer:
    """remove_customers of an id nobody has: 200 means the manual segment exists; 404 that it does not."""
    path = SEGMENTS_PATH.format(segment_id=segment_id, verb="remove")
    return _post(destination, path, b'{"ids":["' + PROBE_ID.encode() + b'"]}', timeout_s)
