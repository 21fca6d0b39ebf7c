"""Splitting a visitor's message into its questions (clinic_nlu/question_focus.py)."""

from __future__ import annotations

import pytest

from clinic_nlu.question_focus import answerable, is_question, sentences, split_message

pytestmark = pytest.mark.unit


def pieces(text):
    questions, statements = split_message(text)
    return [text[a:b].strip() for a, b in questions], bool(statements)


def test_a_story_then_a_question():
    text = "I've had lower back pain for three years and my physio mentioned it. I'm scared of needles, does it hurt?"
    questions, story = pieces(text)
    assert questions == ["I'm scared of needles, does it hurt?"]
    assert story


def test_a_clause_before_a_question_belongs_to_it():
    questions, _ = pieces("Can my 15 year old have it? And she's type 1 diabetic, does that change anything?")
    assert questions == ["Can my 15 year old have it?", "And she's type 1 diabetic, does that change anything?"]


def test_two_questions_joined_by_and():
    questions, story = pieces("how much is the first visit and do I need a referral from my doctor")
    assert questions == ["how much is the first visit", "do I need a referral from my doctor"]
    assert not story


def test_two_questions_in_two_sentences_the_second_starting_with_and():
    questions, _ = pieces("does it hurt? and how many sessions will I need")
    assert questions == ["does it hurt?", "and how many sessions will I need"]


def test_and_inside_one_question_does_not_split_it():
    questions, _ = pieces("is it safe for my neck and shoulders")
    assert questions == ["is it safe for my neck and shoulders"]
    questions, _ = pieces("what is the difference between dry needling and acupuncture?")
    assert len(questions) == 1


def test_a_statement_without_a_question_has_no_question():
    questions, story = pieces("My calf has been tight for weeks.")
    assert questions == [] and story


@pytest.mark.parametrize(
    "sentence",
    [
        "does it hurt",
        "Is Dry Needling Safe During Pregnancy?",
        "so how long does it last",
        "I was wondering about the price",
    ],
)
def test_questions_are_recognised(sentence):
    assert is_question(sentence)


@pytest.mark.parametrize("sentence", ["I have a wedding on Saturday", "my back hurts", "thanks"])
def test_statements_are_not_questions(sentence):
    assert not is_question(sentence)


def test_sentences_split_on_question_marks_without_a_space():
    text = "hi?does it hurt"
    assert [text[a:b] for a, b in sentences(text)] == ["hi?", "does it hurt"]


def test_only_facts_are_answerable_as_a_second_question():
    assert answerable("faq/does_it_hurt") and answerable("ask_cost")
    assert not answerable("book_appointment") and not answerable("greet") and not answerable("out_of_scope")
