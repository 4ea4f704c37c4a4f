"""A real S3 API on loopback for tests and benchmarks: moto's standalone server in its own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

BUCKET = "cio-retl-state"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class S3:
    """A running S3 server: the environment a cio-retl process needs to reach it, and a bucket to use."""

    endpoint: str
    bucket: str = BUCKET

    @property
    def env(self) -> dict[str, str]:
        """What a cloud deployment's environment would hold (here: moto accepts any keys)."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1"}

    def new_url(self) -> str:
        """A fresh prefix in the bucket: s3://bucket/<random>."""
        return f"s3://{self.bucket}/{uuid.uuid4().hex[:12]}"


@contextmanager
def moto_server() -> Iterator[S3]:
    """Start `moto.server` on a free loopback port, create the bucket, stop it afterwards."""
    port = _free_port()
    # Its request log goes to a file: a pipe nobody reads fills up after a few hundred requests and hangs moto.
    log = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"moto server exited: {Path(log.name).read_text()[-2000:]}")
            try:
                httpx.get(endpoint + "/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        httpx.put(f"{endpoint}/{BUCKET}", timeout=10).raise_for_status()  # CreateBucket (moto needs no signature)
        yield S3(endpoint)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        os.unlink(log.name)


if __name__ == "__main__":  # for benchmarks by hand: print the environment, serve until Ctrl-C
    with moto_server() as s3:
        print(" ".join(f"{k}={v}" for k, v in s3.env.items()), f"# bucket {s3.bucket}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            os._exit(0)
