"""Safety first: urgent symptoms get a fixed safety message, whatever else was going on,
and a conversation's first message says once that the assistant gives general information,
not medical advice.

``action_red_flag`` answers the ``red_flag`` intent (chest pain or breathlessness after
treatment, fainting, fever with a hot swollen needle site, heavy bleeding, new numbness or
weakness) with ``utter_red_flag``, filled from clinic.yml (emergency number, clinic phone).
A booking form in progress is ended: the visitor has something more important to do.

``action_session_start`` replaces Rasa's default to add the disclaimer to the first message
of a conversation only (``disclaimer_given`` is carried into later sessions).
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.booking_form import end_booking
from clinic.profile import ClinicProfile, current_profile

DISCLAIMER_SLOT = "disclaimer_given"


def safety_values(profile: ClinicProfile) -> Dict[str, str]:
    """The clinic details the safety message names."""
    return {
        "emergency_number": profile.emergency_number,
        "clinic_phone": profile.phone,
        "clinic_name": profile.name,
    }


def carried_slots(tracker: Tracker) -> List[EventType]:
    """The previous session's slots, set again in the new one (the domain carries slots over)."""
    return [
        SlotSet(name, value)
        for name, value in tracker.current_slot_values().items()
        if value is not None and name != "session_started_metadata"
    ]


class ActionRedFlag(Action):
    """The fixed safety message; ends a booking form in progress."""

    def name(self) -> Text:
        return "action_red_flag"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        dispatcher.utter_message(response="utter_red_flag", **safety_values(current_profile()))
        if (tracker.active_loop or {}).get("name"):
            return end_booking()
        return []


class ActionSessionStart(Action):
    """Starts a session, carrying slots over, with the disclaimer in a conversation's first one."""

    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        events: List[EventType] = [SessionStarted()] + carried_slots(tracker)
        if not tracker.get_slot(DISCLAIMER_SLOT):
            dispatcher.utter_message(response="utter_disclaimer")
            events.append(SlotSet(DISCLAIMER_SLOT, True))
        return events + [ActionExecuted("action_listen")]
