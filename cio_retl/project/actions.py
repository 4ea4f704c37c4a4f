"""`actions:` — a project's changes to the Journeys destination actions (trigger, mappings, enabled)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from cio_retl.actions.catalog import UI_ONLY_FIELDS
from cio_retl.project.base import ProjectModel


class ActionOverride(ProjectModel):
    """Changes to one Journeys destination action: its trigger, some mappings, or disabling it."""

    enabled: bool = Field(True, description="false turns the action off.")
    trigger: str | None = Field(None, description="Replaces the default trigger, e.g. 'type = \"track\"'.")
    mapping: dict[str, Any] = Field(default_factory=dict, description="Field → expression, merged over the defaults.")
    optional_paths: list[str] = Field(default_factory=list, description="Mapping paths (`$.traits.nickname`) that some "
                                      "syncs' models may lack on purpose: their attribute is left out there, and "
                                      "`validate` does not call it an error.")
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

    @field_validator("optional_paths")
    @classmethod
    def _paths_look_like_paths(cls, value: list[str]) -> list[str]:
        bad = [path for path in value if not path.startswith("$.")]
        if bad:
            raise ValueError(f"paths start with $. (e.g. $.traits.nickname), not {bad[0]!r}")
        return value

    @property
    def ignored(self) -> list[str]:
        """The UI-only fields this override was given (for `validate`'s note)."""
        return [name for name in UI_ONLY_FIELDS if getattr(self, name) is not None]
