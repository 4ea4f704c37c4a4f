"""The README's configuration reference is generated from the models: it must be up to date."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import config_reference  # noqa: E402


def test_config_reference_matches_the_models(tmp_path: Path) -> None:
    copy = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", copy)
    assert not config_reference.update(copy), "run `python scripts/config_reference.py` and commit README.md"
    assert "| `max_delete_fraction` | `0.2` |" in copy.read_text()
