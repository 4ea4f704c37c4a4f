"""`writeback:` — the sync log (runs and per-key changes) written into one of the project's warehouses."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from cio_retl.project.base import ProjectModel

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Writeback(ProjectModel):
    """After each real run, `<schema>.sync_runs` and `<schema>.sync_changelog` in a named warehouse."""

    warehouse: str = Field(description="A name under `warehouses:`; its own client writes the tables (DuckDB, "
                           "PostgreSQL, Snowflake, BigQuery — there the schema is a dataset).")
    schema_: str = Field("cio_retl", alias="schema", description="Schema (BigQuery: dataset) of the two tables; "
                         "created when missing.")
    retention_days: int = Field(7, ge=1, description="Rows older than this are deleted by the next run's writeback.")
    values: bool = Field(False, description="Also write the attribute values sent (personal data) as JSON; "
                         "default: only the attribute names.")

    @field_validator("schema_")
    @classmethod
    def _plain_identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError("must be a plain identifier (letters, digits, underscores)")
        return value
