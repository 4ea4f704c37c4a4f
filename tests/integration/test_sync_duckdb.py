"""run_sync() end to end on real DuckDB files: diff, modes, contract, commit protocol, guard and lock.

Delivery here is the in-process RecordingDelivery of conftest.py (our own stand-in), so these tests can
steer every outcome; delivery over HTTP against the sandbox is tested in test_delivery_*.py.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from cio_retl.rowhash import row_hash_sql
from cio_retl.warehouse.types import normalize_batch
from cio_retl.errors import DeliveryIncompleteError, MassDeleteError, ModelContractError, SyncError, SyncLockedError
from cio_retl.state import StateStore
from cio_retl.state.wal import OutcomeLog
from cio_retl.pipeline.commit import stamped
from cio_retl.delivery.outcomes import Outcome, as_outcome_table
from cio_retl.pipeline.sync import run_sync
from tests.conftest import RecordingDelivery

PEOPLE = """
CREATE OR REPLACE TABLE people AS
SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email, 'free' AS plan,
       TIMESTAMP '2024-01-01 00:00:00' + to_days(i) AS created_at
  FROM range(1, 11) t(i)
"""
PEOPLE_SYNC = {"people": {"query": "SELECT * FROM people", "primary_key": "user_id", "type": "identify",
                          "mode": "mirror"}}


def snapshot_keys(project, sync: str) -> set[str]:
    with StateStore.open(project.state_path(), sync, run_id="test") as state:
        return {k for (k,) in state.con.execute("SELECT _key FROM snapshot").fetchall()}


def ids(sent: list[dict], action: str) -> list[str]:
    return sorted(op["identifiers"].get("id") or op["identifiers"].get("email") for op in sent if op["action"] == action)


def test_added_changed_removed_in_mirror_mode(make_project, warehouse_sql) -> None:
    warehouse_sql(PEOPLE)
    project = make_project(PEOPLE_SYNC)
    first = RecordingDelivery()
    report = run_sync(project, "people", deliver=first)
    assert (report.extracted, report.added, report.changed, report.removed) == (10, 10, 0, 0)
    assert report.accepted == 10 and report.operations == 10
    assert ids(first.sent, "identify") == sorted(f"u{i}" for i in range(1, 11))

    warehouse_sql("UPDATE people SET plan = 'pro' WHERE user_id IN ('u1', 'u2');"
                  "DELETE FROM people WHERE user_id = 'u10';"
                  "INSERT INTO people VALUES ('u11', 'p11@example.com', 'free', TIMESTAMP '2024-02-01')")
    second = RecordingDelivery()
    report = run_sync(project, "people", deliver=second)
    assert (report.added, report.changed, report.removed) == (1, 2, 1)
    assert ids(second.sent, "identify") == ["u1", "u11", "u2"]
    assert ids(second.sent, "delete") == ["u10"]
    assert [op["attributes"]["plan"] for op in second.sent if op["identifiers"] == {"id": "u1"}] == ["pro"]
    assert snapshot_keys(project, "people") == {f"u{i}" for i in range(1, 12)} - {"u10"}

    third = RecordingDelivery()
    report = run_sync(project, "people", deliver=third)
    assert (report.added, report.changed, report.removed, report.operations) == (0, 0, 0, 0)
    assert third.sent == []


def test_native_timestamps_survive_into_calls(make_project, warehouse_sql) -> None:
    warehouse_sql(PEOPLE)
    project = make_project(PEOPLE_SYNC)
    report = run_sync(project, "people", dry_run=True)
    call = report.sample_calls[0]
    assert call["type"] == "identify" and call["userId"] == "u1"
    assert call["traits"]["created_at"].isoformat() == "2024-01-02T00:00:00+00:00"


def test_upsert_never_deletes_and_append_sends_only_new_rows(make_project, warehouse_sql) -> None:
    warehouse_sql(PEOPLE + "; CREATE TABLE orders AS SELECT 'o' || i AS order_id, 'u' || i AS user_id, i * 10 AS amount "
                  "FROM range(1, 6) t(i)")
    project = make_project({
        "people": {"query": "SELECT * FROM people", "primary_key": "user_id", "type": "identify", "mode": "upsert"},
        "orders": {"table": "orders", "primary_key": "order_id", "type": "track", "mode": "append", "event": "Order"},
    })
    run_sync(project, "people", deliver=RecordingDelivery())
    run_sync(project, "orders", deliver=RecordingDelivery())
    warehouse_sql("DELETE FROM people WHERE user_id = 'u1'; UPDATE orders SET amount = 999 WHERE order_id = 'o1';"
                  "INSERT INTO orders VALUES ('o6', 'u6', 60)")
    people, orders = RecordingDelivery(), RecordingDelivery()
    assert run_sync(project, "people", deliver=people).removed == 0  # upsert never deletes
    assert people.sent == []
    assert "u1" in snapshot_keys(project, "people")  # and keeps what Customer.io still has
    report = run_sync(project, "orders", deliver=orders)
    assert report.changed == 1 and report.added == 1
    assert [(op["action"], op["attributes"]["order_id"]) for op in orders.sent] == [("event", "o6")]


def test_composite_keys(make_project, warehouse_sql) -> None:
    warehouse_sql("CREATE TABLE m AS SELECT * FROM (VALUES ('u1', 'a1', 'admin'), ('u1', 'a2', 'member'), "
                  "('u2', 'a1', 'member')) t(user_id, group_id, role)")
    project = make_project({"m": {"query": "SELECT user_id, group_id, {'role': role} AS relationship_attributes FROM m",
                                  "primary_key": ["user_id", "group_id"], "type": "group", "mode": "mirror",
                                  "max_delete_fraction": 0.5}})
    delivery = RecordingDelivery()
    assert run_sync(project, "m", deliver=delivery).added == 3
    assert snapshot_keys(project, "m") == {'["u1","a1"]', '["u1","a2"]', '["u2","a1"]'}
    warehouse_sql("DELETE FROM m WHERE user_id = 'u1' AND group_id = 'a2'")
    delivery = RecordingDelivery()
    report = run_sync(project, "m", deliver=delivery)
    assert report.removed == 1
    [op] = delivery.sent
    assert (op["type"], op["action"]) == ("object", "delete_relationships")
    assert op["identifiers"] == {"object_type_id": "1", "object_id": "a2"}
    assert op["cio_relationships"] == [{"identifiers": {"id": "u1"}}]


def test_null_and_duplicate_keys_are_recorded_and_the_rest_goes_on(make_project, warehouse_sql) -> None:
    warehouse_sql(PEOPLE + "; INSERT INTO people VALUES (NULL, 'nokey@example.com', 'free', NULL), "
                  "('u3', 'again@example.com', 'pro', NULL), ('NULL', 'literal@example.com', 'pro', NULL)")
    project = make_project(PEOPLE_SYNC)
    delivery = RecordingDelivery()
    report = run_sync(project, "people", deliver=delivery)
    assert report.contract_violations == 3
    assert report.violation_samples == ["null primary key (1 rows)", "u3: duplicate primary key (2 rows)"]
    # A person whose id is the text 'NULL' is a real key: sent, not mistaken for the row without a key.
    assert ids(delivery.sent, "identify") == sorted(["NULL", *(f"u{i}" for i in range(1, 11) if i != 3)])
    assert {(r.key, r.action) for r in report.rejections} == {(None, "model contract"), ("u3", "model contract")}
    assert "unique, non-null primary key" in report.rejections[0].reason
    assert "u3" not in snapshot_keys(project, "people")


def test_nan_infinity_and_nulls_do_not_break_the_diff(make_project, warehouse_sql) -> None:
    warehouse_sql("CREATE TABLE s AS SELECT * FROM (VALUES ('u1', 'nan'::DOUBLE), ('u2', 'inf'::DOUBLE), "
                  "('u3', '-inf'::DOUBLE), ('u4', NULL), ('u5', 1.5)) t(user_id, score)")
    project = make_project({"s": {"table": "s", "primary_key": "user_id", "type": "identify"}})
    assert run_sync(project, "s", deliver=RecordingDelivery()).added == 5
    again = run_sync(project, "s", deliver=RecordingDelivery())
    assert (again.added, again.changed) == (0, 0)
    warehouse_sql("UPDATE s SET score = 'nan'::DOUBLE WHERE user_id = 'u5'")
    assert run_sync(project, "s", deliver=RecordingDelivery()).changed == 1


def test_a_column_whose_type_changes(make_project, warehouse_sql) -> None:
    warehouse_sql("CREATE TABLE s AS SELECT 'u' || i AS user_id, i AS seats FROM range(3) t(i)")
    project = make_project({"s": {"table": "s", "primary_key": "user_id", "type": "identify"}})
    run_sync(project, "s", deliver=RecordingDelivery())
    warehouse_sql("ALTER TABLE s ALTER seats TYPE BIGINT")
    assert run_sync(project, "s", deliver=RecordingDelivery()).changed == 0  # same JSON would be sent
    warehouse_sql("ALTER TABLE s ALTER seats TYPE VARCHAR")
    delivery = RecordingDelivery()
    assert run_sync(project, "s", deliver=delivery).changed == 3  # numbers became text: Customer.io must hear
    assert {op["attributes"]["seats"] for op in delivery.sent} == {"0", "1", "2"}


def test_model_edit_forces_full_resync(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    project = make_project({"people": {"model": "sql/people.sql", "primary_key": "user_id", "type": "identify"}},
                           models={"people.sql": "SELECT * FROM people"})
    run_sync(project, "people", deliver=RecordingDelivery())
    (tmp_path / "sql" / "people.sql").write_text("SELECT user_id, email, plan FROM people")
    delivery = RecordingDelivery()
    report = run_sync(project, "people", deliver=delivery)
    assert report.full_resync and len(delivery.sent) == 10
    assert any("full resync" in w for w in report.warnings)
    assert run_sync(project, "people", deliver=RecordingDelivery()).operations == 0


def test_deleting_the_state_file_forgets_the_sync_and_its_run_log(make_project, warehouse_sql) -> None:
    warehouse_sql(PEOPLE)
    project = make_project(PEOPLE_SYNC)
    run_sync(project, "people", deliver=RecordingDelivery())
    project.state_path().joinpath("people.duckdb").unlink()  # what the README says forgets a sync
    delivery = RecordingDelivery()
    report = run_sync(project, "people", deliver=delivery)
    assert len(delivery.sent) == 10 and not report.recovered
    assert report.fates == {"delivered": 10, "rejected": 0, "pending": 0, "skipped": 0, "unchanged": 0}
    assert any("removed the run log" in w for w in report.warnings)


def test_crash_between_sending_and_committing(make_project, warehouse_sql) -> None:
    warehouse_sql(PEOPLE)
    project = make_project(PEOPLE_SYNC)
    crashing = RecordingDelivery(crash_after=4)
    with pytest.raises(KeyboardInterrupt):
        run_sync(project, "people", deliver=crashing)
    # Only what Customer.io accepted reached the snapshot.
    assert snapshot_keys(project, "people") == {"u1", "u2", "u3", "u4"}
    rerun = RecordingDelivery()
    report = run_sync(project, "people", deliver=rerun)
    assert ids(rerun.sent, "identify") == sorted(f"u{i}" for i in range(5, 11))
    assert report.accepted == 6
    assert snapshot_keys(project, "people") == {f"u{i}" for i in range(1, 11)}


def real_hashes(tmp_path) -> dict[str, str]:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    table = pa.Table.from_batches([normalize_batch(b) for b in con.execute("SELECT * FROM people").to_arrow_table().to_batches()])
    con.register("p", table)
    return dict(con.execute(f"SELECT user_id, {row_hash_sql(table.schema)} FROM p").fetchall())


def test_outcomes_recorded_but_not_settled_are_committed_by_the_next_run(make_project, warehouse_sql,
                                                                         tmp_path) -> None:
    warehouse_sql(PEOPLE)
    project = make_project(PEOPLE_SYNC)
    hashes = real_hashes(tmp_path)
    config_hash = project.config_hash("people")
    # A process killed after committing outcomes for u1..u3 (accepted) but before settling its write-ahead.
    with StateStore.open(project.state_path(), "people", run_id="crashed") as state:
        run = state.wal.run(state.next_run_no())
        rows = ", ".join(f"({i}, 'u{i}', {hashes[f'u{i}']}::UBIGINT)" for i in range(1, 5))
        # each row needs one operation, op_id = row_id * 16 + 1 (createUpdatePerson)
        run.write_rows(state.con, "SELECT row_id, _key, _hash, 'added' AS _change, _key AS user_id, "
                       "NULL::VARCHAR AS email, NULL::VARCHAR AS anonymous_id, NULL::VARCHAR AS group_id, "
                       f"NULL::VARCHAR AS object_type_id, 'crashed' AS run_id, '{config_hash}' AS config_hash, "
                       "NULL::VARCHAR AS fate, NULL::VARCHAR AS reason, 1 AS n_ops, NULL::VARCHAR[] AS nulls, "
                       f"{run.run_no} AS run_no FROM (VALUES {rows}) t(row_id, _key, _hash)")
        log = OutcomeLog(run)
        log.append(stamped(as_outcome_table([Outcome(i * 16 + 1, "accepted", 200, None) for i in range(1, 4)])))
        log.close()
    rerun = RecordingDelivery()
    report = run_sync(project, "people", deliver=rerun)
    assert "u1" not in ids(rerun.sent, "identify") and "u4" in ids(rerun.sent, "identify")
    assert len(rerun.sent) == 7
    assert any("finished interrupted run crashed: 3 delivered, 1 pending" in w for w in report.warnings)
    assert report.fates == {"delivered": 7, "rejected": 0, "pending": 0, "skipped": 0, "unchanged": 3}


def test_every_interrupted_run_settled_is_counted_in_the_recovered_report(make_project, warehouse_sql,
                                                                          tmp_path) -> None:
    warehouse_sql(PEOPLE)
    project = make_project(PEOPLE_SYNC)
    hashes = real_hashes(tmp_path)
    config_hash = project.config_hash("people")
    # Two runs killed one after the other, each before settling: u1, u2 (both accepted), u3..u5 (u3 accepted).
    with StateStore.open(project.state_path(), "people", run_id="crashed-2") as state:
        for run_id, users, accepted in (("crashed-1", (1, 2), (1, 2)), ("crashed-2", (3, 4, 5), (3,))):
            run = state.wal.run(state.next_run_no())
            rows = ", ".join(f"({i}, 'u{i}', {hashes[f'u{i}']}::UBIGINT)" for i in users)
            run.write_rows(state.con, "SELECT row_id, _key, _hash, 'added' AS _change, _key AS user_id, "
                           "NULL::VARCHAR AS email, NULL::VARCHAR AS anonymous_id, NULL::VARCHAR AS group_id, "
                           f"NULL::VARCHAR AS object_type_id, '{run_id}' AS run_id, '{config_hash}' AS config_hash, "
                           "NULL::VARCHAR AS fate, NULL::VARCHAR AS reason, 1 AS n_ops, NULL::VARCHAR[] AS nulls, "
                           f"{run.run_no} AS run_no FROM (VALUES {rows}) t(row_id, _key, _hash)")
            log = OutcomeLog(run)
            log.append(stamped(as_outcome_table([Outcome(i * 16 + 1, "accepted", 200, None) for i in accepted])))
            log.close()
    report = run_sync(project, "people", deliver=RecordingDelivery())
    assert report.recovered == {"runs": 2, "run_ids": ["crashed-1", "crashed-2"],
                                "fates": {"delivered": 3, "pending": 2}}
    assert any("finished interrupted 2 runs crashed-1, crashed-2: 3 delivered, 2 pending" in w for w in report.warnings)


def test_upgrading_a_version_2_state_settles_its_unsettled_write_ahead(make_project, warehouse_sql,
                                                                       tmp_path) -> None:
    warehouse_sql(PEOPLE)
    project = make_project(PEOPLE_SYNC)
    hashes = real_hashes(tmp_path)
    config_hash = project.config_hash("people")
    # A version-2 file (the write-ahead in tables) left by a run killed after u1..u3 were accepted: settled
    # through run 1, run 2 unsettled.
    project.state_path().mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(project.state_path() / "people.duckdb"))
    idents = ", ".join(f"{c} VARCHAR" for c in ("user_id", "email", "anonymous_id", "group_id", "object_type_id"))
    con.execute(f"""
        CREATE TABLE meta (name VARCHAR PRIMARY KEY, value VARCHAR);
        INSERT INTO meta VALUES ('state_version', '2'), ('settled_through', '1');
        CREATE TABLE pending_rows (row_id BIGINT, _key VARCHAR, _hash UBIGINT, _change VARCHAR, {idents},
            run_id VARCHAR, config_hash VARCHAR, fate VARCHAR, reason VARCHAR, n_ops INTEGER, nulls VARCHAR[],
            run_no INTEGER);
        CREATE TABLE outcomes (op_id BIGINT, status VARCHAR, status_code INTEGER, reason VARCHAR, body VARCHAR,
            run_no INTEGER, answered_at TIMESTAMPTZ)""")
    for i in range(1, 5):
        con.execute("INSERT INTO pending_rows VALUES (?, ?, ?, 'added', ?, NULL, NULL, NULL, NULL, 'v2-run', ?, "
                    "NULL, NULL, 1, NULL, 2)", [i, f"u{i}", hashes[f"u{i}"], f"u{i}", config_hash])
    con.execute("INSERT INTO pending_rows VALUES (9, 'u9', 1, 'added', 'u9', NULL, NULL, NULL, NULL, 'old', "
                "NULL, 'delivered', NULL, 1, NULL, 1)")  # run 1: settled already, not settled again
    con.execute("INSERT INTO outcomes SELECT i * 16 + 1, 'accepted', 200, NULL, NULL, 2, now() FROM range(1, 4) t(i)")
    con.close()
    rerun = RecordingDelivery()
    report = run_sync(project, "people", deliver=rerun)
    assert report.recovered == {"runs": 1, "run_ids": ["v2-run"], "fates": {"delivered": 3, "pending": 1}}
    assert any("upgraded from version 2: the write-ahead of 1 unsettled run(s)" in w for w in report.warnings)
    assert "u1" not in ids(rerun.sent, "identify") and "u4" in ids(rerun.sent, "identify")
    assert len(rerun.sent) == 7  # u4..u10: what Customer.io had accepted is not sent again


def test_rejected_rows_stay_out_of_the_snapshot_and_are_retried(make_project, warehouse_sql) -> None:
    warehouse_sql(PEOPLE)
    project = make_project(PEOPLE_SYNC)
    refuse_u2 = RecordingDelivery(reject=lambda op: "invalid: email is not valid" if op["identifiers"] == {"id": "u2"} else None,
                                  retryable=lambda op: op["identifiers"] == {"id": "u3"})
    with pytest.raises(DeliveryIncompleteError, match=r"1 operation\(s\) still pending .*service unavailable.*8 accepted"):
        run_sync(project, "people", deliver=refuse_u2)
    report = last_report(project, "people")
    assert (report["status"], report["accepted"], report["rejected"], report["pending"]) == ("failed", 8, 1, 1)
    assert report["fates"] == {"delivered": 8, "rejected": 1, "pending": 1, "skipped": 0, "unchanged": 0}
    assert [(r["key"], r["status_code"], r["reason"]) for r in report["rejections"]] == [
        ("u2", 400, "invalid: email is not valid")]
    assert snapshot_keys(project, "people") == {f"u{i}" for i in range(1, 11)} - {"u2", "u3"}
    for attempt in range(2, 6):
        report = run_sync(project, "people", deliver=RecordingDelivery(reject=refuse_u2.reject))
        assert report.rejections[0].attempts == attempt
    assert report.stuck == 1
    fixed = RecordingDelivery()
    run_sync(project, "people", deliver=fixed)
    assert ids(fixed.sent, "identify") == ["u2"]
    assert snapshot_keys(project, "people") == {f"u{i}" for i in range(1, 11)}


def last_report(project, sync: str) -> dict:
    """The JSON report of the sync's most recent run, from the run history."""
    import json

    with StateStore.open(project.state_path(), sync, run_id="test") as state:
        return json.loads(state.con.execute("SELECT report FROM runs ORDER BY finished_at DESC LIMIT 1").fetchall()[0][0])


