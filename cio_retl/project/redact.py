"""Secrets out of anything shown to people: the values of a project's secret settings, masked wherever they occur."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

from cio_retl.project.project import Project

MASK = "**********"


def secret_values(project: Project) -> list[str]:
    """Every secret of a loaded project (Track API key, Pipelines write key, warehouse passwords and URLs, a URL's own
    password, alert URLs and tokens), longest first so a secret containing another is masked whole."""
    found = [project.destination.api_key, project.destination.write_key]
    found += [value for warehouse in project.warehouses.values() for _, value in warehouse
              if isinstance(value, SecretStr)]
    for alert in (project.alerts.webhook, project.alerts.slack) if project.alerts else ():
        found += [value for _, value in alert or () if isinstance(value, SecretStr)]
    values = {secret.get_secret_value() for secret in found}
    values |= {password for value in list(values) for password in _url_passwords(value)}
    return sorted(filter(None, values), key=len, reverse=True)


def _url_passwords(value: str) -> set[str]:
    """A connection URL's password as written and percent-decoded (either may appear in a driver's message)."""
    if "://" not in value:
        return set()
    try:
        password = urlsplit(value).password
    except ValueError:
        return set()
    return {password, unquote(password)} if password else set()


# A secret this short also occurs inside ordinary words ("p" in "port"): it is masked only where it stands alone.
SHORT_SECRET = 6


def mask_secret(text: str, secret: str, mask: str = MASK) -> str:
    """`text` with `secret` masked: everywhere, or, for a short one, wherever it is a whole token."""
    if not secret:
        return text
    if len(secret) >= SHORT_SECRET:
        return text.replace(secret, mask)
    return re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", lambda _: mask, text)


def redact(value: Any, secrets: list[str]) -> Any:
    """`value` with every secret masked: strings, and the strings inside lists and dicts (keys too)."""
    if isinstance(value, str):
        for secret in secrets:
            value = mask_secret(value, secret)
        return value
    if isinstance(value, dict):
        return {redact(key, secrets): redact(item, secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(item, secrets) for item in value]
    return value
