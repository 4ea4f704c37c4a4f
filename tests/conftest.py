"""Shared fixtures: a project in a temp folder with a real DuckDB warehouse file, and a recording delivery."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from cio_retl.project import Project, load_project

os.environ.setdefault("TZ", "UTC")


# Command output is read by content: render it wide, whatever the terminal (or the test worker) is. A test of the
# narrow layout sets COLUMNS itself.
os.environ["COLUMNS"] = "200"

@pytest.fixture
def warehouse_sql(tmp_path: Path) -> Callable[[str], None]:
    """Run SQL against the temp project's warehouse file (create tables, change rows between runs)."""

    def run(sql: str) -> None:
        con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
        try:
            con.execute(sql)
        finally:
            con.close()

    return run


@pytest.fixture
def make_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Project]:
    """Write a cio_retl.yaml in tmp_path with a DuckDB warehouse and the given syncs; return the loaded project."""
    for var in ("CUSTOMERIO_SITE_ID", "CUSTOMERIO_TRACK_API_KEY", "CUSTOMERIO_REGION", "CUSTOMERIO_TRACK_URL",
                "CIO_RETL_CONFIG"):
        monkeypatch.delenv(var, raising=False)

    def make(syncs: dict[str, dict[str, Any]], *, actions: dict[str, Any] | None = None,
             destination: dict[str, Any] | None = None, models: dict[str, str] | None = None,
             warehouse: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Project:
        (tmp_path / "sql").mkdir(exist_ok=True)
        for name, sql in (models or {}).items():
            (tmp_path / "sql" / name).write_text(sql)
        document = {
            "state": "state",
            "warehouses": {"wh": {"type": "duckdb", "path": "warehouse.duckdb", **(warehouse or {})}},
            "destination": destination or {"site_id": "site-1", "api_key": "secret-track-key-123"},
            "syncs": {name: {"warehouse": "wh", **spec} for name, spec in syncs.items()},
        }
        if actions:
            document["actions"] = actions
        document.update(extra or {})  # other top-level sections (alerts, writeback, …)
        (tmp_path / "cio_retl.yaml").write_text(yaml.safe_dump(document, sort_keys=False))  # file order matters
        return load_project(tmp_path / "cio_retl.yaml")

    return make


@dataclass
class Outcome:
    op_id: int
    status: str
    status_code: int | None
    reason: str | None


@dataclass
class DeliveryStats:
    requests: int = 0
    retries: int = 0


@dataclass
class RecordingDelivery:
    """An in-process stand-in for delivery (our own code, for unit tests of the commit protocol).

    It accepts every operation except those `reject(body)` flags, can leave some `retryable`, and can raise
    after `crash_after` operations to simulate a process dying between sending and committing.
    """

    reject: Callable[[dict[str, Any]], str | None] = lambda body: None
    retryable: Callable[[dict[str, Any]], bool] = lambda body: False
    crash_after: int | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, batches, destination, *, on_outcomes, sync, progress=None) -> DeliveryStats:
        stats = DeliveryStats()
        for batch in batches:
            outcomes = []
            for op_id, body in zip(batch.column("op_id").to_pylist(), batch.column("body").to_pylist()):
                if self.crash_after is not None and len(self.sent) >= self.crash_after:
                    on_outcomes(outcomes)
                    raise KeyboardInterrupt("simulated crash")
                parsed = json.loads(body)
                self.sent.append(parsed)
                reason = self.reject(parsed)
                if self.retryable(parsed):
                    outcomes.append(Outcome(op_id, "retryable", 503, "service unavailable"))
                elif reason:
                    outcomes.append(Outcome(op_id, "rejected", 400, reason))
                else:
                    outcomes.append(Outcome(op_id, "accepted", 200, None))
            stats.requests += 1
            on_outcomes(outcomes)
        return stats


@pytest.fixture
def recording_delivery() -> RecordingDelivery:
    return RecordingDelivery()


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A PostgreSQL server for the whole session, started from the installed binaries (see tests/pg_server.py)."""
    from tests.pg_server import postgres_bin, postgres_server

    if postgres_bin() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no PostgreSQL server binaries: `make test` should have installed Debian's postgresql")
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)")
    with postgres_server() as url:
        yield url


@pytest.fixture
def pg_database(pg_url: str, request: pytest.FixtureRequest) -> str:
    """A fresh database per test on the session's server; returns its SQLAlchemy URL."""
    import sqlalchemy as sa

    name = "t_" + "".join(c for c in request.node.name.lower() if c.isalnum())[:40]
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as con:
        con.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        con.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return pg_url.rsplit("/", 1)[0] + "/" + name


def run_pg(url: str, sql: str) -> None:
    """Run statements against a PostgreSQL database (tests' setup and changes between runs)."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as con:
        con.execute(sql)



@pytest.fixture(scope="session")
def s3_server():
    """A real S3 API (moto's standalone server) on loopback for the whole session; tests use their own prefixes."""
    from tests.s3_server import moto_server

    with moto_server() as s3:
        yield s3


@pytest.fixture
def s3(s3_server, monkeypatch: pytest.MonkeyPatch):
    """The S3 server, with this process's environment pointing at it (as a cloud deployment's would)."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return s3_server


# What `make check` leaves out (`make test` and CI run everything): the markers, by module or by module::test, in
# one place.
MARKS = {
    "test_ui_browser.py": "browser",
    "test_dbt.py": "dbt",
    "test_production.py": "production",
    "test_component.py": "slow",  # dg in child processes: scaffold, check, list, launch
    "test_remote_state.py": "slow",
    "test_remote_state_azure.py": "slow",
    "test_remote_parts.py": "slow",
    "test_stage_faults.py": "slow",
    # the command line end to end, in child processes, many commands per test
    "test_clear_answers.py": "slow",
    "test_cli_snags.py": "slow",
    "test_exact_edges.py": "slow",
    "test_explain.py": "slow",
    "test_interruptions.py": "slow",
    "test_profile_timestamps.py": "slow",
    "test_reads_during_a_run.py": "slow",
    "test_termination.py": "slow",
    "test_diff_sees_every_change.py": "slow",  # the property test: two real runs per example
    "test_pipelines_destination.py": "slow",  # whole demo projects sent both ways
    # a SIGKILL mid-delivery, then the run again
    "test_delivery_e2e.py::test_sigkill_mid_delivery_then_rerun_matches_the_warehouse": "slow",
    "test_row_fates.py::test_a_sigkill_resends_at_most_what_was_in_flight_plus_one_commit_group": "slow",
    "test_segment_sync.py::test_a_kill_mid_delivery_loses_nothing": "slow",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        mark = MARKS.get(item.path.name) or MARKS.get(f"{item.path.name}::{item.originalname}")
        if mark:
            item.add_marker(mark)
