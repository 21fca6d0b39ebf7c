"""The held-out scorer and the pipeline-comparison maths, on hand-made parses."""

from __future__ import annotations

import asyncio

import pytest
import yaml

from tests.conftest import ROOT
from tools import compare_pipelines as compare
from tools.evaluation import predicted_label, score

pytestmark = pytest.mark.unit


def parse(intent, topic=None):
    data = {"intent": {"name": intent, "confidence": 0.9}}
    if topic:
        data["response_selector"] = {"faq": {"response": {"intent_response_key": f"faq/{topic}"}}}
    return data


def test_predicted_label_reads_the_selector_for_faq_only():
    assert predicted_label(parse("faq", "needles")) == "faq/needles"
    assert predicted_label(parse("nlu_fallback", "needles")) == "nlu_fallback"
    assert predicted_label(parse("faq")) == "faq"
    assert predicted_label({}) == ""


def test_score_counts_topics_and_off_topic():
    answers = {
        "does it hurt": parse("faq", "does_it_hurt"),
        "ouch?": parse("faq", "side_effects"),
        "weather": parse("out_of_scope"),
        "poem": parse("nlu_fallback"),
        "song": parse("faq", "needles"),
    }

    async def fake_parse(text):
        return answers[text]

    heldout = {"topics": {"does_it_hurt": ["does it hurt", "ouch?"]}, "off_topic": ["weather", "poem", "song"]}
    report = asyncio.run(score(fake_parse, heldout))
    assert (report.topic_correct, report.topic_total) == (1, 2)
    assert (report.off_topic_correct, report.off_topic_total) == (2, 3)
    assert report.per_topic == {"does_it_hurt": [1, 2]}
    assert ("off_topic", "faq/needles", "song") in report.misses
    assert report.summary().startswith("held-out topic accuracy 50.0% (1/2), off-topic handled 66.7% (2/3)")


def test_score_counts_clinic_intents_by_intent_name():
    answers = {"hours?": parse("ask_hours"), "where r u": parse("faq", "needles"), "nvm": parse("cancel")}

    async def fake_parse(text):
        return answers[text]

    heldout = {"topics": {}, "intents": {"ask_hours": ["hours?"], "ask_location": ["where r u"], "cancel": ["nvm"]}}
    report = asyncio.run(score(fake_parse, heldout))
    assert (report.intent_correct, report.intent_total) == (2, 3)
    assert report.per_intent == {"ask_hours": [1, 1], "ask_location": [0, 1], "cancel": [1, 1]}
    assert report.misses == [("ask_location", "faq", "where r u")]
    assert report.summary() == "clinic and booking intents 66.7% (2/3)"


def record(expected, intents, topics):
    return {"text": "x", "expected": expected, "intent": intents, "topics": topics}


T = {"intent_t": 0.5, "intent_a": 0.1, "topic_t": 0.4, "topic_a": 0.1}


def test_decide_applies_both_fallbacks_in_order():
    confident = record("faq/a", [("faq", 0.9), ("greet", 0.05)], [("faq/a", 0.8), ("faq/b", 0.1)])
    assert compare.decide(confident, T) == "faq/a"
    low_intent = record("faq/a", [("faq", 0.45), ("greet", 0.05)], [("faq/a", 0.8), ("faq/b", 0.1)])
    assert compare.decide(low_intent, T) == "nlu_fallback"
    close_intents = record("faq/a", [("faq", 0.52), ("greet", 0.46)], [("faq/a", 0.8), ("faq/b", 0.1)])
    assert compare.decide(close_intents, T) == "nlu_fallback"
    weak_topic = record("faq/a", [("faq", 0.9), ("greet", 0.05)], [("faq/a", 0.35), ("faq/b", 0.1)])
    assert compare.decide(weak_topic, T) == "nlu_fallback"
    close_topics = record("faq/a", [("faq", 0.9), ("greet", 0.05)], [("faq/a", 0.45), ("faq/b", 0.4)])
    assert compare.decide(close_topics, T) == "nlu_fallback"
    other = record("greet", [("greet", 0.9), ("faq", 0.05)], [("faq/a", 0.2), ("faq/b", 0.1)])
    assert compare.decide(other, T) == "greet"


def test_score_separates_topics_off_topic_and_others():
    records = [
        record("faq/a", [("faq", 0.9), ("greet", 0.0)], [("faq/a", 0.9), ("faq/b", 0.0)]),
        record("faq/b", [("faq", 0.9), ("greet", 0.0)], [("faq/a", 0.9), ("faq/b", 0.0)]),
        record("out_of_scope", [("out_of_scope", 0.9), ("faq", 0.0)], []),
        record("greet", [("greet", 0.9), ("faq", 0.0)], []),
    ]
    assert compare.score(records, T) == {"topic": 0.5, "off_topic": 1.0, "other": 1.0}


def test_folds_are_stratified_and_complete():
    class Example(dict):
        def get(self, key, default=None):
            return super().get(key, default)

    examples = [Example(intent="faq", intent_response_key=f"faq/{t}", text=f"{t}{i}") for t in "ab" for i in range(6)]
    folds = compare.stratified_folds(examples, 3)
    assert sorted(len(fold) for fold in folds) == [4, 4, 4]
    assert all({e["intent_response_key"] for e in fold} == {"faq/a", "faq/b"} for fold in folds)
    assert sorted(e["text"] for fold in folds for e in fold) == sorted(e["text"] for e in examples)


def test_zero_thresholds_turns_off_both_fallbacks_only():
    config = {
        "pipeline": [
            {"name": "DIETClassifier", "epochs": 5},
            {"name": "FallbackClassifier", "threshold": 0.6, "ambiguity_threshold": 0.1},
            {"name": "clinic_nlu.topic_guard.ResponseSelectorFallback", "threshold": 0.3, "ambiguity_threshold": 0.05},
        ]
    }
    assert compare.thresholds_in(config) == {"intent_t": 0.6, "intent_a": 0.1, "topic_t": 0.3, "topic_a": 0.05}
    zeroed = compare.zero_thresholds(config)
    assert set(compare.thresholds_in(zeroed).values()) == {0.0}
    assert zeroed["pipeline"][0] == {"name": "DIETClassifier", "epochs": 5}
    assert compare.thresholds_in(config)["intent_t"] == 0.6  # the original is not modified


def test_project_config_has_both_fallbacks():
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    assert set(compare.thresholds_in(config)) == {"intent_t", "intent_a", "topic_t", "topic_a", "rescue"}


def test_decide_rescues_a_very_sure_topic_only_when_configured():
    unsure = record("faq/a", [("ask_hours", 0.49), ("faq", 0.3)], [("faq/a", 0.98), ("faq/b", 0.01)])
    assert compare.decide(unsure, T) == "nlu_fallback"
    assert compare.decide(unsure, {**T, "rescue": 0.8}) == "faq/a"
    assert compare.decide(unsure, {**T, "rescue": 0.99}) == "nlu_fallback"
    config = {
        "pipeline": [
            {
                "name": "clinic_nlu.topic_guard.ResponseSelectorFallback",
                "threshold": 0.3,
                "ambiguity_threshold": 0.0,
                "rescue_threshold": 0.8,
            }
        ]
    }
    assert compare.thresholds_in(config) == {"topic_t": 0.3, "topic_a": 0.0, "rescue": 0.8}
