"""The linear response selector: its maths, and train, save, load and predict on real Rasa objects."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.feature_extraction.text import TfidfTransformer

from clinic_nlu.linear_selector import (
    LinearResponseSelector,
    inverse_document_frequency,
    label_id,
    softmax,
    tfidf_transform,
)
from tests.conftest import generated_examples

pytestmark = pytest.mark.unit

COUNTS = scipy.sparse.csr_matrix(np.array([[3, 0, 1, 0], [0, 2, 0, 0], [1, 1, 1, 5]], dtype=float))


def test_tfidf_matches_scikit_learn():
    reference = TfidfTransformer(sublinear_tf=True, smooth_idf=True).fit(COUNTS)
    idf = inverse_document_frequency(COUNTS)
    np.testing.assert_allclose(idf, reference.idf_)
    np.testing.assert_allclose(tfidf_transform(COUNTS, idf).toarray(), reference.transform(COUNTS).toarray())


def test_empty_row_stays_zero():
    idf = inverse_document_frequency(COUNTS)
    empty = scipy.sparse.csr_matrix((1, 4))
    assert tfidf_transform(empty, idf).nnz == 0


def test_softmax_rows_sum_to_one():
    probabilities = softmax(np.array([1.0, 2.0, 3.0]))
    assert probabilities.sum() == pytest.approx(1.0)
    assert list(np.argsort(-probabilities)) == [2, 1, 0]


def test_label_ids_are_stable():
    assert label_id("faq/needles") == label_id("faq/needles") != label_id("faq/aftercare")


# Tiny vocabulary: 0 hurt, 1 needle, 2 session, 3 weather.
def message(text, vector, intent=None, key=None):
    data = {"text": text}
    if intent:
        data["intent"] = intent
    if key:
        data["intent_response_key"] = key
    msg = Message(data=data)
    # Two featurizers, as in config.yml: the words, and a second block (here: all-ones character stand-in).
    msg.add_features(Features(scipy.sparse.coo_matrix([vector]), "sentence", "text", "words"))
    msg.add_features(Features(scipy.sparse.coo_matrix([[1, 1]]), "sentence", "text", "chars"))
    msg.add_features(Features(scipy.sparse.coo_matrix([vector]), "sequence", "text", "words"))
    return msg


TRAINING = [
    message("does it hurt", [2, 0, 0, 0], "faq", "faq/does_it_hurt"),
    message("painful needle", [1, 1, 0, 0], "faq", "faq/does_it_hurt"),
    message("hurt a lot", [1, 0, 0, 0], "faq", "faq/does_it_hurt"),
    message("which needle", [0, 2, 0, 0], "faq", "faq/needles"),
    message("needle type", [0, 1, 0, 0], "faq", "faq/needles"),
    message("sterile needle", [0, 3, 0, 0], "faq", "faq/needles"),
    message("how many sessions", [0, 0, 2, 0], "faq", "faq/number_of_sessions"),
    message("sessions needed", [0, 0, 1, 0], "faq", "faq/number_of_sessions"),
    message("weather", [0, 0, 0, 1], "out_of_scope"),
]
RESPONSES = {
    "utter_faq/does_it_hurt": [{"text": "A little."}],
    "utter_faq/needles": [{"text": "Thin ones."}],
    "utter_faq/number_of_sessions": [{"text": "It depends."}],
}


def train_and_load(component_class, tmp_path):
    """Trains ``component_class`` on TRAINING, saves it, and loads it back as Rasa would."""
    storage = LocalModelStorage(tmp_path)
    resource = Resource(component_class.__name__)
    context = ExecutionContext(GraphSchema({}), "test")
    config = {**component_class.get_default_config(), "ranking_length": 2}
    component_class.create(config, storage, resource, context).train(TrainingData(TRAINING, responses=RESPONSES))
    return component_class.load(config, storage, resource, context)


@pytest.fixture
def trained(tmp_path):
    return train_and_load(LinearResponseSelector, tmp_path)


def test_predicts_the_topic_with_rasas_output_structure(trained):
    [msg] = trained.process([message("ouch does it hurt", [1, 0, 0, 0])])
    selector = msg.get("response_selector")
    assert selector["all_retrieval_intents"] == ["faq"]
    response = selector["faq"]["response"]
    assert response["intent_response_key"] == "faq/does_it_hurt"
    assert response["utter_action"] == "utter_faq/does_it_hurt"
    assert response["responses"] == []  # the answer is the domain's utter_action, not a copy in every parse
    ranking = selector["faq"]["ranking"]
    assert len(ranking) == 2  # ranking_length
    assert ranking[0]["intent_response_key"] == "faq/does_it_hurt"
    assert ranking[0]["confidence"] == response["confidence"] > ranking[1]["confidence"]
    assert ranking[0]["id"] == label_id("faq/does_it_hurt")
    assert "response_selector" in msg.as_dict_nlu() or msg.get("response_selector")


def test_out_of_scope_examples_are_not_topics(trained):
    [msg] = trained.process([message("weather", [0, 0, 0, 1])])
    keys = {entry["intent_response_key"] for entry in msg.get("response_selector")["faq"]["ranking"]}
    assert keys <= {"faq/does_it_hurt", "faq/needles", "faq/number_of_sessions"}


def test_message_without_features_is_left_alone(trained):
    bare = Message(data={"text": "x"})
    [msg] = trained.process([bare])
    assert msg.get("response_selector") is None


def test_saved_model_holds_no_pickles(tmp_path, trained):
    files = list(tmp_path.rglob("*"))
    weights = [f for f in files if f.name == "weights.npz"]
    assert weights, files
    with np.load(weights[0], allow_pickle=False) as stored:
        assert set(stored.files) == {"coef", "intercept", "idf_0", "idf_1"}


# The intent classifier is the same model fitted on the intents (clinic_nlu/linear_intent.py).


@pytest.fixture
def intent_classifier(tmp_path):
    from clinic_nlu.linear_intent import LinearIntentClassifier

    return train_and_load(LinearIntentClassifier, tmp_path)


def test_intent_classifier_writes_intent_and_ranking(intent_classifier):
    [faq_msg, weather_msg] = intent_classifier.process(
        [message("sore needle", [1, 1, 0, 0]), message("rain today", [0, 0, 0, 2])]
    )
    assert faq_msg.get("intent")["name"] == "faq"
    assert weather_msg.get("intent")["name"] == "out_of_scope"
    ranking = weather_msg.get("intent_ranking")
    assert [entry["name"] for entry in ranking] == ["out_of_scope", "faq"]
    assert ranking[0]["confidence"] == weather_msg.get("intent")["confidence"] > ranking[1]["confidence"]
    assert sum(entry["confidence"] for entry in ranking) == pytest.approx(1.0)  # two intents: the whole ranking


def test_intent_classifier_leaves_featureless_messages_alone(intent_classifier):
    [msg] = intent_classifier.process([Message(data={"text": "x"})])
    assert msg.get("intent") is None


# The fast path (NumPy on the message's non-zero counts) against the matrices training uses.


@pytest.fixture(scope="module")
def both_models(tmp_path_factory):
    from clinic_nlu.linear_intent import LinearIntentClassifier

    return [
        train_and_load(LinearResponseSelector, tmp_path_factory.mktemp("selector")),
        train_and_load(LinearIntentClassifier, tmp_path_factory.mktemp("intent")),  # two labels: the binary case
    ]


@given(
    st.lists(st.integers(0, 5), min_size=4, max_size=4),
    st.lists(st.integers(0, 3), min_size=2, max_size=2),
)
@settings(
    max_examples=generated_examples(300), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_the_fast_probabilities_equal_the_matrix_ones(both_models, words, chars):
    for component in both_models:
        blocks = [scipy.sparse.coo_matrix([words]), scipy.sparse.coo_matrix([chars])]
        fast = component._probabilities(blocks)
        assert np.allclose(fast, component._probabilities_by_matrices(blocks), rtol=1e-9, atol=1e-12)
        assert fast.sum() == pytest.approx(1.0)


@given(st.lists(st.tuples(st.integers(0, 9), st.integers(1, 4)), max_size=8), st.booleans())
@settings(max_examples=generated_examples(300), deadline=None)
def test_a_rows_nonzeros_are_read_as_csr_holds_them(entries, as_csr):
    """Straight from the featurizers' COO rows (any column order, even repeated columns) or
    from CSR: the same columns and values, in the same order, as the row's CSR form."""
    from clinic_nlu.linear_selector import _row_nonzeros

    columns = np.array([column for column, _ in entries], dtype=np.int32)
    values = np.array([value for _, value in entries], dtype=np.int64)
    block = scipy.sparse.coo_matrix((values, (np.zeros_like(columns), columns)), shape=(1, 10))
    expected = block.tocsr()
    expected.sum_duplicates()
    indices, data = _row_nonzeros(block.tocsr() if as_csr else block)
    assert indices.tolist() == expected.indices.tolist()
    assert data.tolist() == expected.data.tolist()
