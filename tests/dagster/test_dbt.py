"""The dbt example (examples/dbt_duckdb): dbt-duckdb builds dim_users, loaded with dagster-dbt; the sync asset sits
downstream of the dbt model, sends the table to the sandbox, and Declarative Automation requests it after each
dbt build and not otherwise. Both code locations (the repo's and the dbt example) pass `dagster definitions validate`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest
import yaml

from cio_retl.sandbox import Sandbox
from cio_retl.dagster.assets import sync_asset_key
from tests.dagster.conftest import SECRET_KEY, SITE_ID

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "dbt_duckdb"
BIN = Path(sys.executable).parent  # dbt and dagster of this venv
PEOPLE = sync_asset_key("people")
DIM_USERS = dg.AssetKey("dim_users")


def dbt_example(root: Path, env: pytest.MonkeyPatch, sandbox: Sandbox, syncs: dict | None = None) -> dg.Definitions:
    """A copy of the example in `root`, sending to the sandbox; its definitions, imported as Dagster would."""
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*", ".cio_retl"))
    if syncs:
        document = yaml.safe_load((root / "cio_retl.yaml").read_text())
        document["syncs"].update(syncs)
        (root / "cio_retl.yaml").write_text(yaml.safe_dump(document))
    env.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")
    for var, value in (("CUSTOMERIO_SITE_ID", SITE_ID), ("CUSTOMERIO_TRACK_API_KEY", SECRET_KEY),
                       ("CUSTOMERIO_TRACK_URL", sandbox.url)):
        env.setenv(var, value)
    spec = importlib.util.spec_from_file_location(f"dbt_example_{root.name}", root / "definitions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.defs


def materialize(defs: dg.Definitions, instance: dg.DagsterInstance, *keys: dg.AssetKey) -> None:
    """Materialize the given assets (and nothing else) of the example in `instance`."""
    defs.resolve_asset_graph()
    dbt_keys = [key for key in keys if key != PEOPLE]
    selection = dg.AssetSelection.assets(*keys)
    if dbt_keys:  # the dbt models' seeds come along, as in a `dbt build`
        selection = selection | dg.AssetSelection.assets(*dbt_keys).upstream()
    result = dg.materialize(list(defs.assets), resources=defs.resources, instance=instance,
                            selection=selection)
    assert result.success


def test_the_sync_sits_downstream_of_the_dbt_model_and_sends_its_table(tmp_path, clean_env, sandbox) -> None:
    defs = dbt_example(tmp_path / "example", clean_env, sandbox)
    graph = defs.resolve_asset_graph()
    assert graph.get(PEOPLE).parent_keys == {DIM_USERS}
    assert graph.get(DIM_USERS).parent_keys == {dg.AssetKey("raw_users")}
    assert {"dbt", "duckdb"} <= graph.get(DIM_USERS).kinds
    with dg.DagsterInstance.ephemeral() as instance:
        materialize(defs, instance, DIM_USERS, PEOPLE)
        event = instance.get_latest_materialization_event(PEOPLE).asset_materialization
        assert event.metadata["accepted"].value == 4
    people = {person["id"]: person for person in sandbox.dump()["people"]}
    assert set(people) == {"u1", "u2", "u3", "u5"}  # dbt's model dropped the deleted user u4
    assert people["u5"]["attributes"]["plan"] == "team"


def requested(defs: dg.Definitions, instance: dg.DagsterInstance, cursor=None, at: datetime | None = None):
    """One Declarative Automation tick over the sync assets (at `at`, default now): (requested syncs, cursor)."""
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor,
                                               evaluation_time=at or datetime.now(timezone.utc),
                                               asset_selection=dg.AssetSelection.groups("reverse_etl"))
    return {key for key in (PEOPLE, sync_asset_key("people_daily")) if result.get_num_requested(key)}, result.cursor


def test_automation_requests_the_sync_after_its_dbt_upstream_materializes(tmp_path, clean_env, sandbox) -> None:
    # people: `eager` (as in the example); people_daily: `on_cron 0 0 * * *`, after today's midnight tick.
    daily = {"people_daily": {"warehouse": "analytics", "table": "dim_users", "primary_key": "user_id",
                              "type": "identify", "upstream": "dim_users", "automation": "on_cron 0 0 * * *"}}
    defs = dbt_example(tmp_path / "example", clean_env, sandbox, syncs=daily)
    now = datetime.now(timezone.utc)
    with dg.DagsterInstance.ephemeral() as instance:
        asked, cursor = requested(defs, instance, at=now - timedelta(days=2))
        assert asked == set()  # dim_users was never built: nothing to send
        asked, cursor = requested(defs, instance, cursor, at=now - timedelta(minutes=1))
        assert asked == set()  # a midnight tick has passed since, but dim_users is still missing

        materialize(defs, instance, DIM_USERS)  # dbt build
        asked, cursor = requested(defs, instance, cursor)
        assert asked == {PEOPLE, sync_asset_key("people_daily")}

        materialize(defs, instance, PEOPLE, sync_asset_key("people_daily"))  # what the requested run does
        asked, cursor = requested(defs, instance, cursor)
        assert asked == set()  # upstream unchanged since: no new request

        materialize(defs, instance, DIM_USERS)  # the next dbt build
        asked, cursor = requested(defs, instance, cursor)
        assert asked == {PEOPLE}  # eager follows every build; on_cron waits for its next tick
    assert len(sandbox.dump()["people"]) == 4


def validate(target: list[str], cwd: Path, env: dict[str, str], home: Path) -> subprocess.Popen:
    """`dagster definitions validate` in its own DAGSTER_HOME: two processes creating one instance's SQLite
    storage at once collide."""
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return subprocess.Popen([str(BIN / "dagster"), "definitions", "validate", *target], cwd=cwd,
                            env={**env, "DAGSTER_HOME": str(home)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_dagster_definitions_validate_passes_for_both_code_locations(tmp_path, clean_env) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CUSTOMERIO_", "CIO_RETL_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env['PATH']}", DAGSTER_DISABLE_TELEMETRY="1")
    example = tmp_path / "example"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*", ".cio_retl"))
    # Both at once: each is mostly Python imports, and they share nothing.
    checks = {"repo": validate(["-w", "workspace.yaml"], REPO, env, tmp_path / "home_repo"),  # ./cio_retl.yaml
              "dbt example": validate(["-f", "definitions.py"], example, env, tmp_path / "home_dbt")}
    for name, process in checks.items():
        output = process.communicate(timeout=300)[0]
        assert process.returncode == 0 and "All code locations passed validation" in output, f"{name}:\n{output}"
