"""Regenerates docs/img/dagster_dbt_lineage.png: the dbt example's asset graph (dbt → Customer.io) in the Dagster UI.

    .venv/bin/python scripts/docs_screenshots.py

Copies examples/dbt_duckdb to a temporary folder, materializes it once (dbt build, then the sync into a local
sandbox) so the graph shows real statuses, serves it with dagster-webserver and photographs the Lineage page in
headless Debian Chromium (scripts/ci_browser_deps.sh installs it).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cio_retl.sandbox import serve_sandbox  # noqa: E402
from tests.dagster.ui_server import BIN, browser_page, dagster_services, open_page  # noqa: E402

OUT = REPO / "docs" / "img" / "dagster_dbt_lineage.png"
SITE_ID, KEY = "docs-site", "docs-key"


def materialize_once(example: Path, home: Path) -> None:
    """dbt build and the people sync, recorded in the instance the webserver will read."""
    import importlib.util

    import dagster as dg

    spec = importlib.util.spec_from_file_location("docs_example", example / "definitions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    defs = module.defs
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = dg.materialize(list(defs.assets), resources=defs.resources, instance=instance)
        assert result.success, "materializing the dbt example failed"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, serve_sandbox(site_id=SITE_ID, api_key=KEY) as sandbox:
        root = Path(tmp)
        example = root / "example"
        shutil.copytree(REPO / "examples" / "dbt_duckdb", example,
                        ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*", ".cio_retl"))
        (root / "home").mkdir()
        (root / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        os.environ.update(PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", DAGSTER_HOME=str(root / "home"),
                          CUSTOMERIO_SITE_ID=SITE_ID, CUSTOMERIO_TRACK_API_KEY=KEY, CUSTOMERIO_TRACK_URL=sandbox.url,
                          DAGSTER_DISABLE_TELEMETRY="1")
        materialize_once(example, root / "home")
        target = ["-f", str(example / "definitions.py"), "-d", str(example)]
        with dagster_services(target, dict(os.environ), root, ["definitions.py"], daemon=False) as url, \
                browser_page() as page:
            open_page(page, f"{url}/assets/customerio/people?view=lineage&lineageScope=upstream&lineageDepth=5")
            page.get_by_text("dim_users").first.wait_for(timeout=60_000)
            page.get_by_text("Materialized").nth(2).wait_for(timeout=60_000)  # all three nodes' statuses
            page.wait_for_timeout(2_000)  # the graph lays itself out and fits the view
            OUT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(OUT))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
