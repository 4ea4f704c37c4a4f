"""The Slack sender: one short message per event through the official SDK's chat.postMessage, counts only."""

from __future__ import annotations

from typing import Any

from cio_retl.alerts.retryable import Retryable
from cio_retl.project.alerts import SlackAlert

_ICON = {"sync.completed": ":white_check_mark:", "sync.failed": ":red_circle:", "sync.rejections": ":warning:"}
_COUNTS = ("extracted", "added", "changed", "removed", "accepted", "rejected", "pending", "skipped")


def message(event: dict[str, Any]) -> str:
    """The message: what happened to which sync, in which workspace, its counts and error (no row data)."""
    what = {"sync.completed": "completed", "sync.failed": "failed",
            "sync.rejections": f"rejected {event.get('rejected_rows', 0)} row(s), "
                               f"{event.get('rejection_rate', 0):.1%} of those sent"}[event["event"]]
    workspace = event.get("workspace") or {}
    lines = [f"{_ICON[event['event']]} cio-retl sync `{event['sync']}` {what} "
             f"(run `{event['run_id']}`, site `{workspace.get('site_id') or '?'}` on {workspace.get('host')})"]
    counts = event.get("counts") or {}
    lines.append(" · ".join(f"{name} {counts[name]}" for name in _COUNTS if name in counts))
    if event.get("error"):
        lines.append(f"```{event['error']}```")
    return "\n".join(lines)


def post_slack(slack: SlackAlert, event: dict[str, Any], *, timeout_s: float) -> None:
    """Post one event; raise Retryable for a failure worth another try, the SDK's error for a refusal."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token=slack.token.get_secret_value(), base_url=slack.api_url, timeout=max(1, int(timeout_s)),
                       retry_handlers=[])  # our own brief retries (send.py), the same for every sender
    try:
        client.chat_postMessage(channel=slack.channel, text=message(event), unfurl_links=False)
    except SlackApiError as exc:
        status = exc.response.status_code
        if status == 429 or status >= 500:
            raise Retryable(f"Slack answered HTTP {status}") from None
        raise RuntimeError(f"Slack refused it: {exc.response.get('error', status)}") from None
    except OSError as exc:  # urllib's URLError, timeouts, refused connections
        raise Retryable(f"no answer from Slack ({type(exc).__name__})") from None
