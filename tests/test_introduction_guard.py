"""clinic_nlu/introduction_guard.py: "I'm <name>" read as a name, questions left alone."""

from __future__ import annotations

import pytest

from clinic_nlu.introduction_guard import introduced_name, words_of

pytestmark = pytest.mark.unit

# Words the training data uses outside `inform` (a small stand-in for the real vocabulary).
VOCABULARY = words_of(
    [
        "I'm pregnant, can I have dry needling?",
        "I'm on blood thinners",
        "it's my shoulder that hurts",
        "this is painful",
        "I'm nervous about needles",
        "are you a bot",
        "I'm diabetic",
        "I am bleeding",
        "it is sore",
        "i'm worried",
    ]
)


@pytest.mark.parametrize(
    "text, name",
    [
        ("I'm Zelda Quorrow", "Zelda Quorrow"),
        ("i'm zelda", "zelda"),
        ("it's Priyanka Natarajan.", "Priyanka Natarajan"),
        ("this is Tobiah Crane", "Tobiah Crane"),
        ("hi, I am Ysolde Marrack!", "Ysolde Marrack"),
        ("my name is Kwame Mensah", "Kwame Mensah"),
        ("call me Jo", "Jo"),
        ("I'm Mary-Jane O'Neill", "Mary-Jane O'Neill"),
        ("I'm Peter Sore", "Peter Sore"),  # a surname that is also a word, written as a name
    ],
)
def test_an_introduction_with_an_unknown_name_is_a_name(text, name):
    assert introduced_name(text, VOCABULARY) == name


@pytest.mark.parametrize(
    "text",
    [
        "I'm pregnant",
        "I'm on blood thinners",
        "it's my shoulder",
        "this is painful",
        "I'm nervous",
        "I am bleeding",
        "it is sore",
        "I'm very worried",
        "I'm Zelda, does it hurt?",
        "I'm new here",
        "Zelda Quorrow",  # no introduction: the classifier already reads a bare name as inform
        "I'm Zelda Quorrow and I have a question about needles",
        "i'm 45",
        "i'm peter sore",  # lower case: "sore" is read as the word
        "I'm Pregnant",  # capitalised, but every word known
    ],
)
def test_anything_else_is_left_to_the_classifier(text):
    assert introduced_name(text, VOCABULARY) is None
