"""The response-selector fallback turns weak topic predictions into nlu_fallback."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from clinic_nlu.topic_guard import ResponseSelectorFallback, topic_is_uncertain

pytestmark = pytest.mark.unit


def ranking(*confidences):
    return [{"id": i, "confidence": c, "intent_response_key": f"faq/topic_{i}"} for i, c in enumerate(confidences)]


@pytest.mark.parametrize(
    "confidences, uncertain",
    [((0.9, 0.05), False), ((0.45, 0.1), True), ((0.55, 0.5), True), ((0.6, 0.45), False), ((), True), ((0.7,), False)],
)
def test_uncertainty_rule(confidences, uncertain):
    assert topic_is_uncertain(ranking(*confidences), threshold=0.5, ambiguity_threshold=0.1) is uncertain


def message(intent: str, *confidences) -> Message:
    return Message(
        data={
            "text": "something",
            "intent": {"name": intent, "confidence": 0.97},
            "intent_ranking": [{"name": intent, "confidence": 0.97}, {"name": "greet", "confidence": 0.02}],
            "response_selector": {"faq": {"ranking": ranking(*confidences), "response": {}}},
        }
    )


def guard() -> ResponseSelectorFallback:
    return ResponseSelectorFallback({"retrieval_intent": "faq", "threshold": 0.5, "ambiguity_threshold": 0.1})


def test_weak_topic_becomes_nlu_fallback_and_keeps_the_ranking():
    [msg] = guard().process([message("faq", 0.3, 0.25)])
    assert msg.get("intent") == {"name": "nlu_fallback", "confidence": 0.3}
    assert [entry["name"] for entry in msg.get("intent_ranking")] == ["nlu_fallback", "faq", "greet"]
    assert msg.get("response_selector")["faq"]["ranking"][0]["intent_response_key"] == "faq/topic_0"


def test_confident_topic_is_left_alone():
    [msg] = guard().process([message("faq", 0.92, 0.03)])
    assert msg.get("intent") == {"name": "faq", "confidence": 0.97}


def test_other_intents_are_left_alone():
    [msg] = guard().process([message("greet", 0.2, 0.19)])
    assert msg.get("intent")["name"] == "greet"


def test_defaults_are_complete():
    assert set(ResponseSelectorFallback.get_default_config()) == {
        "retrieval_intent",
        "threshold",
        "ambiguity_threshold",
        "rescue_threshold",
    }
    assert ResponseSelectorFallback.get_default_config()["rescue_threshold"] is None  # off unless configured


def unsure_intent(*confidences) -> Message:
    """What FallbackClassifier leaves when no intent was confident."""
    msg = message("nlu_fallback", *confidences)
    msg.data["intent"] = {"name": "nlu_fallback", "confidence": 0.6}
    msg.data["intent_ranking"] = [
        {"name": "nlu_fallback", "confidence": 0.6},
        {"name": "ask_hours", "confidence": 0.49},
        {"name": "faq", "confidence": 0.3},
    ]
    return msg


def rescuer() -> ResponseSelectorFallback:
    return ResponseSelectorFallback(
        {"retrieval_intent": "faq", "threshold": 0.3, "ambiguity_threshold": 0.0, "rescue_threshold": 0.8}
    )


def test_a_very_sure_topic_answers_when_only_the_intent_was_unsure():
    [msg] = rescuer().process([unsure_intent(0.98, 0.01)])
    assert msg.get("intent") == {"name": "faq", "confidence": 0.98}
    assert [entry["name"] for entry in msg.get("intent_ranking")] == ["faq", "ask_hours"]


def test_a_merely_likely_topic_stays_a_fallback():
    [msg] = rescuer().process([unsure_intent(0.77, 0.1)])
    assert msg.get("intent")["name"] == "nlu_fallback"


def test_without_rescue_threshold_fallbacks_stay():
    [msg] = guard().process([unsure_intent(0.99, 0.0)])
    assert msg.get("intent")["name"] == "nlu_fallback"
