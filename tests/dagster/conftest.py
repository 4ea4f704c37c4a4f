"""Fixtures of the Dagster tests: a small project in a tmp dir (DuckDB warehouse + cio_retl.yaml) sending to the sandbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import yaml

from cio_retl.project import Project, load_project
from cio_retl.sandbox import Faults, Sandbox, serve_sandbox
from cio_retl.dagster.assets import sync_asset_key
from cio_retl.dagster.build import build_definitions

SITE_ID = "dagster-site"
SECRET_KEY = "secret-track-key-123"
BATCH = "/api/v2/batch"
KEY_ENV = "CUSTOMERIO_TRACK_API_KEY"
ENV_VARS = ("CUSTOMERIO_SITE_ID", KEY_ENV, "CUSTOMERIO_REGION", "CUSTOMERIO_TRACK_URL", "CIO_RETL_CONFIG")

# Ten people, and twelve orders over five days (2024-03-01 .. 2024-03-05), a few per day.
WAREHOUSE_SQL = """
CREATE OR REPLACE TABLE people AS
SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email, 'free' AS plan FROM range(1, 11) t(i);
CREATE OR REPLACE TABLE orders AS
SELECT 'o' || i AS order_id, 'u' || (i % 10 + 1) AS user_id, i * 10 AS amount,
       TIMESTAMP '2024-03-01 08:00:00' + to_hours(i * 10) AS ordered_at
  FROM range(0, 12) t(i);
"""
SYNCS: dict[str, dict[str, Any]] = {
    "people": {"model": "sql/people.sql", "primary_key": "user_id", "type": "identify", "mode": "mirror",
               "schedule": "0 * * * *"},
    "orders": {"model": "sql/orders.sql", "primary_key": "order_id", "type": "track", "mode": "append",
               "event": "Order Completed", "partition_by": "ordered_at", "partition_start": "2024-03-01",
               "schedule": "30 * * * *"},
    "adhoc": {"query": "SELECT * FROM people", "primary_key": "user_id", "type": "identify"},
}
MODELS = {"people.sql": "SELECT * FROM people", "orders.sql": "SELECT * FROM orders"}


@dataclass
class DagsterProject:
    """A project on disk, its Definitions, and the sandbox it sends to."""

    root: Path
    file: Path
    project: Project
    defs: dg.Definitions
    sandbox: Sandbox

    def items_sent(self) -> int:
        """Operations the sandbox has received in batch requests so far (re-sends included)."""
        return sum(request.items for request in self.sandbox.log(BATCH))

    def sql(self, statement: str) -> None:
        """Change the warehouse between runs."""
        con = duckdb.connect(str(self.root / "warehouse.duckdb"))
        try:
            con.execute(statement)
        finally:
            con.close()

    def materialize(self, sync: str, *, config: dict[str, Any] | None = None, partition_key: str | None = None,
                    partition_range: tuple[str, str] | None = None,
                    instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
        """materialize() customerio/<sync> in-process, as a run launched from the UI would (in an ephemeral
        instance unless one is given)."""
        tags = {}
        if partition_range:  # how a single-run backfill of a range reaches the asset
            tags = {"dagster/asset_partition_range_start": partition_range[0],
                    "dagster/asset_partition_range_end": partition_range[1]}
        run_config = {"ops": {f"customerio__{sync}": {"config": config}}} if config else None
        if instance is not None:
            return self._materialize(sync, instance, run_config, partition_key, tags)
        with dg.DagsterInstance.ephemeral() as ephemeral:
            return self._materialize(sync, ephemeral, run_config, partition_key, tags)

    def _materialize(self, sync: str, instance: dg.DagsterInstance, run_config: dict[str, Any] | None,
                     partition_key: str | None, tags: dict[str, str]) -> dg.ExecuteInProcessResult:
        return dg.materialize(list(self.defs.assets), selection=[sync_asset_key(sync)], resources=self.defs.resources,
                              instance=instance, run_config=run_config, partition_key=partition_key, tags=tags,
                              raise_on_error=False)


def sandbox_destination(sandbox: Sandbox) -> dict[str, Any]:
    """The destination block of a project sending to `sandbox` (fast retries for tests); the key is read from
    $CUSTOMERIO_TRACK_API_KEY, as in production, so loading definitions never sees its value."""
    return {"site_id": SITE_ID, "api_key": "${" + KEY_ENV + "}", "url": sandbox.url, "requests_per_second": 1000,
            "max_attempts": 3, "timeout_s": 5}


def write_project(root: Path, syncs: dict[str, dict[str, Any]] | None = None,
                  destination: dict[str, Any] | None = None, dagster: dict[str, Any] | None = None) -> Path:
    """cio_retl.yaml + sql/ + warehouse.duckdb in root; returns the project file."""
    (root / "sql").mkdir(exist_ok=True)
    for name, sql in MODELS.items():
        (root / "sql" / name).write_text(sql)
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    try:
        con.execute(WAREHOUSE_SQL)
    finally:
        con.close()
    document = {
        "state": "state",
        "warehouses": {"wh": {"type": "duckdb", "path": "warehouse.duckdb"}},
        "destination": destination or {"site_id": SITE_ID, "api_key": SECRET_KEY},
        "syncs": {name: {"warehouse": "wh", **spec} for name, spec in (syncs or SYNCS).items()},
        **({"dagster": dagster} if dagster else {}),
    }
    file = root / "cio_retl.yaml"
    file.write_text(yaml.safe_dump(document))
    return file


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No CIO_RETL_* / CUSTOMERIO_* variables from the developer's shell."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """The local Customer.io sandbox on a free loopback port, in a thread."""
    with serve_sandbox(site_id=SITE_ID, api_key=SECRET_KEY) as running:
        yield running


@pytest.fixture
def dagster_project(tmp_path: Path, clean_env: pytest.MonkeyPatch, sandbox: Sandbox) -> Callable[..., DagsterProject]:
    """Build the tmp project (sending to the sandbox) and its Definitions as production does: the project
    loaded without its secrets, the Track API key bound as an EnvVar that a run resolves when it starts."""
    clean_env.setenv(KEY_ENV, SECRET_KEY)

    def make(syncs: dict[str, dict[str, Any]] | None = None, *, dagster: dict[str, Any] | None = None,
             faults: Faults | None = None) -> DagsterProject:
        file = write_project(tmp_path, syncs, destination=sandbox_destination(sandbox), dagster=dagster)
        if faults:
            sandbox.faults = faults
        project = load_project(file, credentials="none")
        defs = build_definitions(project, file)
        # Loaded as production loads them: the key is still the ${VAR} reference, the resource holds an EnvVar.
        assert project.destination.api_key.get_secret_value() == "${" + KEY_ENV + "}"
        assert SECRET_KEY not in repr(defs.resources["customerio"].__dict__)
        return DagsterProject(tmp_path, file, project, defs, sandbox)

    return make


def metadata_values(result: dg.ExecuteInProcessResult, sync: str) -> dict[str, Any]:
    """The materialization's metadata as plain values (a range run records one per partition, all alike)."""
    event = result.asset_materializations_for_node(f"customerio__{sync}")[-1]
    return {name: getattr(value, "value", value) for name, value in event.metadata.items()}


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    """Asset check evaluations by check name."""
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}


@pytest.fixture
def all_events_text() -> Callable[[dg.ExecuteInProcessResult], str]:
    """Every event of a run as text (to grep for secrets)."""

    def text(result: dg.ExecuteInProcessResult) -> Iterator[str]:
        return "\n".join(repr(event) for event in result.all_events)

    return text
