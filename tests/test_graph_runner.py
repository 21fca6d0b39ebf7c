"""runtime/graph_runner.py: the trained model's prediction graph gives the same results run
in a fixed order as run by Rasa's dask runner, for understanding messages and for choosing
the next action, and an error in a component reaches the caller as before."""

from __future__ import annotations

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.engine import loader
from rasa.engine.exceptions import GraphComponentException
from rasa.engine.graph import GraphNode
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from runtime.graph_runner import SequentialGraphRunner
from tests.conftest import MODEL_PATH

pytestmark = pytest.mark.model

PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER = "__message__", "__tracker__"
TEXTS = [
    "hi",
    "does dry needling hurt?",
    "what are your opening hours?",
    "can I come on tuesday?",
    "i have chest pain since my session",
    "asdf qwer",
    '/choose_faq_topic{"topic": "faq/cost"}',
]


@pytest.fixture(scope="module")
def runners(tmp_path_factory):
    if not MODEL_PATH.exists():
        pytest.fail("no trained model: run `make train` (make test does)")
    loaded = {}
    for runner_class in (DaskGraphRunner, SequentialGraphRunner):
        metadata, runner = loader.load_predict_graph_runner(
            tmp_path_factory.mktemp(runner_class.__name__), MODEL_PATH, LocalModelStorage, runner_class
        )
        loaded[runner_class] = (metadata, runner)
    return loaded


def parse(runner, metadata, text):
    tracker = DialogueStateTracker("visitor", [])
    results = runner.run(
        inputs={PLACEHOLDER_MESSAGE: [UserMessage(text, sender_id="visitor")], PLACEHOLDER_TRACKER: tracker},
        targets=[metadata.nlu_target],
    )
    parsed = results[metadata.nlu_target][0].as_dict_nlu()
    parsed.pop("message_id", None)  # a new one per message
    if "text_spacy_doc" in parsed:  # (not for a button's payload)
        parsed["text_spacy_doc"] = parsed["text_spacy_doc"].to_json()  # a spaCy Doc has no ==
    return parsed


@pytest.mark.parametrize("text", TEXTS)
def test_understanding_is_the_same(runners, text):
    (metadata, rasas), (_, ours) = runners[DaskGraphRunner], runners[SequentialGraphRunner]
    expected = parse(rasas, metadata, text)
    assert parse(ours, metadata, text) == expected
    assert expected.get("intent")  # something was understood


@pytest.mark.parametrize("text", TEXTS)
def test_the_next_action_is_the_same(runners, text):
    (metadata, rasas), (_, ours) = runners[DaskGraphRunner], runners[SequentialGraphRunner]
    parse_data = parse(rasas, metadata, text)
    events = [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
        UserUttered(text, parse_data.get("intent"), parse_data.get("entities"), parse_data),
    ]
    predictions = [
        runner.run(
            inputs={PLACEHOLDER_TRACKER: DialogueStateTracker.from_events("visitor", events)},
            targets=[metadata.core_target],
        )[metadata.core_target]
        for runner in (rasas, ours)
    ]
    assert predictions[0].probabilities == predictions[1].probabilities
    assert predictions[0].policy_name == predictions[1].policy_name
    assert max(predictions[0].probabilities) > 0


def test_only_the_nodes_a_target_needs_run_each_once(runners, monkeypatch):
    metadata, ours = runners[SequentialGraphRunner]
    calls = []
    original = GraphNode.__call__

    def counting(node, *inputs):
        calls.append(node._node_name)
        return original(node, *inputs)

    monkeypatch.setattr(GraphNode, "__call__", counting)
    parse(ours, metadata, "does it hurt")
    assert len(calls) == len(set(calls))
    assert metadata.nlu_target in calls and not any("RulePolicy" in name for name in calls)


def test_a_failing_component_raises_as_with_rasas_runner(runners, monkeypatch):
    def broken(node, *inputs):
        raise GraphComponentException("broken component")

    monkeypatch.setattr(GraphNode, "__call__", broken)
    for runner_class in (DaskGraphRunner, SequentialGraphRunner):
        metadata, runner = runners[runner_class]
        with pytest.raises(GraphComponentException, match="broken component"):
            parse(runner, metadata, "hi")
