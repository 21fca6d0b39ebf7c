"""Rasa's ``CountVectorsFeaturizer`` with its per-message counting done without scikit-learn's matrix building.

For each message the featurizer counts, for every token and for the whole text, the words
(or character n-grams) of its vocabulary: Rasa hands the tokens to scikit-learn's
``CountVectorizer.transform`` twice, which builds a CSR matrix, sorts it, and Rasa converts
it to COO. For one short message the counting is cheap and the matrix building around it
is most of the work: the two featurizers were 10-12% of the Rasa server's CPU under load
in the profile (docs/benchmarks.md).

``FastCountVectorsFeaturizer`` is the same component (training, vocabulary, settings and
saved files are Rasa's) whose ``_create_features`` counts with the vectorizer's own
analyzer and vocabulary, exactly as ``CountVectorizer._count_vocab`` does, and builds the
COO matrices directly: the same rows, columns, values, types and shapes
(``tests/test_count_vectors.py`` compares them with Rasa's on the project's examples and
on generated text).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Text, Tuple

import numpy as np
import scipy.sparse
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer

# What this relies on in Rasa (runtime/internals.py checks it before Rasa serves or trains).
RELIES_ON = {
    "rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer:CountVectorsFeaturizer._create_features": (
        "d841f50f6649704a"
    ),
}


def count_matrix(
    analyze: Callable[[str], List[str]], vocabulary: Dict[str, int], documents: List[str], dtype: Any, binary: bool
) -> scipy.sparse.coo_matrix:
    """``CountVectorizer.transform(documents)`` with sorted indices, as COO."""
    rows: List[int] = []
    columns: List[int] = []
    values: List[int] = []
    for row, document in enumerate(documents):
        counter: Dict[int, int] = {}
        for feature in analyze(document):
            index = vocabulary.get(feature)
            if index is not None:
                counter[index] = counter.get(index, 0) + 1
        for column in sorted(counter):
            rows.append(row)
            columns.append(column)
            values.append(1 if binary else counter[column])
    return scipy.sparse.coo_matrix(
        (np.asarray(values, dtype=dtype), (np.asarray(rows, dtype=np.int32), np.asarray(columns, dtype=np.int32))),
        shape=(len(documents), len(vocabulary)),
        dtype=dtype,
    )


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class FastCountVectorsFeaturizer(CountVectorsFeaturizer):
    """``CountVectorsFeaturizer`` counting each message directly (see the module docstring)."""

    def _analyzer(self, attribute: Text) -> Optional[Tuple[Callable[[str], List[str]], Dict[str, int], Any, bool]]:
        vectorizer = self.vectorizers.get(attribute)
        vocabulary = getattr(vectorizer, "vocabulary_", None)
        if vocabulary is None:
            return None
        cache: Dict[Text, Any] = self.__dict__.setdefault("_analyzers", {})
        known = cache.get(attribute)
        if known is None or known[0] is not vectorizer:
            known = (vectorizer, (vectorizer.build_analyzer(), vocabulary, vectorizer.dtype, bool(vectorizer.binary)))
            cache[attribute] = known
        return known[1]

    def _create_features(
        self, attribute: Text, all_tokens: List[List[Text]]
    ) -> Tuple[List[Optional[scipy.sparse.spmatrix]], List[Optional[scipy.sparse.spmatrix]]]:
        if not self.vectorizers.get(attribute):
            return [None], [None]
        counting = self._analyzer(attribute)
        if counting is None:  # an untrained vectorizer: Rasa's way (and its error)
            return super()._create_features(attribute, all_tokens)
        sequence_features: List[Optional[scipy.sparse.spmatrix]] = []
        sentence_features: List[Optional[scipy.sparse.spmatrix]] = []
        for tokens in all_tokens:
            if not tokens:
                sequence_features.append(None)
                sentence_features.append(None)
                continue
            sequence_features.append(count_matrix(counting[0], counting[1], list(tokens), counting[2], counting[3]))
            if attribute in DENSE_FEATURIZABLE_ATTRIBUTES:
                sentence_features.append(
                    count_matrix(counting[0], counting[1], [" ".join(tokens)], counting[2], counting[3])
                )
            else:
                sentence_features.append(None)
        return sequence_features, sentence_features
