"""What visitors asked that the assistant could not answer, read from the conversation store.

``make report`` (``tools/visitor_report.py``) prints it and the staff console's inbox shows it;
both read it here, so they agree on what counts, how contact details are masked and which
wordings are alike.

A visitor message counts when the assistant declined it (``action_decline``,
``utter_out_of_scope``, Rasa's fallback), asked which topic was meant
(``action_clarify_topic``), was unsure (``nlu_fallback``, ``out_of_scope``) or chose its intent
with less than ``LOW_CONFIDENCE``; and one whose answer the visitor marked not helpful (a thumbs
down in the widget, ``clinic/feedback.py``). Messages typed while a form was asking for details are never
read: they are names, numbers and addresses. In the rest, and in the assistant's replies shown
beside them, email addresses (written out too), phone-like numbers and introduced names are masked.

The conversation store is Rasa's ``events`` table (``TRACKER_DB_URL``, else endpoints.yml's
``tracker_store``: SQLite by default, PostgreSQL for several servers), only ever read here.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Collection, Dict, Iterable, List, Optional, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clinic.conversations import message_key
from clinic.feedback import disliked_answers
from clinic.topic_files import normalise

LOW_CONFIDENCE = 0.6
RECENT_DAYS = 30  # how far back the report and the inbox look unless told otherwise
NOT_ANSWERED_INTENTS = {"nlu_fallback", "out_of_scope"}
DECLINING_ACTIONS = {"action_decline", "utter_out_of_scope", "action_default_fallback"}
CLARIFYING_ACTIONS = {"action_clarify_topic"}
NOT_ANSWERED_ACTIONS = DECLINING_ACTIONS | CLARIFYING_ACTIONS
SIMILAR = 0.75
READ_EVENTS = ("user", "bot", "action", "active_loop")

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# An address written out to dodge spam filters: "jo dot smith at mail dot com", "jo(at)mail.com".
_AT, _DOT = r"(?:\s*[(\[]\s*at\s*[)\]]\s*|\s+at\s+)", r"(?:\s*[(\[]\s*dot\s*[)\]]\s*|\s+dot\s+|\.)"
_SPELLED_EMAIL = re.compile(
    rf"\b[\w+-]+(?:{_DOT}[\w+-]+)*{_AT}[\w-]+(?:{_DOT}[\w-]+)*{_DOT}(?:com|org|net|edu|gov|io|co|uk|au|ca|us|de|nz|ie|info|me)\b",
    re.IGNORECASE,
)
# Phone-like numbers however they are split: spaces, dots, dashes, slashes, brackets.
_DIGITS = re.compile(r"\+?\d[\d\s()./-]{4,}\d")
# A name introduced: "my name is Dana Whitfield", "i'm dana", "this is Dana", "call me Dana".
_NAMED = re.compile(
    r"\b(my name is|my name's|name is|i am|i'm|im|this is|it's|call me|ask for)\s+"
    r"(?!(?:a|an|the|not|so|very|really|in|on|at|from|with|having|getting|going|looking|pregnant|scared|afraid|"
    r"worried|nervous|sore|diabetic|interested|wondering|trying|new|over|under|\d)\b)"
    r"([A-Za-z][\w'-]*(?-i:\s+[A-Z][\w'-]*){0,2})",  # more words only when capitalised
    re.IGNORECASE,
)


def mask_contacts(text: str) -> str:
    """The text with email addresses (written out too) and phone-like numbers replaced."""
    return _DIGITS.sub("[number]", _SPELLED_EMAIL.sub("[email]", _EMAIL.sub("[email]", text)))


def mask(text: str) -> str:
    """A visitor's text with email addresses, phone-like numbers and introduced names replaced."""
    return _NAMED.sub(lambda match: f"{match.group(1)} [name]", mask_contacts(text))


@dataclass
class Turn:
    """One line of a conversation as staff see it: the visitor's or the assistant's, masked;
    ``hidden`` for what was typed or said while a form asked for details."""

    speaker: str  # "visitor" or "assistant"
    text: str
    hidden: bool = False


