"""The clinic profile is validated with errors that name the field."""

from __future__ import annotations

import pytest

from actions.clinic_profile import ClinicProfileError, contact_details, load_profile, parse_profile
from tests.conftest import ROOT


def test_shipped_profile_is_valid_and_fictional():
    profile = load_profile(ROOT / "clinic.yml")
    assert "fictional" in profile.name.lower()
    assert profile.email.endswith(".example")
    assert contact_details(profile) == {
        "clinic_name": profile.name, "clinic_phone": profile.phone, "clinic_email": profile.email,
    }


@pytest.mark.parametrize(
    "raw, field",
    [
        ({"name": "X", "phone": "+1 555 0100", "email": "not-an-email"}, "email"),
        ({"name": "X", "phone": "call us", "email": "a@b.example"}, "phone"),
        ({"name": "", "phone": "+1 555 0100", "email": "a@b.example"}, "name"),
        ({"name": "X", "email": "a@b.example"}, "phone"),
        ({"name": "X", "phone": "+1 555 0100", "email": "a@b.example", "fone": "1"}, "fone"),
    ],
)
def test_bad_field_is_named(raw, field):
    with pytest.raises(ClinicProfileError, match=rf"clinic.yml: .*\b{field}\b"):
        parse_profile(raw)


def test_not_a_mapping():
    with pytest.raises(ClinicProfileError, match="expected a mapping"):
        parse_profile(["a", "list"])


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(ClinicProfileError, match="cannot read"):
        load_profile(tmp_path / "missing.yml")
    broken = tmp_path / "broken.yml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(ClinicProfileError, match="not valid YAML"):
        load_profile(broken)


def test_env_variable_points_at_another_profile(tmp_path, monkeypatch):
    from actions import settings

    other = tmp_path / "other.yml"
    other.write_text("name: Other\nphone: '+44 20 7946 0000'\nemail: team@other.example\n")
    monkeypatch.setenv("CLINIC_PROFILE", str(other))
    assert settings.clinic_profile_path() == other
    assert load_profile(settings.clinic_profile_path()).name == "Other"
