"""The project file (`cio_retl.yaml`) as pydantic models: load, interpolate `${VAR}`, validate all at once."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import (BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator,
                      model_validator)

from cio_retl.project.checks import name_problems, reference_problems, setting_location
from cio_retl.project.env import SECRET_SETTINGS, Credentials, apply_destination_env, interpolate
from cio_retl.actions.catalog import UI_ONLY_FIELDS
from cio_retl.errors import ConfigError
from cio_retl.suggest import did_you_mean
from cio_retl.validation_messages import describe
from cio_retl.state.objectstore import is_remote, url_problem

DEFAULT_CONFIG = "cio_retl.yaml"
CONFIG_ENV = "CIO_RETL_CONFIG"
TRACK_HOSTS = {"us": "https://track.customer.io", "eu": "https://track-eu.customer.io"}
_REFERENCES_CHECKED = "references_checked"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- warehouses


class DuckDBWarehouse(_Model):
    """A DuckDB database file (the laptop warehouse)."""

    type: Literal["duckdb"]
    path: str = Field(description="Path of the DuckDB file, relative to the project file. ':memory:' for tests.")
    batch_size: int = Field(50_000, gt=0, description="Rows per Arrow batch streamed from the warehouse.")


class PostgresWarehouse(_Model):
    """PostgreSQL or Redshift through SQLAlchemy 2 and psycopg 3."""

    type: Literal["postgres"]
    url: SecretStr = Field(description="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host:5432/db.")
    schema_: str | None = Field(None, alias="schema", description="search_path for the models.")
    batch_size: int = Field(50_000, gt=0, description="About how many rows per Arrow batch.")
    read_with: Literal["copy", "cursor"] = Field(
        "copy", description="copy: COPY … TO STDOUT into Arrow (fast); cursor: a server-side cursor (Redshift).")


class SnowflakeWarehouse(_Model):
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


class BigQueryWarehouse(_Model):
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

# ---------------------------------------------------------------- destination


class Destination(_Model):
    """Where operations go: a Customer.io workspace's Track API."""

    region: Literal["us", "eu"] = Field("us", description="Account region: us (track.customer.io) or eu (any case).")
    site_id: str = Field("", description="Site ID of the workspace's Track API credentials.")
    api_key: SecretStr = Field(SecretStr(""), description="Track API key (not an App API key).")
    url: str | None = Field(None, description="Base-URL override, e.g. the local sandbox.")
    requests_per_second: float = Field(100, gt=0, description="The workspace's request-rate budget, shared by every "
                                       "run sending to it at the same time.")
    concurrent_runs: int = Field(1, ge=1, le=32, description="Runs that may send to this workspace at once; each gets "
                                 "requests_per_second / concurrent_runs, and more wait. Set the Dagster pool limit "
                                 "to the same number.")
    max_concurrency: int = Field(8, ge=1, le=64, description="Requests in flight at once.")
    timeout_s: float = Field(30, gt=0, description="Per-request timeout in seconds.")
    max_attempts: int = Field(6, ge=1, le=20, description="Attempts per request before rows are left pending.")
    max_batch_operations: int | None = Field(None, ge=1, description="Cap on operations per /api/v2/batch "
                                             "request; default none: bodies are filled to the 500 KB limit.")

    @field_validator("url", mode="before")
    @classmethod
    def _blank_url_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("region", mode="before")
    @classmethod
    def _region_any_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def base_url(self) -> str:
        """The Track API base URL: the override, else the region's host."""
        return (self.url or TRACK_HOSTS[self.region]).rstrip("/")

    @property
    def shown_url(self) -> str:
        """base_url for people to read: a `user:password@` in the override is masked."""
        parts = urlsplit(self.base_url)
        if parts.username is None and parts.password is None:
            return self.base_url
        return urlunsplit(parts._replace(netloc="***:***@" + parts.netloc.rpartition("@")[2]))


# ---------------------------------------------------------------- syncs and actions

CallType = Literal["identify", "group", "track", "page", "screen", "alias"]
SyncMode = Literal["upsert", "mirror", "append"]


