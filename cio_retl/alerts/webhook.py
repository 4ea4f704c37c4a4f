"""The webhook sender: the event as compact JSON, POSTed with its HMAC-SHA256 signature (Census-style header)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from cio_retl.alerts.retryable import Retryable
from cio_retl.project.alerts import WebhookAlert

SIGNATURE_HEADER = "X-Cio-Retl-Signature"


def signature(body: bytes, secret: str) -> str:
    """`sha256=<hex>`: the HMAC-SHA256 of the exact body bytes with the shared secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(hook: WebhookAlert, event: dict[str, Any], *, timeout_s: float) -> None:
    """POST one event; raise Retryable for a failure worth another try, RuntimeError for a refusal."""
    body = json.dumps(event, separators=(",", ":"), default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "cio-retl",
               SIGNATURE_HEADER: signature(body, hook.secret.get_secret_value()),
               "X-Cio-Retl-Event": event["event"]}
    try:
        response = httpx.post(hook.url.get_secret_value(), content=body, headers=headers, timeout=timeout_s)
    except httpx.TransportError as exc:  # the message names only the kind of failure, never the URL's token
        raise Retryable(f"no answer from the webhook ({type(exc).__name__})") from None
    if response.status_code == 429 or response.status_code >= 500:
        raise Retryable(f"the webhook answered HTTP {response.status_code}")
    if response.status_code >= 300:
        raise RuntimeError(f"the webhook refused it with HTTP {response.status_code}; check the URL and secret")
