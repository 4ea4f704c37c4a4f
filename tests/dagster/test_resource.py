"""CustomerIoSync: overrides laid over the project file at run time, EnvVar secrets, and an asset of your own."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest

from cio_retl.project import load_project
from cio_retl.errors import ConfigError
from dagster_project import CustomerIoSync
from tests.dagster.conftest import SECRET_KEY, sandbox_destination, write_project

REPO = Path(__file__).resolve().parents[2]


def test_overrides_are_laid_over_the_project_file(tmp_path: Path, clean_env) -> None:
    file = write_project(tmp_path)
    plain = CustomerIoSync(config_path=str(file)).load_project()
    assert plain == load_project(file)

    moved = CustomerIoSync(config_path=str(file), warehouses={"wh": {"path": "other.duckdb"}}, state="/var/lib/cio",
                           api_key="env-key", url="http://127.0.0.1:9").load_project()
    assert moved.warehouses["wh"].path == "other.duckdb" and moved.root == plain.root
    assert moved.state_path() == Path("/var/lib/cio")
    assert moved.destination.api_key.get_secret_value() == "env-key" and "env-key" not in repr(moved.destination)
    assert moved.destination.base_url == "http://127.0.0.1:9" and moved.destination.site_id == "dagster-site"

    with pytest.raises(ConfigError, match="unknown warehouse.*nope"):
        CustomerIoSync(config_path=str(file), warehouses={"nope": {"path": "x"}}).load_project()
    with pytest.raises(ConfigError) as error:
        CustomerIoSync(config_path=str(file), warehouses={"wh": {"batch_size": 0}}).load_project()
    assert error.value.problems == ["warehouses.wh.batch_size: must be greater than 0 (got 0)"]


def test_from_environment_binds_only_variables_that_are_set(tmp_path: Path, clean_env) -> None:
    assert CustomerIoSync.from_environment().api_key is None
    clean_env.setenv("CUSTOMERIO_TRACK_API_KEY", "from-env")
    clean_env.setenv("CUSTOMERIO_SITE_ID", "site-env")
    resource = CustomerIoSync.from_environment(tmp_path / "cio_retl.yaml")
    assert "from-env" not in repr(resource.__dict__)  # an EnvVar, resolved when a run starts
    resolved = resource.process_config_and_initialize()
    assert (resolved.api_key, resolved.site_id, resolved.config_path) == (
        "from-env", "site-env", str(tmp_path / "cio_retl.yaml"))


def readme_example(name: str) -> str:
    """The Python block after `<!-- example: NAME -->` in README.md."""
    text = (REPO / "README.md").read_text()
    match = re.search(rf"<!-- example: {name} -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert match, f"README.md has no example {name}"
    return match.group(1)


def test_the_readme_asset_of_your_own_runs(tmp_path: Path, clean_env, sandbox) -> None:
    clean_env.setenv("CUSTOMERIO_TRACK_API_KEY", SECRET_KEY)
    write_project(tmp_path, destination=sandbox_destination(sandbox))
    clean_env.chdir(tmp_path)  # the example names ./cio_retl.yaml
    namespace: dict = {}
    # dont_inherit: not this module's `from __future__ import annotations` (Dagster reads the annotations as types)
    exec(compile(readme_example("custom-asset"), "README.md", "exec", dont_inherit=True), namespace)
    defs: dg.Definitions = namespace["defs"]
    dg.Definitions.validate_loadable(defs)
    asset = namespace["people"]
    assert defs.resolve_asset_graph().get(asset.key).parent_keys == {dg.AssetKey("dim_users")}
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([asset], resources=defs.resources, instance=instance)
        assert result.success
        [event] = result.asset_materializations_for_node("customerio__people")
        assert event.metadata["accepted"].value == 10
        dry = dg.materialize([asset], resources=defs.resources, instance=instance,
                             run_config={"ops": {"customerio__people": {"config": {"dry_run": True}}}})
        assert dry.success and dry.asset_materializations_for_node("customerio__people") == []
    assert sandbox.counts()["people"] == 10
