"""A linear intent classifier: the same model as the FAQ topic selector, over the intents.

Rasa's own ``LogisticRegressionClassifier`` fits raw counts with balanced class weights, so
the small intents (red_flag, cancel, change_booking...) are over-predicted and take FAQ
questions away from the one big ``faq`` intent. This one applies the topic selector's
tf-idf per featurizer block (clinic_nlu/linear_selector.py) and a tunable regularisation
and class weighting. It writes ``intent`` and ``intent_ranking`` like any Rasa intent
classifier, so the fallbacks and policies see no difference. Saved as numbers and JSON,
never pickled.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from clinic_nlu.linear_selector import LinearResponseSelector


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(LinearResponseSelector):
    """Classifies the intent with a regularised logistic regression over tf-idf features."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Defaults; ``config.yml`` sets the measured values."""
        return {
            "C": 10.0,
            # None: every example counts the same; "balanced": small intents weigh more.
            "class_weight": None,
            "max_iter": 2000,
            "ranking_length": 10,
            "random_seed": 42,
        }

    def train(self, training_data: TrainingData) -> Resource:
        """Fits one weight vector per intent, then saves the model."""
        examples = [
            m for m in training_data.intent_examples if m.get(INTENT) and self._sentence_features(m) is not None
        ]
        self._fit(examples, [m.get(INTENT) for m in examples], class_weight=self._config["class_weight"])
        self.persist()
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        """Sets ``intent`` and ``intent_ranking`` on each message."""
        if self._weights is None or not self._labels:
            return messages
        for message in messages:
            blocks = self._sentence_features(message)
            if blocks is None:
                continue
            probabilities = self._probabilities(blocks)
            ranking = [
                {INTENT_NAME_KEY: self._labels[i], PREDICTED_CONFIDENCE_KEY: float(probabilities[i])}
                for i in self._best(probabilities)
            ]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking, add_to_output=True)
        return messages
