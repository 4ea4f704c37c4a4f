"""CustomerIoSyncComponent through `dg` in a copy of examples/dagster_component (scaffold, list, check, launch), and
in-process: the translation and op attributes, and one path to every asset (dagster_project/ uses it too)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from dagster.components.testing.utils import component_defs

import cio_retl
from cio_retl.dagster.component import CustomerIoSyncComponent
from tests.dagster.conftest import KEY_ENV, SECRET_KEY, SITE_ID, metadata_values, sandbox_destination, write_project

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "dagster_component"
DG = Path(sys.executable).parent / "dg"


def entry_points_dist(folder: Path) -> Path:
    """The repository's `dagster_dg_cli.registry_modules` entry points, as an installed distribution's metadata
    (the shared test environment's cio-retl install may predate them); put `folder` on PYTHONPATH."""
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    dist = folder / "cio_retl_entry_points-0.0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cio-retl-entry-points\nVersion: 0.0.0\n")
    (dist / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in entries.items())
        for group, entries in declared.items()))
    return folder


@pytest.fixture
def example(tmp_path: Path, clean_env, sandbox) -> tuple[Path, dict[str, str]]:
    if not DG.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no `dg`: install the test extra (dagster-dg-cli)")
        pytest.skip("dagster-dg-cli is not installed")
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".cio_retl", "*.duckdb", "__pycache__"))
    con = duckdb.connect(str(project / "warehouse.duckdb"))
    con.execute((project / "seed.sql").read_text())
    con.close()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    paths = [str(entry_points_dist(tmp_path / "dist")), str(REPO), str(project / "src")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "DAGSTER_HOME": str(tmp_path / "home"),
           "PATH": f"{DG.parent}{os.pathsep}{os.environ['PATH']}", "CUSTOMERIO_SITE_ID": SITE_ID,
           KEY_ENV: SECRET_KEY, "CUSTOMERIO_TRACK_URL": sandbox.url, "NO_COLOR": "1"}
    return project, env


def dg_cli(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(DG), *args], cwd=project, env=env, capture_output=True, text=True, timeout=300)


def test_dg_scaffolds_lists_checks_and_launches_a_sync(example, sandbox) -> None:
    project, env = example
    checked = dg_cli(project, env, "check", "defs")  # the example as committed, translation and op included
    assert checked.returncode == 0, checked.stdout + checked.stderr

    shutil.rmtree(project / "src" / "cio_sync_example" / "defs" / "syncs")
    scaffolded = dg_cli(project, env, "scaffold", "defs", "cio_retl.CustomerIoSyncComponent", "syncs")
    assert scaffolded.returncode == 0, scaffolded.stdout + scaffolded.stderr
    written = yaml.safe_load((project / "src" / "cio_sync_example" / "defs" / "syncs" / "defs.yaml").read_text())
    assert written == {"type": "cio_retl.CustomerIoSyncComponent",
                       "attributes": {"project_file": "../../../../cio_retl.yaml"}}

    listed = dg_cli(project, env, "list", "components", "--json")
    assert listed.returncode == 0, listed.stderr
    keys = {item["key"] for item in json.loads(listed.stdout)["items"]}
    assert "cio_retl.CustomerIoSyncComponent" in keys

    launched = dg_cli(project, env, "launch", "--assets", "customerio/people")
    assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]
    assert sorted(p["id"] for p in sandbox.dump()["people"]) == sorted(f"u{i}" for i in range(1, 11))


def test_the_component_is_found_under_cio_retl() -> None:
    assert cio_retl.CustomerIoSyncComponent is CustomerIoSyncComponent
    assert "CustomerIoSyncComponent" in dir(cio_retl)


