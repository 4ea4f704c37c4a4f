"""A QueuedRunCoordinator that puts each sync asset's `cio_retl/sync` tag on every run materializing it.

Dagster's run-queue limits (`tag_concurrency_limits`) read run tags, but only jobs and schedules give runs
tags: a run from the asset page's Materialize button, an asset backfill or Declarative Automation carries none
of its assets' tags. Every run, however launched, is submitted through the instance's run coordinator, so this
one lifts the tags there, before the run is queued. Configure it in $DAGSTER_HOME/dagster.yaml
(dagster.yaml.example).
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext

from cio_retl.dagster.assets import SYNC_TAG


class SyncTagRunCoordinator(QueuedRunCoordinator):
    """Queues runs like QueuedRunCoordinator, after tagging them with the syncs they materialize."""

    def submit_run(self, context: SubmitRunContext) -> dg.DagsterRun:
        run = context.dagster_run
        tags = sync_run_tags(self._asset_tags(context, self._run_asset_keys(run)))
        missing = {key: value for key, value in tags.items() if run.tags.get(key) != value}
        if missing:
            self._instance.add_run_tags(run.run_id, missing)
            context = context._replace(dagster_run=self._instance.get_run_by_id(run.run_id))
        return super().submit_run(context)

    def _run_asset_keys(self, run: dg.DagsterRun) -> set[dg.AssetKey]:
        if run.asset_selection:
            return set(run.asset_selection)
        plan = run.execution_plan_snapshot_id and self._instance.get_execution_plan_snapshot(
            run.execution_plan_snapshot_id)
        return set(plan.asset_selection) if plan else set()

    @staticmethod
    def _asset_tags(context: SubmitRunContext, keys: Iterable[dg.AssetKey]) -> list[str]:
        graph = context.workspace.asset_graph
        return [graph.get(key).tags[SYNC_TAG] for key in keys
                if graph.has(key) and SYNC_TAG in graph.get(key).tags]


def sync_run_tags(syncs: Iterable[str]) -> dict[str, str]:
    """{cio_retl/sync: <sync>}; a run of several syncs is tagged with all of them, sorted and joined by '.'."""
    names = sorted(set(syncs))
    return {SYNC_TAG: ".".join(names)} if names else {}
