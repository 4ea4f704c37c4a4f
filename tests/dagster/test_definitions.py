"""The code location: Definitions load and validate from the project file, without secrets or network."""

from __future__ import annotations

import importlib
import shutil
import socket
import sys
from pathlib import Path

import dagster as dg
from dagster._core.run_coordinator import QueuedRunCoordinator

import pytest

from cio_retl.project import load_project
from cio_retl.errors import ConfigError
from cio_retl.dagster.assets import SYNC_TAG, sync_asset_key
from tests.dagster.conftest import SYNCS, write_project


def test_definitions_load_and_validate(dagster_project) -> None:
    built = dagster_project()
    defs, project = built.defs, built.project
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    for name in SYNCS:
        node = graph.get(sync_asset_key(name))
        assert node.group_name == "reverse_etl"
        assert node.code_version == project.config_hash(name)
        assert defs.resolve_assets_def(sync_asset_key(name)).op.pool == "customerio"
        assert {check.name for check in node.check_keys} == {"model_contract", "rejection_rate", "stuck_rows"}
        assert node.tags[SYNC_TAG] == name
    assert graph.get(sync_asset_key("people")).parent_keys == {dg.AssetKey(["warehouse", "wh", "people"])}
    assert graph.get(sync_asset_key("adhoc")).parent_keys == {dg.AssetKey(["warehouse", "wh", "adhoc"])}
    assert graph.get(dg.AssetKey(["warehouse", "wh", "orders"])).is_external


def test_only_partition_by_syncs_are_daily_partitioned(dagster_project) -> None:
    graph = dagster_project().defs.resolve_asset_graph()
    orders = graph.get(sync_asset_key("orders")).partitions_def
    assert isinstance(orders, dg.DailyPartitionsDefinition)
    assert orders.get_first_partition_key() == "2024-03-01"
    assert graph.get(sync_asset_key("people")).partitions_def is None


def test_schedules_follow_each_sync_cron_and_setting(dagster_project) -> None:
    stopped = dagster_project().defs
    schedules = {schedule.name: schedule for schedule in stopped.schedules}
    assert set(schedules) == {"people_sync_schedule", "orders_sync_schedule"}  # adhoc has no schedule
    assert schedules["orders_sync_schedule"].cron_schedule == "30 * * * *"
    assert schedules["people_sync_schedule"].default_status == dg.DefaultScheduleStatus.STOPPED
    assert schedules["people_sync_schedule"].job.tags == {"cio_retl/sync": "people"}
    running = dagster_project(dagster={"schedules_running": True}).defs
    assert {s.default_status for s in running.schedules} == {dg.DefaultScheduleStatus.RUNNING}


def test_the_dagster_block_sets_pool_checks_and_partition_start(dagster_project) -> None:
    defs = dagster_project({**SYNCS, "orders": {**SYNCS["orders"], "partition_start": None}},
                           dagster={"pool": "cio_prod", "rejection_rate_warn": 0.2,
                                    "partition_start": "2024-02-01"}).defs
    graph = defs.resolve_asset_graph()
    assert defs.resolve_assets_def(sync_asset_key("people")).op.pool == "cio_prod"
    assert graph.get(sync_asset_key("orders")).partitions_def.get_first_partition_key() == "2024-02-01"
    [rate] = [spec for spec in defs.resolve_assets_def(sync_asset_key("people")).check_specs
              if spec.name == "rejection_rate"]
    assert "20.0%" in rate.description


def test_the_dagster_block_is_validated_like_the_rest(tmp_path, clean_env) -> None:
    write_project(tmp_path, dagster={"pool": "", "rejection_rate_warn": 2, "sample_operation": True})
    with pytest.raises(ConfigError) as error:
        load_project(tmp_path / "cio_retl.yaml")
    assert set(error.value.problems) == {
        "dagster.pool: must not be empty",
        "dagster.rejection_rate_warn: must be at most 1.0 (got 2)",
        "dagster.sample_operation: unknown setting (did you mean sample_operations?)"}


def test_upstream_keys_replace_the_external_warehouse_asset(dagster_project) -> None:
    defs = dagster_project({
        "people": {**SYNCS["people"], "upstream": "analytics/dim_users"},
        "orders": {**SYNCS["orders"], "upstream": [["analytics", "fct_orders"], ["dim_users"]]},
        "adhoc": {**SYNCS["adhoc"], "upstream": ["analytics", "dim_users"]},
        "raw": {**SYNCS["adhoc"], "upstream": []},
        "plain": SYNCS["adhoc"]}).defs
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    parents = {name: graph.get(sync_asset_key(name)).parent_keys
               for name in ("people", "orders", "adhoc", "raw", "plain")}
    # The event sync also runs after the identify syncs (cio_retl/project/order.py), so they are among its parents.
    identities = {sync_asset_key(name) for name in ("people", "adhoc", "raw", "plain")}
    assert parents == {"people": {dg.AssetKey(["analytics", "dim_users"])},
                       "orders": {dg.AssetKey(["analytics", "fct_orders"]), dg.AssetKey(["dim_users"]), *identities},
                       "adhoc": {dg.AssetKey(["analytics", "dim_users"])}, "raw": set(),
                       "plain": {dg.AssetKey(["warehouse", "wh", "plain"])}}
    # Only the sync without `upstream` keeps a made-up external asset.
    assert {key for key in graph.get_all_asset_keys() if key.path[0] == "warehouse"} == {
        dg.AssetKey(["warehouse", "wh", "plain"])}


