"""`alerts:` — who is told when a sync completes, fails, or rejects too many rows: a signed webhook and/or Slack."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from cio_retl.project.base import ProjectModel

AlertEvent = Literal["sync.completed", "sync.failed", "sync.rejections"]
ALL_EVENTS: list[AlertEvent] = ["sync.completed", "sync.failed", "sync.rejections"]


class WebhookAlert(ProjectModel):
    """A URL that receives each event as a JSON POST, signed Census-style."""

    url: SecretStr = Field(description="Where events are POSTed (https; it may carry a token, so it is a secret).")
    secret: SecretStr = Field(description='Signs each body: header `X-Cio-Retl-Signature: sha256=<hex>` is the '
                              'HMAC-SHA256 of the raw body with this secret. Write "${WEBHOOK_SECRET}".')
    events: list[AlertEvent] = Field(default_factory=lambda: list(ALL_EVENTS),
                                     description="Events sent (default: all three).")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        # A "${VAR}" left unread (commands that send no alerts read no alert secret) is checked when it is read.
        if not text.startswith(("https://", "http://", "${")):
            raise ValueError("must be an http(s):// URL")
        return value


class SlackAlert(ProjectModel):
    """A Slack channel that gets a message per event, through the Slack Web API (chat.postMessage)."""

    channel: str = Field(min_length=1, description="Channel name or id, e.g. #data-alerts (invite the app's bot).")
    token: SecretStr = Field(description='Bot token (xoxb-…) with chat:write. Write "${SLACK_BOT_TOKEN}".')
    events: list[AlertEvent] = Field(default_factory=lambda: ["sync.failed", "sync.rejections"],
                                     description="Events posted (default: failures and rejections, not every "
                                     "completed run).")
    api_url: str = Field("https://slack.com/api/", description="Slack's Web API base (GovSlack: "
                         "https://slack-gov.com/api/).")


class Alerts(ProjectModel):
    """Notifications after each real run (not dry runs), from the CLI and from Dagster alike."""

    webhook: WebhookAlert | None = Field(None, description="A signed JSON webhook (see README, Alerts).")
    slack: SlackAlert | None = Field(None, description="A Slack channel.")
    rejection_rate: float = Field(0.01, ge=0, le=1, description="`sync.rejections` is sent when more than this "
                                  "share of the rows a run tried to send were rejected (default 1 %).")
    attempts: int = Field(3, ge=1, le=10, description="Tries per notification (brief backoff); a notification "
                          "that still fails is logged as a warning and never changes the sync's result.")
    timeout_s: float = Field(10, gt=0, description="Per-request timeout of a notification.")
