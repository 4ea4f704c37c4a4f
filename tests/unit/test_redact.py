"""Secrets are masked wherever they occur in what is shown: strings, nested lists and dicts, a URL's password."""

from __future__ import annotations

from pathlib import Path

from cio_retl.project import Project
from cio_retl.project.redact import MASK, redact, secret_values


def project(**warehouse: str) -> Project:
    return Project.model_validate({
        "warehouses": {"pg": {"type": "postgres", "url": "postgresql://app:p%40ss%3Aword@db:5432/x"},
                       "sf": {"type": "snowflake", "account": "a", "user": "u", "password": "snow-pw"}},
        "destination": {"site_id": "site", "api_key": "track-key-123"},
        "syncs": {"people": {"warehouse": "pg", "query": "SELECT 1", "primary_key": "user_id", "type": "identify"}},
        "root": Path(".")})


def test_every_secret_of_the_project_and_the_url_password() -> None:
    secrets = secret_values(project())
    assert {"track-key-123", "snow-pw", "postgresql://app:p%40ss%3Aword@db:5432/x", "p%40ss%3Aword",
            "p@ss:word"} == set(secrets)
    assert secrets[0] == "postgresql://app:p%40ss%3Aword@db:5432/x"  # longest first: masked whole


def test_redact_walks_nested_values() -> None:
    secrets = secret_values(project())
    shown = redact({"error": "login as app:p@ss:word failed", "rows": [{"body": "key track-key-123"}],
                    "track-key-123": 1, "count": 3, "ok": True}, secrets)
    assert shown == {"error": f"login as app:{MASK} failed", "rows": [{"body": f"key {MASK}"}], MASK: 1,
                     "count": 3, "ok": True}
    assert redact("nothing secret", secrets) == "nothing secret"
