"""The booking form's actions, run on trackers built from events (like rasa-sdk's own tests):
the exact slot events each answer produces, and what the visitor is told.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import booking_form, services
from actions.booking_form import (
    ActionAskBookingConfirmed,
    ActionCancelBooking,
    ActionFinishBooking,
    ValidateBookingForm,
    checked_booking,
    field_named,
    reset_booking,
    yes_or_no,
)
from clinic import clock
from clinic.booking_store import BookingStore
from clinic.profile import current_profile
from clinic.settings import delivery_settings
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())
NOW = datetime(2026, 11, 21, 4, 0, tzinfo=timezone.utc)  # Friday 23:00 in the clinic's New York


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


def test_the_required_slots_are_the_domains():
    """Rasa asks for domain.yml's required slots; the final check requires REQUIRED: one list."""
    assert booking_form.REQUIRED == DOMAIN["forms"][booking_form.FORM]["required_slots"]
    assert set(booking_form.REQUIRED + booking_form.HELPERS) <= set(DOMAIN["slots"])


def tracker(
    requested: str,
    text: str,
    intent: str = "inform",
    slots: Optional[Dict[str, Any]] = None,
    entities: Optional[List[Dict[str, Any]]] = None,
) -> Tracker:
    """A tracker in the middle of booking_form, just after the visitor answered ``requested``."""
    all_slots = {name: None for name in DOMAIN["slots"]}
    all_slots.update(slots or {})
    all_slots["requested_slot"] = requested
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": entities or []}
    events = [
        {"event": "active_loop", "name": "booking_form"},
        {"event": "slot", "name": "requested_slot", "value": requested},
        {"event": "user", "text": text, "parse_data": latest},
        {"event": "slot", "name": requested, "value": all_slots.get(requested)},
    ]
    return Tracker("visitor", all_slots, latest, events, False, None, {"name": "booking_form"}, "action_listen")


def validate(requested: str, value: Any, text: Optional[str] = None, **kwargs):
    slots = dict(kwargs.pop("slots", {}), **{requested: value})
    dispatcher = CollectingDispatcher()
    events = asyncio.run(
        ValidateBookingForm().run(
            dispatcher, tracker(requested, text if text is not None else str(value), slots=slots, **kwargs), DOMAIN
        )
    )
    return events, [m.get("text") or m.get("response") for m in dispatcher.messages]


def test_a_good_name_is_kept_clean():
    events, said = validate("full_name", "my name is dana whitfield")
    assert events == [SlotSet("full_name", "Dana Whitfield"), SlotSet("booking_tries", 0.0)]
    assert said == []


def test_a_bad_answer_is_refused_with_a_reason_and_counted():
    events, said = validate("contact", "not telling", slots={"booking_tries": 1.0})
    assert events == [SlotSet("contact", None), SlotSet("booking_tries", 2.0)]
    assert "phone number or an email" in said[0]


def test_the_third_failed_try_offers_the_phone_and_stops_the_form():
    events, said = validate("contact", "not telling", slots={"booking_tries": 2.0})
    assert SlotSet("booking_stopped", True) in events and SlotSet("contact", None) in events
    assert SlotSet("requested_slot", None) in events  # the form ends instead of asking again
    assert said[-1] == "utter_booking_too_many_tries"


def test_contact_sets_phone_and_email():
    events, _ = validate("contact", "202 555 0143 or dana@mail.example")
    assert SlotSet("phone", "+12025550143") in events and SlotSet("email", "dana@mail.example") in events
    assert SlotSet("contact", "+12025550143 and dana@mail.example") in events


def test_time_in_the_clinics_zone_with_the_visitors_words():
    events, _ = validate("preferred_time", "next tuesday after work")
    assert SlotSet("preferred_time", "2026-11-24T17:30:00-05:00") in events
    assert SlotSet("preferred_time_text", "next tuesday after work") in events


def test_a_day_alone_asks_for_a_time_then_combines_both():
    events, _ = validate("preferred_time", "monday")
    assert SlotSet("preferred_time", None) in events and SlotSet("preferred_day", "2026-11-23") in events
    events, _ = validate(
        "preferred_time", "3pm", slots={"preferred_day": "2026-11-23", "preferred_time_text": "monday"}
    )
    assert SlotSet("preferred_time", "2026-11-23T15:00:00-05:00") in events
    assert SlotSet("preferred_time_text", "monday, 3pm") in events