@dataclass
class Question:
    """One visitor message typed outside a form."""

    when: datetime
    text: str  # masked
    intent: str
    confidence: float
    topic: Optional[str]
    unanswered: bool = False
    not_helpful: bool = False  # the visitor gave an answer to it a thumbs down
    key: str = ""
    guesses: List[str] = field(default_factory=list)  # topics, the response selector's best first
    actions: List[str] = field(default_factory=list)  # what the assistant did in reply
    conversation: List[Turn] = field(default_factory=list, repr=False)  # the whole conversation, shared
    turn: int = 0  # this message's place in it
    conversation_id: str = field(default="", repr=False)  # the store's id (the sender), to open it whole

    @property
    def button(self) -> bool:
        """A button's payload, not typed words."""
        return self.text.startswith("/")

    @property
    def reason(self) -> str:
        """Why it counts, in words for staff."""
        if self.not_helpful:
            return "marked not helpful"
        return self._handling()

    @property
    def outcome(self) -> str:
        """What the assistant did with it: "declined", "unsure" (asked back, unsure, or answered
        with low confidence) or "answered"; a thumbs down is counted apart (``not_helpful``)."""
        handling = self._handling()
        return handling if handling in ("declined", "answered") else "unsure"

    def _handling(self) -> str:
        if any(action in DECLINING_ACTIONS for action in self.actions) or self.intent == "out_of_scope":
            return "declined"
        if any(action in CLARIFYING_ACTIONS for action in self.actions):
            return "asked which topic"
        if self.intent == "nlu_fallback":
            return "unsure"
        if self.confidence < LOW_CONFIDENCE:
            return f"low confidence ({self.confidence:.0%})"
        return "answered"

    def around(self, before: int = 3, after: int = 3) -> List[Turn]:
        """The conversation around this message: a few turns either side, a run of hidden turns
        counted and shown as one."""
        collapsed: List[Turn] = []
        here = 0
        for index, turn in enumerate(self.conversation):
            if not (turn.hidden and collapsed and collapsed[-1].hidden):
                collapsed.append(turn)
            if index == self.turn:
                here = len(collapsed) - 1
        return collapsed[max(0, here - before) : here + after + 1]


@dataclass
class Group:
    """Similar unanswered questions, newest first."""

    wordings: List[Question] = field(default_factory=list)

    @property
    def latest(self) -> datetime:
        return max(q.when for q in self.wordings)

    @property
    def key(self) -> str:
        """The group's name in a page: its newest message's key."""
        return self.wordings[0].key

    def distinct(self) -> List[Question]:
        """One message per wording (as compared), newest first."""
        seen, found = set(), []
        for question in self.wordings:
            wording = normalise(question.text)
            if wording not in seen:
                seen.add(wording)
                found.append(question)
        return found


Row = Tuple[str, str, Optional[str], str]  # sender, event type, action name, the event's JSON


def read_questions(rows: Iterable[Row], disliked: Collection[str] = ()) -> List[Question]:
    """Turns event rows ``(sender, type, action name, data JSON)``, oldest first, into questions;
    ``disliked``: the keys (``message_key``) of the answers visitors gave a thumbs down, whose
    questions count as not answered.

    Messages typed while a form was active are skipped: they are names, numbers and addresses.
    """
    questions: List[Question] = []
    loop: Dict[str, Optional[str]] = defaultdict(lambda: None)
    pending: Dict[str, Question] = {}
    conversations: Dict[str, List[Turn]] = defaultdict(list)
    for sender, kind, action, raw in rows:
        data = json.loads(raw or "{}")
        if kind == "active_loop":
            loop[sender] = data.get("name")
        elif kind == "action" and sender in pending:
            if action and action != "action_listen":
                question = pending[sender]
                question.actions.append(action)
                question.unanswered = question.unanswered or action in NOT_ANSWERED_ACTIONS
        elif kind == "bot":
            text = str(data.get("text") or "")
            if sender in pending and disliked and message_key(sender, data.get("timestamp")) in disliked:
                pending[sender].not_helpful = pending[sender].unanswered = True
            if text and loop[sender]:
                conversations[sender].append(Turn("assistant", "", hidden=True))
            elif text:
                conversations[sender].append(Turn("assistant", mask_contacts(text)))
        elif kind == "user":
            pending.pop(sender, None)
            if loop[sender]:
                conversations[sender].append(Turn("visitor", "", hidden=True))
                continue
            question = _question(sender, data)
            question.conversation = conversations[sender]
            question.turn = len(question.conversation)
            question.conversation.append(Turn("visitor", question.text))
            questions.append(question)
            pending[sender] = question
    for question in questions:
        if question.button:  # a quick reply: no wording to teach, even when its answer was disliked
            question.unanswered = False
    return questions


