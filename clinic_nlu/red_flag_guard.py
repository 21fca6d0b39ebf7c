"""Makes sure a message reporting an urgent symptom is read as ``red_flag``.

It runs last in the NLU pipeline, after the fallbacks, and only ever turns a message
into ``red_flag``, never away from it:

- when the message reports an urgent symptom in words the classifier may not know
  (``clinic_nlu.red_flags``: "blood gushing", "out cold", pus at the needle site...);
- when the classifier was unsure (``nlu_fallback``) and its best guess was ``red_flag``:
  a visitor who may be in danger gets the safety message rather than "Did you mean...?".

Missing a red flag is far worse than a false alarm, whose cost is a safety message to
someone asking an ordinary question. One narrow exception: a question about treating a
long-standing problem that reports nothing happening now ("tightness across my chest for years,
my cardiologist cleared me: could needling help?") is not an emergency, and the classifier's
red flag is taken back (``clinic_nlu.red_flags.settled_question``; none of the project's 748
red-flag messages, training and test sets alike, is one).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.training_data.message import Message

from clinic_nlu.red_flags import settled_question, urgent_symptom
from clinic_nlu.topic_guard import FALLBACK_INTENT, replace_intent


def red_flag_decision(
    text: str, intent: Dict[Text, Any], ranking: List[Dict[Text, Any]], red_flag_intent: str = "red_flag"
) -> Optional[float]:
    """The confidence to give ``red_flag``, or None to leave the parse as it is."""
    if intent.get("name") == red_flag_intent:
        return None
    if urgent_symptom(text or ""):
        return 1.0
    if intent.get("name") == FALLBACK_INTENT:
        guesses = [entry for entry in ranking if entry.get("name") != FALLBACK_INTENT]
        if guesses and guesses[0].get("name") == red_flag_intent:
            return float(guesses[0].get("confidence") or 0.0)
    return None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class RedFlagGuard(GraphComponent):
    """Turns urgent-symptom reports the classifier missed into ``red_flag``."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"intent": "red_flag"}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._intent = config["intent"]

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "RedFlagGuard":
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            ranking = message.get("intent_ranking") or []
            if (message.get("intent") or {}).get("name") == self._intent and settled_question(
                message.get("text") or ""
            ):
                others = [entry for entry in ranking if entry.get("name") not in {self._intent, FALLBACK_INTENT}]
                if others:
                    replace_intent(
                        message, others[0]["name"], float(others[0].get("confidence") or 0.0), (self._intent,)
                    )
                continue
            confidence = red_flag_decision(message.get("text"), message.get("intent") or {}, ranking, self._intent)
            if confidence is None:
                continue
            replace_intent(message, self._intent, confidence, (self._intent, FALLBACK_INTENT))
        return messages
