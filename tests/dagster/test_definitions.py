"""The code location: Definitions load and validate from the project file, without secrets or network."""

from __future__ import annotations

import importlib
import shutil
import socket
import sys
from pathlib import Path

import dagster as dg

from dagster_project.assets import sync_asset_key
from dagster_project.settings import DagsterSettings
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
    running = dagster_project(settings=DagsterSettings(schedules_running=True)).defs
    assert {s.default_status for s in running.schedules} == {dg.DefaultScheduleStatus.RUNNING}


def test_module_import_reads_the_cli_project_file_without_secrets_or_network(tmp_path, clean_env) -> None:
    file = write_project(tmp_path)
    clean_env.setenv("CIO_RETL_CONFIG", str(file))
    clean_env.setenv("CUSTOMERIO_TRACK_API_KEY", "env-secret-999")
    clean_env.setenv("CIO_RETL_SCHEDULES_RUNNING", "true")

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
    assert defs.resources["project_file"].config_path == str(file.resolve())
    assert {s.default_status for s in defs.schedules} == {dg.DefaultScheduleStatus.RUNNING}
    sys.modules.pop("dagster_project.definitions", None)


def test_settings_from_environment(clean_env) -> None:
    clean_env.setenv("CIO_RETL_REJECTION_RATE_WARN", "0.2")
    clean_env.setenv("CIO_RETL_DAGSTER_POOL", "cio_prod")
    settings = DagsterSettings.from_env()
    assert (settings.rejection_rate_warn, settings.pool, settings.schedules_running) == (0.2, "cio_prod", False)


def test_shipped_instance_example_queues_runs_per_pool_and_sync(tmp_path) -> None:
    repo = Path(__file__).parents[2]
    assert "dagster_project.definitions" in (repo / "workspace.yaml").read_text()
    shutil.copy(repo / "dagster.yaml.example", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        config = instance.get_concurrency_config()
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert config.pool_config.pool_granularity.value == "run" and config.pool_config.default_pool_limit == 1
    assert config.run_queue_config.tag_concurrency_limits == [
        {"key": "cio_retl/sync", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
