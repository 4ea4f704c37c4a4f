"""`warehouses:` — the warehouse connections a project reads its models from."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr

from cio_retl.project.base import ProjectModel


class DuckDBWarehouse(ProjectModel):
    """A DuckDB database file (the laptop warehouse)."""

    type: Literal["duckdb"]
    path: str = Field(description="Path of the DuckDB file, relative to the project file. ':memory:' for tests.")
    batch_size: int = Field(50_000, gt=0, description="Rows per Arrow batch streamed from the warehouse.")


class PostgresWarehouse(ProjectModel):
    """PostgreSQL or Redshift through SQLAlchemy 2 and psycopg 3."""

    type: Literal["postgres"]
    url: SecretStr = Field(description="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host:5432/db.")
    schema_: str | None = Field(None, alias="schema", description="search_path for the models.")
    batch_size: int = Field(50_000, gt=0, description="About how many rows per Arrow batch.")
    read_with: Literal["copy", "cursor"] = Field(
        "copy", description="copy: COPY … TO STDOUT into Arrow (fast); cursor: a server-side cursor (Redshift).")


class SnowflakeWarehouse(ProjectModel):
    """Snowflake through snowflake-connector-python."""

    type: Literal["snowflake"]
    account: str = Field(description="Account identifier, e.g. xy12345.eu-west-1.")
    user: str = Field(description="Login name.")
    password: SecretStr | None = Field(None, description="Password; or use private_key_path.")
    private_key_path: str | None = Field(None, description="PEM private key for key-pair authentication.")
    warehouse: str | None = Field(None, description="Virtual warehouse to run the models on.")
    database: str | None = Field(None, description="Default database.")
    schema_: str | None = Field(None, alias="schema", description="Default schema.")
    role: str | None = Field(None, description="Role to assume.")
    host: str | None = Field(None, description="Override the host (proxies, fakesnow in tests).")
    port: int | None = Field(None, description="Override the port.")
    protocol: Literal["https", "http"] = Field("https", description="http only for local test servers.")


class BigQueryWarehouse(ProjectModel):
    """Google BigQuery through google-cloud-bigquery."""

    type: Literal["bigquery"]
    project: str = Field(description="GCP project that runs the queries.")
    location: str | None = Field(None, description="Dataset location, e.g. US or EU.")
    credentials_path: str | None = Field(None, description="Service-account JSON; default: application default credentials.")
    use_storage_api: bool = Field(True, description="Read results through the BigQuery Storage API (faster).")
    api_endpoint: str | None = Field(None, description="Override the REST endpoint (the emulator in tests).")


Warehouse = Annotated[
    DuckDBWarehouse | PostgresWarehouse | SnowflakeWarehouse | BigQueryWarehouse, Field(discriminator="type")
]