def test_translation_and_op_shape_every_sync_and_keep_the_edges(tmp_path: Path, clean_env, sandbox) -> None:
    clean_env.setenv(KEY_ENV, SECRET_KEY)
    file = write_project(tmp_path, destination=sandbox_destination(sandbox))
    component = CustomerIoSyncComponent.from_attributes_dict(attributes={
        "project_file": str(file), "syncs": ["people", "orders"],
        "translation": {"key": "crm/{{ sync }}", "group_name": "crm_{{ props.warehouse }}",
                        "tags": {"team": "growth"}},
        "op": {"pool": "cio_eu", "tags": {"owner": "data"}}})
    defs = component_defs(component=component)
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    people, orders = specs[dg.AssetKey(["crm", "people"])], specs[dg.AssetKey(["crm", "orders"])]
    assert people.group_name == orders.group_name == "crm_wh"
    assert people.tags["team"] == "growth" and people.tags["cio_retl/sync"] == "people"
    assert dg.AssetKey(["crm", "people"]) in {dep.asset_key for dep in orders.deps}  # people's events after them
    assert {key for key in specs if key.path[0] == "crm"} == {people.key, orders.key}  # adhoc is not selected
    assets = defs.resolve_assets_def(dg.AssetKey(["crm", "people"]))
    assert assets.op.pool == "cio_eu" and assets.op.tags["owner"] == "data"
    job = defs.resolve_job_def("people_sync")  # jobs select the sync by its tag, whatever its key
    assert job.asset_layer.selected_asset_keys == {dg.AssetKey(["crm", "people"])}

    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([assets], instance=instance,  # the resource comes bound to the asset
                                selection=[dg.AssetKey(["crm", "people"])])
    assert result.success and sandbox.counts()["people"] == 10
    meta = metadata_values(result, "people")
    assert meta["dagster/row_count"] == 10
    model = dg.AssetKey(["warehouse", "wh", "people"])
    assert meta["dagster/column_lineage"].deps_by_column["id"] == [dg.TableColumnDep(model, "user_id")]


def test_unknown_syncs_and_op_names_are_configuration_errors(tmp_path: Path, clean_env, sandbox) -> None:
    file = write_project(tmp_path, destination=sandbox_destination(sandbox))
    with pytest.raises(cio_retl.ConfigError, match="syncs nope are not in the project file"):
        component_defs(component=CustomerIoSyncComponent.from_attributes_dict(
            attributes={"project_file": str(file), "syncs": ["nope"]}))
    with pytest.raises(cio_retl.ConfigError, match="op takes pool and tags only"):
        component_defs(component=CustomerIoSyncComponent.from_attributes_dict(
            attributes={"project_file": str(file), "op": {"name": "one_op"}}))


class AuditedSyncs(CustomerIoSyncComponent):
    """A subclass as a user would write one: an owner tag on every asset, a log line around every run."""

    def get_asset_spec(self, project, sync_name):
        return super().get_asset_spec(project, sync_name).merge_attributes(tags={"owner": "crm-team"})

    def execute(self, context, customerio, sync_name, config):
        context.log.info(f"audit: starting {sync_name}")
        yield from super().execute(context, customerio, sync_name, config)
        context.log.info(f"audit: finished {sync_name}")


def test_get_asset_spec_and_execute_are_overridable(tmp_path: Path, clean_env, sandbox) -> None:
    clean_env.setenv(KEY_ENV, SECRET_KEY)
    file = write_project(tmp_path, destination=sandbox_destination(sandbox))
    defs = component_defs(component=AuditedSyncs.from_attributes_dict(
        attributes={"project_file": str(file), "syncs": ["people"]}))
    key = dg.AssetKey(["customerio", "people"])
    assert next(s for s in defs.resolve_all_asset_specs() if s.key == key).tags["owner"] == "crm-team"
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([defs.resolve_assets_def(key)], instance=instance, selection=[key])
        messages = [log.user_message for log in instance.all_logs(result.run_id) if "audit:" in log.user_message]
    assert result.success and sandbox.counts()["people"] == 10
    assert messages == ["audit: starting people", "audit: finished people"]
