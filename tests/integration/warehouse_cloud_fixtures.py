"""Session fixtures for the cloud warehouses (fakesnow's server, bqemulator) and helpers to load data into them.

Reuse from any test module under tests/integration (tests/integration/conftest.py star-imports this module):

    snowflake_server                       fixture: connection kwargs of the fakesnow server (one per session)
    snowflake_warehouse_config(server, database, schema)  the `warehouses:` entry for a project file
    run_snowflake(server, database, sql)   run `;`-separated statements (setup, changes between runs)
    load_snowflake(server, database, name, table)          create a table from a pyarrow table

    bigquery_endpoint                      fixture: REST URL of the bqemulator server (its pytest plugin)
    bigquery_warehouse_config(endpoint)    the `warehouses:` entry (anonymous, Storage API off)
    run_bigquery(endpoint, sql)            run `;`-separated statements
    load_bigquery(endpoint, dataset, name, table)          create a table from a pyarrow table

    every_type_table()                     two rows of every type the warehouses map (second row all NULL)
    write_project(root, warehouse, syncs, models)          a loaded Project with one warehouse `wh`

Two local patches keep the emulators honest, both applied only while the session's servers run:
fakesnow's server returns a NULL TIMESTAMP_* as 1970-01-01 (its Arrow struct has no null mask), and it accepts
any password, so logins with REJECTED_PASSWORD get Snowflake's own 390100 answer. The same hook keeps what each
login sent in SNOWFLAKE_LOGINS (fakesnow verifies no key-pair JWT; tests verify it against the public key).
"""

from __future__ import annotations

import gzip
import importlib
import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from cio_retl.project import Project, load_project

__all__ = ["REJECTED_PASSWORD", "SNOWFLAKE_LOGINS", "SNOWFLAKE_SCHEMA", "bigquery_endpoint", "bigquery_warehouse_config", "load_bigquery",
           "every_type_table", "load_snowflake", "run_bigquery", "run_snowflake", "snowflake_server",
           "snowflake_warehouse_config", "write_project"]

SNOWFLAKE_SCHEMA = "S1"
REJECTED_PASSWORD = "rejected-password-5up3r-s3cret"
SNOWFLAKE_LOGINS: list[dict[str, Any]] = []  # the `data` of each login request the server received, in order
_LOGIN_PATH = "/session/v1/login-request"


# ------------------------------------------------------------------------------------------------ Snowflake


@pytest.fixture(scope="session")
def snowflake_server() -> Iterator[dict[str, Any]]:
    """fakesnow's server: the real snowflake-connector-python talks HTTP to it on loopback."""
    import fakesnow

    start = fakesnow.server  # importing the fakesnow.server module replaces this attribute with the module
    if not callable(start):
        pytest.fail("fakesnow.server() can start only once per process; use this session fixture")
    with start() as kwargs:
        undo = _patch_fakesnow(importlib.import_module("fakesnow.server"), importlib.import_module("fakesnow.arrow"))
        try:
            # The yielded network_timeout of 1 s fails slow statements; the readers set their own.
            yield {**kwargs, "network_timeout": 60}
        finally:
            undo()


def _patch_fakesnow(server: Any, arrow: Any) -> Any:
    """Apply the two test patches; return a function that removes them."""
    original_struct, original_login = arrow.timestamp_to_sf_struct, server.login_request

    def timestamp_struct(ts: pa.Array | pa.ChunkedArray) -> pa.Array:
        ts = ts.combine_chunks() if isinstance(ts, pa.ChunkedArray) else ts
        if not ts.null_count:
            return original_struct(ts)
        filled = original_struct(ts.fill_null(pa.scalar(0, ts.type)))
        return pa.StructArray.from_arrays([filled.field(i) for i in range(filled.type.num_fields)],
                                          fields=list(filled.type), mask=ts.is_null())

    async def login(request: Any) -> Any:
        from starlette.responses import JSONResponse

        body = await request.body()  # cached on the request, so the original handler can read it again
        body = gzip.decompress(body) if request.headers.get("Content-Encoding") == "gzip" else body
        SNOWFLAKE_LOGINS.append(json.loads(body)["data"])
        if json.loads(body)["data"].get("PASSWORD") == REJECTED_PASSWORD:
            return JSONResponse({"data": None, "code": "390100", "success": False,
                                 "message": "Incorrect username or password was specified."})
        return await original_login(request)

    arrow.timestamp_to_sf_struct = timestamp_struct
    routes = server.app.router.routes
    index = next(i for i, route in enumerate(routes) if getattr(route, "path", "") == _LOGIN_PATH)
    original_route = routes[index]
    from starlette.routing import Route

    routes[index] = Route(_LOGIN_PATH, login, methods=["POST"])

    def undo() -> None:
        arrow.timestamp_to_sf_struct = original_struct
        routes[index] = original_route

    return undo