def test_a_closed_day_is_refused_with_a_suggestion():
    events, said = validate("preferred_time", "sunday at 10am")
    assert SlotSet("preferred_time", None) in events
    assert "closed on Sundays" in said[0] and "Monday 23 November" in said[0]


def test_no_consent_stops_without_saving():
    events, said = validate("consent", False, text="no")
    assert SlotSet("consent", False) in events and SlotSet("booking_stopped", True) in events
    assert said == ["utter_booking_no_consent"]


def test_summary_answers():
    events, _ = validate("booking_confirmed", True, text="yes")
    assert SlotSet("booking_confirmed", True) in events
    events, _ = validate("booking_confirmed", False, text="no")
    assert SlotSet("booking_change", "ask") in events and SlotSet("booking_confirmed", None) in events
    events, _ = validate(
        "booking_confirmed",
        "change",
        text="/change_booking",
        entities=[{"entity": "booking_field", "value": "contact"}],
    )
    assert SlotSet("contact", None) in events and SlotSet("phone", None) in events
    events, _ = validate("booking_confirmed", "wednesday at 2pm")
    assert SlotSet("preferred_time", "2026-11-25T14:00:00-05:00") in events
    assert SlotSet("booking_confirmed", None) in events


def test_field_named_and_yes_or_no():
    assert field_named("the phone number is wrong", []) == "contact"
    assert field_named("wednesday at 2pm", []) is None  # "day" inside a weekday is not the word day
    assert field_named("x", [{"entity": "booking_field", "value": "full_name"}]) == "full_name"
    assert field_named("x", [{"entity": "booking_field", "value": "__class__"}]) is None
    assert (yes_or_no("Yes!"), yes_or_no("nope"), yes_or_no("maybe")) == (True, False, None)


def good_slots(**changes):
    slots = {
        "full_name": "Dana Whitfield",
        "contact": "+12025550143",
        "phone": "+12025550143",
        "email": None,
        "preferred_time": "2026-11-24T17:30:00-05:00",
        "preferred_time_text": "next tuesday after work",
        "consent": True,
        "booking_confirmed": True,
    }
    slots.update(changes)
    return slots


@pytest.mark.parametrize(
    "changes",
    [
        {"phone": "x"},  # forged with /book_appointment{"phone": "x"}
        {"phone": None, "email": None},
        {"email": "not-an-email"},
        {"full_name": "<b>x</b>"},
        {"consent": None},
        {"consent": "true"},
        {"preferred_time": "2026-11-22T10:00:00-05:00"},  # a Sunday: closed
        {"preferred_time": "2026-11-20T10:00:00-05:00"},  # the past
        {"preferred_time": "2026-11-24T17:30:00"},  # no offset
        {"preferred_time": "tuesday"},
    ],
)
def test_nothing_is_saved_on_trust(changes):
    assert checked_booking(good_slots(**changes), current_profile(), NOW) is None


def test_a_checked_booking():
    booking = checked_booking(good_slots(), current_profile(), NOW)
    assert booking.requested_time.isoformat() == "2026-11-24T17:30:00-05:00"
    assert (booking.name, booking.phone, booking.kind, booking.consent_at) == (
        "Dana Whitfield",
        "+12025550143",
        "booking",
        NOW,
    )


def finish(slots: Dict[str, Any]):
    dispatcher = CollectingDispatcher()
    all_slots = {name: None for name in DOMAIN["slots"]}
    all_slots.update(slots)
    tracker = Tracker("visitor", all_slots, {}, [], False, None, {}, "booking_form")
    events = asyncio.run(ActionFinishBooking().run(dispatcher, tracker, DOMAIN))
    return events, dispatcher.messages


class Worker:
    """Counts wake-ups; the real worker is tested in test_delivery.py."""

    def __init__(self):
        self.woken = 0

    def wake(self):
        self.woken += 1


def test_finish_saves_then_gives_the_reference(tmp_path):
    store = BookingStore(f"sqlite:///{tmp_path / 'b.db'}").open()
    worker = Worker()
    services.install(services.Services(current_profile(), delivery_settings({}), store, worker))
    try:
        events, messages = finish(good_slots())
    finally:
        services.install(None)
    saved = store.list()
    assert len(saved) == 1 and saved[0].name == "Dana Whitfield"
    assert messages[0]["response"] == "utter_booking_saved" and messages[0]["reference"] == saved[0].reference
    assert worker.woken == 1
    assert events == reset_booking()


def test_finish_without_a_store_says_so_plainly():
    events, messages = finish(good_slots())
    assert messages[0]["response"] == "utter_booking_not_saved" and messages[0]["clinic_phone"]
    assert events == reset_booking()


