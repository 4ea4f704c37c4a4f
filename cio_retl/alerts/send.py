"""Send a run's lifecycle events to the project's webhook and Slack channel, briefly retried, never raising."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from cio_retl.alerts.retryable import Retryable
from cio_retl.alerts.slack import post_slack
from cio_retl.alerts.webhook import post_webhook
from cio_retl.project.alerts import Alerts
from cio_retl.project.redact import redact

log = logging.getLogger("cio_retl.alerts")
BACKOFF_S = 0.5  # doubled after each failed try: 0.5 s, 1 s, … — brief, a run's end should not wait long


def send_alerts(alerts: Alerts, events: list[dict[str, Any]], *, secrets: list[str]) -> list[str]:
    """Send each event to every sender subscribed to it; return a warning per notification that failed.

    Failures are logged and returned, never raised: a notification does not change the sync's result.
    """
    senders: list[tuple[str, list[str], Callable[[dict[str, Any]], None]]] = []
    if alerts.webhook is not None:
        hook = alerts.webhook
        senders.append(("webhook", list(hook.events), lambda e: post_webhook(hook, e, timeout_s=alerts.timeout_s)))
    if alerts.slack is not None:
        slack = alerts.slack
        senders.append(("slack", list(slack.events), lambda e: post_slack(slack, e, timeout_s=alerts.timeout_s)))
    warnings = []
    for event in events:
        for name, subscribed, send in senders:
            if event["event"] not in subscribed:
                continue
            problem = _with_retries(send, event, alerts.attempts)
            if problem:
                warning = redact(f"alert {event['event']} to {name} not sent after {alerts.attempts} tries: "
                                 f"{problem} (the sync's result is unchanged)", secrets)
                log.warning("sync '%s': %s", event["sync"], warning)
                warnings.append(warning)
    return warnings


def _with_retries(send: Callable[[dict[str, Any]], None], event: dict[str, Any], attempts: int) -> str | None:
    """None once a try succeeds, else what the last try said."""
    for attempt in range(attempts):
        try:
            send(event)
            return None
        except Retryable as exc:
            problem = str(exc)
        except Exception as exc:  # a refusal (bad token, 4xx): trying again would not help
            return f"{type(exc).__name__}: {exc}"
        if attempt + 1 < attempts:
            time.sleep(BACKOFF_S * 2 ** attempt)
    return problem