def snowflake_warehouse_config(server: dict[str, Any], database: str, schema: str = SNOWFLAKE_SCHEMA,
                               **overrides: Any) -> dict[str, Any]:
    """The `warehouses:` entry of a project file pointing at the fakesnow server."""
    return {"type": "snowflake", "account": server["account"], "user": server["user"], "password": server["password"],
            "host": server["host"], "port": server["port"], "protocol": "http", "database": database,
            "schema": schema, **overrides}


def run_snowflake(server: dict[str, Any], database: str, sql: str, schema: str = SNOWFLAKE_SCHEMA) -> None:
    """Run `;`-separated statements on the fakesnow server (no `;` inside string literals)."""
    import snowflake.connector

    con = snowflake.connector.connect(**server, database=database, schema=schema)
    try:
        for statement in filter(str.strip, sql.split(";")):
            con.cursor().execute(statement)
    finally:
        con.close()


def load_snowflake(server: dict[str, Any], database: str, name: str, table: pa.Table,
                   schema: str = SNOWFLAKE_SCHEMA) -> None:
    """Create table `name` with the Snowflake types of `table`'s columns and insert its rows."""
    columns = ", ".join(f"{f.name} {_snowflake_type(f.type)}" for f in table.schema)
    rows = " UNION ALL ".join("SELECT " + ", ".join(_literal(v, f.type, "snowflake") for v, f in zip(row, table.schema))
                              for row in _rows(table))
    run_snowflake(server, database, f"CREATE OR REPLACE TABLE {name} ({columns})" + (
        f"; INSERT INTO {name} {rows}" if rows else ""), schema)


