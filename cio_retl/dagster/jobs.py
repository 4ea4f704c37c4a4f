"""One asset job per sync, tagged with the sync's name so the run queue can keep its runs from overlapping."""

from __future__ import annotations

import dagster as dg

from cio_retl.dagster.assets import SYNC_TAG


def sync_job_name(sync_name: str) -> str:
    """The job of a sync: `<sync>_sync`."""
    return f"{sync_name}_sync"


def build_sync_job(sync_name: str) -> dg.UnresolvedAssetJobDefinition:
    """A job materializing only the sync's asset (selected by its tag, whatever its key); its runs carry the tag
    cio_retl/sync=<sync>."""
    return dg.define_asset_job(sync_job_name(sync_name), selection=dg.AssetSelection.tag(SYNC_TAG, sync_name),
                               tags={SYNC_TAG: sync_name},
                               description=f"Run the cio-retl sync '{sync_name}' (Launchpad: full_resync, dry_run, "
                                           "allow_mass_delete, allow_clear).")
