"""Reads "I'm Zelda Quorrow" as the visitor giving a name (``inform``), not as a question.

Asked for a name, many visitors answer "I'm <name>", "it's <name>" or "this is <name>". The
classifier knows those openings from precaution questions ("I'm pregnant", "I'm on blood
thinners") and "are you a bot?" chatter, and a name it never saw adds nothing, so it read most
such answers as faq/precautions, bot_challenge or nlu_fallback; the booking form then answered
that instead of taking the name (found by the soak: 90 of 100 made-up names with "I'm").

This component, after the fallbacks and before the red-flag guard, turns a message into
``inform`` only when the whole message is such an introduction and every word after the
opening looks like a name: unknown to the training data outside ``inform``, or capitalised
beside such a word (so "I'm pregnant", "it's my shoulder", "this is painful" keep their intent). The red-flag guard still runs after it.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, Iterable, List, Optional, Set, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from clinic_nlu.topic_guard import replace_intent

INTRODUCTION = re.compile(
    r"^(?:(?:hi|hello|hey|sure|ok|okay|yes)[,!.\s]+)?"
    r"(?:i'?m|i\s+am|it'?s|it\s+is|this\s+is|my\s+(?:full\s+)?name\s+is|my\s+name'?s|name'?s|call\s+me)\s+"
    r"(?P<name>[^\W\d_][\w'’.-]*(?:\s+[^\W\d_][\w'’.-]*){0,3})\s*[.!]?$",
    re.IGNORECASE,
)
# Words that are never a name, whatever the training data holds.
NEVER_NAMES = {
    "a",
    "an",
    "the",
    "my",
    "your",
    "not",
    "so",
    "very",
    "really",
    "just",
    "here",
    "there",
    "back",
    "new",
    "fine",
    "good",
    "ok",
    "okay",
    "sure",
    "done",
    "ready",
    "sorry",
    "me",
    "him",
    "her",
    "them",
    "it",
    "this",
    "that",
    "on",
    "in",
    "at",
    "for",
    "with",
    "from",
    "of",
    "to",
    "and",
    "or",
    "but",
    "too",
    "also",
    "still",
}
WORD = re.compile(r"[^\W\d_][\w'’-]*")
VOCABULARY_FILE = "vocabulary.json"


def words_of(texts: Iterable[str]) -> Set[str]:
    """The lower-cased words of ``texts``."""
    return {word.lower() for text in texts for word in WORD.findall(text or "")}


def introduced_name(text: str, vocabulary: Set[str]) -> Optional[str]:
    """The name in "I'm <name>" and the like, or None when the message is anything else.

    At least one word of the name must be unknown to ``vocabulary`` (the training data's words
    outside ``inform``), any known one must be capitalised ("Peter Young"), and none may be a
    word that is never a name.
    """
    match = INTRODUCTION.match(" ".join((text or "").split()))
    if not match:
        return None
    name = match.group("name").strip(".")
    words = WORD.findall(name)
    if not words or any(word.lower() in NEVER_NAMES for word in words):
        return None
    known = [word for word in words if word.lower() in vocabulary]
    if len(known) == len(words):
        return None
    # "Peter Young": a surname that is also an English word counts when it is written as a name.
    if any(not word[0].isupper() for word in known):
        return None
    return name


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class IntroductionGuard(GraphComponent):
    """Turns "I'm <a name the training data never uses>" into ``inform``."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"intent": "inform", "protected_intents": ["red_flag"]}

    def __init__(
        self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource, vocabulary: Set[str]
    ) -> None:
        self._config = config
        self._storage = model_storage
        self._resource = resource
        self._vocabulary = vocabulary

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "IntroductionGuard":
        return cls(config, model_storage, resource, set())

    def train(self, training_data: TrainingData) -> Resource:
        intent = self._config["intent"]
        self._vocabulary = words_of(
            example.get("text") for example in training_data.intent_examples if example.get("intent") != intent
        )
        with self._storage.write_to(self._resource) as folder:
            (folder / VOCABULARY_FILE).write_text(json.dumps(sorted(self._vocabulary)))
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "IntroductionGuard":
        with model_storage.read_from(resource) as folder:
            vocabulary = set(json.loads((folder / VOCABULARY_FILE).read_text()))
        return cls(config, model_storage, resource, vocabulary)

    def process(self, messages: List[Message]) -> List[Message]:
        intent, protected = self._config["intent"], set(self._config["protected_intents"])
        for message in messages:
            current = (message.get("intent") or {}).get("name")
            if current == intent or current in protected:
                continue
            if introduced_name(message.get("text"), self._vocabulary) is not None:
                replace_intent(message, intent, 1.0, (intent,))
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
