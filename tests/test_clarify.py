"""The clarifying actions, run on trackers built from events (like rasa-sdk's own tests)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.clarify import (
    CONTACT,
    REPHRASE,
    SUGGEST,
    ActionAnswerChosenTopic,
    ActionClarifyTopic,
    clarifying_step,
    suggestion_buttons,
    unclear_turns_before,
)
from actions.faq_topics import choose_topic_payload, chosen_topic, closest_topics, topic_labels
from clinic.profile import current_profile

pytestmark = pytest.mark.unit


def user(text: str, intent: str, ranking: Optional[List[Dict[str, Any]]] = None, entities=None) -> Dict[str, Any]:
    parse = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": entities or []}
    if ranking is not None:
        parse["response_selector"] = {"faq": {"ranking": ranking, "response": {}}}
    return {"event": "user", "text": text, "parse_data": parse}


def action(name: str) -> Dict[str, Any]:
    return {"event": "action", "name": name}


def tracker_from(events: List[Dict[str, Any]]) -> Tracker:
    latest = next(e["parse_data"] for e in reversed(events) if e["event"] == "user")
    return Tracker("visitor", {}, latest, events, False, None, {}, "action_listen")


def run(action_class, events):
    dispatcher = CollectingDispatcher()
    result = asyncio.run(action_class().run(dispatcher, tracker_from(events), {}))
    return dispatcher.messages, result


RANKING = [
    {"intent_response_key": "faq/does_it_hurt", "confidence": 0.41},
    {"intent_response_key": "faq/side_effects", "confidence": 0.33},
    {"intent_response_key": "faq/twitch_response", "confidence": 0.12},
    {"intent_response_key": "faq/needles", "confidence": 0.08},
]


def test_unclear_turns_counts_consecutive_clarifications():
    events = [
        action("action_listen"),
        user("hi", "greet"),
        action("utter_greet"),
        action("action_listen"),
        user("hmm", "nlu_fallback"),
        action("action_clarify_topic"),
        action("action_listen"),
        user("no", "deny"),
        action("action_clarify_topic"),
        action("action_listen"),
        user("blah", "nlu_fallback"),
    ]
    assert unclear_turns_before(events) == 2
    assert unclear_turns_before(events[:5]) == 0


def test_unclear_turns_reset_after_an_answer():
    events = [
        user("hmm", "nlu_fallback"),
        action("action_clarify_topic"),
        action("action_listen"),
        user("does it hurt", "faq"),
        action("utter_faq"),
        action("action_listen"),
        user("blah", "nlu_fallback"),
    ]
    assert unclear_turns_before(events) == 0


@pytest.mark.parametrize(
    "before, has_suggestions, step",
    [(0, True, SUGGEST), (0, False, REPHRASE), (1, True, REPHRASE), (2, True, CONTACT), (3, True, SUGGEST)],
)
def test_clarifying_steps_in_order(before, has_suggestions, step):
    assert clarifying_step(before, has_suggestions) == step


def test_closest_topics_follow_the_selector_ranking():
    parse = {"response_selector": {"faq": {"ranking": RANKING}}}
    assert closest_topics(parse, topic_labels()) == ["does_it_hurt", "side_effects", "twitch_response"]
    assert closest_topics(parse, topic_labels(), min_confidence=0.3) == ["does_it_hurt", "side_effects"]
    assert closest_topics({}, topic_labels()) == []


def test_closest_topics_skip_unknown_topics():
    parse = {"response_selector": {"faq": {"ranking": [{"intent_response_key": "faq/made_up", "confidence": 0.9}]}}}
    assert closest_topics(parse, topic_labels()) == []


def test_first_unclear_message_offers_did_you_mean_buttons():
    messages, events = run(ActionClarifyTopic, [action("action_listen"), user("ouch?", "nlu_fallback", RANKING)])
    assert events == []
    assert len(messages) == 1
    assert messages[0]["response"] == "utter_did_you_mean"
    labels = topic_labels()
    assert messages[0]["buttons"] == [
        {"title": labels["does_it_hurt"], "payload": '/choose_faq_topic{"faq_topic": "does_it_hurt"}'},
        {"title": labels["side_effects"], "payload": '/choose_faq_topic{"faq_topic": "side_effects"}'},
        {"title": labels["twitch_response"], "payload": '/choose_faq_topic{"faq_topic": "twitch_response"}'},
        {"title": "None of these", "payload": "/deny"},
    ]


def test_after_did_you_mean_a_no_asks_to_rephrase():
    events = [
        user("ouch?", "nlu_fallback", RANKING),
        action("action_clarify_topic"),
        action("action_listen"),
        user("/deny", "deny"),
    ]
    messages, _ = run(ActionClarifyTopic, events)
    assert [m["response"] for m in messages] == ["utter_ask_rephrase"]
    assert messages[0]["buttons"] == []


def test_third_unclear_turn_gives_the_clinic_contact_details():
    events = [
        user("ouch?", "nlu_fallback", RANKING),
        action("action_clarify_topic"),
        action("action_listen"),
        user("/deny", "deny"),
        action("action_clarify_topic"),
        action("action_listen"),
        user("xyz", "nlu_fallback", RANKING),
    ]
    messages, _ = run(ActionClarifyTopic, events)
    profile = current_profile()
    assert messages[0]["response"] == "utter_contact_clinic"
    assert messages[0]["clinic_phone"] == profile.phone
    assert messages[0]["clinic_email"] == profile.email
    assert messages[0]["clinic_name"] == profile.name


def test_suggestion_buttons_end_with_none_of_these():
    buttons = suggestion_buttons(["needles"], {"needles": "About the needles"})
    assert buttons == [
        {"title": "About the needles", "payload": choose_topic_payload("needles")},
        {"title": "None of these", "payload": "/deny"},
    ]
    assert json.loads(buttons[0]["payload"][len("/choose_faq_topic") :]) == {"faq_topic": "needles"}


def test_chosen_topic_is_answered_with_its_response():
    entities = [{"entity": "faq_topic", "value": "needles"}]
    messages, events = run(ActionAnswerChosenTopic, [user("/choose_faq_topic", "choose_faq_topic", entities=entities)])
    assert events == []
    assert [m["response"] for m in messages] == ["utter_faq/needles"]


def test_unknown_chosen_topic_is_not_trusted():
    entities = [{"entity": "faq_topic", "value": "../../etc/passwd"}]
    messages, _ = run(ActionAnswerChosenTopic, [user("/choose_faq_topic", "choose_faq_topic", entities=entities)])
    assert [m["response"] for m in messages] == ["utter_ask_rephrase"]
    assert chosen_topic(entities, topic_labels()) is None


def test_every_topic_has_a_short_label():
    labels = topic_labels()
    assert len(labels) == 21  # one label per topic file in data/faq/
    assert all(0 < len(label) <= 40 for label in labels.values())


def bot_with_buttons(topics: List[str]) -> Dict[str, Any]:
    return {
        "event": "bot",
        "text": "Did you mean one of these?",
        "data": {"buttons": suggestion_buttons(topics, topic_labels())},
    }


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("the first one", "does_it_hurt"),
        ("2nd one pls", "side_effects"),
        ("the last one", "twitch_response"),
        ("option 3", "twitch_response"),
    ],
)
def test_typed_choice_picks_from_the_last_suggestions(typed, expected):
    events = [
        user("ouch?", "nlu_fallback", RANKING),
        action("action_clarify_topic"),
        bot_with_buttons(["does_it_hurt", "side_effects", "twitch_response"]),
        action("action_listen"),
        user(typed, "choose_faq_topic"),
    ]
    messages, _ = run(ActionAnswerChosenTopic, events)
    assert [m["response"] for m in messages] == [f"utter_faq/{expected}"]


def test_typed_choice_without_suggestions_asks_to_rephrase():
    messages, _ = run(ActionAnswerChosenTopic, [user("the second one", "choose_faq_topic")])
    assert [m["response"] for m in messages] == ["utter_ask_rephrase"]


def test_typed_choice_beyond_the_suggestions_asks_to_rephrase():
    events = [bot_with_buttons(["needles"]), action("action_listen"), user("the third one", "choose_faq_topic")]
    messages, _ = run(ActionAnswerChosenTopic, events)
    assert [m["response"] for m in messages] == ["utter_ask_rephrase"]
