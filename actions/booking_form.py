"""The booking conversation: ``booking_form`` asks for a name, a phone or email, a preferred
day and time and consent, then shows a summary to confirm or correct.

The same form takes a callback request (``booking_kind`` = ``callback``, started by
actions/handoff.py): a name, a phone number and consent, no day and time. Both are saved
and handed to the clinic the same durable way, with the kind in the document.

Every value is checked here, in the action server (``ValidateBookingForm``), because a
visitor can set slots directly by typing ``/book_appointment{...}``; the final action
checks all of them once more before anything is saved. Three failed tries at one
question end the form with the clinic's phone number instead of looping.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import replace
from datetime import date, datetime
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from clinic import clock
from clinic.booking_store import NewBooking
from clinic.booking_validation import (
    describe_day,
    describe_hours,
    describe_moment,
    parse_contact,
    parse_email,
    parse_name,
    parse_phone,
    parse_preferred_time,
)
from clinic.profile import ClinicProfile, current_profile
from clinic.text import has_unprintable

logger = logging.getLogger(__name__)

FORM = "booking_form"
# The form's required slots, in the order Rasa asks for them: domain.yml lists them for Rasa,
# this list is what the final check requires (tests/test_booking_form.py keeps them equal).
REQUIRED = ["full_name", "contact", "preferred_time", "consent", "booking_confirmed"]
HELPERS = [
    "phone",
    "email",
    "preferred_time_text",
    "preferred_day",
    "booking_tries",
    "booking_stopped",
    "booking_change",
    "booking_kind",
]
CALLBACK = "callback"
MAX_TRIES = 3
MAX_TEXT = 200
CHANGE_BUTTONS = [
    {"title": "My name", "payload": '/change_booking{"booking_field": "full_name"}'},
    {"title": "Phone or email", "payload": '/change_booking{"booking_field": "contact"}'},
    {"title": "Day and time", "payload": '/change_booking{"booking_field": "preferred_time"}'},
]
FIELD_WORDS = {
    "full_name": ("name",),
    "contact": ("phone", "number", "email", "e-mail", "mail", "contact", "mobile", "cell"),
    "preferred_time": ("time", "day", "date", "when", "hour", "morning", "afternoon", "evening"),
}
YES_WORDS = {
    "yes",
    "yep",
    "yeah",
    "ok",
    "okay",
    "sure",
    "agree",
    "i agree",
    "fine",
    "y",
    "correct",
    "confirm",
    "go ahead",
    "send",
    "send it",
}
NO_WORDS = {"no", "nope", "nah", "n", "don't", "do not", "disagree", "not ok"}


def is_callback(tracker: Tracker) -> bool:
    """Whether the form is taking a callback request rather than a booking."""
    return tracker.get_slot("booking_kind") == CALLBACK


def reset_booking() -> List[EventType]:
    """Clears every booking slot, so the next booking starts empty."""
    return [SlotSet(slot, None) for slot in REQUIRED + HELPERS]


def end_booking() -> List[EventType]:
    """Stops the form where it is and clears every booking slot."""
    return [ActiveLoop(None), SlotSet("requested_slot", None)] + reset_booking()


def clear_leftovers(tracker: Tracker) -> List[EventType]:
    """Clears only the booking slots an earlier booking left set: a slot set when a form starts
    is handed to its validator, so an empty one is left alone."""
    return [SlotSet(slot, None) for slot in REQUIRED + HELPERS if tracker.get_slot(slot) is not None]


IDENTIFYING_SLOTS = ("full_name", "contact", "phone", "email")


def typed_details(tracker: Tracker) -> List[str]:
    """What identifies the visitor in this booking: the name and contact slots' values, and
    everything they typed when the form asked for their name or their phone or email."""
    found = [str(tracker.get_slot(slot)) for slot in IDENTIFYING_SLOTS if tracker.get_slot(slot)]
    asking = None
    for event in tracker.events:
        if event.get("event") == "slot" and event.get("name") == "requested_slot":
            asking = event.get("value")
        elif event.get("event") == "slot" and event.get("name") in IDENTIFYING_SLOTS and event.get("value"):
            found.append(str(event["value"]))
        elif event.get("event") == "user" and asking in ("full_name", "contact") and event.get("text"):
            found.append(event["text"])
    return found


async def forget_typed_details(tracker: Tracker) -> None:
    """Takes the visitor's name and contact details out of the stored conversation at once: the
    booking stopped, and the visitor is told nothing was kept."""
    running = services.current()
    if running is None or running.conversations is None:
        logger.warning("booking stopped: the conversation store is not open here, details not removed")
        return
    try:
        changed = await asyncio.to_thread(running.conversations.scrub, tracker.sender_id, typed_details(tracker))
    except Exception as error:  # noqa: BLE001 - the visitor's stop must still be answered
        logger.error("booking stopped: removing the typed details failed (%s)", type(error).__name__)
        return
    logger.info("booking stopped: the typed details removed from %d stored events", changed)


def contact_slots(found: Dict[str, Optional[str]]) -> Dict[str, Any]:
    """The slots for a checked phone and/or email; ``contact`` is what the summary shows."""
    shown = " and ".join(part for part in (found["phone"], found["email"]) if part)
    return {"contact": shown, "phone": found["phone"], "email": found["email"]}


def time_slots(when: datetime, words: str) -> Dict[str, Any]:
    """The slots for a checked day and time, with the visitor's own words for it."""
    return {"preferred_time": when.isoformat(), "preferred_time_text": words[:MAX_TEXT], "preferred_day": None}


