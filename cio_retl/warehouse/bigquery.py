"""BigQuery warehouse: google-cloud-bigquery, results streamed with to_arrow_iterable() (Storage API or REST pages)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from cio_retl.project import BigQueryWarehouse
from cio_retl.errors import WarehouseError
from cio_retl.warehouse.sql import limit_zero
from cio_retl.warehouse.types import normalize_batch, normalize_schema

# Decimals keep their exact Arrow type here; the shared normaliser (types.py) decides how they travel.
_SCALARS: dict[str, pa.DataType] = {
    "INTEGER": pa.int64(), "INT64": pa.int64(), "FLOAT": pa.float64(), "FLOAT64": pa.float64(),
    "NUMERIC": pa.decimal128(38, 9), "BIGNUMERIC": pa.decimal256(76, 38), "BOOLEAN": pa.bool_(), "BOOL": pa.bool_(),
    "STRING": pa.string(), "BYTES": pa.binary(), "DATE": pa.date32(), "DATETIME": pa.timestamp("us"),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"), "TIME": pa.time64("us"), "JSON": pa.json_(),
}
PAGE_SIZE = 50_000
RETRY_TIMEOUT_S = 120.0
_POSITION = re.compile(r"at \[(\d+):\d+\]")  # BigQuery: 'Unrecognized name: nope at [3:7]'
_MAX_MESSAGE = 500
_AUTH_ERRORS = ("RefreshError", "DefaultCredentialsError")  # google.auth's; imported lazily, so matched by name


def arrow_type(field: Any) -> pa.DataType:
    """The Arrow type of a BigQuery SchemaField (RECORD → struct, REPEATED → list)."""
    if field.field_type in ("RECORD", "STRUCT"):
        inner: pa.DataType = pa.struct([pa.field(f.name, arrow_type(f)) for f in field.fields])
    else:
        inner = _SCALARS.get(field.field_type, pa.string())
    return pa.list_(inner) if field.mode == "REPEATED" else inner


class BigQueryReader:
    """Streams a model's rows from BigQuery as Arrow record batches."""

    def __init__(self, name: str, config: BigQueryWarehouse, root: Path) -> None:
        self.name = name
        self.config = config
        self.root = root
        self._client: Any = None

    def __repr__(self) -> str:
        return f"BigQueryReader(name={self.name!r}, project={self.config.project!r})"

    def _connect(self, sync: str) -> Any:
        if self._client is None:
            from google.cloud import bigquery

            try:
                self._client = bigquery.Client(project=self.config.project, location=self.config.location,
                                               **self._auth())
            except Exception as exc:
                raise _translate(sync, self, exc, "cannot connect") from None
        return self._client

    def _auth(self) -> dict[str, Any]:
        """A service-account file if given, else anonymous against an api_endpoint (the emulator), else the
        application default credentials; api_endpoint, when set, replaces Google's REST endpoint."""
        auth: dict[str, Any] = {}
        if self.config.api_endpoint:
            from google.api_core.client_options import ClientOptions

            auth["client_options"] = ClientOptions(api_endpoint=self.config.api_endpoint)
        if self.config.credentials_path:
            from google.oauth2 import service_account

            path = self.root / self.config.credentials_path
            auth["credentials"] = service_account.Credentials.from_service_account_file(str(path))
        elif self.config.api_endpoint:
            from google.auth.credentials import AnonymousCredentials

            auth["credentials"] = AnonymousCredentials()
        return auth

    def _rows(self, sql: str, sync: str, params: Sequence[str] = ()) -> Any:
        client = self._connect(sync)
        try:
            from google.cloud.bigquery import DEFAULT_RETRY, QueryJobConfig, ScalarQueryParameter

            # Bounded: the client's default keeps retrying an unreachable endpoint for ten minutes.
            retry = DEFAULT_RETRY.with_timeout(RETRY_TIMEOUT_S)
            config = QueryJobConfig(query_parameters=[ScalarQueryParameter(f"k{i}", "STRING", value)
                                                      for i, value in enumerate(params)]) if params else None
            return client.query(sql, job_config=config, retry=retry).result(page_size=PAGE_SIZE, retry=retry)
        except Exception as exc:
            raise _translate(sync, self, exc, "query failed") from None

    def stream(self, sql: str, *, sync: str, params: Sequence[str] = ()) -> Iterator[pa.RecordBatch]:
        rows = self._rows(sql, sync, params)
        schema = pa.schema([pa.field(f.name, arrow_type(f)) for f in rows.schema])
        try:
            for batch in rows.to_arrow_iterable(bqstorage_client=self._storage_client()):
                if batch.num_rows:
                    yield normalize_batch(_cast(batch, schema))
        except WarehouseError:
            raise
        except Exception as exc:
            raise _translate(sync, self, exc, "reading results failed") from None

    def _storage_client(self) -> Any:
        """The BigQuery Storage API client (much faster for large results), or None for REST pages."""
        if not self.config.use_storage_api or self.config.api_endpoint:
            return None
        try:
            from google.cloud import bigquery_storage
        except ImportError:  # optional package: REST paging still works, only slower
            return None
        return bigquery_storage.BigQueryReadClient(credentials=self._client._credentials)

    def schema(self, sql: str, *, sync: str) -> pa.Schema:
        rows = self._rows(limit_zero(sql), sync)
        schema = pa.schema([pa.field(f.name, arrow_type(f)) for f in rows.schema])
        return normalize_schema(schema)

    def check(self) -> None:
        list(self._rows("SELECT 1", "doctor"))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _cast(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """JSON arrives as text and NUMERIC with its own width: cast each column to the schema's type."""
    columns = [column if column.type == field.type else column.cast(field.type)
               for column, field in zip(batch.columns, schema)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _translate(sync: str, reader: BigQueryReader, exc: Exception, what: str) -> WarehouseError:
    """One client error → one WarehouseError with a hint (the client's errors carry no secrets; key files
    are never echoed: google-auth names the problem, not the key)."""
    code = getattr(exc, "code", None)
    text = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)  # RefreshError's args: (text, body)
    message = _message(getattr(exc, "message", None) or text or type(exc).__name__)
    if code == 400 and (position := _POSITION.search(message)):
        message += f" at line {position.group(1)}"  # the model runs as written, so its lines are the model file's
    if type(exc).__name__ in _AUTH_ERRORS or (isinstance(exc, (OSError, ValueError)) and what == "cannot connect"):
        code, what = 401, "authentication failed"
        message = f"{type(exc).__name__}: {message}"
    hint = {401: "check credentials_path (a service-account JSON key) or the application default credentials "
                 "(`gcloud auth application-default login`)",
            403: "the credentials lack permission, or the dataset does not exist: grant BigQuery Job User on the "
                 "project and Data Viewer on the data, and check the dataset's name",
            404: "the model reads a dataset or table that does not exist: check its name, project and location",
            400: "fix the model SQL and rerun"}.get(code, "check project, location and credentials, then rerun")
    return WarehouseError(sync, reader.name, f"{what}: {message}", hint=hint)


def _message(text: str) -> str:
    """The client's message up to its '; reason: …' repeat and its 'Location / Job ID' footer, on one line."""
    first = text.strip().split("; reason:")[0].split("\n\n")[0]
    return " ".join(line.strip() for line in first.splitlines() if line.strip())[:_MAX_MESSAGE]
