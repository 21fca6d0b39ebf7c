"""A fallback on the response selector's own confidence.

Rasa's ``FallbackClassifier`` looks only at the intent. With a retrieval intent
that is not enough: an off-topic or vague message can be classified ``faq`` with
high confidence while the response selector has no idea which answer fits, and
the visitor then gets an arbitrary answer. This component runs after the
``ResponseSelector`` and, when the message was classified as the retrieval
intent but the selector's best topic is weak, or barely ahead of the runner-up,
it turns the prediction into ``nlu_fallback``. The selector's ranking stays in
the parse data, so the clarifying action can still offer the closest topics.

The other way round, optionally (``rescue_threshold``): when ``FallbackClassifier``
gave up because no intent was confident, but the selector, which is trained on
the FAQ questions alone, is very sure of one topic, the message is answered with
that topic. With more intents sharing words with FAQ questions ("hour", "first
visit"), the intent's confidence is spread thin where the topic is not.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import RESPONSE_SELECTOR_PROPERTY_NAME
from rasa.shared.nlu.training_data.message import Message

FALLBACK_INTENT = "nlu_fallback"


def replace_intent(message: Message, name: str, confidence: float, drop: Iterable[str]) -> None:
    """Makes ``name`` the message's intent, first in its ranking, without the ranking entries in ``drop``."""
    chosen = {"name": name, "confidence": confidence}
    dropped = set(drop)
    ranking = message.get("intent_ranking") or []
    message.data["intent"] = chosen
    message.data["intent_ranking"] = [chosen] + [entry for entry in ranking if entry.get("name") not in dropped]


def topic_is_uncertain(ranking: List[Dict[Text, Any]], threshold: float, ambiguity_threshold: float) -> bool:
    """Says whether a response-selector ranking is too weak to answer from.

    Args:
        ranking: The selector's ranking, best first, each with a ``confidence``.
        threshold: The lowest confidence the best topic may have.
        ambiguity_threshold: The smallest lead the best topic must have over the
            second.

    Returns:
        True when the best topic is below ``threshold`` or leads the runner-up
        by less than ``ambiguity_threshold`` (and always for an empty ranking).
    """
    if not ranking:
        return True
    best = ranking[0]["confidence"]
    second = ranking[1]["confidence"] if len(ranking) > 1 else 0.0
    return best < threshold or best - second < ambiguity_threshold


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class ResponseSelectorFallback(GraphComponent):
    """Predicts ``nlu_fallback`` when the response selector is unsure of the topic."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """The component's defaults; ``config.yml`` sets the measured values."""
        return {
            "retrieval_intent": "faq",
            "threshold": 0.5,
            "ambiguity_threshold": 0.1,
            "rescue_threshold": None,
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._retrieval_intent = config["retrieval_intent"]
        self._threshold = float(config["threshold"])
        self._ambiguity_threshold = float(config["ambiguity_threshold"])
        rescue = config.get("rescue_threshold")
        self._rescue_threshold = None if rescue is None else float(rescue)

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "ResponseSelectorFallback":
        """Creates the component (see the parent class)."""
        return cls(config)

    def _selector_ranking(self, message: Message) -> Optional[List[Dict[Text, Any]]]:
        selectors = message.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {}
        selector = selectors.get(self._retrieval_intent)
        if selector is None:
            return None
        return selector.get("ranking") or []

    def _rescue(self, message: Message) -> None:
        """Answers from a very confident topic when only the intent was unsure."""
        ranking = self._selector_ranking(message)
        if not ranking or ranking[0]["confidence"] < self._rescue_threshold:
            return
        replace_intent(
            message, self._retrieval_intent, ranking[0]["confidence"], (FALLBACK_INTENT, self._retrieval_intent)
        )

    def process(self, messages: List[Message]) -> List[Message]:
        """Replaces weak retrieval-intent predictions with ``nlu_fallback``, and
        (with ``rescue_threshold``) unsure intents with a very confident topic."""
        for message in messages:
            intent = message.get("intent") or {}
            if intent.get("name") == FALLBACK_INTENT and self._rescue_threshold is not None:
                self._rescue(message)
                continue
            if intent.get("name") != self._retrieval_intent:
                continue
            ranking = self._selector_ranking(message)
            if ranking is None or not topic_is_uncertain(ranking, self._threshold, self._ambiguity_threshold):
                continue
            replace_intent(message, FALLBACK_INTENT, ranking[0]["confidence"] if ranking else 0.0, (FALLBACK_INTENT,))
        return messages
