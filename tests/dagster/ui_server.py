"""dagster-webserver and dagster-daemon on loopback, and headless Chromium, for the tests of the real UI.

Chromium is Debian's /usr/bin/chromium (scripts/ci_browser_deps.sh installs it), driven by the playwright Python
package (never `playwright install`, which downloads its own browser).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
BIN = Path(sys.executable).parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]
STARTUP_TIMEOUT_S = 180


def require_browser(chromium: Path = CHROMIUM) -> None:
    """Skip without Chromium or playwright; under CI=true that is a failure, not a skip."""
    problems = []
    if not chromium.exists():
        problems.append(f"{chromium} is missing (run scripts/ci_browser_deps.sh)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is missing (make install)")
    if not problems:
        return
    reason = "Dagster UI browser test: " + "; ".join(problems)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + " — CI=true, so this must run", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST a query to the webserver's /graphql; its `data`."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{url}/graphql", body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    assert "errors" not in answer, answer
    return answer["data"]


def wait_for(what: str, probe: Callable[[], Any], timeout_s: float, logs: list[Path], interval_s: float = 1.0) -> Any:
    """Poll `probe` until it returns something truthy; fail naming `what`, with the servers' logs, after timeout_s.
    The bound only keeps a broken run from hanging the suite: no test asserts how fast anything is."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(interval_s)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
    pytest.fail(f"{what}: not seen within {timeout_s:.0f} s\n{tails}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group (its own session), SIGKILL what lingers."""
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def dagster_services(workspace_args: list[str], env: dict[str, str], logs_dir: Path, locations: list[str],
                     daemon: bool = True) -> Iterator[str]:
    """dagster-webserver (and dagster-daemon) serving `workspace_args` from the repo root; yields the URL once
    every location is LOADED. Each runs in a session of its own, so stopping it stops the code servers it spawned
    (no `dagster dev`, whose SIGTERM handling depends on job control)."""
    _create_storage(Path(env["DAGSTER_HOME"]))
    port = free_port()
    commands = {"webserver": [str(BIN / "dagster-webserver"), *workspace_args, "-h", "127.0.0.1", "-p", str(port)]}
    if daemon:
        commands["daemon"] = [str(BIN / "dagster-daemon"), "run", *workspace_args]
    processes, logs = {}, []
    try:
        for name, command in commands.items():
            logs.append(logs_dir / f"{name}.log")
            with logs[-1].open("w") as out:
                processes[name] = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                                   start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        wait_for("code locations LOADED", lambda: _loaded(url, locations, processes, logs), STARTUP_TIMEOUT_S, logs)
        yield url
    finally:
        for process in processes.values():
            _stop(process)


def _create_storage(home: Path) -> None:
    """Create the instance's SQLite storage first: the webserver and the daemon, each creating it at once on a new
    DAGSTER_HOME, race ("table alembic_version already exists")."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)
        instance.all_instigator_state()
        instance.get_asset_keys()


def _loaded(url: str, locations: list[str], processes: dict[str, subprocess.Popen], logs: list[Path]) -> bool:
    for name, process in processes.items():
        if process.poll() is not None:
            tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
            pytest.fail(f"dagster {name} exited with {process.returncode}\n{tails}")
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
    try:
        entries = graphql(url, query)["workspaceOrError"]["locationEntries"]
    except OSError:
        return False  # not listening yet
    loaded = {entry["name"] for entry in entries if entry["loadStatus"] == "LOADED"}
    return set(locations) <= loaded


@contextmanager
def browser_page() -> Iterator[Any]:
    """A 1400×1000 page of headless Debian Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


def open_page(page: Any, url: str) -> None:
    """Go to `url`, and close the "Join the Dagster community" dialog that fades in on a first visit."""
    page.goto(url, wait_until="networkidle", timeout=60_000)
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.first.wait_for(state="visible", timeout=5_000)
    except Exception:  # playwright's TimeoutError: no dialog this time
        return
    skip.first.click()
    skip.first.wait_for(state="hidden", timeout=5_000)