class Sync(_Model):
    """One SQL model, one warehouse, one call type, one mode."""

    warehouse: str = Field(description="Name of a warehouse under `warehouses`.")
    model: str | None = Field(None, description="SQL file under sql/, relative to the project file.")
    query: str | None = Field(None, description="Inline SELECT (instead of model).")
    table: str | None = Field(None, description="A table or view to read whole (instead of model).")
    primary_key: str | list[str] = Field(description="Column(s) that identify a row.")
    type: CallType = Field(description="Segment-spec call each row becomes.")
    mode: SyncMode = Field("upsert", description="upsert: send adds/changes; mirror: also deletes; append: adds only.")
    event: str | None = Field(None, description="Event name for track syncs whose model has no `event` column.")
    schedule: str | None = Field(None, description="Cron schedule for Dagster, e.g. '0 * * * *'.")
    partition_by: str | None = Field(None, description="Timestamp column for daily partitions (track syncs).")
    partition_start: date | None = Field(None, description="First daily partition (with partition_by).")
    max_delete_fraction: float = Field(0.2, ge=0, le=1, description="Mirror runs deleting more of the snapshot fail.")
    convert_timestamps: bool = Field(True, description="Send timestamp attributes as Unix seconds.")
    nulls: Literal["clear", "skip"] = Field("clear", description="A NULL attribute: clear sends null (Customer.io "
                                            "clears it), skip leaves it out of the operation.")
    max_clear_fraction: float = Field(0.2, ge=0, le=1, description="A run that would set one attribute to null "
                                      "for more of the rows it sends (where it was set) fails; --allow-clear.")
    after: list[str] = Field(default_factory=list, description="Syncs this one runs after, beyond the built-in "
                             "order (objects and people, then relationships, then events).")
    description: str | None = Field(None, description="Shown in Dagster and `status`.")
    upstream: str | list[str] | list[list[str]] | None = Field(
        None, description="Dagster asset key(s) the model reads, e.g. the dbt model that builds its table: "
        "`analytics/dim_users`, `[analytics, dim_users]` (one key), or a list of keys `[[dim_users], [dim_orders]]`; "
        "`[]` for none. Default: an external asset `warehouse/<warehouse>/<model>`.")
    automation: str | None = Field(
        None, description="Dagster Declarative Automation instead of `schedule`: `eager` (after an upstream "
        "asset updates), `on_missing`, or `on_cron <cron>` (e.g. `on_cron 0 6 * * *`: after the tick, once "
        "the upstream has updated).")

    @field_validator("primary_key")
    @classmethod
    def _key_not_empty(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and (not value or len(set(value)) != len(value)):
            raise ValueError("must be one column or a non-empty list of distinct columns")
        return value

    @model_validator(mode="after")
    def _one_source_and_sane_mode(self) -> Sync:
        problems = sync_rule_problems(self.model_dump())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_validator("upstream")
    @classmethod
    def _upstream_keys_well_formed(cls, value: str | list[Any] | None) -> str | list[Any] | None:
        for key in _upstream_keys(value) or []:
            if not key or not all(isinstance(part, str) and part for part in key):
                raise ValueError("asset keys must be non-empty names, e.g. analytics/dim_users or "
                                 "[analytics, dim_users]")
        return value

    @property
    def upstream_keys(self) -> list[list[str]] | None:
        """The upstream asset keys as lists of path parts; None when `upstream` is not set."""
        return _upstream_keys(self.upstream)

    @property
    def key_columns(self) -> list[str]:
        """The primary key as a list of column names."""
        return [self.primary_key] if isinstance(self.primary_key, str) else list(self.primary_key)


def _upstream_keys(value: str | list[Any] | None) -> list[list[str]] | None:
    """'a/b' → [[a, b]]; [a, b] → [[a, b]] (one key as its path); [[a, b], [c]] → itself."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value.split("/")]
    if value and all(isinstance(part, str) for part in value):
        return [list(value)]
    return [part.split("/") if isinstance(part, str) else list(part) for part in value]


AUTOMATION = re.compile(r"^(eager|on_missing|on_cron\s+\S+(\s+\S+){4})$")


def sync_rule_problems(spec: dict[str, Any]) -> list[str]:
    """Rules across a sync's fields; run on raw dicts too, so they are reported beside field errors."""
    problems = []
    sources = [name for name in ("model", "query", "table") if spec.get(name)]
    if len(sources) != 1:
        problems.append(f"set exactly one of model, query, table (found {', '.join(sources) or 'none'})")
    kind, mode = spec.get("type"), spec.get("mode", "upsert")
    if mode == "mirror" and kind not in ("identify", "group"):
        problems.append(f"mode 'mirror' needs type identify or group (deletes exist only for those), not {kind}")
    if spec.get("partition_by") and kind not in ("track", "page", "screen"):
        problems.append("partition_by is for event syncs (track, page, screen)")
    return problems + _automation_problems(spec)


def _automation_problems(spec: dict[str, Any]) -> list[str]:
    automation = spec.get("automation")
    if automation is None:
        return []
    if not isinstance(automation, str) or not AUTOMATION.match(automation.strip()):
        return [f"automation must be 'eager', 'on_missing' or 'on_cron <cron>' (five cron fields, e.g. "
                f"'on_cron 0 6 * * *'), not {automation!r}"]
    problems = []
    if spec.get("schedule"):
        problems.append("set either schedule (a cron job) or automation (Declarative Automation), not both")
    if spec.get("partition_by"):
        problems.append("automation would run only the latest day of a partitioned sync: use schedule (its runs "
                        "are incremental) and backfills, or drop partition_by")
    return problems


class ActionOverride(_Model):
    """Changes to one Journeys destination action: its trigger, some mappings, or disabling it."""

    enabled: bool = Field(True, description="false turns the action off.")
    trigger: str | None = Field(None, description="Replaces the default trigger, e.g. 'type = \"track\"'.")
    mapping: dict[str, Any] = Field(default_factory=dict, description="Field → expression, merged over the defaults.")
    enable_batching: Any = Field(None, exclude=True, description="Accepted (Customer.io's UI has it, also inside "
                                 "`mapping`) and ignored: cio-retl batches every action itself.")
    batch_size: Any = Field(None, exclude=True, description="Accepted and ignored, like `enable_batching`.")

    @model_validator(mode="before")
    @classmethod
    def _lift_ui_fields(cls, data: Any) -> Any:
        """UI-only fields pasted among the mapping's fields are taken out of it (they decide nothing here)."""
        if isinstance(data, dict) and isinstance(data.get("mapping"), dict):
            mapping = dict(data["mapping"])
            lifted = {name: mapping.pop(name) for name in UI_ONLY_FIELDS if name in mapping}
            data = {**lifted, **data, "mapping": mapping}
        return data

    @property
    def ignored(self) -> list[str]:
        """The UI-only fields this override was given (for `validate`'s note)."""
        return [name for name in UI_ONLY_FIELDS if getattr(self, name) is not None]


class DagsterSettings(_Model):
    """How the Dagster code location (dagster_project/) shows and runs the syncs."""

    schedules_running: bool = Field(False, description="Create schedules and automation sensors running; "
                                    "false: stopped until turned on in the UI (Automation).")
    rejection_rate_warn: float = Field(0.05, ge=0, le=1, description="The `rejection_rate` check warns above "
                                       "this share of a run's operations rejected.")
    pool: str = Field("customerio", min_length=1, description="Concurrency pool of every sync asset: one per "
                      "Customer.io workspace (see docs/dagster.md, Concurrency).")
    partition_start: date = Field(date(2024, 1, 1), description="First daily partition of syncs with "
                                  "partition_by and no partition_start (a fixed date, so partitions never drift).")
    sample_operations: bool = Field(False, description="Put a run's first operations (people's attributes) "
                                    "into the asset's metadata; off: counts only, no personal data.")


class Project(_Model):
    """A whole project file."""

    state: str = Field(".cio_retl", description="Where each sync's state lives: a folder (per sync a DuckDB file, a run "
                       "log folder and a lock file), or object storage: s3://bucket/prefix, gs://bucket/prefix, "
                       "az://container/prefix (credentials from the cloud's environment; see docs/state.md).")
    state_lease_s: float = Field(60, ge=1, description="Object-storage state: how long a run's lease on a sync lasts "
                                 "unrenewed (renewed every third of it); a crashed run's sync is taken over after it.")
    history_runs: int = Field(10, ge=1, description="Runs whose rows and operations `cio-retl explain` can show; "
                              "older ones are pruned from the run log.")
    memory_limit: str = Field("auto", description="DuckDB memory for the extract, diff and operations; more spills "
                              "to disk. `auto`: 192MB plus 13 bytes per row of the sync's snapshot, up to 1GB or a "
                              "quarter of the machine's memory. Or a size (e.g. 2GB) for speed on very large tables.")
    warehouses: dict[str, Warehouse] = Field(description="Named warehouse connections.")
    destination: Destination = Field(default_factory=Destination, description="The Customer.io workspace.")
    syncs: dict[str, Sync] = Field(description="Named syncs.")
    actions: dict[str, ActionOverride] = Field(default_factory=dict, description="Overrides of destination actions.")
    dagster: DagsterSettings = Field(default_factory=DagsterSettings, description="Settings of the Dagster code "
                                     "location (see below).")
    root: Path = Field(Path("."), exclude=True, description="Folder of the project file (set by load_project).")

    @field_validator("state")
    @classmethod
    def _state_is_a_folder_or_a_bucket(cls, value: str) -> str:
        problem = url_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _references_resolve(self, info: ValidationInfo) -> Project:
        if (info.context or {}).get(_REFERENCES_CHECKED):  # load_project checked them, with everything else
            return self
        problems = name_problems(self.syncs, self.warehouses)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def state_location(self) -> Path | str:
        """The state: an object-storage URL as written, or the folder's absolute path."""
        return self.state if is_remote(self.state) else self.resolve(self.state)

    def state_path(self) -> Path:
        """Absolute path of the state folder (a project whose state is on object storage has none)."""
        if is_remote(self.state):
            raise ConfigError(f"state: {self.state} is on object storage, not a folder",
                              hint="this command needs a local state folder")
        return self.resolve(self.state)

    def resolve(self, relative: str) -> Path:
        """A path from the project file, made absolute against the project folder."""
        path = Path(relative)
        return path if path.is_absolute() else (self.root / path)

    def sync(self, name: str) -> Sync:
        """A sync by name, or a ConfigError listing the known ones."""
        if name not in self.syncs:
            raise ConfigError(f"no sync named '{name}'", hint=f"known syncs: {', '.join(self.syncs)}")
        return self.syncs[name]

    def model_sql(self, name: str) -> str:
        """The SELECT a sync runs: its model file, inline query, or `SELECT * FROM table`."""
        sync = self.sync(name)
        if sync.query:
            return sync.query
        if sync.table:
            return f"SELECT * FROM {sync.table}"
        return self.resolve(sync.model).read_text()

    def config_hash(self, name: str) -> str:
        """`<content>.<triggers>`: a hash of what decides a sync's operations (model SQL, key, type, mode, event,
        timestamp conversion, action mappings), then one of which actions fire (triggers, enabled).

        A row delivered under another content hash is sent again (a full resync); a row no action matched is
        re-evaluated when either part changes — so fixing a trigger sends the skipped rows and nothing else.
        """
        sync = self.sync(name)
        content = [self.model_sql(name), repr(sync.key_columns), sync.type, sync.mode, repr(sync.event),
                   repr(sync.convert_timestamps), sync.nulls, repr(sorted((k, repr(sorted(v.mapping.items())))
                                                              for k, v in self.actions.items() if v.mapping))]
        triggers = repr(sorted((k, v.enabled, v.trigger) for k, v in self.actions.items()
                               if v.trigger or not v.enabled))
        return f"{_digest(content)}.{_digest([triggers])}"


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


# ---------------------------------------------------------------- loading


def _format_validation_error(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        parts = tuple(part for part in error["loc"] if not str(part).startswith(("function-", "tagged-union")))
        loc, known = setting_location(Project, parts) if parts else ("", [])
        if error["type"] == "extra_forbidden":
            near = did_you_mean(str(parts[-1]), known)
            message = f"unknown setting{near or ' (check the spelling; see the configuration reference in README.md)'}"
        else:  # in our words; a secret's value is never repeated in a message
            message = describe(error, show_value=str(error["loc"][-1] if error["loc"] else "") not in SECRET_SETTINGS)
        problems.append(f"{loc}: {message}" if loc else message)
    return problems


def config_path(path: str | Path | None = None) -> Path:
    """The project file: the argument, else $CIO_RETL_CONFIG, else ./cio_retl.yaml."""
    return Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_project(path: str | Path | None = None, *, credentials: Credentials = "all",
                 resolve_secrets: bool = True) -> Project:
    """Read, interpolate and validate a project file, reporting every problem at once.

    `credentials` says which secrets the caller needs (see `Credentials`); the others stay as written, so a
    command that never talks to Customer.io works without its keys. `resolve_secrets=False` is the older
    spelling of `credentials="none"`.
    """
    credentials = credentials if resolve_secrets else "none"
    file = config_path(path)
    if not file.is_file():
        raise ConfigError(f"project file {file} not found",
                          hint=f"pass --config PATH, set {CONFIG_ENV}, or run from the folder of cio_retl.yaml")
    try:
        raw = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{file} must be a mapping with warehouses, destination and syncs")
    problems: list[str] = []
    raw = interpolate(raw, "", problems, credentials=credentials)
    apply_destination_env(raw, credentials=credentials)
    raw["root"] = file.resolve().parent
    project = None
    try:
        project = Project.model_validate(raw, context={_REFERENCES_CHECKED: True})
    except ValidationError as exc:
        problems.extend(_format_validation_error(exc))
        problems.extend(_raw_sync_problems(raw, problems))
    problems.extend(reference_problems(raw, raw["root"]))
    if problems:
        raise ConfigError(f"{file} has {len(problems)} problem(s):", problems=problems)
    return project


def _raw_sync_problems(raw: dict[str, Any], already: list[str]) -> list[str]:
    """Cross-field sync rules pydantic skipped because the same sync also had field errors."""
    found = []
    for name, spec in (raw.get("syncs") or {}).items():
        if isinstance(spec, dict):
            found += [f"syncs.{name}: {p}" for p in sync_rule_problems(spec)]
    return [p for p in found if p not in already]
