"""Sync assets run in-process against the sandbox: metadata carries the report, partitions re-send their days, checks."""

from __future__ import annotations

import dagster as dg

from cio_retl.pipeline.report import SyncReport
from cio_retl.dagster.checks import evaluate
from cio_retl.sandbox import Faults
from tests.dagster.conftest import SECRET_KEY, check_results, metadata_values

PEOPLE = dg.AssetKey(["customerio", "people"])


def test_materialize_returns_the_report_as_metadata(dagster_project, all_events_text) -> None:
    built = dagster_project()
    result = built.materialize("people")
    assert result.success
    meta = metadata_values(result, "people")
    counts = {name: meta[name] for name in ("extracted", "added", "changed", "removed", "accepted", "rejected",
                                            "pending")}
    assert counts == {"extracted": 10, "added": 10, "changed": 0, "removed": 0, "accepted": 10, "rejected": 0,
                      "pending": 0}
    assert meta["requests"] >= 1 and meta["duration_s"] > 0 and meta["rows_per_second"] > 0
    assert isinstance(meta["rows_per_second"], float) and meta["dagster/row_count"] == 10
    assert meta["rejections"].records == []
    assert isinstance(meta["delivery"], dict) and isinstance(meta["operations_by_action"], dict)
    # No personal data by default: no sample operations, and no email address anywhere in the run's events.
    assert "sample_operations" not in meta and "@example.com" not in all_events_text(result)
    assert {name: e.passed for name, e in check_results(result).items()} == {
        "model_contract": True, "rejection_rate": True, "stuck_rows": True}
    assert built.sandbox.counts()["people"] == 10 and built.items_sent() == 10
    assert SECRET_KEY not in all_events_text(result)

    built.sql("UPDATE people SET plan = 'pro' WHERE user_id = 'u1'; DELETE FROM people WHERE user_id = 'u2'")
    again = metadata_values(built.materialize("people"), "people")
    assert (again["added"], again["changed"], again["removed"]) == (0, 1, 1)


def test_sample_operations_only_when_the_project_asks(dagster_project) -> None:
    built = dagster_project(dagster={"sample_operations": True})
    meta = metadata_values(built.materialize("people"), "people")
    assert 1 <= len(meta["sample_operations"]) <= 5 and "identifiers" in meta["sample_operations"][0]["body"]
    assert meta["sample_operations"][0]["body"]["attributes"]["email"].endswith("@example.com")


def test_dry_run_records_an_observation_not_a_materialization(dagster_project) -> None:
    built = dagster_project()
    with dg.DagsterInstance.ephemeral() as instance:
        result = built.materialize("people", config={"dry_run": True, "full_resync": False,
                                                     "allow_mass_delete": False}, instance=instance)
        assert result.success
        assert result.asset_materializations_for_node("customerio__people") == []
        assert instance.get_latest_materialization_event(PEOPLE) is None  # the asset does not look fresh
        [observation] = result.asset_observations_for_node("customerio__people")
        meta = {name: value.value for name, value in observation.metadata.items()}
        assert meta["dry_run"] is True and meta["extracted"] == 10 and meta["added"] == 10
        assert result.get_asset_check_evaluations() == []  # nothing was sent: nothing to check
        logs = [record.user_message for record in instance.all_logs(result.run_id)]
        assert any("dry run of sync 'people'" in line and "no materialization is recorded" in line for line in logs)
    assert built.sandbox.log() == []

    # The next real run still sends everything: the dry run kept no state.
    assert metadata_values(built.materialize("people"), "people")["added"] == 10


MARCH_2, MARCH_4 = 1709337600, 1709510400  # 2024-03-02 00:00 and 2024-03-04 00:00 UTC


def events(built) -> dict[str, dict]:
    """order_id → event, of what the sandbox holds (it keeps one event per id)."""
    return {event["attributes"]["order_id"]: event for event in built.sandbox.dump()["events"]}


