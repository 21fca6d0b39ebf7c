"""Visitors' votes on answers (clinic/feedback.py, the website channel's part): which messages are
answers, the checks of a vote, one vote per answer of the visitor's own conversation, the votes
gone with their conversation (erase, purge, the widget's delete) and from the file, and a thumbs
down putting the question among the unanswered. The channel over the running server and the widget
in Chromium: tests/test_feedback_browser.py."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from actions.clinic_info import ActionTellClinicFact, ActionTellHours, answered_topic
from clinic.conversations import ConversationStore, message_key
from clinic.feedback import AlreadyVoted, FeedbackStore, UnknownAnswer, answer_mark, answer_topic, votes
from clinic.profile import current_profile
from clinic.visitor_questions import read_questions
from tests.conversation_events import action, bot, user, write_store
from website.channel import AnswerCollector, widget_messages
from website.requests import BadRequest, parse_vote_request

pytestmark = pytest.mark.unit

VISITOR = "3f6c1e2a-0b7d-4c57-9a43-5d2f8e1b6a90"
OTHER = "9a1e8f53-2c4b-4d7e-8f60-1b2c3d4e5f60"
AT = 1_790_000_000.0
NOW = datetime.fromtimestamp(AT + 600, timezone.utc)


def conversation(sender: str, at: float = AT):
    """A greeting, an FAQ answer, a clinic fact, a red flag: two answers among them."""
    return [
        user(sender, "hi", "greet", at=at),
        action(sender, "utter_greet", at + 0.1),
        bot(sender, "Hi! How can I help?", at + 0.1, utter_action="utter_greet"),
        user(sender, "does it hurt", "faq", topic="faq/does_it_hurt", at=at + 10),
        action(sender, "utter_faq", at + 10.1),
        bot(sender, "Most people feel a brief cramp.", at + 10.1, utter_action="utter_faq/does_it_hurt"),
        user(sender, "when are you open", "ask_hours", at=at + 20),
        action(sender, "action_tell_hours", at + 20.1),
        bot(sender, "We're open Monday to Friday.", at + 20.1, answer_topic="ask_hours"),
        user(sender, "chest pain since my session", "red_flag", at=at + 30),
        action(sender, "action_red_flag", at + 30.1),
        bot(sender, "Call 911 now.", at + 30.1, utter_action="utter_red_flag"),
    ]


FAQ_ANSWER = message_key(VISITOR, AT + 10.1)
HOURS_ANSWER = message_key(VISITOR, AT + 20.1)


@pytest.fixture
def store(tmp_path):
    url = write_store(tmp_path / "tracker.db", conversation(VISITOR) + conversation(OTHER, AT + 100))
    engine = sa.create_engine(url)
    yield FeedbackStore(engine)
    engine.dispose()


def test_only_faq_answers_and_clinic_facts_are_answers():
    assert answer_topic({"utter_action": "utter_faq/does_it_hurt"}) == "does_it_hurt"
    assert answer_topic({"answer_topic": "ask_hours", "text": "..."}) == "ask_hours"
    for message in (
        {"utter_action": "utter_greet"},
        {"utter_action": "utter_red_flag"},
        {"utter_action": "utter_ask_full_name"},
        {"utter_action": "utter_did_you_mean"},
        {"utter_action": "utter_faq/"},
        {"text": "a custom action's text"},
        {"answer_topic": ""},
    ):
        assert answer_topic(message) is None, message
    assert answer_mark("ask_cost") == {"answer_topic": "ask_cost"} and answer_mark(None) == {}


class Dispatcher:
    def __init__(self):
        self.messages = []

    def utter_message(self, **message):
        self.messages.append(message)


class Tracker:
    def __init__(self, intent):
        self.latest_message = {"intent": {"name": intent}}
        self.active_loop = {}


def test_the_clinic_facts_are_marked_with_their_topic_and_a_missing_fact_is_not():
    dispatcher = Dispatcher()
    asyncio.run(ActionTellHours().run(dispatcher, Tracker("ask_hours"), {}))
    assert answer_topic(dispatcher.messages[0]) == "ask_hours"
    dispatcher = Dispatcher()
    asyncio.run(ActionTellClinicFact().run(dispatcher, Tracker("ask_referral"), {}))
    assert answer_topic(dispatcher.messages[0]) == "ask_referral"
    profile = current_profile()
    unwritten = profile.copy(update={"children": ""})
    assert answered_topic(unwritten, "ask_children") is None  # the "can't answer" is no answer
    assert answered_topic(unwritten, "ask_hours") == "ask_hours"


def test_the_channel_gives_each_answer_its_id_and_nothing_else_one():
    collector = AnswerCollector()
    messages = [
        {"text": "Most people feel a brief cramp.", "timestamp": AT + 10.1, "utter_action": "utter_faq/does_it_hurt"},
        {"text": "Call 911 now.", "timestamp": AT + 30.1, "utter_action": "utter_red_flag"},
        {
            "text": "We're open.",
            "timestamp": AT + 20.1,
            "answer_topic": "ask_hours",
            "buttons": [{"title": "Request an appointment", "payload": "/book_appointment"}],
        },
    ]
    for message in messages:
        asyncio.run(collector.send_response(VISITOR, dict(message)))
    replies = widget_messages(collector.messages)
    assert [reply.get("answer") for reply in replies] == [FAQ_ANSWER, None, HOURS_ANSWER]
    assert replies[2]["buttons"] == [{"title": "Request an appointment", "payload": "/book_appointment"}]


def test_a_vote_is_checked_field_by_field():
    vote = parse_vote_request(json.dumps({"sender": VISITOR.upper(), "answer": FAQ_ANSWER, "helpful": False}).encode())
    assert (vote.sender, vote.answer, vote.helpful) == (VISITOR, FAQ_ANSWER, False)
    refusals = {
        b"[]": "JSON object",
        b"not json": "JSON object",
        json.dumps({"answer": FAQ_ANSWER, "helpful": True}).encode(): "'sender' is required",
        json.dumps({"sender": "visitor-1", "answer": FAQ_ANSWER, "helpful": True}).encode(): "UUID",
        json.dumps({"sender": VISITOR, "helpful": True}).encode(): "'answer' is required",
        json.dumps({"sender": VISITOR, "answer": "abc", "helpful": True}).encode(): "32 hex digits",
        json.dumps({"sender": VISITOR, "answer": FAQ_ANSWER, "helpful": "yes"}).encode(): "true or false",
        json.dumps({"sender": VISITOR, "answer": FAQ_ANSWER}).encode(): "true or false",
        json.dumps({"sender": VISITOR, "answer": FAQ_ANSWER, "helpful": True, "comment": "x"}).encode(): "'comment'",
        json.dumps({"sender": VISITOR, "answer": FAQ_ANSWER, "helpful": True, "pad": "x" * 2000}).encode(): "1024",
    }
    for body, reason in refusals.items():
        with pytest.raises(BadRequest, match=reason):
            parse_vote_request(body)


def test_one_vote_per_answer_the_conversation_was_given(store):
    assert store.given_answers(VISITOR) == {FAQ_ANSWER: "does_it_hurt", HOURS_ANSWER: "ask_hours"}
    kept = store.record(VISITOR, FAQ_ANSWER, False, NOW)
    assert (kept.topic, kept.helpful) == ("does_it_hurt", False)
    with pytest.raises(AlreadyVoted):
        store.record(VISITOR, FAQ_ANSWER, True, NOW)
    with pytest.raises(UnknownAnswer):  # another visitor's answer, named from this conversation
        store.record(VISITOR, message_key(OTHER, AT + 110.1), True, NOW)
    with pytest.raises(UnknownAnswer):  # this visitor's answer, claimed by someone else's id
        store.record(OTHER, FAQ_ANSWER, True, NOW)
    with pytest.raises(UnknownAnswer):  # a greeting is no answer
        store.record(VISITOR, message_key(VISITOR, AT + 0.1), True, NOW)
    store.record(VISITOR, HOURS_ANSWER, True, NOW)
    assert [(v.topic, v.helpful) for v in votes(store.engine, NOW - timedelta(days=1))] == [
        ("does_it_hurt", False),
        ("ask_hours", True),
    ]
    assert votes(store.engine, NOW + timedelta(seconds=1)) == []


def test_a_thumbs_down_puts_its_question_among_the_unanswered_and_a_button_stays_out():
    rows = conversation(VISITOR) + [
        user(VISITOR, '/choose_faq_topic{"faq_topic": "needles"}', "choose_faq_topic", 1.0, at=AT + 40),
        action(VISITOR, "action_answer_chosen_topic", AT + 40.1),
        bot(VISITOR, "Thin solid needles.", AT + 40.1, utter_action="utter_faq/needles"),
    ]
    disliked = {FAQ_ANSWER, message_key(VISITOR, AT + 40.1)}
    questions = {q.text: q for q in read_questions(rows, disliked)}
    hurt = questions["does it hurt"]
    assert hurt.unanswered and hurt.not_helpful and hurt.reason == "marked not helpful"
    assert hurt.outcome == "answered"  # it was answered; the vote is counted apart
    assert not questions["when are you open"].unanswered
    button = questions['/choose_faq_topic{"faq_topic": "needles"}']
    assert button.not_helpful and not button.unanswered  # no wording to teach
    assert not read_questions(rows)[1].unanswered


def test_erase_and_purge_take_the_votes_with_their_conversations_out_of_the_file(tmp_path, store):
    store.record(VISITOR, FAQ_ANSWER, False, NOW)
    store.record(OTHER, message_key(OTHER, AT + 110.1), True, NOW)
    url = str(store.engine.url)
    store.engine.dispose()
    with ConversationStore(url) as conversations:
        assert conversations.erase([VISITOR]) == len(conversation(VISITOR))
        assert [v.sender for v in votes(conversations.engine, NOW - timedelta(days=1))] == [OTHER]
        assert VISITOR.encode() not in (tmp_path / "tracker.db").read_bytes()
        conversations.purge(NOW + timedelta(seconds=1))
        assert votes(conversations.engine, NOW - timedelta(days=1)) == []
    assert OTHER.encode() not in (tmp_path / "tracker.db").read_bytes()


def test_the_rasa_servers_store_deletes_a_conversations_votes_with_it(tmp_path, store):
    from runtime.tracker_store import CachedSQLTrackerStore

    store.record(VISITOR, FAQ_ANSWER, False, NOW)
    store.record(OTHER, message_key(OTHER, AT + 110.1), True, NOW)
    rasa_store = CachedSQLTrackerStore(dialect="sqlite", db=str(tmp_path / "tracker.db"))
    try:
        rasa_store.erase(VISITOR)
        assert [v.sender for v in votes(rasa_store.engine, NOW - timedelta(days=1))] == [OTHER]
    finally:
        rasa_store.engine.dispose()
    assert VISITOR.encode() not in (tmp_path / "tracker.db").read_bytes()
