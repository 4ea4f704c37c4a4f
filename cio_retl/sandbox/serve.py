"""Serving the sandbox over HTTP on loopback: in a background thread (tests, the demo) or in the foreground (the CLI)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cio_retl.sandbox.server import Faults, Reply, Sandbox, errors_body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like Customer.io
    disable_nagle_algorithm = True  # small answers must not wait for the client's delayed ACK (40 ms stalls)
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the request log is the sandbox's
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def _serve(self, method: str) -> None:
        received = time.monotonic()  # before reading the body: the arrival, not when a busy server got to it
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            reply = self.server.sandbox.handle(method, self.path, self.headers.get("Authorization"), body, received,
                                               strict=self.headers.get("X-Strict-Mode") == "1")
        except Exception as exc:  # a sandbox bug must look like a 500, not a hung client
            reply = Reply(500, errors_body({"reason": "sandbox_error", "message": f"{type(exc).__name__}: {exc}"}))
        if reply is None:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        # Headers and body in one write: two small writes on a keep-alive socket stall on delayed ACKs.
        self._headers_buffer.append(b"\r\n" + reply.body)
        self.flush_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive client threads must not hold up shutdown

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):  # a killed client is not the sandbox's problem
            super().handle_error(request, client_address)


@contextmanager
def serve_sandbox(db: str = ":memory:", *, host: str = "127.0.0.1", port: int = 0, site_id: str | None = None,
                  api_key: str | None = None, region: str = "us", faults: Faults | None = None,
                  **apis: Any) -> Iterator[Sandbox]:
    """Run a sandbox on a loopback port in a background thread; yields it with `.url` set (port 0: a free one).

    `apis`: write_key (Data Pipelines), manual_segments, data_driven_segments (see Sandbox)."""
    created = db != ":memory:" and not Path(db).exists()
    sandbox = Sandbox(db, site_id=site_id, api_key=api_key, region=region, faults=faults, **apis)
    try:
        server = _Server((host, port), sandbox)
    except OSError:  # the port is taken: leave no database file behind that this call created
        sandbox.close()
        for leftover in (Path(db), Path(f"{db}.wal")) if created else ():
            leftover.unlink(missing_ok=True)
        raise
    sandbox.url = f"http://{host}:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                              name="cio-retl-sandbox")
    thread.start()
    try:
        yield sandbox
    finally:
        server.shutdown()
        server.server_close()
        sandbox.close()


def serve_forever(db: str, *, host: str, port: int, on_ready: Callable[[Sandbox], None] | None = None,
                  **options: Any) -> None:
    """Serve in the foreground until interrupted (the CLI's `sandbox serve`)."""
    with serve_sandbox(db, host=host, port=port, **options) as sandbox:
        if on_ready:
            on_ready(sandbox)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
