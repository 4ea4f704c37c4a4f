"""Writes the configuration reference of README.md from the pydantic models' field descriptions."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel

from cio_retl.project import (ActionOverride, Alerts, BigQueryWarehouse, DagsterSettings, Destination, DuckDBWarehouse,
                              PostgresWarehouse, Project, SlackAlert, SnowflakeWarehouse, Sync, WebhookAlert, Writeback)

BEGIN, END = "<!-- config-reference:begin -->", "<!-- config-reference:end -->"
SECTIONS = [("Top level", Project), ("`warehouses.<name>` with `type: duckdb`", DuckDBWarehouse),
            ("`type: postgres`", PostgresWarehouse), ("`type: snowflake`", SnowflakeWarehouse),
            ("`type: bigquery`", BigQueryWarehouse), ("`destination`", Destination), ("`syncs.<name>`", Sync),
            ("`actions.<slug>`", ActionOverride), ("`dagster`", DagsterSettings), ("`alerts`", Alerts),
            ("`alerts.webhook`", WebhookAlert), ("`alerts.slack`", SlackAlert), ("`writeback`", Writeback)]


def _default(field) -> str:
    if field.is_required():
        return "required"
    value = field.default if field.default_factory is None else field.default_factory()
    if value is None or value == {} or isinstance(value, BaseModel):
        return ""
    if hasattr(value, "get_secret_value"):
        return ""
    return f"`{value}`"


def section(title: str, model: type[BaseModel]) -> str:
    lines = [f"#### {title}", "", "| setting | default | meaning |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        if field.exclude or name == "type":
            continue
        lines.append(f"| `{field.alias or name}` | {_default(field)} | {field.description or ''} |")
    return "\n".join(lines)


def reference() -> str:
    return "\n\n".join(section(title, model) for title, model in SECTIONS)


def update(readme: Path) -> bool:
    """Rewrite the block between the markers; return True if it changed."""
    text = readme.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:start] + "\n" + reference() + "\n" + text[end:]
    if new != text:
        readme.write_text(new)
    return new != text


if __name__ == "__main__":
    changed = update(Path(__file__).resolve().parents[1] / "README.md")
    print("README.md updated" if changed else "README.md already up to date")
    sys.exit(0)
