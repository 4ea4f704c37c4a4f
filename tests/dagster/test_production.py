"""The production deployment as far as this machine allows: deploy/dagster.yaml as the instance (PostgreSQL storage,
the QueuedRunCoordinator, the pool), `dagster-daemon run` serving the queue and launching each run in its own
process, and the state on S3 (moto's server). The run's working folder is wiped between two materializations, as a
pod's disk is: the second sends nothing, because everything it needs is in the bucket.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
import yaml

from tests.dagster.conftest import BATCH, KEY_ENV, SECRET_KEY, sandbox_destination, write_project

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RUN_TIMEOUT_S = 300


def fresh_database(pg_url: str, name: str) -> str:
    """A new database on the session's PostgreSQL server, as dagster-postgres needs it: psycopg2, named in the URL
    (SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql://, whose server-side binding breaks NOTIFY)."""
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as con:
        con.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        con.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return pg_url.replace("postgresql+psycopg://", "postgresql+psycopg2://").rsplit("/", 1)[0] + "/" + name


def wait_for_run(instance: dg.DagsterInstance, known: set[str], daemon: subprocess.Popen,
                 log: Path) -> dg.DagsterRun:
    """The run launched after `known`, once it has finished."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        assert daemon.poll() is None, log.read_text()[-3000:]
        runs = [run for run in instance.get_runs() if run.run_id not in known]
        if runs and runs[0].is_finished:
            return runs[0]
        assert time.monotonic() < deadline, f"no finished run after {RUN_TIMEOUT_S} s: {runs}"
        time.sleep(0.5)


def test_a_wiped_working_folder_sends_nothing_the_second_time(pg_url, s3, sandbox, clean_env, tmp_path,
                                                              monkeypatch) -> None:
    file = write_project(tmp_path, {"people": {"model": "sql/people.sql", "primary_key": "user_id",
                                               "type": "identify", "mode": "mirror"}},
                         destination=sandbox_destination(sandbox))
    document = yaml.safe_load(file.read_text())
    file.write_text(yaml.safe_dump({**document, "state": s3.new_url()}))
    home, machine = tmp_path / "dagster_home", tmp_path / "machine"
    home.mkdir()
    machine.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_module": {
        "module_name": "dagster_project.definitions", "working_directory": str(REPO)}}]}))
    env = {**os.environ, **s3.env, "DAGSTER_HOME": str(home), "CIO_RETL_CONFIG": str(file),
           "CIO_RETL_WORK_DIR": str(machine), KEY_ENV: SECRET_KEY,
           "DAGSTER_PG_URL": fresh_database(pg_url, "dagster_production")}
    for name in ("DAGSTER_HOME", "DAGSTER_PG_URL"):
        monkeypatch.setenv(name, env[name])

    daemon_log = tmp_path / "daemon.log"  # a file, not a pipe: the daemon logs all the time
    with open(daemon_log, "w") as log:
        daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env=env, cwd=tmp_path,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with dg.DagsterInstance.get() as instance:
            finished = []
            for _ in range(2):
                launched = subprocess.run([str(BIN / "dagster"), "job", "launch", "-w", str(workspace),
                                           "-j", "people_sync"], env=env, cwd=tmp_path, capture_output=True,
                                          text=True, timeout=RUN_TIMEOUT_S)
                assert launched.returncode == 0, launched.stderr[-3000:]
                run = wait_for_run(instance, {r.run_id for r in finished}, daemon, daemon_log)
                assert run.status == dg.DagsterRunStatus.SUCCESS, [e.message for e in instance.all_logs(run.run_id)]
                finished.append(run)
                assert list(machine.iterdir()) == []  # the run deleted its working copy …
                shutil.rmtree(machine)  # … and the pod is gone, with its disk
                machine.mkdir()
            for run in finished:  # they went through the daemon's queue, not straight to a process
                kinds = [e.dagster_event.event_type for e in instance.all_logs(run.run_id) if e.dagster_event]
                assert kinds.index(dg.DagsterEventType.RUN_ENQUEUED) < kinds.index(dg.DagsterEventType.RUN_START)
            records = instance.fetch_materializations(dg.AssetKey(["customerio", "people"]), limit=10).records
            counts = [{name: record.asset_materialization.metadata[name].value for name in ("accepted", "operations")}
                      for record in sorted(records, key=lambda record: record.timestamp)]
            assert counts == [{"accepted": 10, "operations": 10}, {"accepted": 0, "operations": 0}]
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)

    assert sum(request.items for request in sandbox.log(BATCH)) == 10  # the second run sent nothing
    assert len(sandbox.dump()["people"]) == 10
    engine = sa.create_engine(env["DAGSTER_PG_URL"])
    with engine.connect() as con:  # the runs are in PostgreSQL, where every pod and the webserver see them
        assert con.execute(sa.text("SELECT count(*) FROM runs WHERE status = 'SUCCESS'")).scalar() == 2
    engine.dispose()
