"""The Dagster integration: one asset per sync (`CustomerIoSyncComponent`), the resource that runs a sync, its checks,
schedules, jobs and run coordinator. `dagster_project/` is a code location built with it."""
