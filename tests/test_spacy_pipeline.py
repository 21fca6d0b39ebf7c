"""The project's own spaCy pipeline: built from code, lemmatises, mends typos, loads from disk."""

from __future__ import annotations

import pytest
import spacy

from clinic_nlu.spacy_pipeline import MISSPELLINGS, build_pipeline, main

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def nlp():
    return build_pipeline()


def lemmas(nlp, text):
    return [token.lemma_ for token in nlp(text)]


def test_lookup_lemmas(nlp):
    assert lemmas(nlp, "how many sessions with needles") == ["how", "many", "session", "with", "needle"]


def test_does_is_the_verb_not_the_deer(nlp):
    assert lemmas(nlp, "does it hurt")[0] == "do"


@pytest.mark.parametrize(
    "typo, lemma", [("accupuncture", "acupuncture"), ("neeedles", "needle"), ("painfull", "painful")]
)
def test_typos_fold_onto_the_right_lemma(nlp, typo, lemma):
    assert lemmas(nlp, f"is it {typo}")[-1] == lemma


def test_every_misspelling_rule_is_single_token_or_skipped(nlp):
    for lemma, typos in MISSPELLINGS.items():
        for typo in typos:
            if " " not in typo:
                assert nlp(typo)[0].lemma_ == lemma, typo


def test_saved_pipeline_loads_by_path(tmp_path):
    out = tmp_path / "nested" / "en_clinic"
    assert main(["spacy_pipeline", str(out)]) == 0
    loaded = spacy.load(out)
    assert loaded.pipe_names == ["lemmatizer", "attribute_ruler"]
    assert [t.lemma_ for t in loaded("twitches")] == ["twitch"]


def test_usage_error_without_an_output_folder():
    assert main(["spacy_pipeline"]) == 2
