"""Answers about the clinic itself (hours, location, contact, cost, referral, what to wear,
children), written from ``clinic.yml``.

The answers come from the profile, not from training data, so a clinic changes them
by editing the file and restarting the action server.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from clinic import clock
from clinic.booking_validation import describe_hours, describe_moment
from clinic.feedback import answer_mark
from clinic.profile import WEEKDAYS, ClinicProfile, current_profile

BOOK_BUTTON = {"title": "Request an appointment", "payload": "/book_appointment"}


def book_buttons(tracker: Tracker) -> List[Dict[str, str]]:
    """Offer to book, unless the visitor is already in the middle of a booking."""
    return [] if (tracker.active_loop or {}).get("name") else [dict(BOOK_BUTTON)]


def weekly_hours(profile: ClinicProfile, now: datetime) -> List[str]:
    """One line per weekday, like ``Monday: 8 am to 6 pm`` or ``Sunday: closed``, Monday first."""
    today = now.astimezone(profile.zone).date()
    monday = today - timedelta(days=today.weekday())
    return [
        f"{name.capitalize()}: {describe_hours(profile, monday + timedelta(days=offset)) or 'closed'}"
        for offset, name in enumerate(WEEKDAYS)
    ]


def open_now_line(profile: ClinicProfile, now: datetime) -> str:
    """Whether the clinic is open right now, and when it next opens if not."""
    if profile.is_open_at(now):
        return "We're open right now."
    upcoming = profile.next_opening(now)
    return f"We're closed right now; we open again {describe_moment(upcoming)}." if upcoming else ""


def hours_answer(profile: ClinicProfile, now: datetime) -> str:
    """The opening-hours answer."""
    return "\n".join(
        [f"{profile.name} is open (times are {profile.timezone} time):"]
        + weekly_hours(profile, now)
        + [open_now_line(profile, now)]
    ).strip()


def location_answer(profile: ClinicProfile) -> str:
    """The address, and directions when the profile has them."""
    text = f"You'll find {profile.name} at {profile.address}."
    return f"{text} {profile.directions}" if profile.directions else text


def contact_answer(profile: ClinicProfile) -> str:
    """How to reach the clinic."""
    return (
        f"You can call {profile.name} on {profile.phone} or email {profile.email}. "
        "I can also pass a booking request to the team for you."
    )


def cost_answer(profile: ClinicProfile) -> str:
    """The price list and the insurance text."""
    prices = [f"- {line.item}: {line.price}" for line in profile.prices]
    return "\n".join(["Our prices:"] + prices + [profile.insurance])


# The intents answered by one of the clinic's own sentences in clinic.yml, and which one.
FACT_FIELDS = {"ask_referral": "referral", "ask_what_to_wear": "what_to_wear", "ask_children": "children"}


def fact_answer(profile: ClinicProfile, intent: str) -> str:
    """The clinic's own answer to a question about coming in; when the clinic has not written one,
    an honest "can't answer" with its contact details (a policy is never guessed)."""
    text = getattr(profile, FACT_FIELDS[intent], "") if intent in FACT_FIELDS else ""
    return text or (
        f"Sorry, I can't answer that one. The team at {profile.name} can: call {profile.phone} or email {profile.email}."
    )


def answered_topic(profile: ClinicProfile, intent: str) -> Optional[str]:
    """The topic a clinic answer is on (its intent), for the widget's "Helpful?"; None when the
    clinic has not written that fact and the answer is the honest "can't answer"."""
    if intent in FACT_FIELDS and not getattr(profile, FACT_FIELDS[intent], ""):
        return None
    return intent


def clinic_answer(profile: ClinicProfile, intent: str, now: datetime) -> str:
    """The answer to any question about the clinic, by intent (also for a second question in a message)."""
    if intent == "ask_hours":
        return hours_answer(profile, now)
    if intent == "ask_location":
        return location_answer(profile)
    if intent == "ask_contact":
        return contact_answer(profile)
    if intent == "ask_cost":
        return cost_answer(profile)
    return fact_answer(profile, intent)


class ActionTellClinicFact(Action):
    """Referral, what to wear, children: one of the clinic's own sentences, by intent."""

    def name(self) -> Text:
        return "action_tell_clinic_fact"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]):
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name") or ""
        profile = current_profile()
        dispatcher.utter_message(text=fact_answer(profile, intent), **answer_mark(answered_topic(profile, intent)))
        return []


class ActionTellHours(Action):
    def name(self) -> Text:
        return "action_tell_hours"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]):
        dispatcher.utter_message(
            text=hours_answer(current_profile(), clock.now()), buttons=book_buttons(tracker), **answer_mark("ask_hours")
        )
        return []


class ActionTellLocation(Action):
    def name(self) -> Text:
        return "action_tell_location"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]):
        dispatcher.utter_message(text=location_answer(current_profile()), **answer_mark("ask_location"))
        return []


class ActionTellContact(Action):
    def name(self) -> Text:
        return "action_tell_contact"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]):
        dispatcher.utter_message(
            text=contact_answer(current_profile()), buttons=book_buttons(tracker), **answer_mark("ask_contact")
        )
        return []


class ActionTellCost(Action):
    def name(self) -> Text:
        return "action_tell_cost"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]):
        dispatcher.utter_message(text=cost_answer(current_profile()), **answer_mark("ask_cost"))
        return []
