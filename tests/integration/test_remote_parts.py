"""The pieces of object-storage state against a real S3 API (moto's server): leases, the manifest's compare-and-swap,
snapshot deltas and their compaction (compared with a local-folder state run through the same changes), garbage,
a stolen lease, failures at stage boundaries, and the errors a user sees."""

from __future__ import annotations

import functools
import itertools
import json
import time

import duckdb
import pytest
import yaml

import cio_retl.state.remote as remote
from cio_retl.project import load_project
from cio_retl.delivery import deliver
from cio_retl.errors import ConfigError, StateError, SyncError
from cio_retl.state.lease import Lease
from cio_retl.state.manifest import ManifestFile
from cio_retl.state.objectstore import Bucket
from cio_retl.state.store import StateStore
from cio_retl.pipeline.sync import run_sync
from tests.faults import injected
from tests.integration.conftest import API_KEY, FAST, SITE_ID

fast_deliver = functools.partial(deliver, policy=FAST)
PEOPLE = {"warehouse": "wh", "table": "people", "primary_key": "user_id", "type": "identify", "mode": "mirror"}


def project_at(tmp_path, state: str, sandbox=None, name: str = "cio_retl.yaml", **top):
    # 300 operations a request: small test tables still make several requests (commit groups between them)
    destination = {"site_id": SITE_ID, "api_key": API_KEY, "requests_per_second": 1000, "max_attempts": 3,
                   "max_batch_operations": 300}
    if sandbox is not None:
        destination["url"] = sandbox.url
    document = {"state": state, "warehouses": {"wh": {"type": "duckdb", "path": "warehouse.duckdb"}},
                "destination": destination, "syncs": {"people": PEOPLE}, **top}
    (tmp_path / name).write_text(yaml.safe_dump(document))
    return load_project(tmp_path / name)


def warehouse(tmp_path, statement: str) -> None:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute(statement)
    con.close()


# ------------------------------------------------------------------------------------------------------------ leases


def test_a_lease_is_taken_once_refused_while_live_and_taken_over_once_expired(s3) -> None:
    bucket = Bucket(s3.new_url(), "people")
    first = Lease(bucket, "people/lease.json", run_id="r-first", command="run", ttl_s=2)
    assert first.acquire() is None
    second = Lease(bucket, "people/lease.json", run_id="r-second", command="run", ttl_s=2)
    holder = second.acquire()
    assert holder is not None and holder.run_id == "r-first" and "run r-first, pid" in holder.describe()

    first.start_renewing()  # a live holder keeps it past its first expiry
    time.sleep(3)
    assert second.acquire() is not None
    first.ensure_held()
    first.release()
    assert second.acquire() is None and second.took_over is None  # released, not crashed

    third = Lease(bucket, "people/lease.json", run_id="r-third", command="run", ttl_s=2)
    assert third.acquire().run_id == "r-second"  # second never renews: it stops counting as live after 2 s
    while time.time() < second.expires_at:
        time.sleep(0.1)
    assert third.acquire() is None and third.took_over.run_id == "r-second"
    with pytest.raises(StateError, match="lost its lease"):
        second.ensure_held()


def test_the_manifest_is_written_only_over_the_version_it_read(s3) -> None:
    bucket = Bucket(s3.new_url(), "people")
    one, two = ManifestFile(bucket, "people"), ManifestFile(bucket, "people")
    first = one.commit(one.load(), "r1")
    seen_by_two = two.load()
    one.commit(first.model_copy(update={"meta": {"a": "1"}}), "r1")
    with pytest.raises(StateError, match="changed by another run"):
        two.commit(seen_by_two, "r2")
    assert ManifestFile(bucket, "people").load().meta == {"a": "1"}


def test_a_run_whose_lease_is_taken_over_stops_before_writing_again(s3, sandbox, tmp_path) -> None:
    warehouse(tmp_path, "CREATE TABLE people AS SELECT 'u' || i AS user_id FROM range(3000) t(i)")
    state = s3.new_url()
    project = project_at(tmp_path, state, sandbox, state_lease_s=1.5)
    bucket = Bucket(state, "people")
    at_theft = []

    def steal_then_deliver(batches, destination, **kwargs):
        batches = iter(batches)
        first = next(batches)  # pulling the first operations writes their chunk ahead
        at_theft.append(ManifestFile(bucket, "people").load().generation)  # the write-ahead is in it already
        found = bucket.read("people/lease.json")
        thief = json.loads(found[0]) | {"run_id": "r-thief", "host": "elsewhere", "expires_at": time.time() + 60}
        assert bucket.replace("people/lease.json", json.dumps(thief).encode(), found[1]) is not None
        time.sleep(1.5)  # the victim's next renewal finds the lease taken
        return fast_deliver(itertools.chain([first], batches), destination, **kwargs)

    with pytest.raises(SyncError, match="lost its lease.*r-thief.*elsewhere"):
        run_sync(project, "people", deliver=steal_then_deliver)
    assert ManifestFile(bucket, "people").load().generation == at_theft[0] == 1  # nothing written after the theft


