"""End to end: the real action server and Rasa server, talked to over the REST channel."""

from __future__ import annotations

import json
import uuid

import pytest
import yaml

from clinic.profile import contact_details, load_profile
from clinic.topic_files import check_faq_dir
from tests.conftest import ROOT

pytestmark = pytest.mark.servers

DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())
# Vague on purpose: it names no topic, so the assistant should ask, not guess.
VAGUE = "i was wondering about a few things"


def response_text(name: str) -> str:
    """A response's text as the visitor sees it, the clinic's contact details filled in."""
    return DOMAIN["responses"][name][0]["text"].format(**contact_details(load_profile(ROOT / "clinic.yml")))


@pytest.fixture(scope="module")
def examples():
    topics, _ = check_faq_dir(ROOT / "data" / "faq")
    return {topic.name: topic.examples for topic in topics}


@pytest.fixture(scope="module")
def assistant(website):
    """The servers shared with the website tests (conftest.py), talked to over REST here."""
    return website.assistant


def new_sender() -> str:
    return str(uuid.uuid4())


def texts(replies):
    return [reply.get("text") for reply in replies]


def opening(assistant, sender: str, message: str):
    """The replies to a conversation's first message, after the disclaimer that must lead them."""
    replies = assistant.say(sender, message)
    assert replies and replies[0].get("text") == response_text("utter_disclaimer"), replies
    return replies[1:]


def test_every_topic_is_answered_with_its_own_answer(assistant, answers, examples):
    for topic, answer in answers.items():
        question = examples[topic][0]
        assert texts(opening(assistant, new_sender(), question)) == [answer], f"{topic}: {question!r}"


def test_greeting_offers_popular_questions_as_buttons(assistant, answers):
    sender = new_sender()
    [reply] = opening(assistant, sender, "hello")
    assert reply["text"] == response_text("utter_greet")
    assert [b["title"] for b in reply["buttons"]] == ["Does it hurt?", "How many sessions?", "Is it acupuncture?"]
    # domain.yml doubles the payloads' braces, so Rasa's response templating leaves them whole
    # (with single braces it logged an ERROR for every greeting, found by the soak).
    assert reply["buttons"][0]["payload"] == '/choose_faq_topic{"faq_topic": "does_it_hurt"}'
    assert "interpolator" not in assistant.log_text()
    # Clicking a button sends its payload; the answer is that topic's.
    assert texts(assistant.say(sender, reply["buttons"][0]["payload"])) == [answers["does_it_hurt"]]


def test_off_topic_is_declined_not_answered_with_a_faq(assistant, answers):
    for message in ["what's the weather like tomorrow", "write me a poem about cats"]:
        replies = texts(opening(assistant, new_sender(), message))
        assert replies == [response_text("utter_out_of_scope")], message
        assert not set(replies) & set(answers.values())


def test_unsure_then_rephrase_then_contact_details(assistant, answers):
    sender = new_sender()
    [did_you_mean] = opening(assistant, sender, VAGUE)
    assert did_you_mean["text"] == response_text("utter_did_you_mean")
    buttons = did_you_mean["buttons"]
    assert 2 <= len(buttons) <= 4 and buttons[-1] == {"title": "None of these", "payload": "/deny"}
    assert all(b["payload"].startswith("/choose_faq_topic{") for b in buttons[:-1])

    assert texts(assistant.say(sender, "/deny")) == [response_text("utter_ask_rephrase")]

    [contact] = assistant.say(sender, VAGUE)
    profile = yaml.safe_load((ROOT / "clinic.yml").read_text())
    assert profile["phone"] in contact["text"] and profile["email"] in contact["text"]
    assert "{" not in contact["text"]


def test_a_suggested_topic_can_be_clicked_or_typed(assistant, answers):
    sender = new_sender()
    [did_you_mean] = opening(assistant, sender, VAGUE)
    first = did_you_mean["buttons"][0]
    topic = json.loads(first["payload"][len("/choose_faq_topic") :])["faq_topic"]
    assert texts(assistant.say(sender, first["payload"])) == [answers[topic]]

    sender = new_sender()
    [did_you_mean] = opening(assistant, sender, VAGUE)
    second = json.loads(did_you_mean["buttons"][1]["payload"][len("/choose_faq_topic") :])["faq_topic"]
    assert texts(assistant.say(sender, "the second one")) == [answers[second]]


def test_forged_topic_payload_is_not_trusted(assistant):
    replies = opening(assistant, new_sender(), '/choose_faq_topic{"faq_topic": "<script>alert(1)</script>"}')
    assert texts(replies) == [response_text("utter_ask_rephrase")]


def test_http_api_is_off(assistant):
    for path in ["/status", "/model", "/conversations/x/tracker", "/version"]:
        status, _ = assistant.request("GET", path)
        assert status == 404, path


PROFILE = load_profile(ROOT / "clinic.yml")


def test_two_questions_get_both_answers_in_the_order_asked(assistant, answers):
    from actions.clinic_info import cost_answer

    replies = texts(
        opening(assistant, new_sender(), "how much is the first visit and do I need a referral from my doctor")
    )
    assert replies == [cost_answer(PROFILE), PROFILE.referral]
    replies = texts(opening(assistant, new_sender(), "does it hurt? and how many sessions will I need"))
    assert replies == [answers["does_it_hurt"], answers["number_of_sessions"]]


def test_a_booking_request_beside_a_question_starts_the_form_and_answers_the_question(assistant, answers):
    replies = texts(
        opening(assistant, new_sender(), "does it help with TMJ jaw pain? if so I'd like to book in please")
    )
    assert replies[0] == response_text("utter_booking_intro")
    assert replies[1] == answers["conditions_treated"]
    assert replies[-1] == response_text("utter_ask_full_name")


def test_the_question_after_a_story_decides_the_answer(assistant, answers):
    story = (
        "Hi there, I've had lower back pain for about three years and my physio mentioned dry needling. "
        "I'm honestly terrified of needles, does it hurt much?"
    )
    assert texts(opening(assistant, new_sender(), story)) == [answers["does_it_hurt"]]


def test_a_question_no_answer_covers_gets_an_honest_decline_with_the_contact(assistant, answers):
    [reply] = opening(assistant, new_sender(), "do you guys do shockwave therapy for plantar fasciitis")
    assert reply["text"] == response_text("utter_out_of_scope")
    assert "can't answer" in reply["text"] and PROFILE.phone in reply["text"] and PROFILE.email in reply["text"]
    assert [button["payload"] for button in reply["buttons"]] == ["/human_handoff"]