def field_named(text: str, entities: List[Dict[str, Any]]) -> Optional[str]:
    """Which detail a visitor wants to change: from a button's entity, else from their words."""
    for entity in entities or []:
        if entity.get("entity") == "booking_field" and entity.get("value") in FIELD_WORDS:
            return entity["value"]
    words = set(re.findall(r"[a-z-]+", (text or "").lower()))
    for field, keys in FIELD_WORDS.items():
        if words & set(keys):
            return field
    return None


def yes_or_no(text: str) -> Optional[bool]:
    """A typed yes or no, when the NLU did not already say affirm or deny."""
    cleaned = " ".join((text or "").lower().replace("!", " ").replace(".", " ").split())
    if cleaned in YES_WORDS or cleaned.startswith(("yes ", "yeah ", "sure ", "ok ", "i agree")):
        return True
    if cleaned in NO_WORDS or cleaned.startswith(("no ", "nope ", "i don't", "i do not")):
        return False
    return None


def too_many_tries(tries: float, profile: ClinicProfile, dispatcher: CollectingDispatcher) -> Dict[str, Any]:
    """After the third failed try at one question: offer the phone and stop the form."""
    if tries < MAX_TRIES:
        return {"booking_tries": tries}
    dispatcher.utter_message(
        response="utter_booking_too_many_tries", clinic_phone=profile.phone, clinic_email=profile.email
    )
    return {"booking_tries": 0.0, "booking_stopped": True}


