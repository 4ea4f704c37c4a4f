"""The sync asset unchanged for a segment sync and for a Data Pipelines destination (in-process, against the sandbox)."""

from __future__ import annotations

import dagster as dg

from cio_retl.project import load_project
from cio_retl.sandbox import serve_sandbox
from cio_retl.dagster.build import build_definitions
from tests.dagster.conftest import SYNCS, DagsterProject, metadata_values, write_project

WRITE_KEY = "cdp-write-SECRET-dagster"


def test_a_segment_sync_asset_fills_the_segment_after_people(dagster_project) -> None:
    built = dagster_project({"people": SYNCS["people"],
                             "free_plan": {"query": "SELECT user_id FROM people WHERE plan = 'free'",
                                           "primary_key": "user_id", "type": "segment", "segment_id": 9}})
    segment = built.defs.resolve_asset_graph().get(dg.AssetKey(["customerio", "free_plan"]))
    assert dg.AssetKey(["customerio", "people"]) in segment.parent_keys  # members exist before they join
    assert built.materialize("people").success
    result = built.materialize("free_plan")
    assert result.success
    meta = metadata_values(result, "free_plan")
    assert (meta["accepted"], meta["pending"]) == (10, 0)
    assert len(built.sandbox.dump()["segments"]) == 10


def test_a_pipelines_destination_asset_sends_calls(tmp_path, clean_env, all_events_text) -> None:
    clean_env.setenv("CUSTOMERIO_WRITE_KEY", WRITE_KEY)
    with serve_sandbox(write_key=WRITE_KEY) as sandbox:
        file = write_project(tmp_path, {"people": SYNCS["people"]}, destination={
            "api": "pipelines", "write_key": "${CUSTOMERIO_WRITE_KEY}", "url": sandbox.url, "max_attempts": 3})
        project = load_project(file, credentials="none")
        defs = build_definitions(project, file)
        assert WRITE_KEY not in repr(defs.resources["customerio"].__dict__)
        built = DagsterProject(tmp_path, file, project, defs, sandbox)
        result = built.materialize("people")
        assert result.success
        assert metadata_values(result, "people")["accepted"] == 10
        assert len(sandbox.dump()["people"]) == 10 and {r.path for r in sandbox.log()} == {"/v1/batch"}
        assert WRITE_KEY not in all_events_text(result)
