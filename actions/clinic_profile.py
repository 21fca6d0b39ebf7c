"""The clinic profile (``clinic.yml``): loaded and validated once, with errors that name the field."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Dict

import yaml
from pydantic import BaseModel, Extra, ValidationError, constr, validator

from actions import settings


class ClinicProfileError(ValueError):
    """The clinic profile is missing, unreadable or has a bad field."""


class ClinicProfile(BaseModel):
    """What the assistant tells visitors about the clinic."""

    name: constr(strip_whitespace=True, min_length=1)
    phone: constr(strip_whitespace=True, min_length=3)
    email: constr(strip_whitespace=True, regex=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

    class Config:
        extra = Extra.forbid  # a misspelt field name is an error, not silently ignored

    @validator("phone")
    def phone_has_digits(cls, value: str) -> str:  # noqa: N805 (pydantic validator)
        """A phone number must contain at least a few digits."""
        if sum(ch.isdigit() for ch in value) < 3:
            raise ValueError("must contain a phone number's digits")
        return value


def parse_profile(raw: Any, source: str = "clinic.yml") -> ClinicProfile:
    """Validates an already-loaded profile document.

    Raises:
        ClinicProfileError: naming the first bad field, e.g. ``clinic.yml: email: ...``.
    """
    if not isinstance(raw, dict):
        raise ClinicProfileError(f"{source}: expected a mapping of fields, got {type(raw).__name__}")
    try:
        return ClinicProfile(**raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}"
            for issue in error.errors()
        )
        raise ClinicProfileError(f"{source}: {problems}") from None


def load_profile(path: Path) -> ClinicProfile:
    """Reads and validates the profile at ``path``."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ClinicProfileError(f"{path}: cannot read the clinic profile ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise ClinicProfileError(f"{path}: not valid YAML ({error})") from None
    return parse_profile(raw, source=str(path))


@lru_cache(maxsize=1)
def current_profile() -> ClinicProfile:
    """The profile named by the environment, loaded once per action-server process."""
    return load_profile(settings.clinic_profile_path())


def contact_details(profile: ClinicProfile) -> Dict[str, str]:
    """The template variables the ``utter_contact_clinic`` response uses."""
    return {
        "clinic_name": profile.name,
        "clinic_phone": profile.phone,
        "clinic_email": profile.email,
    }