def test_automation_conditions_and_their_sensors(dagster_project) -> None:
    defs = dagster_project({
        "people": {**SYNCS["people"], "schedule": None, "automation": "eager"},
        "adhoc": {**SYNCS["adhoc"], "automation": "on_cron 0 6 * * *"},
        "orders": SYNCS["orders"]}).defs
    graph = defs.resolve_asset_graph()
    people, adhoc = (graph.get(sync_asset_key(name)).automation_condition for name in ("people", "adhoc"))
    assert people.get_label() == dg.AutomationCondition.eager().get_label() == "eager"
    assert adhoc.get_label() == "on_cron(0 6 * * *, UTC)"
    assert graph.get(sync_asset_key("orders")).automation_condition is None
    sensors = {sensor.name: sensor for sensor in defs.sensors}
    assert set(sensors) == {"people_automation", "adhoc_automation"}
    assert sensors["people_automation"].run_tags == {SYNC_TAG: "people"}
    assert sensors["people_automation"].default_status == dg.DefaultSensorStatus.STOPPED
    assert {s.name for s in defs.schedules} == {"orders_sync_schedule"}


@pytest.mark.parametrize(("spec", "problem"), [
    ({"schedule": "0 * * * *", "automation": "eager"}, "set either schedule (a cron job) or automation"),
    ({"automation": "whenever"}, "automation must be 'eager', 'on_missing' or 'on_cron <cron>'"),
    ({"automation": "on_cron 0 6 * *"}, "automation must be 'eager', 'on_missing' or 'on_cron <cron>'"),
    ({"type": "track", "event": "E", "partition_by": "ordered_at", "automation": "eager"},
     "automation would run only the latest day of a partitioned sync"),
    ({"upstream": ["analytics", ""]}, "asset keys must be non-empty names"),
])
def test_sync_settings_for_dagster_are_checked(tmp_path, clean_env, spec: dict, problem: str) -> None:
    write_project(tmp_path, {"bad": {**SYNCS["adhoc"], **spec}})
    with pytest.raises(ConfigError) as error:
        load_project(tmp_path / "cio_retl.yaml")
    assert any(p.startswith("syncs.bad") and problem in p for p in error.value.problems), error.value.problems


def test_module_import_reads_the_cli_project_file_without_secrets_or_network(tmp_path, clean_env) -> None:
    file = write_project(tmp_path)
    clean_env.setenv("CIO_RETL_CONFIG", str(file))
    clean_env.setenv("CUSTOMERIO_TRACK_API_KEY", "env-secret-999")

    def no_network(*args, **kwargs):
        raise AssertionError("loading definitions must not touch the network")

    clean_env.setattr(socket.socket, "connect", no_network)
    sys.modules.pop("dagster_project.definitions", None)
    module = importlib.import_module("dagster_project.definitions")
    defs = module.defs
    dg.Definitions.validate_loadable(defs)
    assert {key.path[-1] for key in defs.resolve_all_asset_keys()} >= set(SYNCS)
    customerio = defs.resources["customerio"]
    # The key is bound as an EnvVar (resolved when a run starts), never copied into the definitions.
    assert "env-secret-999" not in repr(customerio.__dict__)
    assert customerio.config_path == str(file.resolve())
    assert {s.default_status for s in defs.schedules} == {dg.DefaultScheduleStatus.STOPPED}
    sys.modules.pop("dagster_project.definitions", None)


def test_shipped_instance_example_queues_runs_per_pool_and_sync(tmp_path) -> None:
    repo = Path(__file__).parents[2]
    assert "dagster_project.definitions" in (repo / "workspace.yaml").read_text()
    shutil.copy(repo / "dagster.yaml.example", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        config = instance.get_concurrency_config()
        assert type(instance.run_coordinator).__name__ == "SyncTagRunCoordinator"
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)  # so the daemon serves its queue
    assert config.pool_config.pool_granularity.value == "run" and config.pool_config.default_pool_limit == 1
    assert config.run_queue_config.tag_concurrency_limits == [
        {"key": "cio_retl/sync", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
