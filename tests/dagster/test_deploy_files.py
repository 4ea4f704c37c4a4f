"""deploy/ cannot be built or applied here (no container runtime): keep its files consistent with each other and
with what the tests run — the Helm values say what deploy/dagster.yaml says, and the image runs the tested module."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from cio_retl.project import Destination

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_helm_values_configure_the_instance_of_deploy_dagster_yaml() -> None:
    instance = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    values = yaml.safe_load((DEPLOY / "helm-values.yaml").read_text())
    pools, runs = instance["concurrency"]["pools"], instance["concurrency"]["runs"]
    helm = values["concurrency"]
    assert helm["enabled"] is True
    assert helm["pools"]["granularity"] == pools["granularity"]
    assert helm["pools"]["defaultLimit"] == pools["default_limit"]
    assert helm["runs"]["maxConcurrentRuns"] == runs["max_concurrent_runs"]
    assert helm["runs"]["tagConcurrencyLimits"] == runs["tag_concurrency_limits"]
    custom = values["dagsterDaemon"]["runCoordinator"]["config"]["customRunCoordinator"]
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "CustomRunCoordinator"
    assert (custom["module"], custom["class"]) == (instance["run_coordinator"]["module"],
                                                   instance["run_coordinator"]["class"])
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"  # as the production test's URL
    # One run of the pool at a time is one delivery slot: the default of destination.concurrent_runs.
    assert pools["default_limit"] == Destination().concurrent_runs


def test_the_image_serves_the_tested_code_location_with_the_production_extras() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    [deployment] = yaml.safe_load((DEPLOY / "helm-values.yaml").read_text())["dagster-user-deployments"]["deployments"]
    module = "dagster_project.definitions"
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", module]
    assert f'"--module-name", "{module}"' in dockerfile
    assert re.search(r'pip install "\.\[production\]"', dockerfile)
    env = {item["name"]: item["value"] for item in deployment["env"]}
    assert env["CIO_RETL_CONFIG"] in dockerfile and env["CIO_RETL_WORK_DIR"] in dockerfile
