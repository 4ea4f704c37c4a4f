"""Every run of a sync carries cio_retl/sync=<sync>, however it is launched: the instance of dagster.yaml.example
queues runs through SyncTagRunCoordinator, which lifts the sync assets' tag onto the run.

Here runs are launched through the webserver's own GraphQL mutation, exactly as the asset page's Materialize
button sends it (the implicit asset job, an asset selection, no tags), with the code location served by a real
code server. Backfills, schedule ticks and automation runs go through the same coordinator when the daemon
submits them; tests/dagster/test_ui_browser.py checks those in a real browser.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.workspace.context import WorkspaceProcessContext, WorkspaceRequestContext
from dagster._core.workspace.load_target import ModuleTarget
from dagster_graphql.client.query import LAUNCH_PIPELINE_EXECUTION_MUTATION
from dagster_graphql.test.utils import execute_dagster_graphql

from cio_retl.dagster.run_coordinator import SyncTagRunCoordinator, sync_run_tags
from tests.dagster.conftest import KEY_ENV, SECRET_KEY, write_project

REPO = Path(__file__).resolve().parents[2]
LOCATION = "dagster_project.definitions"


@pytest.fixture
def workspace(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> Iterator[WorkspaceRequestContext]:
    """The repo's workspace (module dagster_project.definitions) on an instance made from dagster.yaml.example."""
    clean_env.setenv("CIO_RETL_CONFIG", str(write_project(tmp_path)))
    clean_env.setenv(KEY_ENV, SECRET_KEY)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml.example", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_coordinator, SyncTagRunCoordinator)
        target = ModuleTarget(module_name=LOCATION, attribute=None, working_directory=str(REPO), location_name=LOCATION)
        with WorkspaceProcessContext(instance, target) as process:
            yield process.create_request_context()


def materialize_button(context: WorkspaceRequestContext, *keys: str, tags: dict[str, str] | None = None,
                       job: str = "__ASSET_JOB") -> dg.DagsterRun:
    """launchPipelineExecution as the UI's Materialize button sends it; returns the (queued) run."""
    params = {"selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__",
                           "pipelineName": job,
                           "assetSelection": [{"path": ["customerio", key]} for key in keys] if keys else None},
              "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
              "runConfigData": {}, "mode": "default"}
    result = execute_dagster_graphql(context, LAUNCH_PIPELINE_EXECUTION_MUTATION, {"executionParams": params})
    launched = result.data["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return context.instance.get_run_by_id(launched["run"]["runId"])


def test_runs_launched_without_tags_get_the_sync_tag(workspace: WorkspaceRequestContext) -> None:
    people = materialize_button(workspace, "people")
    assert people.status == dg.DagsterRunStatus.QUEUED  # no daemon here: the run waits in the queue, tagged
    assert people.tags["cio_retl/sync"] == "people"

    orders_day = materialize_button(workspace, "orders", tags={"dagster/partition": "2024-03-02"})
    assert orders_day.tags["cio_retl/sync"] == "orders" and orders_day.tags["dagster/partition"] == "2024-03-02"

    both = materialize_button(workspace, "people", "adhoc")
    assert both.tags["cio_retl/sync"] == "adhoc.people"

    job_run = materialize_button(workspace, job="people_sync")  # the per-sync job, as its schedule launches it
    assert job_run.tags["cio_retl/sync"] == "people"


def test_tag_values() -> None:
    assert sync_run_tags(["people"]) == {"cio_retl/sync": "people"}
    assert sync_run_tags(["people", "adhoc", "people"]) == {"cio_retl/sync": "adhoc.people"}
    assert sync_run_tags([]) == {}