def test_backfill_of_two_days_sends_only_those_days(dagster_project) -> None:
    built = dagster_project()
    # A UI backfill of 2024-03-02..2024-03-03 (single-run policy: one run over the range).
    result = built.materialize("orders", partition_range=("2024-03-02", "2024-03-03"))
    assert result.success
    meta = metadata_values(result, "orders")
    # Orders every 10 h from 2024-03-01 08:00 UTC: o2..o6 fall on 2 and 3 March.
    assert events(built).keys() == {"o2", "o3", "o4", "o5", "o6"}
    assert all(MARCH_2 <= event["attributes"]["ordered_at"] < MARCH_4 for event in events(built).values())
    assert meta["extracted"] == 5 and meta["accepted"] == 5
    assert meta["window"].startswith("2024-03-02T00:00:00+00:00")
    assert {m.partition for m in result.asset_materializations_for_node("customerio__orders")} == {
        "2024-03-02", "2024-03-03"}

    # One partition at a time (a multi-run backfill) works the same way.
    assert built.materialize("orders", partition_key="2024-03-04").success
    assert events(built).keys() == {"o2", "o3", "o4", "o5", "o6", "o7", "o8"}


def test_backfill_resends_days_already_sent_with_the_same_event_ids(dagster_project) -> None:
    built = dagster_project()
    assert built.materialize("orders").success  # the scheduled, unpartitioned run: every order once
    first = {key: event["id"] for key, event in events(built).items()}
    assert len(first) == 12 and built.items_sent() == 12

    assert built.materialize("orders", partition_range=("2024-03-02", "2024-03-03")).success
    assert built.items_sent() == 12 + 5  # the two days' five events went out again…
    assert {key: event["id"] for key, event in events(built).items()} == first  # …and were de-duplicated by id


def test_checks_fail_on_contract_violations_and_rejections(dagster_project) -> None:
    rejecting = Faults(reject=lambda op: "invalid email" if op["identifiers"].get("id") in ("u1", "u2") else None)
    built = dagster_project(faults=rejecting)
    built.sql("INSERT INTO people VALUES ('u3', 'dup@example.com', 'free'), (NULL, 'nokey@example.com', 'free')")
    result = built.materialize("people")
    assert result.success  # per-row problems are data: the run succeeds and the checks say what is wrong
    checks = check_results(result)
    assert not checks["model_contract"].passed and checks["model_contract"].severity == dg.AssetCheckSeverity.WARN
    assert not checks["rejection_rate"].passed and checks["rejection_rate"].severity == dg.AssetCheckSeverity.WARN
    assert checks["stuck_rows"].passed
    meta = metadata_values(result, "people")
    assert meta["contract_violations"] >= 2
    reasons = {row.data["key"]: row.data["reason"] for row in meta["rejections"].records}
    assert "invalid email" in reasons["u1"] and "invalid email" in reasons["u2"]
    assert "duplicate primary key" in reasons["u3"]


def test_stuck_rows_check_is_an_error() -> None:
    key = dg.AssetKey(["customerio", "people"])
    healthy = {r.check_name: r for r in evaluate(key, SyncReport(sync="people", run_id="r", operations=100,
                                                                  rejected=5), rejection_rate_warn=0.05)}
    assert all(r.passed for r in healthy.values())
    stuck = {r.check_name: r for r in evaluate(key, SyncReport(sync="people", run_id="r", operations=100,
                                                                rejected=6, stuck=2), rejection_rate_warn=0.05)}
    assert not stuck["stuck_rows"].passed and stuck["stuck_rows"].severity == dg.AssetCheckSeverity.ERROR
    assert not stuck["rejection_rate"].passed


def test_failure_shows_the_library_message_not_a_traceback(dagster_project, all_events_text) -> None:
    built = dagster_project({"broken": {"query": "SELECT * FROM no_such_table", "primary_key": "user_id",
                                        "type": "identify"}})
    result = built.materialize("broken")
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.user_failure_data
    assert error is not None and "sync 'broken'" in error.description
    assert SECRET_KEY not in all_events_text(result)


def test_a_failed_sync_fails_the_asset_with_its_counts(dagster_project) -> None:
    built = dagster_project()
    assert built.materialize("people").success
    built.sql("DELETE FROM people WHERE user_id <> 'u1'")  # a mirror run would now delete 9 of 10 people
    result = built.materialize("people")
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    data = failure.step_failure_data.user_failure_data
    assert "would delete 9 of 10" in data.description and "allow_mass_delete" in data.description
    counts = {name: value.value for name, value in data.metadata.items()}
    assert (counts["extracted"], counts["removed"], counts["accepted"], counts["status"]) == (1, 9, 0, "failed")
    assert built.sandbox.counts()["people"] == 10  # nothing was deleted


