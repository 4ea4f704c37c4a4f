"""`cio-retl doctor`: check the project file, each warehouse, and the Customer.io credentials and region."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from cio_retl.project import Destination, Project, config_path, load_project
from cio_retl.delivery.client import RegionAnswer, auth_failure, fetch_region
from cio_retl.delivery.endpoints import endpoint_for, segment_endpoint_name
from cio_retl.delivery.probes import probe_segment, probe_write_key
from cio_retl.delivery.refusals import pipelines_auth_failure, whole_request_refused
from cio_retl.errors import CioRetlError, WarehouseError
from cio_retl.project.redact import mask_secret

if TYPE_CHECKING:
    from rich.console import Console

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class CheckResult:
    """One check: what was checked, how it went, and what to do about it."""

    name: str
    status: Status
    detail: str
    hint: str | None = None


def run_checks(config: str | Path | None = None) -> list[CheckResult]:
    """Every check, in order; later checks are skipped when the project file cannot be read."""
    try:
        project = load_project(config)
    except CioRetlError as exc:
        return [CheckResult("project file", "fail", str(exc.message), exc.hint)]
    results = [CheckResult("project file", "ok", f"{config_path(config)}: {len(project.syncs)} sync(s), "
                                                 f"{len(project.warehouses)} warehouse(s)")]
    results.append(check_state(project))
    results += check_warehouses(project)
    results += check_models(project)
    results.append(check_destination(project.destination))
    if results[-1].status == "ok":  # the segments' checks need valid credentials
        results += [check_segment(project.destination, name, sync.segment_id)
                    for name, sync in project.syncs.items() if sync.segment_id is not None]
    return results


def check_state(project: Project) -> CheckResult:
    """The state folder can be created and written (object storage is checked by the first run)."""
    from cio_retl.state.folder import FOLDER_HINT, folder_problem

    location = project.state_location()
    if isinstance(location, str):
        return CheckResult(f"state {location}", "ok", "object storage (reached by the first run)")
    problem = folder_problem(location)
    return CheckResult(f"state {location}", "fail", problem, FOLDER_HINT) if problem else \
        CheckResult(f"state {location}", "ok", "writable")


def check_warehouses(project: Project) -> list[CheckResult]:
    """Connect to each warehouse and run SELECT 1; a finding names the syncs that read the warehouse."""
    from cio_retl.warehouse import open_warehouse

    results = []
    for name, settings in project.warehouses.items():
        users = [sync_name for sync_name, sync in project.syncs.items() if sync.warehouse == name]
        label = f"warehouse {name} ({settings.type}) for {', '.join(users) or 'no sync'}"
        try:
            warehouse = open_warehouse(name, settings, project.root)
            try:
                warehouse.check()
            finally:
                warehouse.close()
        except WarehouseError as exc:  # its detail: the label names the warehouse and the syncs
            results.append(CheckResult(label, "fail", exc.detail, exc.hint))
        except CioRetlError as exc:
            results.append(CheckResult(label, "fail", exc.message, exc.hint))
        except Exception as exc:  # a driver error the warehouse did not translate: still a finding, not a crash
            results.append(CheckResult(label, "fail", f"{type(exc).__name__}: {exc}"))
        else:
            results.append(CheckResult(label, "ok", "connected"))
    return results


def check_models(project: Project) -> list[CheckResult]:
    """Run each sync's model with LIMIT 0 and check its columns against the call type (reads no rows)."""
    from cio_retl.project.contract import contract_hint, contract_problem, model_label
    from cio_retl.project.incremental import render_model
    from cio_retl.warehouse import open_warehouse

    results = []
    for name, sync in project.syncs.items():
        label = f"model of {name}"
        warehouse = open_warehouse(sync.warehouse, project.warehouses[sync.warehouse], project.root)
        try:
            schema = warehouse.schema(render_model(project.model_sql(name), last_sync_time=0), sync=name)
        except WarehouseError as exc:  # as `run` reports it: the model's own line, and the model file
            results.append(CheckResult(label, "fail", exc.in_model(model_label(sync)).detail, exc.hint))
            continue
        except CioRetlError as exc:
            results.append(CheckResult(label, "fail", exc.message, exc.hint))
            continue
        finally:
            warehouse.close()
        breach = contract_problem(sync, schema)
        results.append(CheckResult(label, "fail", breach, contract_hint(sync)) if breach else
                       CheckResult(label, "ok", f"{len(schema)} column(s): {', '.join(schema.names)}"))
    return results