def test_mass_delete_guard(make_project, warehouse_sql) -> None:
    warehouse_sql(PEOPLE)
    project = make_project(PEOPLE_SYNC)
    run_sync(project, "people", deliver=RecordingDelivery())
    warehouse_sql("DELETE FROM people WHERE user_id <> 'u1'")
    delivery = RecordingDelivery()
    with pytest.raises(MassDeleteError, match=r"(?s)would delete 9 of 10 .*--allow-mass-delete") as caught:
        run_sync(project, "people", deliver=delivery)
    assert delivery.sent == [] and caught.value.report.status == "failed"
    report = run_sync(project, "people", deliver=delivery, allow_mass_delete=True)
    assert report.removed == 9 and len(delivery.sent) == 9


def test_second_run_of_a_sync_fails_fast_naming_the_holder(make_project, warehouse_sql) -> None:
    warehouse_sql(PEOPLE)
    project = make_project(PEOPLE_SYNC)
    with StateStore.open(project.state_path(), "people", run_id="r-holder", command="run"):
        with pytest.raises(SyncLockedError, match=r"another run holds the lock \(run r-holder, pid \d+"):
            run_sync(project, "people", deliver=RecordingDelivery())
    run_sync(project, "people", deliver=RecordingDelivery())  # released afterwards


