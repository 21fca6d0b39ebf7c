"""The clinic profile is validated with errors that name the field, and answers opening-hours questions."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import yaml

from clinic.profile import (
    ClinicProfileError,
    contact_details,
    load_profile,
    parse_profile,
    parse_ranges,
)
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

SHIPPED = yaml.safe_load((ROOT / "clinic.yml").read_text())
NY = ZoneInfo("America/New_York")


def with_field(**changes):
    raw = dict(SHIPPED)
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


def test_shipped_profile_is_valid_and_fictional():
    profile = load_profile(ROOT / "clinic.yml")
    assert "fictional" in profile.name.lower()
    assert "fictional" in profile.address.lower()
    assert profile.email.endswith(".example")
    assert "555 01" in profile.phone
    assert contact_details(profile) == {
        "clinic_name": profile.name,
        "clinic_phone": profile.phone,
        "clinic_email": profile.email,
    }


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"email": "not-an-email"}, "email"),
        ({"phone": "call us"}, "phone"),
        ({"name": ""}, "name"),
        ({"phone": None}, "phone"),
        ({"fone": "1"}, "fone"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"country": "XX"}, "country"),
        ({"opening_hours": {**SHIPPED["opening_hours"], "monday": "9am to 5pm"}}, "opening_hours"),
        ({"opening_hours": {**SHIPPED["opening_hours"], "tuesday": "18:00-08:00"}}, "opening_hours"),
        ({"opening_hours": {k: v for k, v in SHIPPED["opening_hours"].items() if k != "friday"}}, "opening_hours"),
        ({"opening_hours": {day: "closed" for day in SHIPPED["opening_hours"]}}, "opening_hours"),
        ({"retention_days": 0}, "retention_days"),
        ({"retention_days": "forever"}, "retention_days"),
        ({"emergency_number": "call an ambulance"}, "emergency_number"),
        ({"privacy_notice": "ok"}, "privacy_notice"),
        ({"prices": []}, "prices"),
        ({"prices": [{"item": "Session"}]}, "prices"),
        ({"insurance": None}, "insurance"),
    ],
)
def test_bad_field_is_named(changes, field):
    with pytest.raises(ClinicProfileError, match=rf"clinic.yml: .*\b{field}\b"):
        parse_profile(with_field(**changes))


def test_the_bad_day_is_named_too():
    with pytest.raises(ClinicProfileError, match=r"opening_hours: .*friday is missing"):
        parse_profile(with_field(opening_hours={k: v for k, v in SHIPPED["opening_hours"].items() if k != "friday"}))
    with pytest.raises(ClinicProfileError, match=r"monday: expected HH:MM-HH:MM"):
        parse_profile(with_field(opening_hours={**SHIPPED["opening_hours"], "monday": "9-5"}))


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
    from clinic import settings

    other = tmp_path / "other.yml"
    other.write_text(yaml.safe_dump(with_field(name="Other", phone="+44 20 7946 0000", country="GB")))
    monkeypatch.setenv("CLINIC_PROFILE", str(other))
    assert settings.clinic_profile_path() == other
    assert load_profile(settings.clinic_profile_path()).name == "Other"


def test_ranges():
    assert parse_ranges("closed") == []
    assert [(a.hour, b.hour) for a, b in parse_ranges("08:00-12:00, 13:00-19:00")] == [(8, 12), (13, 19)]
    with pytest.raises(ValueError, match="overlaps"):
        parse_ranges("08:00-12:00, 11:00-13:00")


def test_open_at_and_next_opening_in_the_clinics_zone():
    profile = load_profile(ROOT / "clinic.yml")
    wednesday_lunch = datetime(2026, 11, 25, 12, 30, tzinfo=NY)
    assert not profile.is_open_at(wednesday_lunch)
    assert profile.next_opening(wednesday_lunch) == datetime(2026, 11, 25, 13, 0, tzinfo=NY)
    assert profile.is_open_at(datetime(2026, 11, 25, 13, 0, tzinfo=NY))
    # 17:30 UTC on a Monday is 12:30 in New York: open.
    assert profile.is_open_at(datetime(2026, 11, 23, 17, 30, tzinfo=ZoneInfo("UTC")))
    saturday_evening = datetime(2026, 11, 28, 15, 0, tzinfo=NY)
    assert profile.next_opening(saturday_evening) == datetime(2026, 11, 30, 8, 0, tzinfo=NY)
