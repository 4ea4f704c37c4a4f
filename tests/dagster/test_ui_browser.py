"""The Dagster UI in a real browser: dagster-webserver and dagster-daemon on loopback serve a tmp project that sends
to the sandbox, and headless Chromium clicks through the UI — a backfill of two days of a partitioned sync, a
schedule and an automation sensor turned on, the Materialize button — as a person would.

It skips without Chromium or playwright, except under CI=true, where it fails. Screenshots are saved as test
artifacts in $CIO_RETL_TEST_ARTIFACTS/dagster_ui (default test-artifacts/dagster_ui); the test prints the folder.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cio_retl.sandbox import Sandbox, serve_sandbox
from tests.dagster.conftest import KEY_ENV, SECRET_KEY, SITE_ID, SYNCS, sandbox_destination, write_project
from tests.dagster.ui_server import (REPO, browser_page, dagster_services, graphql, open_page, require_browser,
                                     wait_for)

LOCATION = "dagster_project.definitions"
ARTIFACTS = Path(os.environ.get("CIO_RETL_TEST_ARTIFACTS") or REPO / "test-artifacts") / "dagster_ui"
RUN_TIMEOUT_S = 240
UI_SYNCS = {
    "people": {**SYNCS["people"], "schedule": "* * * * *"},  # every minute: a tick comes soon after it is on
    "orders": {**SYNCS["orders"], "schedule": None},  # partitioned by day from 2024-03-01
    "adhoc": SYNCS["adhoc"],
    # Declarative Automation downstream of another sync: requested once adhoc has materialized.
    "auto": {**SYNCS["adhoc"], "upstream": "customerio/adhoc", "automation": "eager"},
}
RUNS_QUERY = """{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"""


@dataclass
class Ui:
    url: str
    sandbox: Sandbox
    logs: list[Path]

    def runs(self) -> list[dict[str, Any]]:
        runs = graphql(self.url, RUNS_QUERY)["runsOrError"]["results"]
        return [{**run, "tags": {tag["key"]: tag["value"] for tag in run["tags"]}} for run in runs]

    def finished_run(self, what: str, launched_by: Callable[[dict[str, str]], bool]) -> dict[str, Any]:
        """Wait for a finished run whose tags say how it was launched; fail with the logs if it does not come."""
        def probe() -> dict[str, Any] | None:
            return next((run for run in self.runs() if launched_by(run["tags"])
                         and run["status"] in ("SUCCESS", "FAILURE", "CANCELED")), None)
        return wait_for(what, probe, RUN_TIMEOUT_S, self.logs)


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    """The servers, for the whole module (starting them is most of the cost), on the instance of
    dagster.yaml.example: the run queue, the pool and SyncTagRunCoordinator, as users run it."""
    require_browser()
    root = tmp_path_factory.mktemp("dagster_ui")
    (root / "project").mkdir()
    (root / "home").mkdir()
    shutil.copy(REPO / "dagster.yaml.example", root / "home" / "dagster.yaml")
    with serve_sandbox(site_id=SITE_ID, api_key=SECRET_KEY) as sandbox:
        project_file = write_project(root / "project", UI_SYNCS, destination=sandbox_destination(sandbox))
        env = {key: value for key, value in os.environ.items() if not key.startswith(("CUSTOMERIO_", "CIO_RETL_"))}
        env.update(CIO_RETL_CONFIG=str(project_file), DAGSTER_HOME=str(root / "home"), DAGSTER_DISABLE_TELEMETRY="1",
                   PYTHONUNBUFFERED="1", **{KEY_ENV: SECRET_KEY})
        with dagster_services(["-w", "workspace.yaml"], env, root, [LOCATION]) as url:
            yield Ui(url, sandbox, [root / "webserver.log", root / "daemon.log"])


@pytest.fixture(scope="module")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    print(f"\nDagster UI screenshots: {ARTIFACTS}")
    return ARTIFACTS


def metadata_value(page: Any, key: str) -> str:
    """The value cell of the metadata table row whose key cell is exactly `key`."""
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=key, exact=True)).first
    row.wait_for(timeout=30_000)
    return row.get_by_role("cell").last.inner_text().strip()


def switch_on(ui: Ui, page: Any, name: str) -> None:
    """Turn on the schedule or sensor `name` with its switch on the Automation page; wait until it is running."""
    row = page.locator("[data-index]").filter(has=page.get_by_text(name, exact=True))
    # The row's first checkbox selects it; the last is the switch, an input hidden under its styled label.
    row.locator("label").last.click()
    wait_for(f"{name} RUNNING", lambda: instigator_status(ui.url, name) == "RUNNING", RUN_TIMEOUT_S, ui.logs)


def launch_backfill(page: Any, url: str, asset: str, partitions: str) -> None:
    """Asset page → Materialize… → all partitions → type a range → Launch backfill."""
    open_page(page, f"{url}/assets/{asset}")
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    # The syncs an event sync runs after (cio_retl/project/order.py) are its upstream assets; those not materialized
    # yet make Dagster ask first, as it would anyone.
    partitions_or_question = dialog.get_by_role("button", name="Show all partitions").or_(
        dialog.get_by_role("button", name="Confirm"))
    partitions_or_question.first.wait_for(timeout=30_000)
    if dialog.get_by_role("button", name="Confirm").count():
        dialog.get_by_role("button", name="Confirm").click()
    dialog.get_by_role("button", name="Show all partitions").click()  # the dialog starts at the last 90 days
    selection = dialog.get_by_role("textbox").first
    selection.fill(partitions)
    selection.press("Enter")
    dialog.get_by_text("2 partitions", exact=True).wait_for(timeout=30_000)
    dialog.get_by_role("button", name="Launch backfill").click()
    page.get_by_text("Created backfill").wait_for(timeout=30_000)


def test_backfill_schedule_and_automation_clicked_through_the_ui(ui: Ui, artifacts: Path) -> None:
    with browser_page() as page:
        # Turn the every-minute schedule and the automation sensor on, as a person would.
        open_page(page, f"{ui.url}/automation")
        switch_on(ui, page, "people_sync_schedule")
        switch_on(ui, page, "auto_automation")
        open_page(page, f"{ui.url}/automation")  # reloaded: both show as on from the instance's stored state
        page.get_by_text("people_sync_schedule", exact=True).wait_for(timeout=30_000)
        page.screenshot(path=str(artifacts / "1_automation_switched_on.png"))

        # Backfill 2024-03-02..2024-03-03 of the partitioned orders sync.
        launch_backfill(page, ui.url, "customerio/orders", "[2024-03-02...2024-03-03]")
        page.screenshot(path=str(artifacts / "2_backfill_launched.png"))

        # The automation sensor evaluates once before adhoc materializes, so adhoc's update is news to it.
        wait_for("a tick of auto_automation", lambda: sensor_ticks(ui.url, "auto_automation"), RUN_TIMEOUT_S,
                 ui.logs)
        open_page(page, f"{ui.url}/assets/customerio/adhoc")
        page.get_by_role("button").filter(has_text=re.compile(r"^Materialize$")).click()

        backfill = ui.finished_run("the backfill's run", lambda tags: "dagster/backfill" in tags)
        clicked = ui.finished_run("the Materialize button's run", lambda tags: tags.get("dagster/from_ui") == "true"
                                  and "dagster/backfill" not in tags)
        scheduled = ui.finished_run("a run of the people schedule's tick",
                                    lambda tags: tags.get("dagster/schedule_name") == "people_sync_schedule")
        automated = ui.finished_run("the automation run of auto",
                                    lambda tags: tags.get("dagster/sensor_name") == "auto_automation")
        wait_for("the backfill COMPLETED", lambda: backfill_status(ui.url) == "COMPLETED_SUCCESS", RUN_TIMEOUT_S,
                 ui.logs)

        open_page(page, f"{ui.url}/runs")
        page.screenshot(path=str(artifacts / "3_runs.png"))
        open_page(page, f"{ui.url}/assets/customerio/orders?view=partitions")
        page.get_by_text("Materialized (2)").wait_for(timeout=30_000)  # the two backfilled days
        page.screenshot(path=str(artifacts / "4_orders_partitions.png"))
        # The asset page shows the clicked run's counts.
        open_page(page, f"{ui.url}/assets/customerio/adhoc")
        counts = {key: metadata_value(page, key) for key in ("extracted", "added", "removed", "accepted", "rejected")}
        page.screenshot(path=str(artifacts / "5_asset_adhoc.png"), full_page=True)

    assert [run["status"] for run in (backfill, clicked, scheduled, automated)] == ["SUCCESS"] * 4
    # Each run carries its sync's concurrency tag, however it was launched.
    assert backfill["tags"]["cio_retl/sync"] == "orders"
    assert backfill["tags"]["dagster/asset_partition_range_start"] == "2024-03-02"
    assert backfill["tags"]["dagster/asset_partition_range_end"] == "2024-03-03"  # one run over the range
    assert clicked["tags"]["cio_retl/sync"] == "adhoc"
    assert scheduled["tags"]["cio_retl/sync"] == "people"
    assert automated["tags"]["cio_retl/sync"] == "auto"
    # The sandbox holds exactly the two days' events: orders every 10 h from 03-01 08:00, so o2..o6.
    events = {event["attributes"]["order_id"]: event for event in ui.sandbox.dump()["events"]}
    assert set(events) == {"o2", "o3", "o4", "o5", "o6"}
    assert all(1709337600 <= event["attributes"]["ordered_at"] < 1709510400 for event in events.values())
    assert ui.sandbox.counts()["people"] == 10
    assert counts == {"extracted": "10", "added": "10", "removed": "0", "accepted": "10", "rejected": "0"}
    assert all(shot.stat().st_size > 10_000 for shot in artifacts.glob("*.png"))


def sensor_ticks(url: str, sensor: str) -> list[dict[str, Any]]:
    query = """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { ... on Sensor {
        sensorState { ticks(limit: 5) { status } } } } }"""
    selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "sensorName": sensor}
    return graphql(url, query, {"s": selector})["sensorOrError"]["sensorState"]["ticks"]


def instigator_status(url: str, name: str) -> str:
    """RUNNING or STOPPED: the stored state of a schedule or sensor."""
    query = """query($s: InstigationSelector!) { instigationStateOrError(instigationSelector: $s) {
        ... on InstigationState { status } } }"""
    selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "name": name}
    return graphql(url, query, {"s": selector})["instigationStateOrError"].get("status", "")


def backfill_status(url: str) -> str | None:
    backfills = graphql(url, "{ partitionBackfillsOrError { ... on PartitionBackfills { results { status } } } }")
    results = backfills["partitionBackfillsOrError"]["results"]
    return results[0]["status"] if results else None


@pytest.mark.parametrize("ci", ["", "true"])
def test_without_chromium_skips_locally_and_fails_under_ci(ci: str, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(expected, match="no-chromium is missing"):
        require_browser(tmp_path / "no-chromium")

