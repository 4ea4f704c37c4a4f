"""`status`, `rejections` and `explain` while a run holds the sync (issue 20): the last settled state, and who runs."""

from __future__ import annotations

import json
import re
import signal

from cio_retl.pipeline.sync import run_sync
from cio_retl.project import load_project
from cio_retl.sandbox import serve_sandbox
from cio_retl.sandbox.server import Faults, rule_from_text
from cio_retl.state import StateStore
from tests.conftest import RecordingDelivery
from tests.integration.conftest import API_KEY, SITE_ID
from tests.integration.test_cli_snags import cli
from tests.integration.test_interruptions import PEOPLE, _start, _wait_for


def test_read_commands_during_a_run_answer_from_the_settled_state_and_name_the_run(
        make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    with serve_sandbox(site_id=SITE_ID, api_key=API_KEY,
                       faults=Faults(reject=rule_from_text("identifiers.id=u7"))) as sandbox:
        make_project({"people": {"table": "people", "primary_key": "user_id", "type": "identify"}},
                     destination={"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url,
                                  "max_batch_operations": 20, "max_concurrency": 1})
        first = cli(tmp_path, "run")
        assert first.returncode == 0, first.stdout + first.stderr

        warehouse_sql("UPDATE people SET email = 'new-' || email")  # every row changes: a long second run
        sandbox.faults.delay_s = 0.05
        before = sandbox.counts()["people"]
        child = _start(tmp_path, "run")
        try:
            _wait_for(lambda: len(sandbox.log("/api/v2/batch")) > 160, child, "the second run is sending")
            explained = cli(tmp_path, "explain", "people", "u1", "--json")
            assert explained.returncode == 0, explained.stderr
            story = json.loads(explained.stdout)
            assert story["state"] != "not_found" and "never sent" not in story["verdict"]
            assert story["snapshot"] is not None and story["operations"], story  # the first run's, kept
            [note] = story["notes"]
            assert re.search(r"a run is in progress \(run r\d{8}T\d{6}-\w+, pid \d+ on .+, since 2\d{3}-\d\d-\d\dT"
                             r"\d\d:\d\d:\d\d\+00:00\); shown: the state as it was when it started", note), note

            rejections = cli(tmp_path, "rejections", "people", "--json")
            assert rejections.returncode == 0
            assert [row["key"] for row in json.loads(rejections.stdout)] == ["u7"]  # not "no rejections"
            assert "a run is in progress (run r" in rejections.stderr

            status = cli(tmp_path, "status")
            assert "│ success │" in status.stdout and "a run is in progress (run r" in status.stdout

            text = cli(tmp_path, "explain", "people", "u1")
            assert "note: people: a run is in progress" in text.stdout
            assert child.poll() is None  # all of that while the run went on
        finally:
            child.send_signal(signal.SIGTERM)
            child.communicate(timeout=120)
        assert child.returncode == 130
        assert sandbox.counts()["people"] == before


def test_on_object_storage_status_names_the_run_holding_the_lease(s3, make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    make_project({"people": {"table": "people", "primary_key": "user_id", "type": "identify"}})
    file = tmp_path / "cio_retl.yaml"
    file.write_text(file.read_text().replace("state: state", f"state: {s3.new_url()}"))
    project = load_project(file)
    run_sync(project, "people", deliver=RecordingDelivery())
    with StateStore.open(project.state_location(), "people", run_id="r-holding", command="run"):  # a run going on
        status = cli(tmp_path, "status")
    assert status.returncode == 0 and "│ success │" in status.stdout, status.stderr
    assert re.search(r"people: a run is in progress \(run r-holding, pid \d+ on .+, since .+, lease until .+\); "
                     r"shown: the state as of its last checkpoint", " ".join(status.stdout.split())), status.stdout
    assert "a run is in progress" not in cli(tmp_path, "status").stdout  # released: nothing to say
