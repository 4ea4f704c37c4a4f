"""The remote-state suite (test_remote_state.py, test_remote_parts.py) against Azure Blob Storage: Azurite on loopback
(npm, installed into tests/.azurite by scripts/install_azurite.sh), as those tests run against moto's S3.

The imported tests take a fixture named `s3` (the object-storage server they use); here it is Azurite, with an
`az://container/prefix` URL per test and the AZURE_STORAGE_* environment a deployment would have.
"""

from __future__ import annotations

import os
import shutil

import pytest

from cio_retl.state.objectstore import Bucket
from tests.azurite_server import azurite_server, install
from tests.integration.test_remote_parts import (  # noqa: F401 (collected here, against Azurite)
    test_a_lease_is_taken_once_refused_while_live_and_taken_over_once_expired,
    test_a_run_failing_at_a_stage_boundary_is_finished_from_the_bucket,
    test_a_run_whose_lease_is_taken_over_stops_before_writing_again,
    test_garbage_of_an_interrupted_checkpoint_is_swept_by_the_next_run,
    test_snapshot_deltas_and_compaction_restore_what_a_local_state_holds,
    test_the_manifest_is_written_only_over_the_version_it_read,
)
from tests.integration.test_remote_state import (  # noqa: F401
    test_a_run_killed_mid_delivery_is_finished_by_another_machine,
    test_a_second_machine_is_refused_until_the_killed_holders_lease_expires,
    test_one_delivery_slot_makes_runs_on_two_machines_take_turns,
    test_two_machines_alternate_runs_of_one_sync,
)


@pytest.fixture(scope="session")
def azurite_server_session():
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no Node/npm for Azurite: scripts/ci_system_deps.sh installs nodejs and npm")
        pytest.skip("Azurite needs Node and npm")
    with azurite_server(install()) as running:
        yield running


@pytest.fixture
def s3(azurite_server_session, monkeypatch: pytest.MonkeyPatch):
    """Azurite under the name the imported tests use, with this process's environment pointing at it."""
    for name, value in azurite_server_session.env.items():
        monkeypatch.setenv(name, value)
    return azurite_server_session


def test_azurite_answers_conditional_writes_as_the_state_needs(s3) -> None:
    bucket = Bucket(s3.new_url(), "people")
    first = bucket.create("people/lease.json", b"one")
    assert first is not None and bucket.create("people/lease.json", b"two") is None  # If-None-Match: *
    data, version = bucket.read("people/lease.json")
    assert data == b"one" and version.e_tag == first.e_tag
    assert bucket.replace("people/lease.json", b"three", version) is not None  # If-Match: the ETag read
    assert bucket.replace("people/lease.json", b"four", version) is None  # a stale ETag is refused
    assert bucket.read("people/lease.json")[0] == b"three"
