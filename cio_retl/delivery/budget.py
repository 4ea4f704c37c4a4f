"""One rate budget per Customer.io workspace: each of the `concurrent_runs` runs allowed to send at once gets an equal
share of `requests_per_second` (state/slots.py makes sure no more runs than that send at the same time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cio_retl.delivery.ratelimit import TokenBucket, default_burst

if TYPE_CHECKING:
    from cio_retl.project import Destination


def run_share(destination: Destination) -> TokenBucket:
    """The token bucket of one run: its share of the rate, and of the burst one run alone would have, so that
    `concurrent_runs` runs together never send faster, nor in larger bursts, than one run with the whole budget."""
    runs = destination.concurrent_runs
    budget = destination.requests_per_second
    return TokenBucket(budget / runs, burst=max(1.0, default_burst(budget) / runs))
