"""Azurite's Blob service on loopback for the Azure remote-state tests: installed by scripts/install_azurite.sh into
tests/.azurite (npm), started on a free port in its own process with its own data folder."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "scripts" / "install_azurite.sh"
BIN = ROOT / "tests" / ".azurite" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's well-known development account (public, documented by Microsoft; not a secret).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONTAINER = "cio-retl-state"
API_VERSION = "2021-08-06"


@dataclass(frozen=True)
class Azurite:
    """A running Blob service: the environment a cio-retl process needs to reach it, and a container to use."""

    endpoint: str
    bucket: str = CONTAINER

    @property
    def env(self) -> dict[str, str]:
        return {"AZURE_STORAGE_ACCOUNT_NAME": ACCOUNT, "AZURE_STORAGE_ACCOUNT_KEY": KEY,
                "AZURE_STORAGE_USE_EMULATOR": "true", "AZURITE_BLOB_STORAGE_URL": self.endpoint,
                "AZURE_STORAGE_ENDPOINT": f"{self.endpoint}/{ACCOUNT}"}

    def new_url(self) -> str:
        """A fresh prefix in the container: az://container/<random>."""
        return f"az://{self.bucket}/{uuid.uuid4().hex[:12]}"


def install() -> Path | None:
    """Azurite's blob server binary, installed by the script when missing; None without Node/npm."""
    if not BIN.exists():
        if shutil.which("npm") is None:
            return None
        subprocess.run(["bash", str(INSTALL)], check=True, timeout=600)
    return BIN


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_container(endpoint: str, container: str) -> None:
    """PUT a container, signed with the account's Shared Key (what the Azure SDKs do)."""
    date = formatdate(usegmt=True)
    headers = {"x-ms-date": date, "x-ms-version": API_VERSION}
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()))
    resource = f"/{ACCOUNT}/{ACCOUNT}/{container}\nrestype:container"
    to_sign = "PUT\n" + "\n" * 11 + canonical_headers + resource
    signature = base64.b64encode(hmac.new(base64.b64decode(KEY), to_sign.encode(), hashlib.sha256).digest()).decode()
    response = httpx.put(f"{endpoint}/{ACCOUNT}/{container}", params={"restype": "container"},
                         headers={**headers, "Authorization": f"SharedKey {ACCOUNT}:{signature}"}, timeout=10)
    if response.status_code not in (201, 409):
        raise RuntimeError(f"cannot create container {container}: HTTP {response.status_code} {response.text[:300]}")


@contextmanager
def azurite_server(binary: Path) -> Iterator[Azurite]:
    """Start azurite-blob on a free loopback port with a fresh data folder, create the container, stop it after."""
    port = _free_port()
    data = Path(tempfile.mkdtemp(prefix="azurite-"))
    log = open(data / "azurite.log", "w")
    server = subprocess.Popen([str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location",
                               str(data / "blobs"), "--skipApiVersionCheck", "--disableProductStyleUrl", "--silent"],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"azurite exited: {(data / 'azurite.log').read_text()[-2000:]}")
            try:
                create_container(endpoint, CONTAINER)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield Azurite(endpoint)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":  # by hand: print the environment, serve until Ctrl-C
    with azurite_server(install()) as running:
        print(" ".join(f"{k}={v}" for k, v in running.env.items()), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            os._exit(0)
