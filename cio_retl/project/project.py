"""The whole project file: its sections, where its files and state are, and the hash of what decides a sync's operations."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator, model_validator

from cio_retl.errors import ConfigError
from cio_retl.project.actions import ActionOverride
from cio_retl.project.alerts import Alerts
from cio_retl.project.base import ProjectModel
from cio_retl.project.checks import name_problems
from cio_retl.project.dagster_settings import DagsterSettings
from cio_retl.project.state_location import is_remote, url_problem
from cio_retl.project.destination import Destination
from cio_retl.project.syncs import Sync
from cio_retl.project.warehouses import Warehouse
from cio_retl.project.writeback import Writeback

REFERENCES_CHECKED = "references_checked"  # validation context: load_project checked the references already


class Project(ProjectModel):
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
    alerts: Alerts | None = Field(None, description="Notifications of completed and failed runs (see README, "
                                  "Alerts and the sync log).")
    writeback: Writeback | None = Field(None, description="The sync log written into one of the warehouses.")
    root: Path = Field(Path("."), exclude=True, description="Folder of the project file (set by load_project).")

    @field_validator("state")
    @classmethod
    def _state_is_a_folder_or_a_bucket(cls, value: str) -> str:
        problem = url_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("memory_limit")
    @classmethod
    def _memory_limit_is_a_size(cls, value: str) -> str:
        problem = memory_limit_problem(value)
        if problem:
            raise ValueError(problem)
        return value.strip().lower() if value.strip().lower() == "auto" else value.strip()

    @model_validator(mode="after")
    def _references_resolve(self, info: ValidationInfo) -> Project:
        if (info.context or {}).get(REFERENCES_CHECKED):  # load_project checked them, with everything else
            return self
        problems = name_problems(self.syncs, self.warehouses)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _writeback_warehouse_exists(self) -> Project:
        if self.writeback is not None and self.writeback.warehouse not in self.warehouses:
            raise ValueError(f"writeback.warehouse: no warehouse named '{self.writeback.warehouse}' (the project "
                             f"file has {', '.join(sorted(self.warehouses)) or 'none'})")
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
        parts = self._config_texts(name)
        triggers = parts.pop("triggers")
        return f"{_digest(list(parts.values()))}.{_digest([triggers])}"

    def config_parts(self, name: str) -> dict[str, str]:
        """A digest of each setting in `config_hash`, by the name a user knows it by: what a resync warning names."""
        return {setting: _digest([text]) for setting, text in self._config_texts(name).items()}

    def _config_texts(self, name: str) -> dict[str, str]:
        sync = self.sync(name)
        texts = {"model SQL": self.model_sql(name), "primary_key": repr(sync.key_columns), "type": sync.type,
                 "mode": sync.mode, "event": repr(sync.event), "convert_timestamps": repr(sync.convert_timestamps),
                 "nulls": sync.nulls, "mappings": repr(sorted((k, repr(sorted(v.mapping.items())))
                                                          for k, v in self.actions.items() if v.mapping))}
        if sync.segment_id is not None:  # another segment: every member is added to it
            texts["segment_id"] = repr(sync.segment_id)
        texts["triggers"] = repr(sorted((k, v.enabled, v.trigger) for k, v in self.actions.items()
                                        if v.trigger or not v.enabled))
        return texts


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)\s*$", re.IGNORECASE)
_UNIT_BYTES = {"b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}
MIN_MEMORY_BYTES = 64 * 1000**2  # below this DuckDB cannot even stage a small model


def memory_limit_problem(value: str) -> str | None:
    """What is wrong with a `memory_limit` (DuckDB would refuse it mid-run), or None: `auto` or a size like 2GB."""
    if value.strip().lower() == "auto":
        return None
    size = _SIZE.match(value)
    if size is None:
        return f"must be auto or a size such as 512MB or 2GB, not '{value}'"
    unit = size.group(2).lower()
    factor = _UNIT_BYTES[unit[0]] * ((1024 / 1000) ** "bkmgt".index(unit[0]) if unit.endswith("ib") else 1)
    if float(size.group(1)) * factor < MIN_MEMORY_BYTES:
        return f"{value} is too little for DuckDB: give at least 64MB (or auto)"
    return None


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]
