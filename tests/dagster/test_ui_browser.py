"""The Dagster UI in a real browser: dagster-webserver on a tmp project, a run launched over GraphQL, the asset page.

Needs Debian's Chromium at /usr/bin/chromium (scripts/ci_browser_deps.sh installs it) and the playwright Python
package, which drives that binary (never `playwright install`). Without them the test skips, except under
CI=true, where it fails loudly.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cio_retl.sandbox import Sandbox
from tests.dagster.conftest import sandbox_destination, write_project

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
LOCATION = "dagster_project.definitions"
INSTANCE_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
"""
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]
STARTUP_TIMEOUT_S = 120
RUN_TIMEOUT_S = 120


def require_browser() -> None:
    """Skip without Chromium or playwright; under CI=true that is a failure, not a skip."""
    problems = []
    if not CHROMIUM.exists():
        problems.append(f"{CHROMIUM} is missing (run scripts/ci_browser_deps.sh)")
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
    request = urllib.request.Request(f"{url}/graphql", json.dumps({"query": query, "variables": variables or {}}).encode(),
                                     {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.load(response)
    assert "errors" not in body, body
    return body["data"]


def wait_until_loaded(url: str, process: subprocess.Popen, log: Path) -> None:
    """Poll until the code location is LOADED; fail with the server's log if it dies or takes too long."""
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            entries = graphql(url, query)["workspaceOrError"]["locationEntries"]
            if any(entry["name"] == LOCATION and entry["loadStatus"] == "LOADED" for entry in entries):
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.5)
    pytest.fail(f"dagster-webserver not LOADED after {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's whole process group (it has its own session), SIGKILL what lingers."""
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def webserver(tmp_path: Path, clean_env: pytest.MonkeyPatch, sandbox: Sandbox) -> Iterator[str]:
    """dagster-webserver -w workspace.yaml on a free loopback port, serving a tmp project that sends to the
    sandbox (a thread of this process; the run's process reaches it over loopback); yields the server's URL."""
    require_browser()
    (tmp_path / "project").mkdir()
    project_file = write_project(tmp_path / "project", destination=sandbox_destination(sandbox))
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    port = free_port()
    env = {**os.environ, "CIO_RETL_CONFIG": str(project_file), "DAGSTER_HOME": str(home),
           "DAGSTER_DISABLE_TELEMETRY": "1", "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "webserver.log"
    command = [str(Path(sys.executable).with_name("dagster-webserver")), "-w", "workspace.yaml",
               "-h", "127.0.0.1", "-p", str(port)]
    with log.open("w") as out:
        # A session of its own, so the server and the code server it spawns die together with killpg.
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_loaded(url, process, log)
        yield url
    finally:
        stop(process)


def launch_and_wait(url: str, job: str, run_config: dict[str, Any]) -> str:
    """launchRun over GraphQL, then poll until the run finishes; returns its status."""
    params = {"selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "jobName": job},
              "runConfigData": run_config}
    launched = graphql(url, """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
        ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
        ... on RunConfigValidationInvalid { errors { message } } } }""", {"p": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        status = graphql(url, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
                         {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} of {job} still not finished after {RUN_TIMEOUT_S} s")


def metadata_value(page: Any, key: str) -> str:
    """The value cell of the metadata table row whose key cell is exactly `key`."""
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=key, exact=True)).first
    row.wait_for(timeout=30_000)
    return row.get_by_role("cell").last.inner_text().strip()


def test_asset_page_shows_the_counts_of_a_run(webserver: str, sandbox: Sandbox, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    status = launch_and_wait(webserver, "people_sync", {"ops": {"customerio__people": {"config": {}}}})
    assert status == "SUCCESS"
    assert sandbox.counts()["people"] == 10

    screenshot = tmp_path / "asset_customerio_people.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{webserver}/assets/customerio/people", wait_until="networkidle", timeout=60_000)
            dismiss_community_modal(page)
            counts = {key: metadata_value(page, key) for key in ("extracted", "added", "removed", "accepted",
                                                                 "rejected")}
            assert counts == {"extracted": "10", "added": "10", "removed": "0", "accepted": "10", "rejected": "0"}
            assert "reverse_etl" in page.inner_text("body")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000
    print(f"screenshot: {screenshot}")


def dismiss_community_modal(page: Any) -> None:
    """The "Join the Dagster community" dialog fades in on a first visit; click Skip if it shows up."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.first.wait_for(state="visible", timeout=5_000)
    except Exception:  # playwright's TimeoutError: no dialog this time
        return
    skip.first.click()
    skip.first.wait_for(state="hidden", timeout=5_000)


@pytest.mark.parametrize("ci", ["", "true"])
def test_without_chromium_skips_locally_and_fails_under_ci(ci: str, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(expected, match="no-chromium is missing"):
        require_browser()
