"""clinic_nlu/count_vectors.py: the features of each message are exactly Rasa's (the same COO
matrices: rows, columns, values, types, shapes), for the word and the character n-gram
featurizers of config.yml, on the project's own examples and on generated text."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.importers.rasa import RasaFileImporter

from clinic_nlu.count_vectors import FastCountVectorsFeaturizer
from tests.conftest import ROOT, generated_examples

pytestmark = pytest.mark.unit

SETTINGS = {  # the two featurizers of config.yml
    "words": {},
    "characters": {"analyzer": "char_wb", "min_ngram": 2, "max_ngram": 4},
}


@pytest.fixture(scope="module")
def examples():
    data = RasaFileImporter(training_data_paths=[str(ROOT / "data")]).get_nlu_data()
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    tokenizer.process_training_data(data)
    return data


@pytest.fixture(scope="module", params=sorted(SETTINGS))
def featurizer(request, examples, tmp_path_factory):
    config = {**FastCountVectorsFeaturizer.get_default_config(), **SETTINGS[request.param]}
    component = FastCountVectorsFeaturizer.create(
        config, LocalModelStorage(tmp_path_factory.mktemp("cv")), Resource("cv"), ExecutionContext(GraphSchema({}), "t")
    )
    component.train(examples)
    return component


def same(ours, rasas) -> None:
    assert len(ours) == len(rasas)
    for mine, theirs in zip(ours, rasas, strict=True):
        if theirs is None:
            assert mine is None
            continue
        assert mine.format == theirs.format == "coo"
        assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
        assert mine.row.dtype == theirs.row.dtype and mine.col.dtype == theirs.col.dtype
        assert mine.row.tolist() == theirs.row.tolist()
        assert mine.col.tolist() == theirs.col.tolist()
        assert mine.data.tolist() == theirs.data.tolist()


def compare(featurizer, token_lists) -> None:
    ours = featurizer._create_features("text", token_lists)
    rasas = CountVectorsFeaturizer._create_features(featurizer, "text", token_lists)
    same(ours[0], rasas[0])
    same(ours[1], rasas[1])


def test_the_projects_examples_get_rasas_features(featurizer, examples):
    token_lists = [[token.text for token in message.get("text_tokens")] for message in examples.training_examples]
    assert sum(len(tokens) for tokens in token_lists) > 10000
    compare(featurizer, token_lists)
    assert featurizer._create_features("text", token_lists[:1])[1][0].nnz > 0  # something was counted


@given(st.lists(st.lists(st.text(min_size=0, max_size=12), max_size=6), min_size=1, max_size=4))
@settings(
    max_examples=generated_examples(200), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_tokens_get_rasas_features(featurizer, token_lists):
    compare(featurizer, token_lists)


def test_an_untrained_featurizer_answers_as_rasas(tmp_path):
    component = FastCountVectorsFeaturizer.create(
        FastCountVectorsFeaturizer.get_default_config(),
        LocalModelStorage(tmp_path),
        Resource("cv"),
        ExecutionContext(GraphSchema({}), "t"),
    )
    assert component._create_features("text", [["hello"]]) == CountVectorsFeaturizer._create_features(
        component, "text", [["hello"]]
    )
