"""Messages for refusals that stop a run outside the Track API's batch path: segments, and Data Pipelines keys."""

from __future__ import annotations

from cio_retl.delivery.endpoints import Endpoint
from cio_retl.project import Destination

DATA_DRIVEN = ("data-driven segments cannot be changed through the API: only a manual segment (Segments → Create "
               "Segment → Manual) takes members from add_customers / remove_customers")


def whole_request_refused(endpoint: Endpoint, status_code: int | None, detail: str | None) -> tuple[str, str]:
    """(message, hint) for a request refused as a whole that halving cannot fix (a segment's ids request)."""
    said = f"HTTP {status_code}" + (f" ({detail[:200]})" if detail else "")
    if endpoint.name.startswith("segment:"):
        segment_id = endpoint.name.split(":")[1]
        if status_code == 404:
            return (f"Customer.io has no segment {segment_id} in this workspace ({said} at {endpoint.path})",
                    f"check segment_id: it is the number in the segment's URL in Customer.io (…/segments/"
                    f"{segment_id}), in the workspace of these Track API credentials; {DATA_DRIVEN}")
        return (f"Customer.io refused the members of segment {segment_id}: {said} at {endpoint.path}",
                f"{DATA_DRIVEN}; the rows stay pending and are sent again by the next run")
    return (f"Customer.io refused the request as a whole: {said} at {endpoint.path}",
            "the rows stay pending; check the destination settings")


def pipelines_auth_failure(destination: Destination, status_code: int) -> tuple[str, str]:
    """(message, hint) for a refused Data Pipelines write key; never the key itself."""
    where = f"{destination.shown_url} (region '{destination.region}'" + (", url override)" if destination.url else ")")
    message = f"Customer.io Data Pipelines refused the write key with HTTP {status_code} at {where}"
    if not destination.write_key.get_secret_value():
        return message, "destination.write_key is not set: set it to the source's API key, e.g. \"${CUSTOMERIO_WRITE_KEY}\""
    other = "eu" if destination.region == "us" else "us"
    return message, ("use the API key of an HTTP API source (Data Pipelines → Sources → the source → Settings), "
                     f"not a Track or App API key; check that the workspace's region is '{destination.region}' "
                     f"and not '{other}'")
