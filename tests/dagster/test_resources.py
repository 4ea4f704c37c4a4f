"""The resources layer their settings over the project file without losing or exposing secrets."""

from __future__ import annotations

from pathlib import Path

from cio_retl.config import load_project
from dagster_project.resources import CustomerIoResource, ProjectResource, StateStoreResource, WarehousesResource
from tests.dagster.conftest import SECRET_KEY, write_project


def test_resources_override_the_project_file(tmp_path: Path, clean_env) -> None:
    project = ProjectResource(config_path=str(write_project(tmp_path))).load()
    assert project == load_project(tmp_path / "cio_retl.yaml")

    moved = WarehousesResource(overrides={"wh": {"path": "other.duckdb"}}).apply(project)
    assert moved.warehouses["wh"].path == "other.duckdb" and moved.root == project.root
    assert moved.destination.api_key.get_secret_value() == SECRET_KEY

    sandboxed = CustomerIoResource(api_key="env-key", url="http://127.0.0.1:9").apply(project)
    assert sandboxed.destination.api_key.get_secret_value() == "env-key"
    assert sandboxed.destination.base_url == "http://127.0.0.1:9" and sandboxed.destination.site_id == "dagster-site"
    assert "env-key" not in repr(sandboxed.destination)
    assert CustomerIoResource().apply(project) is project

    assert StateStoreResource(folder="/var/lib/cio").apply(project).state_path() == Path("/var/lib/cio")
    assert StateStoreResource().apply(project).state_path() == tmp_path / "state"


def test_customerio_binds_only_variables_that_are_set(clean_env) -> None:
    assert CustomerIoResource.from_environment().api_key is None
    clean_env.setenv("CUSTOMERIO_TRACK_API_KEY", "from-env")
    clean_env.setenv("CUSTOMERIO_SITE_ID", "site-env")
    resource = CustomerIoResource.from_environment()
    assert "from-env" not in repr(resource.__dict__)  # an EnvVar, resolved when a run starts
    assert resource.process_config_and_initialize().api_key == "from-env"  # how a run resolves it
