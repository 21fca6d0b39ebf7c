"""The safety actions on trackers built from events: the red-flag message and the one-time disclaimer."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, Optional

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, ActiveLoop, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.booking_form import HELPERS, REQUIRED
from actions.safety import ActionRedFlag, ActionSessionStart
from clinic.profile import current_profile
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())


def tracker(slots: Optional[Dict[str, Any]] = None, loop: Optional[str] = None, intent: str = "red_flag") -> Tracker:
    latest = {"text": "i can't breathe since my session", "intent": {"name": intent, "confidence": 0.9}}
    return Tracker(
        "visitor", dict(slots or {}), latest, [], False, None, {"name": loop} if loop else {}, "action_listen"
    )


def run(action, tracker_: Tracker):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker_, DOMAIN))
    return dispatcher.messages, events


def test_red_flag_gives_the_safety_message_with_the_clinic_numbers():
    messages, events = run(ActionRedFlag(), tracker())
    profile = current_profile()
    assert len(messages) == 1 and messages[0]["response"] == "utter_red_flag"
    assert messages[0]["emergency_number"] == profile.emergency_number
    assert messages[0]["clinic_phone"] == profile.phone
    assert events == []


def test_the_safety_message_names_both_numbers_in_its_text():
    text = DOMAIN["responses"]["utter_red_flag"][0]["text"]
    assert "{emergency_number}" in text and "{clinic_phone}" in text


def test_red_flag_during_booking_ends_the_form_and_clears_its_slots():
    slots = {"full_name": "Orla Fenwick", "requested_slot": "contact"}
    messages, events = run(ActionRedFlag(), tracker(slots, loop="booking_form"))
    assert [m["response"] for m in messages] == ["utter_red_flag"]
    assert events[:2] == [ActiveLoop(None), SlotSet("requested_slot", None)]
    assert {e["name"] for e in events[2:]} == set(REQUIRED + HELPERS)
    assert all(e["value"] is None for e in events[2:])


def test_first_session_says_the_disclaimer_once():
    messages, events = run(ActionSessionStart(), tracker(intent="greet"))
    assert [m["response"] for m in messages] == ["utter_disclaimer"]
    assert events == [SessionStarted(), SlotSet("disclaimer_given", True), ActionExecuted("action_listen")]


def test_a_later_session_carries_slots_and_says_nothing():
    slots = {"disclaimer_given": True, "faq_topic": "does_it_hurt", "full_name": None}
    messages, events = run(ActionSessionStart(), tracker(slots, intent="greet"))
    assert messages == []
    assert events == [
        SessionStarted(),
        SlotSet("disclaimer_given", True),
        SlotSet("faq_topic", "does_it_hurt"),
        ActionExecuted("action_listen"),
    ]
