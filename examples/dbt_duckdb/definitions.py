"""A code location with a dbt project on DuckDB and the cio-retl sync downstream of the model it builds.

    dagster dev -f examples/dbt_duckdb/definitions.py      (or `dagster definitions validate -f …`)
"""

from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from cio_retl.project import load_project
from dagster_project import build_definitions

HERE = Path(__file__).resolve().parent
analytics = DbtProject(project_dir=HERE / "dbt")
if not analytics.manifest_path.exists():
    analytics.preparer.prepare(analytics)  # dbt parse: the manifest the asset graph is read from
analytics.prepare_if_dev()  # `dagster dev` parses again at each load, so model edits show up


@dbt_assets(manifest=analytics.manifest_path)
def analytics_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()


# The project loaded without its secrets, as dagster_project.definitions does: each run reads it again, with them.
defs = dg.Definitions.merge(
    dg.Definitions(assets=[analytics_models], resources={"dbt": DbtCliResource(project_dir=analytics)}),
    build_definitions(load_project(HERE / "cio_retl.yaml", credentials="none"), HERE / "cio_retl.yaml"),
)
