"""Where operations go: the Track API's host per region and the path of each endpoint (as Customer.io publishes them)."""

from __future__ import annotations

TRACK_HOSTS = {"us": "https://track.customer.io", "eu": "https://track-eu.customer.io"}
BATCH_PATH = "/api/v2/batch"      # operations of every action but reportDeliveryEvent, packed into bodies
ENTITY_PATH = "/api/v2/entity"    # one operation per request (what the Data Out Tester shows for each)
METRICS_PATH = "/api/v1/metrics"  # reportDeliveryEvent, one per request
REGION_PATH = "/api/v1/accounts/region"
