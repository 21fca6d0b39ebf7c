"""Whole conversations read for the console (clinic/transcripts.py), from a conversation store of
Rasa's shape: masked as the inbox masks, form turns hidden unless revealed, found by words as
shown and by dates, newest first, a page at a time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from clinic.transcripts import FORM_HIDDEN, Transcripts, lines_of, search_words
from tests.conversation_events import bot, exchange, loop, user, write_store

pytestmark = pytest.mark.unit

DAY = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def at(days: float = 0, minutes: float = 0) -> float:
    return (DAY + timedelta(days=days, minutes=minutes)).timestamp()


def booking(sender: str, when: float):
    return [
        *exchange(sender, "can I book for tuesday", "book_appointment", ["booking_form"], when),
        loop(sender, "booking_form", when + 1),
        bot(sender, "What name should the booking be under?", when + 2),
        user(sender, "Dana Whitfield", "inform", at=when + 3),
        bot(sender, "How can the clinic reach you?", when + 4),
        user(sender, "dana.whitfield@mail.example", "inform", at=when + 5),
        bot(sender, "Thanks Dana Whitfield, we'll reach you at dana.whitfield@mail.example.", when + 6),
        loop(sender, None, when + 7),
        bot(sender, "Anything else?", when + 8),
    ]


@pytest.fixture
def store(tmp_path):
    rows = [
        *exchange("old", "does it hurt", "faq", ["utter_faq"], at(-3)),
        *booking("booker", at(-1)),
        *exchange(
            "script",
            "<script>alert(1)</script> my number is 0412 345 678",
            "out_of_scope",
            ["utter_out_of_scope"],
            at(0),
        ),
        *[
            row
            for n in range(25)
            for row in exchange(f"many-{n:02}", f"parking question {n}", "ask_location", ["action_location"], at(1, n))
        ],
    ]
    engine = sa.create_engine(write_store(tmp_path / "tracker.db", rows))
    yield Transcripts(engine)
    engine.dispose()


def test_a_transcript_is_masked_with_the_form_hidden_and_revealed_as_stored(store):
    lines = store.transcript("booker")
    shown = [(line.speaker, line.shown()) for line in lines]
    assert shown[0] == ("visitor", "can I book for tuesday")
    assert ("visitor", FORM_HIDDEN) in shown and ("assistant", FORM_HIDDEN) in shown
    assert not any("Dana" in text or "dana" in text for _, text in shown)
    assert shown[-1] == ("assistant", "Anything else?")  # the form over: shown again
    revealed = [line.shown(reveal=True) for line in lines]
    assert "Dana Whitfield" in revealed and "dana.whitfield@mail.example" in revealed
    script = store.transcript("script")[0]
    assert script.shown() == "<script>alert(1)</script> my number is [number]"


def test_the_list_is_newest_first_a_page_at_a_time(store):
    since, until = DAY - timedelta(days=30), DAY + timedelta(days=5)
    first, total = store.find(since, until, limit=20)
    assert total == 28
    assert [summary.conversation for summary in first[:2]] == ["many-24", "many-23"]
    second, _ = store.find(since, until, offset=20, limit=20)
    assert [summary.conversation for summary in second] == [f"many-0{n}" for n in range(4, -1, -1)] + [
        "script",
        "booker",
        "old",
    ]
    booker = second[-2]
    assert booker.messages == 3 and booker.opening == "can I book for tuesday"
    assert booker.started == datetime.fromtimestamp(at(-1), timezone.utc)


def test_words_are_found_in_the_text_as_shown_all_of_them(store):
    since, until = DAY - timedelta(days=30), DAY + timedelta(days=5)
    assert [s.conversation for s in store.find(since, until, search_words("HURT does"))[0]] == ["old"]
    assert store.find(since, until, search_words("parking 17"))[1] == 1  # "parking question 17"
    assert store.find(since, until, search_words("parking nothing"))[1] == 0
    assert [s.conversation for s in store.find(since, until, search_words("<script>"))[0]] == ["script"]
    # What the page hides cannot be searched for: a typed email, a phone number, a name in a form.
    for hidden in ("dana.whitfield@mail.example", "0412", "whitfield"):
        assert store.find(since, until, search_words(hidden))[1] == 0, hidden


def test_dates_bound_the_list(store):
    found, total = store.find(DAY - timedelta(days=1, hours=1), DAY + timedelta(hours=1))
    assert total == 2 and [s.conversation for s in found] == ["script", "booker"]


def test_a_store_without_conversations_yet(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert Transcripts(engine).find(DAY - timedelta(days=1), DAY) == ([], 0)
        assert Transcripts(engine).transcript("anyone") == []
    finally:
        engine.dispose()


def test_search_words_are_lower_case_each_once_and_few():
    assert search_words("  Parking PARKING  Ramp ") == ["parking", "ramp"]
    assert len(search_words(" ".join(f"w{n}" for n in range(20)))) == 8


def test_lines_skip_events_without_text():
    rows = [(kind, data) for _, kind, _, data in exchange("s", "hi", "greet", ["action_listen"], at())]
    assert [line.speaker for line in lines_of(rows)] == ["visitor", "assistant"]
