"""The hand-off actions on trackers built from events: phone in hours, callback outside them."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Dict, Optional

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import booking_form
from actions.booking_form import checked_booking
from actions.handoff import ActionHumanHandoff, ActionStartCallback
from clinic import clock, settings
from clinic.profile import current_profile
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())
MONDAY_10AM = datetime.fromisoformat("2026-11-23T10:00:00-05:00")
SATURDAY_2PM = datetime.fromisoformat("2026-11-21T14:00:00-05:00")


def tracker(slots: Optional[Dict[str, Any]] = None, loop: Optional[str] = None) -> Tracker:
    latest = {"text": "can i talk to someone", "intent": {"name": "human_handoff", "confidence": 0.9}}
    return Tracker(
        "visitor", dict(slots or {}), latest, [], False, None, {"name": loop} if loop else {}, "action_listen"
    )


def run(action, tracker_: Tracker, now: datetime, monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: now)
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker_, DOMAIN))
    return dispatcher.messages, events


def test_in_opening_hours_the_phone_and_a_callback_offer(monkeypatch):
    messages, events = run(ActionHumanHandoff(), tracker(), MONDAY_10AM, monkeypatch)
    [message] = messages
    assert message["response"] == "utter_handoff_open"
    assert message["clinic_phone"] == current_profile().phone
    assert [b["payload"] for b in message["buttons"]] == ["/request_callback", "/deny"]
    assert events == []


def test_outside_opening_hours_when_staff_are_back_and_the_callback_form(monkeypatch):
    messages, events = run(ActionHumanHandoff(), tracker({"full_name": "Old Name"}), SATURDAY_2PM, monkeypatch)
    assert [m["response"] for m in messages] == ["utter_handoff_closed", "utter_callback_intro"]
    assert messages[0]["back_at"] == "Monday 23 November at 8 am"
    assert events == [SlotSet("full_name", None), SlotSet("booking_kind", "callback"), FollowupAction("booking_form")]


def test_during_a_booking_only_the_information(monkeypatch):
    messages, events = run(ActionHumanHandoff(), tracker(loop="booking_form"), SATURDAY_2PM, monkeypatch)
    assert [m["response"] for m in messages] == ["utter_handoff_closed"] and events == []
    messages, events = run(ActionHumanHandoff(), tracker(loop="booking_form"), MONDAY_10AM, monkeypatch)
    assert messages[0]["buttons"] == [] and events == []


def test_start_callback_marks_the_form(monkeypatch):
    messages, events = run(ActionStartCallback(), tracker(), MONDAY_10AM, monkeypatch)
    assert [m["response"] for m in messages] == ["utter_callback_intro"]
    assert events == [SlotSet("booking_kind", "callback")]


def callback_slots(**overrides):
    slots = {
        "booking_kind": "callback",
        "full_name": "Orla Fenwick",
        "phone": "+12125550187",
        "email": None,
        "contact": "+12125550187",
        "consent": True,
        "booking_confirmed": True,
    }
    slots.update(overrides)
    return slots


def test_a_checked_callback_has_a_phone_and_no_time():
    booking = checked_booking(callback_slots(), current_profile(), MONDAY_10AM)
    assert booking.kind == "callback" and booking.phone == "+12125550187" and booking.requested_time is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"phone": None, "email": "o@mail.example"},
        {"consent": None},
        {"booking_confirmed": False},
        {"full_name": "x"},
        {"booking_kind": "party"},
    ],
)
def test_a_callback_missing_anything_is_not_saved(overrides):
    assert checked_booking(callback_slots(**overrides), current_profile(), MONDAY_10AM) is None


def test_callback_time_in_and_out_of_hours():
    profile = current_profile()
    assert booking_form.callback_time(profile, MONDAY_10AM) == "as soon as they can today"
    assert booking_form.callback_time(profile, SATURDAY_2PM) == "when the clinic opens, Monday 23 November at 8 am"


def test_clinic_now_is_read_and_checked():
    assert settings.clinic_now({}) is None
    assert settings.clinic_now({"CLINIC_NOW": "2026-11-23T10:00:00-05:00"}) == MONDAY_10AM
    with pytest.raises(settings.SettingsError, match="CLINIC_NOW"):
        settings.clinic_now({"CLINIC_NOW": "monday"})
    with pytest.raises(settings.SettingsError, match="offset"):
        settings.clinic_now({"CLINIC_NOW": "2026-11-23T10:00:00"})
