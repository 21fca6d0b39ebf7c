"""A linear response selector: picks the FAQ topic with a regularised logistic regression.

Rasa's ``ResponseSelector`` is a neural model (DIET) that learns embeddings for
the message and each answer. With a few dozen examples per topic and sparse
features only (no pretrained vectors are available offline), a linear model
over the same features generalises better and trains in seconds: on 3-fold
cross-validation of this project's data it chose the right topic for 81.0% of
unseen wordings against 77.8% for ``ResponseSelector`` (``tools/compare_pipelines.py``
with ``docs/experiments/response_selector.yml``; see docs/figures.md).

It reads the sentence-level sparse features the featurizers put on each message
(word and character n-gram counts), applies sublinear term frequency, inverse
document frequency and L2 normalisation to each featurizer's block, and fits one
weight vector per topic.
Its output on each message is exactly the ``response_selector`` structure Rasa's
own selector writes (``response.intent_response_key``, ``response.utter_action``,
``ranking``...), so ``utter_faq``, the fallback guard and anything reading the
parse see no difference.

The model is saved as plain numbers and JSON, never pickled, so loading a model
file cannot run code.
"""

from __future__ import annotations

import json
import zlib
from typing import Any, Dict, List, Optional, Text

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import RESPONSE_SELECTOR_PROPERTY_NAME
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData


def tfidf_transform(counts: scipy.sparse.csr_matrix, idf: np.ndarray) -> scipy.sparse.csr_matrix:
    """Sublinear tf (1 + log count), times idf, each row scaled to unit length."""
    weighted = counts.astype(np.float64).tocsr(copy=True)
    weighted.data = 1.0 + np.log(np.maximum(weighted.data, 1e-12))
    weighted = (weighted @ scipy.sparse.diags(idf)).tocsr()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    norms[norms == 0.0] = 1.0
    return scipy.sparse.diags(1.0 / norms) @ weighted


def inverse_document_frequency(counts: scipy.sparse.csr_matrix) -> np.ndarray:
    """Smoothed idf, as scikit-learn computes it: ln((1 + n) / (1 + df)) + 1."""
    rows = counts.tocsr(copy=True)
    rows.sum_duplicates()
    rows.eliminate_zeros()
    document_frequency = np.bincount(rows.indices, minlength=rows.shape[1])  # csr indices are columns
    return np.log((1.0 + rows.shape[0]) / (1.0 + document_frequency)) + 1.0


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def label_id(key: str) -> int:
    """A stable numeric id for a topic, as Rasa's ranking entries carry one."""
    return zlib.crc32(key.encode("utf-8"))