# ------------------------------------------------------------------------------------------- parts and compaction


def snapshot_rows(con) -> list[tuple]:
    return con.execute("SELECT _key, _hash, fate, user_id, config_hash FROM snapshot ORDER BY _key").fetchall()


def test_snapshot_deltas_and_compaction_restore_what_a_local_state_holds(s3, tmp_path, monkeypatch,
                                                                        recording_delivery) -> None:
    monkeypatch.setattr(remote, "MAX_DELTAS", 3)
    warehouse(tmp_path, "CREATE TABLE people AS SELECT 'u' || i AS user_id, 0 AS n FROM range(200) t(i)")
    state = s3.new_url()
    in_bucket = project_at(tmp_path, state)
    local = project_at(tmp_path, str(tmp_path / "local"), name="local.yaml")
    bucket = Bucket(state, "people")
    for step in range(8):
        for project in (in_bucket, local):
            run_sync(project, "people", deliver=recording_delivery)
        with StateStore.open(tmp_path / "local", "people", run_id="check") as expected, \
                remote.read_remote(state, "people", connect_file) as restored:
            assert snapshot_rows(restored) == snapshot_rows(expected.con)
            assert restored.execute("SELECT count(*) FROM runs").fetchall() == [(step + 1,)]
        manifest = ManifestFile(bucket, "people").load()
        assert len(manifest.snapshot_deltas) == step % 4 and manifest.write_ahead is None
        # Nothing but the manifest, the lease and the parts it names: no write-ahead or replaced part is left.
        assert set(bucket.list("people/")) == manifest.parts() | {"people/manifest.json", "people/lease.json"}
        warehouse(tmp_path, f"UPDATE people SET n = n + 1 WHERE hash(user_id || {step}) % 7 = 0;"
                            f"DELETE FROM people WHERE hash(user_id || {step}) % 29 = 0;"
                            f"INSERT INTO people VALUES ('new{step}', 0)")


def connect_file(path, temp_dir):
    from cio_retl.state.store import connect_file as connect

    return connect("people", "192MB", path, temp_dir)


def test_garbage_of_an_interrupted_checkpoint_is_swept_by_the_next_run(s3, sandbox, tmp_path) -> None:
    warehouse(tmp_path, "CREATE TABLE people AS SELECT 'u' || i AS user_id FROM range(50) t(i)")
    state = s3.new_url()
    project = project_at(tmp_path, state, sandbox)
    bucket = Bucket(state, "people")
    bucket.upload("people/parts/g00000009-snapshot-r-crashed.parquet", b"never named by a manifest")
    bucket.upload("people/wal/r-crashed/ops.parquet", b"a write-ahead that never reached the manifest")
    run_sync(project, "people", deliver=fast_deliver)
    manifest = ManifestFile(bucket, "people").load()
    assert set(bucket.list("people/")) == manifest.parts() | {"people/manifest.json", "people/lease.json"}


@pytest.mark.parametrize("point", ["after_write_ahead", "mid_delivery", "before_settle"])
def test_a_run_failing_at_a_stage_boundary_is_finished_from_the_bucket(s3, sandbox, tmp_path, point) -> None:
    warehouse(tmp_path, "CREATE TABLE people AS SELECT 'u' || i AS user_id, 'free' AS plan FROM range(3000) t(i)")
    project = project_at(tmp_path, s3.new_url(), sandbox)
    with injected(point), pytest.raises(SyncError, match="injected fault") as caught:
        run_sync(project, "people", deliver=fast_deliver)
    # A new working copy (a new temporary folder) holds only what the faulty run made durable in the bucket.
    report = run_sync(project, "people", deliver=fast_deliver)
    assert report.status == "success" and report.pending == 0
    assert delivered(caught.value.report) + delivered(report) == 3000  # every row delivered once over both runs
    assert sandbox.counts()["people"] == 3000
    again = run_sync(project, "people", deliver=fast_deliver)
    assert again.operations == 0 and again.fates["unchanged"] == 3000


def delivered(report) -> int:
    return report.fates.get("delivered", 0) + report.recovered.get("fates", {}).get("delivered", 0)


# ------------------------------------------------------------------------------------------------------ user errors


@pytest.mark.parametrize(("state", "message"), [
    ("ftp://host/state", "'ftp://' is not supported"),
    ("s3:///prefix", "names no bucket"),
])
def test_a_state_url_of_the_wrong_kind_is_a_config_error(tmp_path, state, message) -> None:
    with pytest.raises(ConfigError, match=message):
        project_at(tmp_path, state)


def test_a_missing_bucket_fails_the_run_naming_the_sync_and_what_to_check(s3, tmp_path) -> None:
    warehouse(tmp_path, "CREATE TABLE people AS SELECT 'u1' AS user_id")
    project = project_at(tmp_path, "s3://no-such-bucket/prefix")
    with pytest.raises(StateError, match=r"sync 'people': state cannot write people/lease.json in "
                                         r"s3://no-such-bucket/prefix: the bucket does not exist.*\n"
                                         r".*AWS_ENDPOINT_URL"):
        run_sync(project, "people")
