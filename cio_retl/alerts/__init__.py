"""Alerts: a run's lifecycle events to a signed webhook and a Slack channel (send.py), never failing the sync."""

from cio_retl.alerts.send import send_alerts

__all__ = ["send_alerts"]
