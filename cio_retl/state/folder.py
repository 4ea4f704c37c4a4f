"""Can a run keep its state in this folder? Checked by `validate` and `doctor` before a run finds out mid-way."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

FOLDER_HINT = "set `state:` to a folder this user can write (it is created if missing), or fix its permissions"


def folder_problem(folder: Path) -> str | None:
    """Why a run could not create and write `folder`, or None. Leaves nothing behind."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"state folder {folder}: {existing} is a file, not a folder"
    try:  # the only sure test (root passes every permission check, /proc and read-only mounts do not)
        os.rmdir(tempfile.mkdtemp(prefix=".cio-retl-probe-", dir=existing))
    except OSError as exc:
        return f"state folder {folder} cannot be written: {exc.strerror or exc} ({existing})"
    return None


def ensure_folder(folder: Path) -> str | None:
    """Create `folder` (and its parents); why that failed, or None."""
    problem = folder_problem(folder)
    if problem is None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = f"state folder {folder} cannot be created: {exc.strerror or exc}"
    return problem
