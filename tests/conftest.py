"""Shared test fixtures and paths."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODEL_PATH = ROOT / "models" / "clinic-assistant.tar.gz"


@pytest.fixture(scope="session")
def root() -> Path:
    """The project's root folder."""
    return ROOT
