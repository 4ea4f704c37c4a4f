"""The base of every project-file model: unknown settings are errors, loaded settings never change."""

from pydantic import BaseModel, ConfigDict


class ProjectModel(BaseModel):
    """A section of the project file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