def _row_nonzeros(block: scipy.sparse.spmatrix) -> tuple:
    """The column indices and values of a one-row sparse matrix, in column order, as its CSR
    form holds them: read straight from the featurizers' COO form when its columns are
    distinct (converting each block to CSR was 6% of the server's CPU under load)."""
    if scipy.sparse.isspmatrix_coo(block) and block.shape[0] == 1:
        columns = block.col
        if columns.size < 2 or bool(np.all(columns[1:] > columns[:-1])):
            return columns, block.data
        if np.unique(columns).size == columns.size:
            order = np.argsort(columns, kind="stable")
            return columns[order], block.data[order]
    row = block.tocsr()
    row.sum_duplicates()
    return row.indices, row.data


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearResponseSelector(GraphComponent):
    """Selects the answer of a retrieval intent with a linear model over sparse features."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Defaults; ``config.yml`` sets the measured values."""
        return {
            "retrieval_intent": "faq",
            # Inverse regularisation strength of the logistic regression.
            "C": 10.0,
            "max_iter": 2000,
            "ranking_length": 10,
            "random_seed": 42,
        }

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        weights: Optional[Dict[str, np.ndarray]] = None,
        labels: Optional[List[str]] = None,
        retrieval_intents: Optional[List[str]] = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._weights = weights
        self._labels = labels or []
        self._retrieval_intents = retrieval_intents or []

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LinearResponseSelector":
        """Creates an untrained component (see the parent class)."""
        return cls(config, model_storage, resource)

    @staticmethod
    def _sentence_features(message: Message) -> Optional[List[scipy.sparse.spmatrix]]:
        """The message's sentence-level sparse features (a row each, as the featurizers made
        them), one block per featurizer, in pipeline order."""
        blocks = [
            feature.features
            for feature in message.features
            if feature.attribute == TEXT and feature.type == FEATURE_TYPE_SENTENCE and feature.is_sparse()
        ]
        return blocks or None

    @staticmethod
    def _stack(blocks: List[List[scipy.sparse.csr_matrix]]) -> List[scipy.sparse.csr_matrix]:
        """Per featurizer, one count matrix with a row per message."""
        return [
            scipy.sparse.vstack([message_blocks[index] for message_blocks in blocks]).tocsr()
            for index in range(len(blocks[0]))
        ]

    def _transform(self, stacked: List[scipy.sparse.csr_matrix]) -> scipy.sparse.csr_matrix:
        """Tf-idf and unit length per featurizer block (so many character n-grams do not
        drown the few words), then the blocks side by side."""
        return scipy.sparse.hstack(
            [tfidf_transform(counts, self._weights[f"idf_{index}"]) for index, counts in enumerate(stacked)]
        ).tocsr()

    def train(self, training_data: TrainingData) -> Resource:
        """Fits one weight vector per topic of the retrieval intent, then saves the model."""
        intent = self._config["retrieval_intent"]
        examples = [
            m
            for m in training_data.intent_examples
            if m.get(INTENT) == intent and m.get(INTENT_RESPONSE_KEY) and self._sentence_features(m) is not None
        ]
        self._retrieval_intents = sorted(training_data.retrieval_intents)
        self._fit(examples, [m.get(INTENT_RESPONSE_KEY) for m in examples])
        self.persist()
        return self._resource

    def _fit(self, examples: List[Message], targets: List[str], class_weight: Optional[str] = None) -> None:
        """Fits one weight vector per label (``targets[i]`` is the label of ``examples[i]``);
        with fewer than two labels there is nothing to learn and no weights are set."""
        from sklearn.linear_model import LogisticRegression

        labels = sorted(set(targets))
        if len(labels) < 2:
            return
        stacked = self._stack([self._sentence_features(m) for m in examples])
        self._weights = {f"idf_{index}": inverse_document_frequency(counts) for index, counts in enumerate(stacked)}
        model = LogisticRegression(
            C=float(self._config["C"]),
            class_weight=class_weight,
            max_iter=int(self._config["max_iter"]),
            random_state=int(self._config["random_seed"]),
        )
        model.fit(self._transform(stacked), np.array([labels.index(target) for target in targets]))
        self._labels = labels
        self._weights["coef"] = model.coef_.astype(np.float32)
        self._weights["intercept"] = model.intercept_.astype(np.float32)

    def persist(self) -> None:
        """Saves weights as .npz (no pickles) and labels as JSON."""
        with self._model_storage.write_to(self._resource) as directory:
            if self._weights is not None:
                np.savez(directory / "weights.npz", **self._weights)
            (directory / "labels.json").write_text(
                json.dumps(
                    {
                        "labels": self._labels,
                        "retrieval_intents": self._retrieval_intents,
                    }
                )
            )

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "LinearResponseSelector":
        """Loads a trained component (see the parent class)."""
        try:
            with model_storage.read_from(resource) as directory:
                meta = json.loads((directory / "labels.json").read_text())
                weights_file = directory / "weights.npz"
                weights = None
                if weights_file.exists():
                    with np.load(weights_file, allow_pickle=False) as stored:
                        weights = {name: stored[name] for name in stored.files}
        except ValueError:  # nothing was persisted (no training data)
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, weights, meta["labels"], meta["retrieval_intents"])

    def _probabilities(self, blocks: List[scipy.sparse.csr_matrix]) -> np.ndarray:
        """The probability of each label for one message's feature blocks, in ``self._labels`` order.

        The same arithmetic as ``_transform`` and the product with the weights, done on the
        message's few non-zero counts with NumPy instead of building scipy matrices: scipy's
        per-matrix overhead was a quarter of the Rasa server's CPU under load.
        ``tests/test_linear_selector.py`` checks both give the same probabilities.
        """
        columns = self._weight_columns()
        scores = self._weights["intercept"].astype(np.float64)
        offset = 0
        for index, block in enumerate(blocks):
            idf = self._weights[f"idf_{index}"]
            indices, counts = _row_nonzeros(block)
            if indices.size:
                values = (1.0 + np.log(np.maximum(counts.astype(np.float64), 1e-12))) * idf[indices]
                norm = float(np.sqrt(values @ values)) or 1.0
                scores = scores + (values / norm) @ columns[offset + indices]
            offset += idf.shape[0]
        if len(self._labels) == 2 and scores.shape[0] == 1:  # binary case: one weight vector
            scores = np.array([0.0, scores[0]])  # softmax of this is the logistic of the score
        return softmax(scores)

    def _weight_columns(self) -> np.ndarray:
        """The weights with a row per feature (float64), made once per set of weights."""
        coef = self._weights["coef"]
        cached = getattr(self, "_columns", None)
        if cached is None or cached[0] is not coef:
            self._columns = (coef, coef.T.astype(np.float64))
        return self._columns[1]

    def _probabilities_by_matrices(self, blocks: List[scipy.sparse.csr_matrix]) -> np.ndarray:
        """``_probabilities`` the way training computes features (kept to test the fast path against)."""
        features = self._transform(self._stack([blocks]))
        scores = np.asarray(features @ self._weights["coef"].T).ravel() + self._weights["intercept"]
        if len(self._labels) == 2 and scores.shape[0] == 1:
            scores = np.array([0.0, scores[0]])
        return softmax(scores)

    def _best(self, probabilities: np.ndarray) -> np.ndarray:
        """Label indices, most likely first, at most ``ranking_length``."""
        return np.argsort(-probabilities)[: int(self._config["ranking_length"])]

    def rank(self, blocks: List[scipy.sparse.csr_matrix]) -> List[Dict[str, Any]]:
        """The topics for one message's feature blocks, most likely first."""
        probabilities = self._probabilities(blocks)
        order = self._best(probabilities)
        return [
            {
                "id": label_id(self._labels[i]),
                "confidence": float(probabilities[i]),
                INTENT_RESPONSE_KEY: self._labels[i],
            }
            for i in order
        ]

    def process(self, messages: List[Message]) -> List[Message]:
        """Adds the selected answer and the ranking of topics to each message."""
        if self._weights is None or not self._labels:
            return messages
        intent = self._config["retrieval_intent"]
        for message in messages:
            blocks = self._sentence_features(message)
            if blocks is None:
                continue
            ranking = self.rank(blocks)
            best = ranking[0][INTENT_RESPONSE_KEY]
            utter_action = f"utter_{best}"
            prediction = {
                "response": {
                    # The answer's text is not copied here: utter_faq says the domain's
                    # response named utter_action, and the parse (kept with every
                    # message in the tracker) stays small.
                    "responses": [],
                    "confidence": ranking[0]["confidence"],
                    INTENT_RESPONSE_KEY: best,
                    "utter_action": utter_action,
                },
                "ranking": ranking,
            }
            selectors = dict(message.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {})
            selectors["all_retrieval_intents"] = self._retrieval_intents
            selectors[intent] = prediction
            message.set(RESPONSE_SELECTOR_PROPERTY_NAME, selectors, add_to_output=True)
        return messages