def test_dry_run_changes_no_state(make_project, warehouse_sql) -> None:
    warehouse_sql(PEOPLE)
    project = make_project(PEOPLE_SYNC)
    report = run_sync(project, "people", dry_run=True)
    assert report.operations == 10 and report.sample_operations[0]["body"]["action"] == "identify"
    assert snapshot_keys(project, "people") == set()
    assert run_sync(project, "people", dry_run=True).added == 10


def test_missing_columns_fail_with_the_model_and_columns(make_project, warehouse_sql) -> None:
    warehouse_sql("CREATE TABLE t AS SELECT 1 AS id, 'x' AS name")
    project = make_project({"t": {"table": "t", "primary_key": "id", "type": "track"}})
    with pytest.raises(ModelContractError) as caught:
        run_sync(project, "t", deliver=RecordingDelivery())
    message = str(caught.value)
    assert "sync 't'" in message and "user_id or anonymous_id" in message and "event (or set `event:`" in message
    assert "it returns id, name" in message


def test_warehouse_sql_error_names_sync_and_warehouse(make_project, warehouse_sql) -> None:
    warehouse_sql("CREATE TABLE t AS SELECT 1 AS user_id")
    project = make_project({"t": {"query": "SELECT * FROM no_such_table", "primary_key": "user_id", "type": "identify"}})
    with pytest.raises(SyncError, match=r"sync 't': warehouse 'wh': query failed: .*no_such_table"):
        run_sync(project, "t", deliver=RecordingDelivery())


