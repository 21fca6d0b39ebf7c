"""Safety and talking to a person, through the running Rasa server and action server.

Red flags get the safety message (a booking form included), precaution questions their
answer, the first reply carries the disclaimer once, and "can I talk to someone?" gives the
phone in opening hours and takes a callback request outside them. The time of day is
injected with CLINIC_NOW (the action server is restarted with another moment), never waited
for. Callback requests reach a real local HTTP server standing in for the clinic.
"""

from __future__ import annotations

import uuid
from typing import Dict, List

import pytest
import yaml

from tests.conftest import MODEL_PATH, ROOT
from tools.servers import start_assistant

pytestmark = pytest.mark.servers

SECRET = "safety-test-secret-0123456789abcde"
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())
PROFILE = yaml.safe_load((ROOT / "clinic.yml").read_text())
DISCLAIMER = DOMAIN["responses"]["utter_disclaimer"][0]["text"]
# The example clinic is in America/New_York: Monday 10 am is open, Sunday 10 am closed.
MONDAY_10AM = "2026-11-23T10:00:00-05:00"
SUNDAY_10AM = "2026-11-22T10:00:00-05:00"


@pytest.fixture(scope="module")
def assistant(tmp_path_factory, clinic):
    env = {
        "CLINIC_NOW": MONDAY_10AM,
        "CLINIC_BOOKING_WEBHOOK_URL": clinic.url,
        "CLINIC_WEBHOOK_SECRET": SECRET,
        "DELIVERY_POLL_SECONDS": "0.2",
    }
    running = start_assistant(MODEL_PATH, tmp_path_factory.mktemp("safety-e2e"), env)
    yield running
    running.stop()


def texts(replies: List[Dict]) -> List[str]:
    return [reply.get("text") or "" for reply in replies]


def new_sender() -> str:
    return str(uuid.uuid4())


def safety_message() -> str:
    return DOMAIN["responses"]["utter_red_flag"][0]["text"].format(
        emergency_number=PROFILE["emergency_number"],
        clinic_phone=PROFILE["phone"],
        clinic_name=PROFILE["name"],
    )


def test_a_red_flag_gets_the_safety_message_with_both_numbers(assistant):
    replies = texts(assistant.say(new_sender(), "i can't breathe properly since my needling this morning"))
    assert replies == [DISCLAIMER, safety_message()]
    assert PROFILE["emergency_number"] in replies[1] and PROFILE["phone"] in replies[1]


def test_a_red_flag_in_words_the_classifier_never_saw_is_caught(assistant):
    sender = new_sender()
    assistant.say(sender, "hello")
    assert texts(assistant.say(sender, "blood keeps gushing out of the spot on my ankle")) == [safety_message()]


def test_a_red_flag_interrupts_a_booking_form(assistant):
    sender = new_sender()
    assert any("What name" in text for text in texts(assistant.say(sender, "I'd like to book an appointment")))
    assert any("phone number or email" in text for text in texts(assistant.say(sender, "Orla Fenwick")))
    assert texts(assistant.say(sender, "wait my chest really hurts since the session")) == [safety_message()]
    # The form is over: a phone number now is not taken as a booking answer.
    after = " ".join(texts(assistant.say(sender, "212 555 0187")))
    assert "Which day and time" not in after and "Do you agree" not in after


def test_ordinary_soreness_is_an_faq_not_an_emergency(assistant, answers):
    replies = texts(assistant.say(new_sender(), "will i be sore afterwards?"))
    assert safety_message() not in replies
    assert replies[1] in (answers["side_effects"], answers["aftercare"])


def test_precautions_are_answered_without_a_verdict(assistant, answers):
    answer = answers["precautions"]
    assert texts(assistant.say(new_sender(), "i'm pregnant, can i still have dry needling?")) == [DISCLAIMER, answer]
    assert "practitioner" in answer


def test_the_disclaimer_comes_once_per_conversation(assistant):
    sender = new_sender()
    first = texts(assistant.say(sender, "does dry needling hurt?"))
    second = texts(assistant.say(sender, "how many sessions will i need?"))
    assert first[0] == DISCLAIMER and DISCLAIMER not in second


def test_in_opening_hours_a_person_means_the_phone_and_a_callback_offer(assistant, clinic):
    sender = new_sender()
    [_, offer] = assistant.say(sender, "can i talk to a real person")
    assert PROFILE["phone"] in offer["text"]
    assert [button["title"] for button in offer["buttons"]] == ["Yes, call me back", "No, thanks"]
    assert any("name" in text for text in texts(assistant.say(sender, "/request_callback")))
    assert any("phone number" in text for text in texts(assistant.say(sender, "Orla Fenwick")))
    assert any("Do you agree" in text for text in texts(assistant.say(sender, "(212) 555-0187")))
    summary = " ".join(texts(assistant.say(sender, "yes")))
    assert "callback request" in summary and "+12125550187" in summary and "Preferred time" not in summary
    done = " ".join(texts(assistant.say(sender, "yes")))
    assert "call you back as soon as they can today" in done
    reference = done.split("reference is ")[1][:8]
    assert clinic.wait_for(1, timeout=30)
    [document] = [r.json for r in clinic.received if r.reference == reference]
    assert document["kind"] == "callback" and document["phone"] == "+12125550187"
    assert document["requested_time"] is None and document["name"] == "Orla Fenwick"


def test_a_callback_needs_a_phone_number_not_an_email(assistant):
    sender = new_sender()
    assistant.say(sender, "can someone call me back")
    assistant.say(sender, "/request_callback")
    assistant.say(sender, "Orla Fenwick")
    reply = " ".join(texts(assistant.say(sender, "orla@mail.example")))
    assert "phone" in reply.lower() and "Do you agree" not in reply


def test_outside_opening_hours_the_callback_request_starts_at_once(assistant, clinic):
    assistant.env["CLINIC_NOW"] = SUNDAY_10AM
    assistant.restart_actions()
    try:
        sender = new_sender()
        replies = " ".join(texts(assistant.say(sender, "can i talk to someone")))
        assert "back Monday 23 November at 8 am" in replies
        assert replies.endswith(DOMAIN["responses"]["utter_ask_full_name"][0]["text"])
        assert any("phone number" in text for text in texts(assistant.say(sender, "Orla Fenwick")))
        assistant.say(sender, "+1 212 555 0199")
        assistant.say(sender, "yes")
        done = " ".join(texts(assistant.say(sender, "yes")))
        assert "when the clinic opens, Monday 23 November at 8 am" in done
    finally:
        assistant.env["CLINIC_NOW"] = MONDAY_10AM
        assistant.restart_actions()
