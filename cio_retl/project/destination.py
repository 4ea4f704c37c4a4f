"""`destination:` — the Customer.io workspace the operations go to, and its request budget."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator

from cio_retl.actions.endpoints import TRACK_HOSTS
from cio_retl.project.base import ProjectModel



class Destination(ProjectModel):
    """Where operations go: a Customer.io workspace's Track API, or its Data Pipelines API."""

    api: Literal["track", "pipelines"] = Field("track", description="track: the Track API (site_id, api_key; the "
                                               "Journeys actions run here); pipelines: Data Pipelines (write_key; "
                                               "Customer.io runs its own actions).")
    write_key: SecretStr = Field(SecretStr(""), description="The Data Pipelines source's API (write) key, for api: "
                                 "pipelines.")
    region: Literal["us", "eu"] = Field("us", description="Account region: us (track.customer.io) or eu (any case).")
    site_id: str = Field("", description="Site ID of the workspace's Track API credentials.")
    api_key: SecretStr = Field(SecretStr(""), description="Track API key (not an App API key).")
    url: str | None = Field(None, description="Base-URL override, e.g. the local sandbox.")
    requests_per_second: float = Field(100, gt=0, description="The workspace's request-rate budget, shared by every "
                                       "run sending to it at the same time.")
    concurrent_runs: int = Field(1, ge=1, le=32, description="Runs that may send to this workspace at once; each gets "
                                 "requests_per_second / concurrent_runs, and more wait. Set the Dagster pool limit "
                                 "to the same number.")
    max_concurrency: int = Field(8, ge=1, le=64, description="Requests in flight at once.")
    timeout_s: float = Field(30, gt=0, description="Per-request timeout in seconds.")
    max_attempts: int = Field(6, ge=1, le=20, description="Attempts per request before rows are left pending.")
    max_batch_operations: int | None = Field(None, ge=1, description="Cap on operations per /api/v2/batch "
                                             "request; default none: bodies are filled to the 500 KB limit.")

    @field_validator("url", mode="before")
    @classmethod
    def _blank_url_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("region", mode="before")
    @classmethod
    def _region_any_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def base_url(self) -> str:
        """The API's base URL: the override, else the region's host (Track API or Data Pipelines)."""
        hosts = PIPELINES_HOSTS if self.api == "pipelines" else TRACK_HOSTS
        return (self.url or hosts[self.region]).rstrip("/")

    @property
    def workspace(self) -> str | None:
        """The workspace as people name it — Track API host (region) and site id, never the key; None while the site
        id is an unread `${VAR}` (a command that reads no credentials)."""
        if not self.site_id or "${" in self.site_id:
            return None
        return f"{self.shown_url} site id {self.site_id}"

    @property
    def shown_url(self) -> str:
        """base_url for people to read: a `user:password@` in the override is masked."""
        parts = urlsplit(self.base_url)
        if parts.username is None and parts.password is None:
            return self.base_url
        return urlunsplit(parts._replace(netloc="***:***@" + parts.netloc.rpartition("@")[2]))


# Data Pipelines (the CDP API): its documented base is <host>/v1; the paths (delivery/endpoints.py) carry the /v1.
PIPELINES_HOSTS = {"us": "https://cdp.customer.io", "eu": "https://cdp-eu.customer.io"}
