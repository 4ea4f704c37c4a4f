"""HTTP to the Track API: keep-alive, Basic auth, redirects only to *.customer.io, and the region lookup."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from cio_retl import __version__
from cio_retl.actions.endpoints import REGION_PATH, TRACK_HOSTS
from cio_retl.project import Destination

REDIRECT_STATUSES = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 3


class TransportFailure(Exception):
    """No HTTP response: timeout, refused or dropped connection. The message never holds credentials."""


@dataclass(frozen=True)
class Reply:
    """The parts of a response delivery looks at."""

    status_code: int
    headers: dict[str, str]
    body: bytes


def _headers(destination: Destination) -> dict[str, str]:
    if destination.api == "pipelines":
        # Basic `write_key:`; X-Strict-Mode asks for real error codes instead of a 200 that drops bad data.
        key = destination.write_key.get_secret_value()
        strict = {"X-Strict-Mode": "1"}
        if key.startswith(("pk_", "sk_")):  # the newer key format is a Bearer token (customerio-cdp-analytics)
            return {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Accept": "application/json",
                    "User-Agent": f"cio-retl/{__version__}", **strict}
        token = f"{key}:".encode()
    else:
        token = f"{destination.site_id}:{destination.api_key.get_secret_value()}".encode()
        strict = {}
    return {"Authorization": "Basic " + base64.b64encode(token).decode(), "Content-Type": "application/json",
            "Accept": "application/json", "User-Agent": f"cio-retl/{__version__}", **strict}


request_headers = _headers  # the same credentials and headers for doctor's probes (delivery/probes.py)


def redirect_allowed(url: str, configured_base: str) -> bool:
    """Follow redirects only to Customer.io's hosts (over https) or back to the configured host itself."""
    target, base = urlsplit(url), urlsplit(configured_base)
    host = (target.hostname or "").lower()
    if host == (base.hostname or "").lower() and target.port == base.port:
        return True
    return target.scheme == "https" and (host == "customer.io" or host.endswith(".customer.io"))


class TrackClient:
    """One keep-alive connection pool per run, shared by the sender threads; `post()` returns a Reply or raises
    TransportFailure. (Sync httpx on threads: on a 470 KB body it measured 0.7-0.9 ms CPU and >1,000 req/s on
    loopback, where async httpx measured 1.9 ms and under 200 req/s; see docs/delivery.md.)"""

    def __init__(self, destination: Destination, *, connections: int) -> None:
        self.base_url = destination.base_url
        self._configured_base = destination.base_url
        self._http = httpx.Client(
            headers=_headers(destination), timeout=httpx.Timeout(destination.timeout_s),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections,
                                keepalive_expiry=30),
            follow_redirects=False)

    def __repr__(self) -> str:
        return f"TrackClient(base_url={self.base_url!r})"

    def post(self, path: str, body: bytes) -> Reply:
        """POST `body` to `path`, following allowed redirects (keeping the credentials, re-sending the body)."""
        url = self.base_url + path
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = self._http.post(url, content=body)
            except httpx.HTTPError as exc:  # transport-level: the message is about the connection, not us
                raise TransportFailure(f"{type(exc).__name__}: {exc or 'no details'}") from None
            location = response.headers.get("location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                return Reply(response.status_code, dict(response.headers), response.content)
            target = urljoin(url, location)
            if not redirect_allowed(target, self._configured_base):
                note = f"redirected to {urlsplit(target).hostname}, which is not a customer.io host; not followed"
                return Reply(response.status_code, dict(response.headers), note.encode())
            if target.endswith(path):  # the workspace lives elsewhere (EU account on the US host): go there
                self.base_url = target[: -len(path)]
            url = target
        return Reply(508, {}, b"too many redirects")

    def close(self) -> None:
        self._http.close()


@dataclass(frozen=True)
class RegionAnswer:
    """What GET /api/v1/accounts/region said about the credentials."""

    status_code: int | None
    region: str | None = None
    url: str | None = None
    error: str | None = None


def fetch_region(destination: Destination, *, timeout_s: float = 10.0) -> RegionAnswer:
    """Ask Customer.io which region the credentials belong to (also validates them: 401 means wrong pair)."""
    try:
        with httpx.Client(headers=_headers(destination), timeout=timeout_s, follow_redirects=False) as http:
            response = http.get(destination.base_url + REGION_PATH)
    except httpx.HTTPError as exc:
        return RegionAnswer(None, error=f"{type(exc).__name__}: {exc or 'no details'}")
    if response.status_code != 200:
        return RegionAnswer(response.status_code, error=response.text[:200])
    try:
        data = response.json()
    except ValueError:
        return RegionAnswer(200, error="the region answer is not JSON")
    return RegionAnswer(200, region=data.get("region"), url=data.get("url"))


def auth_failure(destination: Destination, status_code: int, answer: RegionAnswer) -> tuple[str, str]:
    """(message, hint) for refused credentials, naming the key type and the region; never the key itself."""
    where = f"{destination.base_url} (region '{destination.region}'" + (", url override)" if destination.url else ")")
    message = f"Customer.io refused the credentials with HTTP {status_code} at {where}"
    missing = [name for name, value in (("site_id", destination.site_id),
                                        ("api_key", destination.api_key.get_secret_value())) if not value]
    if missing:
        return message, (f"destination {' and '.join(missing)} not set: set CUSTOMERIO_SITE_ID and "
                         "CUSTOMERIO_TRACK_API_KEY (or destination.site_id / destination.api_key)")
    hint = ("use a Track API key with its Site ID (Settings → Workspace Settings → API and webhook credentials → "
            "Track API keys), not an App API key (that one is a Bearer token for the App API)")
    if answer.status_code == 200 and answer.region and answer.region != destination.region:
        region_host = TRACK_HOSTS.get(answer.region, answer.url)
        return message, f"these credentials belong to region '{answer.region}' ({region_host}): set region: {answer.region}"
    if answer.status_code == 200:
        return message, (f"the credentials are valid for region '{answer.region}' but this endpoint refused them: "
                         "check that the key has Track API (not read-only) permissions; " + hint)
    other = "eu" if destination.region == "us" else "us"
    return message, f"{hint}; check that the workspace's region is '{destination.region}' and not '{other}'"
