"""A Dagster run stopped mid-delivery (issue 20): settled, recorded as interrupted, finished by the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from cio_retl.project import load_project
from cio_retl.sandbox import Faults, serve_sandbox
from cio_retl.state.views import recent_runs
from tests.dagster.conftest import KEY_ENV, SECRET_KEY, SITE_ID, write_project

PEOPLE = 2000


def test_terminating_a_dagster_run_settles_and_records_it_as_interrupted(tmp_path: Path) -> None:
    with serve_sandbox(site_id=SITE_ID, api_key=SECRET_KEY, faults=Faults(delay_s=0.05)) as sandbox:
        file = write_project(tmp_path, syncs={"people": {"table": "people", "primary_key": "user_id",
                                                         "type": "identify"}},
                             destination={"site_id": SITE_ID, "api_key": "${" + KEY_ENV + "}", "url": sandbox.url,
                                          "max_batch_operations": 20, "max_concurrency": 1})
        con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
        con.execute(f"CREATE OR REPLACE TABLE people AS SELECT 'u' || i AS user_id FROM range(1, {PEOPLE + 1}) t(i)")
        con.close()
        (tmp_path / "home").mkdir()
        env = {**os.environ, "CIO_RETL_CONFIG": str(file), "DAGSTER_HOME": str(tmp_path / "home"), KEY_ENV: SECRET_KEY}
        # The run in its own process, as the run launcher starts it; its step runs in that process.
        child = subprocess.Popen([sys.executable, "-m", "dagster", "asset", "materialize", "-m",
                                  "dagster_project.definitions", "--select", "customerio/people"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                 start_new_session=True)
        deadline = time.monotonic() + 180
        while sandbox.counts()["people"] < 100:  # readiness: delivery has started
            assert child.poll() is None, child.communicate()[0][-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(child.pid, signal.SIGTERM)  # what terminating the run does to its process
        output = child.communicate(timeout=180)[0]
        assert child.returncode != 0
        assert "this is a bug in cio-retl" not in output and "DagsterExecutionInterruptedError" in output, output[-3000:]
        project = load_project(file, credentials="none")
        [(_, status, _, _, _, _, accepted, _, pending, _, error)] = recent_runs(project.state_location(), "people", 5)
        assert status == "interrupted", (status, error, output[-3000:])
        assert 0 < accepted <= sandbox.counts()["people"] < PEOPLE and accepted + pending == PEOPLE
        assert "nothing is lost: the next run finishes it" in error
        sandbox.faults.delay_s = 0.0
        again = subprocess.run([sys.executable, "-m", "cio_retl", "run", "people"], capture_output=True, text=True,
                               env=env, timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
        assert sandbox.counts()["people"] == PEOPLE