def test_incremental_model_reads_only_rows_since_the_last_run(make_project, warehouse_sql) -> None:
    warehouse_sql("CREATE TABLE events AS SELECT 'e' || i AS event_id, 'u' || i AS user_id, "
                  "now() - INTERVAL 2 DAY AS updated_at FROM range(1, 4) t(i)")
    project = make_project({"events": {
        "model": "sql/events.sql", "primary_key": "event_id", "type": "track", "mode": "append", "event": "Seen"}},
        models={"events.sql": "SELECT * FROM events WHERE updated_at >= to_timestamp({{ last_sync_time }})"})
    first = RecordingDelivery()
    assert run_sync(project, "events", deliver=first).extracted == 3  # last_sync_time is 0 on the first run
    warehouse_sql("INSERT INTO events VALUES ('e9', 'u9', now() + INTERVAL 1 MINUTE)")
    second = RecordingDelivery()
    report = run_sync(project, "events", deliver=second)
    assert (report.extracted, report.added, report.removed) == (1, 1, 0)
    assert [op["attributes"]["event_id"] for op in second.sent] == ["e9"]


def test_an_empty_model_is_a_valid_first_run_and_a_guarded_later_one(make_project, warehouse_sql) -> None:
    warehouse_sql("CREATE TABLE people (user_id VARCHAR, email VARCHAR)")
    project = make_project(PEOPLE_SYNC)
    report = run_sync(project, "people", deliver=RecordingDelivery())
    assert (report.status, report.extracted, report.operations) == ("success", 0, 0)
    warehouse_sql("INSERT INTO people VALUES ('u1', 'a@example.com')")
    assert run_sync(project, "people", deliver=RecordingDelivery()).added == 1
    warehouse_sql("DELETE FROM people")
    with pytest.raises(MassDeleteError, match="would delete 1 of 1"):
        run_sync(project, "people", deliver=RecordingDelivery())


def test_last_sync_time_is_the_start_of_the_last_successful_run(make_project, warehouse_sql) -> None:
    from datetime import datetime, timezone

    warehouse_sql(PEOPLE)
    project = make_project(PEOPLE_SYNC)
    before = int(datetime.now(timezone.utc).timestamp())
    slow = RecordingDelivery()
    original = slow.__call__

    def delivering_slowly(*args, **kwargs):
        import time
        time.sleep(2.1)  # a run that takes a while: the mark must be when it started, not when it ended
        return original(*args, **kwargs)

    run_sync(project, "people", deliver=delivering_slowly)
    with StateStore.open(project.state_path(), "people", run_id="test") as state:
        mark = int(state.get_meta("last_success_started_at"))
    assert before <= mark <= before + 1
