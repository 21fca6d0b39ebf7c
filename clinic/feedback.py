"""Visitors' votes on answers: "Helpful?" with a thumbs up or down under an answer in the widget.

Which of the assistant's messages are answers, and to what topic, is read from what the message
carries, so the widget, the check of a vote and the counts agree:

- an FAQ answer is Rasa's response ``utter_faq/<topic>`` (its ``utter_action``), whichever action
  said it (the retrieval action, a chosen suggestion, a second question answered);
- a clinic fact (hours, location, contact, prices, referral, what to wear, children) is a custom
  action's text marked with ``answer_topic`` (the intent it answers) by the action server.

Greetings, questions of the booking form, "Did you mean...?", declines and the red-flag safety
message carry neither, and get no vote.

A vote is kept in the conversation store's database (``visitor_feedback``, defined in
``clinic.conversations`` beside the events, so the retention purge, ``erase`` and the widget's
"Delete this conversation" remove it with its conversation): the conversation, the answer's key
(``message_key`` of its bot event), the topic, helpful or not, and when. No text, visitor's or
assistant's. The Rasa server's website channel records votes (``FeedbackStore.record``); the inbox,
``make report`` and the console's insights read them (``votes``, ``disliked_answers``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional, Set

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from clinic.booking_store import create_tables_once
from clinic.conversations import FEEDBACK, message_key

ANSWER_TOPIC = "answer_topic"  # the bot message's metadata field a clinic fact's topic is in
FAQ_RESPONSE_PREFIX = "utter_faq/"
MAX_TOPIC_LENGTH = 80


class FeedbackRefused(ValueError):
    """Why a vote is not kept, in words fit for the widget's error body."""


class UnknownAnswer(FeedbackRefused):
    """The answer is not one the assistant gave in that conversation."""


class AlreadyVoted(FeedbackRefused):
    """That answer has a vote already."""


def answer_topic(message: Mapping[str, Any]) -> Optional[str]:
    """The topic of a bot message that is an answer (its metadata: as sent to a channel, or the
    ``metadata`` of a stored bot event); None for anything else."""
    marked = message.get(ANSWER_TOPIC)
    if isinstance(marked, str) and marked and len(marked) <= MAX_TOPIC_LENGTH:
        return marked
    response = message.get("utter_action")
    if isinstance(response, str) and response.startswith(FAQ_RESPONSE_PREFIX):
        topic = response[len(FAQ_RESPONSE_PREFIX) :]
        return topic if topic and len(topic) <= MAX_TOPIC_LENGTH else None
    return None


def answer_mark(topic: Optional[str]) -> Dict[str, str]:
    """The metadata an action adds to a clinic fact's message (``utter_message(**answer_mark(...))``)
    so the widget offers a vote on it; nothing for a message that is no answer."""
    return {ANSWER_TOPIC: topic} if topic else {}


@dataclass(frozen=True)
class Vote:
    """One visitor's vote on one answer."""

    sender: str
    answer: str  # the answer's key
    topic: str
    helpful: bool
    when: datetime


class FeedbackStore:
    """The votes, in the conversation store's database (an open engine; blocking calls)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def given_answers(self, sender: str) -> Dict[str, str]:
        """The answers the assistant gave in one conversation: each answer's key and its topic."""
        with self.engine.connect() as connection:
            if not sa.inspect(connection).has_table("events"):
                return {}
            rows = connection.execute(
                sa.text("SELECT data FROM events WHERE sender_id = :sender AND type_name = 'bot'"), {"sender": sender}
            ).scalars()
            answers: Dict[str, str] = {}
            for raw in rows:
                try:
                    data = json.loads(raw or "{}")
                except ValueError:
                    continue
                topic = answer_topic(data.get("metadata") or {}) if isinstance(data, dict) else None
                if topic and data.get("timestamp") is not None:
                    answers[message_key(sender, data["timestamp"])] = topic
            return answers

    def record(self, sender: str, answer: str, helpful: bool, now: datetime) -> Vote:
        """Keeps a vote on ``answer`` (its key), given in conversation ``sender``; returns it.

        Raises:
            UnknownAnswer: the conversation holds no such answer (not the visitor's, or gone).
            AlreadyVoted: that answer has its vote already.
        """
        topic = self.given_answers(sender).get(answer)
        if topic is None:
            raise UnknownAnswer("this conversation has no such answer")
        create_tables_once(self.engine, FEEDBACK.metadata)  # at the first vote; Rasa makes the events
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    FEEDBACK.insert().values(
                        sender_id=sender, answer_key=answer, topic=topic, helpful=helpful, timestamp=now.timestamp()
                    )
                )
        except IntegrityError:
            raise AlreadyVoted("this answer has a vote already") from None
        return Vote(sender, answer, topic, helpful, now)


def votes(engine: Engine, since: datetime) -> List[Vote]:
    """Every vote cast since ``since``, oldest first (none before the first vote)."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(FEEDBACK.name):
            return []
        column = FEEDBACK.c
        rows = connection.execute(
            sa.select(column.sender_id, column.answer_key, column.topic, column.helpful, column.timestamp)
            .where(column.timestamp >= since.timestamp())
            .order_by(column.timestamp, column.id)
        ).all()
    return [
        Vote(
            row.sender_id,
            row.answer_key,
            row.topic,
            bool(row.helpful),
            datetime.fromtimestamp(row.timestamp, timezone.utc),
        )
        for row in rows
    ]


def disliked_answers(engine: Engine, since: datetime) -> Set[str]:
    """The keys of the answers given a thumbs down since ``since``."""
    return {vote.answer for vote in votes(engine, since) if not vote.helpful}