class ValidateBookingForm(FormValidationAction):
    """Checks each answer as it comes; a bad one is asked again with a reason."""

    def name(self) -> Text:
        return "validate_booking_form"

    async def required_slots(
        self, domain_slots: List[Text], dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict
    ) -> List[Text]:
        # A stopped form (too many tries, no consent) has nothing left to ask.
        if tracker.get_slot("booking_stopped"):
            return []
        if is_callback(tracker):  # a callback needs no day and time
            return [slot for slot in domain_slots if slot != "preferred_time"]
        return domain_slots

    def _failed(self, problem: str, slot: str, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        dispatcher.utter_message(text=problem)
        result = {slot: None}
        result.update(too_many_tries((tracker.get_slot("booking_tries") or 0) + 1, current_profile(), dispatcher))
        return result

    def validate_full_name(self, value: Any, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        if value is None:  # cleared, not answered: nothing to check
            return {}
        parsed = parse_name(str(value or ""))
        if not parsed.ok:
            return self._failed(parsed.problem, "full_name", dispatcher, tracker)
        return {"full_name": parsed.value, "booking_tries": 0.0}

    def validate_contact(self, value: Any, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        if value is None:
            return {}
        profile = current_profile()
        if is_callback(tracker):
            phone = parse_phone(str(value or ""), profile.country)
            if not phone.ok or phone.value is None:
                problem = (
                    phone.problem or "The team needs a phone number to call you back. Which number should they call?"
                )
                return self._failed(problem, "contact", dispatcher, tracker)
            return {**contact_slots({"phone": phone.value, "email": None}), "booking_tries": 0.0}
        parsed = parse_contact(str(value or ""), profile.country)
        if not parsed.ok:
            return self._failed(parsed.problem, "contact", dispatcher, tracker)
        return {**contact_slots(parsed.value), "booking_tries": 0.0}

    def validate_preferred_time(self, value: Any, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        if value is None:
            return {}
        profile = current_profile()
        if tracker.get_slot("requested_slot") != "preferred_time" and valid_moment(value, profile, clock.now()):
            # Taken from the message that started the booking ("can I come Tuesday at 5?"),
            # already read and checked by ActionStartBooking.
            return {"preferred_time": value}
        text = str(value or "")[:MAX_TEXT]
        hint = _day_or_none(tracker.get_slot("preferred_day"))
        parsed = parse_preferred_time(text, profile, clock.now(), day_hint=hint)
        if not parsed.ok:
            return self._failed(parsed.problem, "preferred_time", dispatcher, tracker)
        if "day" in parsed.value:  # a day the clinic is open, but no time yet: ask for one
            day: date = parsed.value["day"]
            return {
                "preferred_time": None,
                "preferred_day": day.isoformat(),
                "preferred_time_text": text,
                "booking_tries": 0.0,
            }
        earlier = tracker.get_slot("preferred_time_text") if hint else None
        words = f"{earlier}, {text}" if earlier and earlier != text else text
        return {**time_slots(parsed.value["when"], words), "booking_tries": 0.0}

    async def validate_consent(self, value: Any, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        if value is None:
            return {}
        answer = value if isinstance(value, bool) else yes_or_no(str(value or ""))
        if answer is None:
            return self._failed("Please answer yes or no.", "consent", dispatcher, tracker)
        if answer is False:
            profile = current_profile()
            await forget_typed_details(tracker)
            dispatcher.utter_message(response="utter_booking_no_consent", clinic_phone=profile.phone)
            return {"consent": False, "booking_stopped": True, "booking_tries": 0.0}
        return {"consent": True, "booking_tries": 0.0}

    def validate_booking_confirmed(self, value: Any, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        if value is None:
            return {}
        latest = tracker.latest_message or {}
        text = str(latest.get("text") or "")
        field = field_named(text, latest.get("entities") or [])
        answer = value if isinstance(value, bool) else yes_or_no(text)
        if answer is True and field is None:
            return {"booking_confirmed": True, "booking_change": None, "booking_tries": 0.0}
        if field is not None:  # "change the time", or a button naming the detail: ask it again
            cleared: Dict[str, Any] = {
                field: None,
                "booking_confirmed": None,
                "booking_change": None,
                "booking_tries": 0.0,
            }
            if field == "contact":
                cleared.update(phone=None, email=None)
            if field == "preferred_time":
                cleared.update(preferred_time_text=None, preferred_day=None)
            return cleared
        if answer is False or value == "change":  # "no" or "change something": ask which detail
            return {"booking_confirmed": None, "booking_change": "ask", "booking_tries": 0.0}
        corrected = self._corrected_detail(text)
        if corrected:  # the visitor typed the new value straight away ("wednesday at 2pm")
            return {**corrected, "booking_confirmed": None, "booking_change": None, "booking_tries": 0.0}
        return self._failed(
            "Sorry, I didn't follow. Shall I send the request as it is, or would you like to change something?",
            "booking_confirmed",
            dispatcher,
            tracker,
        )

    @staticmethod
    def _corrected_detail(text: str) -> Dict[str, Any]:
        """A new phone, email or day and time typed at the summary, already checked; else {}."""
        profile = current_profile()
        contact = parse_contact(text, profile.country)
        if contact.ok:
            return contact_slots(contact.value)
        moment = parse_preferred_time(text[:MAX_TEXT], profile, clock.now())
        if moment.ok and "when" in moment.value:
            return time_slots(moment.value["when"], text)
        return {}


def _day_or_none(value: Any) -> Optional[date]:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


DAY_WORDS = re.compile(
    r"\b(today|tonight|tomorrow|tmrw|next|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|"
    r"(mon|tues|wednes|thurs|fri|satur|sun)day|jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|"
    r"\d{1,2}(st|nd|rd|th)|\d{1,2}(:\d\d)?\s*(am|pm))\b",
    re.IGNORECASE,
)


def valid_moment(value: Any, profile: ClinicProfile, now: datetime) -> bool:
    """Whether ``value`` is an ISO time with an offset, in the future, when the clinic is open."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return False
    return moment.tzinfo is not None and moment > now and profile.is_open_at(moment)


def time_from_opening_message(text: str, profile: ClinicProfile, now: datetime) -> Dict[str, Any]:
    """Slots for a day and time named in the message that started the booking, else {}.

    Only a message that names a day ("can I come Tuesday at 5?") is read; a day the
    clinic is open without a time leaves the day for the time question to build on.
    Anything refused (closed, past) is left for the form to ask, with its reasons.
    """
    if not DAY_WORDS.search(text or ""):
        return {}
    parsed = parse_preferred_time(text[:MAX_TEXT], profile, now)
    if not parsed.ok:
        return {}
    if "when" in parsed.value and not parsed.value.get("asap"):
        return {"preferred_time": parsed.value["when"].isoformat(), "preferred_time_text": text[:MAX_TEXT]}
    if "day" in parsed.value:
        return {"preferred_day": parsed.value["day"].isoformat(), "preferred_time_text": text[:MAX_TEXT]}
    return {}


class ActionStartBooking(Action):
    """Says how booking works, and keeps a day and time the visitor already named."""

    def name(self) -> Text:
        return "action_start_booking"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        dispatcher.utter_message(response="utter_booking_intro")
        text = str((tracker.latest_message or {}).get("text") or "")
        found = time_from_opening_message(text, current_profile(), clock.now())
        return clear_leftovers(tracker) + [SlotSet(slot, value) for slot, value in found.items()]


class ActionAskPreferredTime(Action):
    """Asks for a day and time, or only the time when the visitor already gave a day."""

    def name(self) -> Text:
        return "action_ask_preferred_time"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        profile = current_profile()
        day = _day_or_none(tracker.get_slot("preferred_day"))
        if day:
            dispatcher.utter_message(
                response="utter_ask_time_on_day", day=describe_day(day), hours=describe_hours(profile, day)
            )
        else:
            dispatcher.utter_message(response="utter_ask_preferred_time")
        return []


class ActionAskConsent(Action):
    """Shows the privacy notice and asks for explicit consent to be contacted."""

    def name(self) -> Text:
        return "action_ask_consent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        profile = current_profile()
        dispatcher.utter_message(
            response="utter_ask_consent", clinic_name=profile.name, privacy_notice=profile.privacy_notice
        )
        return []


def summary_text(tracker: Tracker, profile: ClinicProfile) -> Dict[str, str]:
    """The template values of the summary the visitor confirms."""
    when = tracker.get_slot("preferred_time")
    try:
        moment = datetime.fromisoformat(when).astimezone(profile.zone) if when else None
    except ValueError:
        moment = None
    return {
        "full_name": tracker.get_slot("full_name") or "",
        "contact": tracker.get_slot("contact") or "",
        "when": describe_moment(moment) if moment else "",
    }


class ActionAskBookingConfirmed(Action):
    """The summary to confirm or correct; or, after a "no", which detail to change."""

    def name(self) -> Text:
        return "action_ask_booking_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        callback = is_callback(tracker)
        if tracker.get_slot("booking_change") == "ask":
            buttons = CHANGE_BUTTONS[:2] if callback else CHANGE_BUTTONS
            dispatcher.utter_message(response="utter_ask_what_to_change", buttons=buttons)
            return []
        values = summary_text(tracker, current_profile())
        dispatcher.utter_message(response="utter_callback_summary" if callback else "utter_booking_summary", **values)
        return []


class ActionAskContact(Action):
    """Asks for a phone number or email; for a callback, for a phone number."""

    def name(self) -> Text:
        return "action_ask_contact"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        dispatcher.utter_message(response="utter_ask_callback_phone" if is_callback(tracker) else "utter_ask_contact")
        return []


def checked_booking(slots: Dict[str, Any], profile: ClinicProfile, now: datetime):
    """Checks every slot once more and builds what is saved; None when anything is off.

    The form validated each answer, but slots can also be set by anything the visitor
    types as ``/intent{...}``, so nothing is saved on trust.
    """
    name = parse_name(str(slots.get("full_name") or ""))
    phone = slots.get("phone")
    email = slots.get("email")
    if phone is not None and parse_phone(str(phone), profile.country).value != phone:
        return None
    if email is not None and parse_email(str(email)) != email:
        return None
    if slots.get("booking_kind") == CALLBACK:
        if (
            not name.ok
            or name.value != slots.get("full_name")
            or not phone
            or slots.get("consent") is not True
            or slots.get("booking_confirmed") is not True
        ):
            return None
        return NewBooking(
            kind=CALLBACK,
            name=name.value,
            phone=phone,
            email=email,
            requested_time=None,
            requested_time_text=None,
            timezone=profile.timezone,
            consent_at=now,
        )
    if slots.get("booking_kind") not in (None, "booking"):
        return None
    try:
        when = datetime.fromisoformat(str(slots.get("preferred_time")))
    except ValueError:
        return None
    if (
        not name.ok
        or name.value != slots.get("full_name")
        or not (phone or email)
        or when.tzinfo is None
        or when <= now
        or not profile.is_open_at(when)
        or slots.get("consent") is not True
        or slots.get("booking_confirmed") is not True
        or has_unprintable(str(slots.get("preferred_time_text") or ""))
    ):
        return None
    return NewBooking(
        kind="booking",
        name=name.value,
        phone=phone,
        email=email,
        requested_time=when.astimezone(profile.zone),
        requested_time_text=str(slots.get("preferred_time_text") or "")[:MAX_TEXT] or None,
        timezone=profile.timezone,
        consent_at=now,
    )


class ActionFinishBooking(Action):
    """After the form: save the request durably, then (only then) give the reference."""

    def name(self) -> Text:
        return "action_finish_booking"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        if tracker.get_slot("booking_stopped") or tracker.get_slot("booking_confirmed") is not True:
            return reset_booking()  # the form already told the visitor why it stopped
        profile = current_profile()
        now = clock.now()
        booking = checked_booking(tracker.current_slot_values(), profile, now)
        running = services.current()
        if booking is None:
            logger.warning("booking not saved: a slot failed the final check")
            dispatcher.utter_message(response="utter_booking_not_saved", clinic_phone=profile.phone)
            return reset_booking()
        if running is None:
            logger.error("booking not saved: the booking store is not running in this action server")
            dispatcher.utter_message(response="utter_booking_not_saved", clinic_phone=profile.phone)
            return reset_booking()
        saved_at = clock.now()
        booking = replace(booking, consent_at=saved_at)
        try:
            stored = await asyncio.to_thread(running.store.save, booking, running.delivery.channels, saved_at)
        except Exception as error:  # noqa: BLE001 - any failure to save is told to the visitor
            logger.error("booking not saved: %s", type(error).__name__)
            dispatcher.utter_message(response="utter_booking_not_saved", clinic_phone=profile.phone)
            return reset_booking()
        logger.info("%s %s saved", booking.kind, stored.reference)
        running.worker.wake()
        if booking.kind == CALLBACK:
            dispatcher.utter_message(
                response="utter_callback_saved",
                reference=stored.reference,
                callback_time=callback_time(profile, now),
                clinic_phone=profile.phone,
            )
            return reset_booking()
        dispatcher.utter_message(
            response="utter_booking_saved",
            reference=stored.reference,
            reply_time=profile.booking_reply_time,
            clinic_phone=profile.phone,
        )
        return reset_booking()


def callback_time(profile: ClinicProfile, now: datetime) -> str:
    """When the team can call back: "soon" in opening hours, else when the clinic next opens."""
    if profile.is_open_at(now):
        return "as soon as they can today"
    upcoming = profile.next_opening(now)
    return (
        f"when the clinic opens, {describe_moment(upcoming.astimezone(profile.zone))}"
        if upcoming
        else "as soon as they can"
    )


class ActionCancelBooking(Action):
    """The visitor stopped the booking: nothing is saved, every booking slot is cleared."""

    def name(self) -> Text:
        return "action_cancel_booking"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        await forget_typed_details(tracker)
        dispatcher.utter_message(response="utter_booking_cancelled")
        return end_booking()