def test_operations_left_pending_fail_the_asset_with_the_counts(dagster_project) -> None:
    built = dagster_project(faults=Faults(error_every=1, error_status=503))  # Customer.io down for the whole run
    result = built.materialize("people")
    assert not result.success
    assert result.asset_materializations_for_node("customerio__people") == []
    [failure] = [e for e in result.all_events if e.is_step_failure]
    data = failure.step_failure_data.user_failure_data
    assert "sync 'people'" in data.description and "503" in data.description
    counts = {name: value.value for name, value in data.metadata.items()}
    assert (counts["extracted"], counts["accepted"], counts["pending"], counts["status"]) == (10, 0, 10, "failed")

    built.sandbox.faults = Faults()  # back up: the next run sends what was left pending
    again = metadata_values(built.materialize("people"), "people")
    assert (again["accepted"], again["pending"]) == (10, 0) and built.sandbox.counts()["people"] == 10


def test_the_stored_event_log_never_holds_a_secret(dagster_project, tmp_path) -> None:
    # The model fails with a message quoting the key (as a driver may echo a connection string): the failure
    # shown, its metadata, the exception chain Dagster keeps and the logs must all mask it.
    built = dagster_project({"leaky": {"query": f"SELECT '{SECRET_KEY}'::INTEGER AS user_id", "primary_key": "user_id",
                                       "type": "identify"}})
    (tmp_path / "dagster_home").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home")) as instance:  # SQLite, as on disk
        result = built.materialize("leaky", instance=instance)
        assert not result.success
        stored = "\n".join(repr(record) for record in instance.all_logs(result.run_id))
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "**********" in failure.step_failure_data.user_failure_data.description
    assert "sync 'leaky'" in stored and "**********" in stored
    assert SECRET_KEY not in stored


def test_secrets_are_read_when_the_run_starts(dagster_project, clean_env, sandbox) -> None:
    built = dagster_project()  # definitions loaded with the key SECRET_KEY in the environment…
    sandbox.api_key = "rotated-key-456"
    clean_env.setenv("CUSTOMERIO_TRACK_API_KEY", "rotated-key-456")  # …then the key is rotated
    result = built.materialize("people")
    assert result.success and built.sandbox.counts()["people"] == 10


def test_auth_failure_names_the_sync_and_never_shows_the_key(dagster_project, sandbox, all_events_text) -> None:
    built = dagster_project()
    sandbox.api_key = "the-right-key"  # the project sends SECRET_KEY: Customer.io answers 401
    result = built.materialize("people")
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "sync 'people'" in failure.step_failure_data.user_failure_data.description
    assert SECRET_KEY not in all_events_text(result)


def _watermark(built) -> str | None:
    import duckdb

    con = duckdb.connect(str(built.root / "state" / "orders.duckdb"), read_only=True)
    try:
        return (con.execute("SELECT value FROM meta WHERE name = 'last_success_started_at'").fetchone() or [None])[0]
    finally:
        con.close()


def test_backfill_of_an_incremental_model_resends_its_window_and_leaves_the_watermark(dagster_project) -> None:
    # The model reads only rows loaded since the last run; every order was loaded long ago.
    incremental = {"query": "SELECT order_id, user_id, amount, ordered_at FROM orders "
                            "WHERE loaded_at >= to_timestamp({{ last_sync_time }})",
                   "primary_key": "order_id", "type": "track", "event": "Order Completed",
                   "partition_by": "ordered_at", "partition_start": "2024-03-01"}
    built = dagster_project({"orders": incremental})
    built.sql("ALTER TABLE orders ADD COLUMN loaded_at TIMESTAMPTZ DEFAULT TIMESTAMPTZ '2020-01-01 00:00:00+00'")
    assert built.materialize("orders").success  # a regular run: all twelve
    assert built.items_sent() == 12
    mark = _watermark(built)
    # A new order arrives (outside the window to backfill) between the regular run and the backfill.
    built.sql("INSERT INTO orders VALUES ('o99', 'u1', 990, TIMESTAMP '2024-03-05 12:00:00', now())")

    result = built.materialize("orders", partition_range=("2024-03-02", "2024-03-03"))
    assert result.success
    assert metadata_values(result, "orders")["extracted"] == 5  # the whole window, loaded long ago or not
    assert built.items_sent() == 12 + 5
    assert _watermark(built) == mark  # the backfill did not move the regular runs' watermark

    again = metadata_values(built.materialize("orders"), "orders")
    assert again["added"] == 1 and again["accepted"] == 1  # the regular run still sees the new order
    assert "o99" in events(built)
