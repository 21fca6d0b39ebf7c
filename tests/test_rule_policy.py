"""runtime/rule_policy.py: trained on the project's rules and stories, the remembering policy
predicts what RulePolicy predicts at every step of every training conversation, and again
when the answer comes from its memory; training itself never uses the memory."""

from __future__ import annotations

import pytest
from rasa.core.policies.rule_policy import RulePolicy
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.generator import TrainingDataGenerator
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.importers.importer import TrainingDataImporter

from runtime import rule_policy
from runtime.rule_policy import RulePolicyRememberingMatches, frozen
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

CONFIG = {
    "core_fallback_threshold": 0.3,
    "core_fallback_action_name": "action_clarify_topic",
    "enable_fallback_prediction": True,
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    importer = TrainingDataImporter.load_from_config(
        str(ROOT / "config.yml"), str(ROOT / "domain.yml"), [str(ROOT / "data")]
    )
    domain = importer.get_domain()
    trackers = TrainingDataGenerator(importer.get_stories(), domain, augmentation_factor=0).generate()
    storage = LocalModelStorage(tmp_path_factory.mktemp("rules"))
    resource, context = Resource("rules"), ExecutionContext(GraphSchema({}), "t")
    config = {**RulePolicy.get_default_config(), **CONFIG}
    created = RulePolicyRememberingMatches.create(config, storage, resource, context)
    created.train(trackers, domain)
    assert "_matches" not in created.__dict__  # training checked the rules Rasa's way
    ours = RulePolicyRememberingMatches.load(config, storage, resource, context)
    rasas = RulePolicy.load(config, storage, resource, context)
    return domain, trackers, ours, rasas


def steps(tracker):
    """The conversation up to each action it took: where a policy is asked what comes next."""
    events = list(tracker.events)
    for index, event in enumerate(events):
        if isinstance(event, ActionExecuted) and index > 0:
            yield DialogueStateTracker.from_events(tracker.sender_id, events[:index], tracker.slots.values())


def test_every_step_of_every_training_conversation_is_predicted_as_rasa_does(trained):
    domain, trackers, ours, rasas = trained
    compared = 0
    for tracker in trackers:
        for step in steps(tracker):
            expected = rasas.predict_action_probabilities(step, domain)
            for _ in range(2):  # the second time from memory
                got = ours.predict_action_probabilities(step, domain)
                assert got.probabilities == expected.probabilities
                assert got.events == expected.events
                assert (got.policy_name, expected.policy_name) == ("RulePolicyRememberingMatches", "RulePolicy")
                assert got.is_no_user_prediction == expected.is_no_user_prediction
            compared += 1
    assert compared > 100
    assert 0 < len(ours._matches) <= rule_policy.MATCHES_KEPT


def test_the_memory_is_bounded(trained, monkeypatch):
    domain, trackers, ours, _ = trained
    monkeypatch.setattr(rule_policy, "MATCHES_KEPT", 5)
    ours._matches.clear()
    for tracker in trackers[:20]:
        for step in steps(tracker):
            ours.predict_action_probabilities(step, domain)
    assert len(ours._matches) <= 5


def test_states_freeze_to_equal_keys_whatever_the_order():
    first = [{"user": {"intent": "faq"}, "prev_action": {"action_name": "action_listen"}, "slots": {"x": (1.0,)}}]
    second = [{"slots": {"x": (1.0,)}, "prev_action": {"action_name": "action_listen"}, "user": {"intent": "faq"}}]
    assert frozen(first) == frozen(second)
    assert frozen(first) != frozen([{"user": {"intent": "greet"}}])
    hash(frozen(first))