def _snowflake_type(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "NUMBER(38, 0)"
    if pa.types.is_decimal(t):
        return f"NUMBER({t.precision}, {t.scale})"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP_TZ" if t.tz else "TIMESTAMP_NTZ"
    if isinstance(t, pa.JsonType):
        return "VARIANT"
    if pa.types.is_list(t):
        return "ARRAY"
    return _COMMON_TYPES[_kind(t)]


# ------------------------------------------------------------------------------------------------- BigQuery


def _patch_bqemulator_offline() -> None:
    """DuckDB's spatial extension cannot be downloaded here, and multipart uploads send media as '*/*'."""
    try:
        from bqemulator.api.routes import upload
        from bqemulator.storage import engine
    except ImportError:
        return
    engine.DuckDBEngine._load_spatial = lambda self: None
    if "*/*" not in upload._PERMITTED_MEDIA_CONTENT_TYPES:
        upload._PERMITTED_MEDIA_CONTENT_TYPES = upload._PERMITTED_MEDIA_CONTENT_TYPES + ("*/*",)


@pytest.fixture(scope="session")
def bigquery_endpoint(bqemu_endpoint: Any) -> str:
    """bqemulator's REST endpoint; its pytest plugin runs the server in-process for the session."""
    return bqemu_endpoint.rest_url


# At import, i.e. before the plugin's bqemu_server fixture creates the emulator's engine.
_patch_bqemulator_offline()


def bigquery_warehouse_config(endpoint: str, **overrides: Any) -> dict[str, Any]:
    """The `warehouses:` entry of a project file pointing at the emulator (no Storage API there)."""
    return {"type": "bigquery", "project": "local", "api_endpoint": endpoint, "use_storage_api": False, **overrides}


def run_bigquery(endpoint: str, sql: str) -> None:
    """Run `;`-separated statements on the emulator through the real client (no `;` inside literals)."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    client = bigquery.Client(project="local", credentials=AnonymousCredentials(),
                             client_options=ClientOptions(api_endpoint=endpoint))
    try:
        for statement in filter(str.strip, sql.split(";")):
            client.query(statement).result()
    finally:
        client.close()


def load_bigquery(endpoint: str, dataset: str, name: str, table: pa.Table) -> None:
    """Create `dataset.name` with the BigQuery types of `table`'s columns and insert its rows."""
    columns = ", ".join(f"{f.name} {_bigquery_type(f.type)}" for f in table.schema)
    rows = ", ".join("(" + ", ".join(_literal(v, f.type, "bigquery") for v, f in zip(row, table.schema)) + ")"
                     for row in _rows(table))
    run_bigquery(endpoint, f"CREATE SCHEMA IF NOT EXISTS {dataset}; DROP TABLE IF EXISTS {dataset}.{name}; "
                           f"CREATE TABLE {dataset}.{name} ({columns})"
                           + (f"; INSERT INTO {dataset}.{name} VALUES {rows}" if rows else ""))


def _bigquery_type(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "INT64"
    if pa.types.is_decimal(t):
        return "NUMERIC"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP" if t.tz else "DATETIME"
    if isinstance(t, pa.JsonType):
        return "JSON"
    if pa.types.is_list(t):
        return f"ARRAY<{_bigquery_type(t.value_type)}>"
    return {"float": "FLOAT64", "bool": "BOOL", "string": "STRING", "date": "DATE"}[_kind(t)]


# ------------------------------------------------------------------------------------------------ shared


def every_type_table() -> pa.Table:
    """Two rows covering every type the issue names; the second row is NULL in every column but the key."""
    plus2 = timezone(timedelta(hours=2))
    return pa.table({
        "id": pa.array([1, 2], pa.int64()),
        "small": pa.array([7, None], pa.int16()),
        "price": pa.array([Decimal("12.50"), None], pa.decimal128(10, 2)),
        "ratio": pa.array([0.25, None], pa.float64()),
        "flag": pa.array([True, None], pa.bool_()),
        "name": pa.array(["Zoë", None], pa.string()),
        "born": pa.array([date(1990, 5, 17), None], pa.date32()),
        "seen_at": pa.array([datetime(2024, 1, 2, 3, 4, 5, 678901), None], pa.timestamp("us")),
        "paid_at": pa.array([datetime(2024, 1, 2, 5, 4, 5, tzinfo=plus2), None], pa.timestamp("us", tz="+02:00")),
        "attrs": pa.array(['{"n":[1,2],"tier":"gold"}', None], pa.json_()),
        "tags": pa.array([["a", "b"], None], pa.list_(pa.string())),
    })


def write_project(root: Path, warehouse: dict[str, Any], syncs: dict[str, dict[str, Any]],
                  models: dict[str, str] | None = None) -> Project:
    """A project file in `root` with one warehouse `wh`, the given syncs and sql/ model files; loaded."""
    (root / "sql").mkdir(exist_ok=True)
    for name, sql in (models or {}).items():
        (root / "sql" / name).write_text(sql)
    (root / "cio_retl.yaml").write_text(yaml.safe_dump({
        "state": "state", "warehouses": {"wh": warehouse}, "destination": {"site_id": "s", "api_key": "k"},
        "syncs": {name: {"warehouse": "wh", **spec} for name, spec in syncs.items()}}))
    return load_project(root / "cio_retl.yaml")


# ------------------------------------------------------------------------------------------------- literals

_COMMON_TYPES = {"float": "FLOAT", "bool": "BOOLEAN", "string": "VARCHAR", "date": "DATE"}


def _kind(t: pa.DataType) -> str:
    for kind, test in (("float", pa.types.is_floating), ("bool", pa.types.is_boolean), ("string", pa.types.is_string),
                       ("date", pa.types.is_date)):
        if test(t):
            return kind
    raise TypeError(f"no test-table mapping for Arrow type {t}")


def _rows(table: pa.Table) -> Iterator[tuple[Any, ...]]:
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return zip(*columns)


def _literal(value: Any, t: pa.DataType, dialect: str) -> str:
    """A SQL literal of `value`, typed explicitly so NULLs and JSON keep their column's type."""
    if value is None:
        return "NULL"
    if isinstance(t, pa.JsonType):
        text = _quote(value if isinstance(value, str) else json.dumps(value))
        return f"PARSE_JSON({text})" if dialect == "snowflake" else f"JSON {text}"
    if pa.types.is_list(t):
        items = ", ".join(_literal(v, t.value_type, dialect) for v in value)
        return f"ARRAY_CONSTRUCT({items})" if dialect == "snowflake" else f"[{items}]"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, Decimal):
        return f"NUMERIC '{value}'" if dialect == "bigquery" else str(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, datetime):
        text = value.isoformat(sep=" ")
        return f"'{text}'::{_snowflake_type(t)}" if dialect == "snowflake" else f"{_bigquery_type(t)} '{text}'"
    if isinstance(value, date):
        return f"'{value.isoformat()}'::DATE" if dialect == "snowflake" else f"DATE '{value.isoformat()}'"
    return _quote(str(value))


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