def check_destination(destination: Destination) -> CheckResult:
    """Ask GET /api/v1/accounts/region with the credentials: are they valid, and for which region?"""
    result = _check_destination(destination)
    return CheckResult(_masked(result.name, destination), result.status, _masked(result.detail, destination),
                       result.hint and _masked(result.hint, destination))


def _masked(text: str, destination: Destination) -> str:
    """The text with destination.url's `user:password@` masked, wherever the URL or the password appears."""
    text = text.replace(destination.base_url, destination.shown_url)
    password = urlsplit(destination.base_url).password
    return mask_secret(text, password, "***") if password else text


def _check_destination(destination: Destination) -> CheckResult:
    label = f"Customer.io {destination.shown_url}"
    if destination.api == "pipelines":
        return check_write_key(destination, label)
    if not destination.site_id or not destination.api_key.get_secret_value():
        _, hint = auth_failure(destination, 401, RegionAnswer(None))
        return CheckResult(label, "fail", "site_id or api_key is not set", hint)
    answer = fetch_region(destination)
    if answer.status_code is None:
        return CheckResult(label, "fail", f"cannot reach it: {answer.error}",
                           "check the network, destination.url / CUSTOMERIO_TRACK_URL, or start the sandbox "
                           "(cio-retl sandbox serve)")
    if answer.status_code in (401, 403):
        message, hint = auth_failure(destination, answer.status_code, answer)
        return CheckResult(label, "fail", message, hint)
    if answer.status_code != 200:
        return CheckResult(label, "fail", f"GET /api/v1/accounts/region answered HTTP {answer.status_code}",
                           "check destination.url: it should be the Track API host")
    if answer.region and answer.region != destination.region:  # with a url override too: the data would go astray
        return CheckResult(label, "fail", f"the credentials belong to region '{answer.region}', "
                                          f"the project says '{destination.region}'", f"set region: {answer.region}")
    return CheckResult(label, "ok", f"Track API credentials valid (Site ID {destination.site_id}, "
                                    f"region '{answer.region or destination.region}')")


def check_write_key(destination: Destination, label: str) -> CheckResult:
    """An empty strict-mode /v1/batch: is the Data Pipelines write key accepted?"""
    answer = probe_write_key(destination)
    if answer.status_code is None:
        return CheckResult(label, "fail", f"cannot reach it: {answer.detail}",
                           "check the network, destination.url, or start the sandbox (cio-retl sandbox serve)")
    if answer.status_code in (401, 403):
        message, hint = pipelines_auth_failure(destination, answer.status_code)
        return CheckResult(label, "fail", message, hint)
    if answer.status_code >= 500 or answer.status_code == 404:
        return CheckResult(label, "fail", f"POST /v1/batch answered HTTP {answer.status_code}",
                           "check destination.url: it should be the Data Pipelines host (cdp.customer.io)")
    return CheckResult(label, "ok", f"Data Pipelines write key accepted (region '{destination.region}')")


def check_segment(destination: Destination, sync_name: str, segment_id: int) -> CheckResult:
    """Does the segment a segment sync fills exist, and is it a manual one? (removes an id nobody has)"""
    label = f"segment {segment_id} of {sync_name}"
    answer = probe_segment(destination, segment_id)
    if answer.status_code == 200:
        return CheckResult(label, "ok", "a manual segment: it takes members")
    if answer.status_code is None:
        return CheckResult(label, "fail", f"cannot reach it: {answer.detail}")
    endpoint = endpoint_for(segment_endpoint_name(segment_id, "remove", "id"))
    message, hint = whole_request_refused(endpoint, answer.status_code, answer.detail)
    return CheckResult(label, "fail", message, hint)


def print_checks(results: list[CheckResult], console: "Console") -> int:
    """Print the results for people; return the exit code (1 if any check failed)."""
    marks = {"ok": "[green]ok[/green]  ", "warn": "[yellow]warn[/yellow]", "fail": "[red]FAIL[/red]"}
    for result in results:
        console.print(f"{marks[result.status]} {result.name}: {result.detail}", highlight=False)
        if result.hint and result.status != "ok":
            console.print(f"     → {result.hint}", highlight=False)
    failed = sum(r.status == "fail" for r in results)
    console.print(f"{failed} problem(s) to fix" if failed else "all checks passed", highlight=False)
    return 1 if failed else 0
