"""Configuration from the environment, read in one place.

Every variable the action server reads is listed here and in the README.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def clinic_profile_path() -> Path:
    """Path of the clinic profile: ``CLINIC_PROFILE``, else ``clinic.yml`` at the project root."""
    return Path(os.environ.get("CLINIC_PROFILE") or PROJECT_ROOT / "clinic.yml")


def faq_dir() -> Path:
    """Folder holding one ``<topic>.yml`` file per FAQ topic."""
    return PROJECT_ROOT / "data" / "faq"
