"""Delivery: pack operations into Track API requests, send them under the rate limit, report outcomes."""

from cio_retl.delivery.limits import RetryPolicy
from cio_retl.delivery.outcomes import Outcome
from cio_retl.delivery.ratelimit import TokenBucket
from cio_retl.delivery.send import DeliveryStats, deliver

__all__ = ["DeliveryStats", "Outcome", "RetryPolicy", "TokenBucket", "deliver"]
