"""The booking form's readers: names, phones and emails from any country, days and times in the clinic's zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import yaml

from clinic.booking_validation import (
    describe_moment,
    parse_contact,
    parse_email,
    parse_name,
    parse_preferred_time,
)
from clinic.profile import load_profile, parse_profile
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

PROFILE = load_profile(ROOT / "clinic.yml")  # America/New_York; Sun closed; Wed 08-12, 13-19; Sat 09-13
NY = ZoneInfo("America/New_York")
FRIDAY_NIGHT = datetime(2026, 11, 20, 23, 0, tzinfo=NY)


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("Anna", "Anna"),
        ("my name is anna smith", "Anna Smith"),
        ("it's Priya Natarajan.", "Priya Natarajan"),
        ("hi, I'm Tom O'Brien", "Tom O'Brien"),
        ("María José García", "María José García"),
        ("Nguyen Van An", "Nguyen Van An"),
        ("de la Cruz", "de la Cruz"),
    ],
)
def test_names(typed, expected):
    assert parse_name(typed).value == expected


@pytest.mark.parametrize(
    "typed", ["", "   ", "12345", "does it hurt?", "<script>alert(1)</script>", "hello", "sam@example.com", "a " * 10]
)
def test_not_names(typed):
    result = parse_name(typed)
    assert result.value is None and result.problem


@pytest.mark.parametrize(
    "typed, phone",
    [
        ("(212) 555-0187", "+12125550187"),
        ("my number is 202 555 0143", "+12025550143"),
        ("+44 20 7946 0958", "+442079460958"),  # United Kingdom
        ("+61 491 570 156", "+61491570156"),  # Australia
        ("+49 30 901820", "+4930901820"),  # Germany
        ("call me on +33 1 23 45 67 89 please", "+33123456789"),  # France
    ],
)
def test_phones_from_any_country_are_normalised(typed, phone):
    assert parse_contact(typed, "US").value == {"phone": phone, "email": None}


def test_a_local_number_is_read_in_the_clinics_country():
    assert parse_contact("020 7946 0958", "GB").value["phone"] == "+442079460958"
    assert parse_contact("020 7946 0958", "US").value is None


@pytest.mark.parametrize("typed", ["555 0134", "+1 555 0100", "0491 570 156"])
def test_incomplete_numbers_get_a_hint(typed):
    result = parse_contact(typed, "US")
    assert result.value is None and "doesn't look complete" in result.problem


def test_email_and_both():
    assert parse_contact("anna.k@Example.COM", "US").value == {"phone": None, "email": "anna.k@example.com"}
    both = parse_contact("202-555-0143 or mail a.b@mail.example", "US").value
    assert both == {"phone": "+12025550143", "email": "a.b@mail.example"}
    assert parse_email("a..b@example.com") is None
    assert "email address doesn't look complete" in parse_contact("anna@example", "US").problem
    assert "phone number or an email" in parse_contact("no thanks", "US").problem


def when(result):
    assert result.ok, result.problem
    return result.value["when"]


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("next Tuesday after work", datetime(2026, 11, 24, 17, 30, tzinfo=NY)),
        ("tuesday 5:30 pm", datetime(2026, 11, 24, 17, 30, tzinfo=NY)),
        ("tomorrow morning", datetime(2026, 11, 21, 9, 0, tzinfo=NY)),
        ("tomorrow at 10", datetime(2026, 11, 21, 10, 0, tzinfo=NY)),
        ("24 november 3pm", datetime(2026, 11, 24, 15, 0, tzinfo=NY)),
        ("Dec 3 at 9am", datetime(2026, 12, 3, 9, 0, tzinfo=NY)),
        ("12/3 at 10am", datetime(2026, 12, 3, 10, 0, tzinfo=NY)),  # month first in the US
        ("wed at 1", datetime(2026, 11, 25, 13, 0, tzinfo=NY)),  # a bare 1 is 1 pm
        ("friday first thing", datetime(2026, 11, 27, 8, 0, tzinfo=NY)),
        ("I'd like next thursday around 4 please", datetime(2026, 11, 26, 16, 0, tzinfo=NY)),
    ],
)
def test_days_and_times_in_the_visitors_words(typed, expected):
    assert when(parse_preferred_time(typed, PROFILE, FRIDAY_NIGHT)) == expected


def test_asap_is_the_next_opening():
    result = parse_preferred_time("as soon as possible", PROFILE, FRIDAY_NIGHT)
    assert when(result) == datetime(2026, 11, 21, 9, 0, tzinfo=NY)


def test_the_clinics_zone_not_the_servers():
    # 03:30 UTC on Saturday is still Friday 22:30 in New York: "tomorrow" is Saturday.
    utc_now = datetime(2026, 11, 21, 3, 30, tzinfo=ZoneInfo("UTC"))
    result = when(parse_preferred_time("tomorrow at 10am", PROFILE, utc_now))
    assert result == datetime(2026, 11, 21, 10, 0, tzinfo=NY)
    assert result.isoformat() == "2026-11-21T10:00:00-05:00"
    # The same words for a clinic in Sydney, where it is already Saturday afternoon.
    sydney = parse_profile({**yaml.safe_load((ROOT / "clinic.yml").read_text()), "timezone": "Australia/Sydney"})
    assert "closed on Sundays" in parse_preferred_time("tomorrow at 10am", sydney, utc_now).problem
    in_sydney = when(parse_preferred_time("monday at 10am", sydney, utc_now))
    assert in_sydney.isoformat() == "2026-11-23T10:00:00+11:00"


def test_past_times_are_refused():
    assert "already passed" in parse_preferred_time("yesterday at 10am", PROFILE, FRIDAY_NIGHT).problem
    assert "already passed" in parse_preferred_time("today at 10am", PROFILE, FRIDAY_NIGHT).problem


def test_closed_days_get_the_next_open_day():
    problem = parse_preferred_time("sunday at 10", PROFILE, FRIDAY_NIGHT).problem
    assert "closed on Sundays" in problem and "Monday 23 November" in problem and "8 am to 6 pm" in problem


def test_closed_hours_get_that_days_hours():
    problem = parse_preferred_time("wednesday 12:30", PROFILE, FRIDAY_NIGHT).problem
    assert "8 am to 12 pm and 1 pm to 7 pm" in problem
    assert "9 am to 1 pm" in parse_preferred_time("saturday 5pm", PROFILE, FRIDAY_NIGHT).problem


def test_a_day_without_a_time_asks_for_the_time_then_combines():
    result = parse_preferred_time("monday", PROFILE, FRIDAY_NIGHT)
    assert result.value == {"day": date(2026, 11, 23)}
    assert when(parse_preferred_time("3pm", PROFILE, FRIDAY_NIGHT, day_hint=date(2026, 11, 23))) == datetime(
        2026, 11, 23, 15, 0, tzinfo=NY
    )


def test_unreadable_and_too_far():
    assert "couldn't work out the day" in parse_preferred_time("purple elephant", PROFILE, FRIDAY_NIGHT).problem
    assert "six months" in parse_preferred_time("1 december 2027 at 10am", PROFILE, FRIDAY_NIGHT).problem


def test_describe_moment():
    assert describe_moment(datetime(2026, 11, 24, 17, 30, tzinfo=NY)) == "Tuesday 24 November at 5:30 pm"
    assert describe_moment(datetime(2026, 11, 24, 9, 0, tzinfo=NY)) == "Tuesday 24 November at 9 am"


@pytest.mark.parametrize("typed", ["Eve \x1bc Mallory", "Eve \u202eyrollaM", "Eve\u200bMallory", "Eve\x07"])
def test_control_and_format_characters_are_refused_in_names(typed):
    assert parse_name(typed).problem
