"""Dagster's standard metadata on sync materializations (row counts, column schema, column lineage) and
`freshness:` as a FreshnessPolicy."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from cio_retl.dagster.assets import sync_asset_key
from tests.dagster.conftest import SYNCS, metadata_values

WAREHOUSE_PEOPLE = dg.AssetKey(["warehouse", "wh", "people"])


def test_an_identify_sync_records_row_count_schema_and_lineage(dagster_project) -> None:
    built = dagster_project()
    result = built.materialize("people")
    assert result.success
    meta = metadata_values(result, "people")
    assert meta["dagster/row_count"] == 10 and "dagster/partition_row_count" not in meta
    columns = {column.name: column.type for column in meta["dagster/column_schema"].columns}
    assert columns == {"user_id": "VARCHAR", "email": "VARCHAR", "plan": "VARCHAR"}
    lineage = meta["dagster/column_lineage"].deps_by_column
    assert lineage == {"id": [dg.TableColumnDep(WAREHOUSE_PEOPLE, "user_id")],
                       "email": [dg.TableColumnDep(WAREHOUSE_PEOPLE, "email")],
                       "plan": [dg.TableColumnDep(WAREHOUSE_PEOPLE, "plan")]}


def test_a_partition_run_records_the_partition_row_count_and_event_data_lineage(dagster_project) -> None:
    built = dagster_project()
    result = built.materialize("orders", partition_key="2024-03-02")
    assert result.success
    meta = metadata_values(result, "orders")
    assert meta["dagster/partition_row_count"] == meta["extracted"] == 2 and "dagster/row_count" not in meta
    assert {c.name for c in meta["dagster/column_schema"].columns} == {"order_id", "user_id", "amount", "ordered_at"}
    orders = dg.AssetKey(["warehouse", "wh", "orders"])
    lineage = meta["dagster/column_lineage"].deps_by_column
    assert lineage["id"] == [dg.TableColumnDep(orders, "user_id")]
    assert lineage["data.amount"] == [dg.TableColumnDep(orders, "amount")] and "data.ordered_at" in lineage


def test_freshness_becomes_a_time_window_freshness_policy(dagster_project) -> None:
    syncs = {**SYNCS, "people": {**SYNCS["people"], "freshness": {"fail_after": "1d2h", "warn_after": "90m"}}}
    built = dagster_project(syncs)
    spec = next(spec for spec in built.defs.resolve_all_asset_specs() if spec.key == sync_asset_key("people"))
    policy = spec.freshness_policy
    assert isinstance(policy, dg.FreshnessPolicy)
    assert (policy.fail_window.to_timedelta(), policy.warn_window.to_timedelta()) == (timedelta(hours=26),
                                                                                       timedelta(minutes=90))
    other = next(spec for spec in built.defs.resolve_all_asset_specs() if spec.key == sync_asset_key("adhoc"))
    assert other.freshness_policy is None
