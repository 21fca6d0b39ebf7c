"""Talking to a person: the clinic's phone in opening hours, a callback request outside them.

``action_human_handoff`` answers "can I talk to someone?". In opening hours it gives the
clinic's phone number and offers a callback request; outside them it says when the team
is back and takes the callback request straight away. During a booking it only gives the
number and hours, and the booking goes on. A callback request is the booking form with
``booking_kind`` = ``callback`` (actions/booking_form.py), so it is saved and handed to the
clinic as durably as a booking.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.booking_form import CALLBACK, FORM, clear_leftovers
from clinic import clock
from clinic.booking_validation import describe_moment
from clinic.profile import ClinicProfile, current_profile

CALLBACK_BUTTONS = [
    {"title": "Yes, call me back", "payload": "/request_callback"},
    {"title": "No, thanks", "payload": "/deny"},
]


def back_at(profile: ClinicProfile, now: datetime) -> str:
    """When the team is next in, in words (``Monday 23 November at 8 am``)."""
    upcoming = profile.next_opening(now)
    return describe_moment(upcoming.astimezone(profile.zone)) if upcoming else "soon"


def start_callback(tracker: Tracker) -> List[EventType]:
    """Clears what an earlier booking left and marks the form as a callback request."""
    return clear_leftovers(tracker) + [SlotSet("booking_kind", CALLBACK)]


class ActionHumanHandoff(Action):
    """The phone number (open) or when the team is back and a callback request (closed)."""

    def name(self) -> Text:
        return "action_human_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        profile = current_profile()
        now = clock.now()
        in_form = (tracker.active_loop or {}).get("name") == FORM
        if profile.is_open_at(now):
            dispatcher.utter_message(
                response="utter_handoff_open",
                clinic_phone=profile.phone,
                clinic_name=profile.name,
                buttons=[] if in_form else CALLBACK_BUTTONS,
            )
            return []
        dispatcher.utter_message(
            response="utter_handoff_closed", back_at=back_at(profile, now), clinic_email=profile.email
        )
        if in_form:
            return []
        dispatcher.utter_message(response="utter_callback_intro")
        return start_callback(tracker) + [FollowupAction(FORM)]


class ActionStartCallback(Action):
    """Starts a callback request (the visitor said yes to the offer)."""

    def name(self) -> Text:
        return "action_start_callback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        dispatcher.utter_message(response="utter_callback_intro")
        return start_callback(tracker)
