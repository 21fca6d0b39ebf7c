"""Reading what visitors asked that the assistant could not answer (clinic/visitor_questions.py),
as the inbox shows it: why each message counts, the model's guesses, the conversation around it
with contact details masked and form turns hidden, and a key that holds no visitor text."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from clinic.visitor_questions import group_similar, message_key, read_questions, recent_questions
from tests.conversation_events import action, bot, exchange, loop, user, write_store

pytestmark = pytest.mark.unit

AT = 1_790_000_000.0


def test_why_each_message_counts():
    rows = [
        *exchange("a", "do you do cupping", "out_of_scope", ["utter_out_of_scope"], AT),
        *exchange("b", "needles and sessions", "faq", ["utter_faq", "action_clarify_topic"], AT + 1),
        *exchange("c", "blah blah", "nlu_fallback", ["action_clarify_topic"], AT + 2, confidence=0.2),
        *exchange("d", "something odd", "nlu_fallback", ["action_decline"], AT + 3, confidence=0.2),
        *exchange("e", "how much is it", "ask_cost", ["action_tell_clinic_fact"], AT + 4, confidence=0.45),
        *exchange("f", "does it hurt", "faq", ["utter_faq"], AT + 5, topic="faq/does_it_hurt"),
    ]
    questions = read_questions(rows)
    assert [(q.text, q.unanswered, q.reason) for q in questions if q.unanswered] == [
        ("do you do cupping", True, "declined"),
        ("needles and sessions", True, "asked which topic"),  # an answer first, then a question back
        ("blah blah", True, "asked which topic"),
        ("something odd", True, "declined"),
        ("how much is it", True, "low confidence (45%)"),
    ]
    assert not questions[-1].unanswered


def test_the_models_guesses_come_from_the_response_selectors_ranking():
    rows = [user("a", "do you do cupping", "out_of_scope", ranking=[("techniques", 0.4), ("vs_acupuncture", 0.3)])]
    assert read_questions(rows)[0].guesses == ["techniques", "vs_acupuncture"]
    assert read_questions([user("b", "hi", "greet")])[0].guesses == []


def test_the_conversation_around_a_message_is_masked_and_hides_what_a_form_took():
    rows = [
        *exchange("a", "hello, my name is Dana Whitfield", "greet", ["utter_greet"], AT),
        user("a", "I'd like to book", "book_appointment", at=AT + 10),
        action("a", "booking_form", AT + 10),
        loop("a", "booking_form", AT + 10),
        bot("a", "What name should the booking be under?", AT + 10),
        user("a", "Dana Whitfield", "inform", at=AT + 20),
        bot("a", "Thanks Dana Whitfield. A phone number or email?", AT + 20),
        user("a", "0412 345 678", "inform", at=AT + 30),
        loop("a", None, AT + 40),
        bot("a", "Saved. The clinic will call 0412 345 678.", AT + 40),
        *exchange(
            "a", "also do you do cupping? mail dana@mail.example", "out_of_scope", ["utter_out_of_scope"], AT + 50
        ),
    ]
    cupping = [q for q in read_questions(rows) if q.unanswered][0]
    assert cupping.text == "also do you do cupping? mail [email]"
    shown = [(turn.speaker, turn.text, turn.hidden) for turn in cupping.around()]
    assert shown == [
        ("visitor", "I'd like to book", False),
        ("assistant", "", True),  # the form's questions and the visitor's details: one hidden turn
        ("assistant", "Saved. The clinic will call [number].", False),
        ("visitor", "also do you do cupping? mail [email]", False),
        ("assistant", "(what utter_out_of_scope says)", False),
    ]
    everything = " ".join(turn.text for turn in cupping.conversation)
    assert "Dana" not in everything and "0412" not in everything and "dana@" not in everything


def test_a_message_is_known_by_a_key_that_holds_none_of_its_words():
    rows = [user("3f6c1e2a", "do you do cupping", "out_of_scope", at=AT)]
    key = read_questions(rows)[0].key
    assert key == message_key("3f6c1e2a", AT) and len(key) == 32
    assert key != message_key("3f6c1e2a", AT + 0.001) and key != message_key("other", AT)


def test_groups_are_newest_first_and_name_their_distinct_wordings():
    rows = [
        *exchange("a", "do you do cupping", "out_of_scope", ["utter_out_of_scope"], AT),
        *exchange("b", "Do you do cupping?", "out_of_scope", ["utter_out_of_scope"], AT + 60),
        *exchange("c", "do u do cupping", "out_of_scope", ["utter_out_of_scope"], AT + 120),
        *exchange("d", "gift vouchers?", "out_of_scope", ["utter_out_of_scope"], AT + 90),
    ]
    groups = group_similar(read_questions(rows))
    assert [[q.text for q in group.wordings] for group in groups] == [
        ["do u do cupping", "Do you do cupping?", "do you do cupping"],
        ["gift vouchers?"],
    ]
    assert [q.text for q in groups[0].distinct()] == ["do u do cupping", "Do you do cupping?"]
    assert groups[0].key == groups[0].wordings[0].key


def test_the_store_is_read_without_creating_it(tmp_path):
    missing = tmp_path / "tracker.db"
    since = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert recent_questions(f"sqlite:///{missing}", since) == [] and not missing.exists()
    url = write_store(missing, exchange("a", "do you do cupping", "out_of_scope", ["utter_out_of_scope"], AT))
    assert [q.text for q in recent_questions(url, since)] == ["do you do cupping"]
    assert recent_questions(url, datetime(2027, 1, 1, tzinfo=timezone.utc)) == []  # older than asked for
