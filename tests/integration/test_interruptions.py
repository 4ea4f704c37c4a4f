"""Ctrl-C and SIGTERM as outcomes (issue 20): a real `cio-retl run` child process, a real signal, the real sandbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cio_retl.project import load_project
from cio_retl.sandbox import serve_sandbox
from cio_retl.sandbox.server import Faults
from cio_retl.state.views import recent_runs
from tests.integration.conftest import API_KEY, SITE_ID
from tests.integration.test_cli_snags import cli

PEOPLE = ("CREATE OR REPLACE TABLE people AS SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email "
          "FROM range(1, 3001) t(i)")


def _start(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "CIO_RETL_CONFIG": str(tmp_path / "cio_retl.yaml"), "COLUMNS": "200"}
    for var in ("CUSTOMERIO_SITE_ID", "CUSTOMERIO_TRACK_API_KEY", "CUSTOMERIO_REGION", "CUSTOMERIO_TRACK_URL"):
        env.pop(var, None)
    return subprocess.Popen([sys.executable, "-m", "cio_retl", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(condition, child: subprocess.Popen, what: str) -> None:
    """Poll until `condition()` holds (a readiness wait, not a timing assertion)."""
    deadline = time.monotonic() + 120
    while not condition():
        assert child.poll() is None, f"the run ended before {what}: {child.communicate()}"
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_delivery_settles_records_interrupted_and_the_next_run_finishes(
        make_project, warehouse_sql, tmp_path, stop) -> None:
    warehouse_sql(PEOPLE)
    with serve_sandbox(site_id=SITE_ID, api_key=API_KEY, faults=Faults(delay_s=0.05)) as sandbox:
        make_project({"people": {"table": "people", "primary_key": "user_id", "type": "identify"}},
                     destination={"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url,
                                  "max_batch_operations": 20, "max_concurrency": 2})
        child = _start(tmp_path, "run")
        _wait_for(lambda: sandbox.counts()["people"] >= 100, child, "delivery started")
        child.send_signal(stop)
        stdout, stderr = child.communicate(timeout=120)
        assert child.returncode == 130, (stdout, stderr)
        assert "Traceback" not in stderr and "bug" not in stdout + stderr
        name = stop.name
        line = next(line for line in stdout.splitlines() if "interrupted by" in line)
        assert f"people: interrupted by {name}: " in line and "nothing is lost: the next run finishes it" in line
        [row] = [r for r in stdout.splitlines() if r.startswith("│ people")]
        cells = [c.strip() for c in row.strip("│").split("│")]
        assert cells[1] == "interrupted" and int(cells[-2]) > 0  # the status, and the requests it sent

        project = load_project(tmp_path / "cio_retl.yaml", credentials="none")
        (_, status, _, _, _, _, accepted, rejected, pending, _, error), = recent_runs(project.state_location(), "people", 5)
        received = sandbox.counts()["people"]
        assert status == "interrupted" and rejected == 0 and error.startswith(f"interrupted by {name}")
        assert 0 < accepted <= received < 3000 and accepted + pending == 3000  # the counts add up
        assert f"{accepted} accepted operation(s) are committed, {pending} not sent yet" in line

        shown = cli(tmp_path, "status")
        assert "│ interrupted │" in shown.stdout and "nothing is lost: the next run finishes it" in shown.stdout

        sandbox.faults.delay_s = 0.0
        again = cli(tmp_path, "run", "--json")
        assert again.returncode == 0, again.stderr
        assert sandbox.counts()["people"] == 3000
        (_, status, *_), _ = recent_runs(project.state_location(), "people", 5)
        assert status == "success"


def test_ctrl_c_during_a_long_query_is_an_interruption_not_a_bug(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    # A model DuckDB works on for minutes: the signal arrives while the query runs (or just before it starts).
    slow = "SELECT p.* FROM people p, (SELECT sum(i) AS n FROM range(100000000000) t(i)) WHERE n > 0"
    project = make_project({"people": {"query": slow, "primary_key": "user_id", "type": "identify"}})
    child = _start(tmp_path, "run")
    # The query is running once the child has burnt more CPU than starting up ever takes (about 1.5 s here).
    _wait_for(lambda: _cpu_seconds(child.pid) > 4, child, "the query is running")
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=120)
    assert child.returncode == 130, (stdout, stderr)
    assert "bug" not in stdout + stderr and "Traceback" not in stderr and "Query interrupted" not in stdout + stderr
    assert "people: interrupted by SIGINT: 0 accepted operation(s) are committed" in stdout
    (_, status, *_), = recent_runs(project.state_location(), "people", 5)
    assert status == "interrupted"