def _question(sender: str, data: dict) -> Question:
    parse = data.get("parse_data") or {}
    intent = parse.get("intent") or {}
    name = intent.get("name") or ""
    confidence = float(intent.get("confidence") or 0.0)
    selector = (parse.get("response_selector") or {}).get("faq") or {}
    ranked = [str(entry.get("intent_response_key") or "") for entry in selector.get("ranking") or []]
    timestamp = float(data.get("timestamp") or 0)
    return Question(
        when=datetime.fromtimestamp(timestamp, timezone.utc),
        text=mask(str(data.get("text") or "")),
        intent=name,
        confidence=confidence,
        topic=(selector.get("response") or {}).get("intent_response_key") if name == "faq" else None,
        unanswered=name in NOT_ANSWERED_INTENTS or confidence < LOW_CONFIDENCE,
        key=message_key(sender, timestamp),
        conversation_id=sender,
        guesses=[key.split("/", 1)[1] for key in ranked if key.startswith("faq/")],
    )


def group_similar(questions: Sequence[Question]) -> List[Group]:
    """Unanswered questions grouped by similar wording, the most recent group first.

    Each group keeps a matcher with its wording analysed once, and the cheap upper bounds of the
    similarity are tried before the exact one (difflib's own advice): the same groups as comparing
    every pair outright. Still one comparison per question and group: measured here, 300 questions
    all different take 0.6 s (4.3 s before), 1000 take 7.6 s (48 s), so the inbox groups the
    newest few hundred at a time.
    """
    groups: List[Tuple[difflib.SequenceMatcher, Group]] = []
    for question in sorted((q for q in questions if q.unanswered), key=lambda q: q.when, reverse=True):
        key = normalise(question.text)
        for matcher, group in groups:
            matcher.set_seq1(key)
            if (
                matcher.real_quick_ratio() >= SIMILAR
                and matcher.quick_ratio() >= SIMILAR
                and matcher.ratio() >= SIMILAR
            ):
                group.wordings.append(question)
                break
        else:
            matcher = difflib.SequenceMatcher(None)
            matcher.set_seq2(key)
            groups.append((matcher, Group([question])))
    return sorted((group for _, group in groups), key=lambda g: (g.latest, len(g.wordings)), reverse=True)


def sqlite_file_missing(url: str) -> bool:
    """Whether ``url`` names an SQLite file that does not exist (reading would create it)."""
    return url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists()


def load_rows(engine: Engine, since: datetime) -> List[Row]:
    """The conversation store's events since ``since`` that questions are read from, oldest first."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("events"):
            return []
        result = connection.execute(
            sa.text(
                "SELECT sender_id, type_name, action_name, data FROM events "
                "WHERE timestamp >= :since AND type_name IN :kinds ORDER BY id"
            ).bindparams(sa.bindparam("kinds", expanding=True)),
            {"since": since.timestamp(), "kinds": list(READ_EVENTS)},
        )
        return [tuple(row) for row in result]


def recent_questions(url: str, since: datetime, engine: Optional[Engine] = None) -> List[Question]:
    """Every question read from the store at ``url`` since ``since`` (none when it does not exist
    yet), those whose answer a visitor gave a thumbs down among the unanswered."""
    if sqlite_file_missing(url):
        return []
    if engine is not None:
        return read_questions(load_rows(engine, since), disliked_answers(engine, since))
    opened = sa.create_engine(url)
    try:
        return read_questions(load_rows(opened, since), disliked_answers(opened, since))
    finally:
        opened.dispose()