def test_finish_after_a_stopped_form_saves_nothing_and_says_nothing():
    events, messages = finish(good_slots(booking_stopped=True))
    assert messages == [] and events == reset_booking()


def test_summary_and_change_question():
    dispatcher = CollectingDispatcher()
    slots = {name: None for name in DOMAIN["slots"]}
    slots.update(good_slots(booking_confirmed=None))
    asyncio.run(ActionAskBookingConfirmed().run(dispatcher, Tracker("v", slots, {}, [], False, None, {}, ""), DOMAIN))
    assert dispatcher.messages[0]["response"] == "utter_booking_summary"
    assert dispatcher.messages[0]["when"] == "Tuesday 24 November at 5:30 pm"
    slots["booking_change"] = "ask"
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionAskBookingConfirmed().run(dispatcher, Tracker("v", slots, {}, [], False, None, {}, ""), DOMAIN))
    assert dispatcher.messages[0]["response"] == "utter_ask_what_to_change"
    assert [b["title"] for b in dispatcher.messages[0]["buttons"]] == ["My name", "Phone or email", "Day and time"]


def test_cancel_clears_everything_and_ends_the_form():
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionCancelBooking().run(dispatcher, Tracker("v", {}, {}, [], False, None, {}, ""), DOMAIN))
    assert events[0] == {"event": "active_loop", "name": None, "timestamp": None}
    assert all(event in events for event in reset_booking())
    assert dispatcher.messages[0]["response"] == "utter_booking_cancelled"


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "can i come tuesday at 5",
            {"preferred_time": "2026-11-24T17:00:00-05:00", "preferred_time_text": "can i come tuesday at 5"},
        ),
        ("can I come Tuesday?", {"preferred_day": "2026-11-24", "preferred_time_text": "can I come Tuesday?"}),
        ("I'd like to book an appointment", {}),
        ("book me in for 2 sessions", {}),
        ("can I come sunday at 10", {}),  # closed: left for the form to ask, with its reasons
    ],
)
def test_a_day_named_when_starting_is_kept(text, expected):
    from actions.booking_form import time_from_opening_message

    assert time_from_opening_message(text, current_profile(), NOW) == expected


def test_start_booking_clears_old_slots_and_keeps_the_named_time():
    from actions.booking_form import ActionStartBooking

    dispatcher = CollectingDispatcher()
    latest = {"text": "can i come tuesday at 5", "intent": {"name": "book_appointment"}, "entities": []}
    events = asyncio.run(
        ActionStartBooking().run(dispatcher, Tracker("v", {}, latest, [], False, None, {}, ""), DOMAIN)
    )
    assert events == [
        SlotSet("preferred_time", "2026-11-24T17:00:00-05:00"),
        SlotSet("preferred_time_text", "can i come tuesday at 5"),
    ]
    assert dispatcher.messages[0]["response"] == "utter_booking_intro"
    # At activation the form validates the time it was given, without asking again.
    slots = {name: None for name in DOMAIN["slots"]}
    slots["preferred_time"] = "2026-11-24T17:00:00-05:00"
    events = [
        {"event": "user", "text": latest["text"], "parse_data": latest},
        {"event": "slot", "name": "preferred_time", "value": "2026-11-24T17:00:00-05:00"},
    ]
    activation = Tracker("v", slots, latest, events, False, None, {"name": "booking_form"}, "")
    validated = asyncio.run(ValidateBookingForm().run(CollectingDispatcher(), activation, DOMAIN))
    assert validated == [SlotSet("preferred_time", "2026-11-24T17:00:00-05:00")]


def test_start_booking_clears_only_leftovers_and_cleared_slots_are_not_failures():
    from actions.booking_form import ActionStartBooking

    latest = {"text": "I'd like to book", "intent": {"name": "book_appointment"}, "entities": []}
    leftover = Tracker("v", {"full_name": "Old Name", "booking_tries": 2.0}, latest, [], False, None, {}, "")
    events = asyncio.run(ActionStartBooking().run(CollectingDispatcher(), leftover, DOMAIN))
    assert events == [SlotSet("full_name", None), SlotSet("booking_tries", None)]
    # The form then validates those cleared slots: no complaint, no failed try counted.
    for slot in ("full_name", "contact", "preferred_time", "consent", "booking_confirmed"):
        validated, said = validate(slot, None, text="I'd like to book")
        assert said == [] and SlotSet("booking_tries", 1.0) not in validated
