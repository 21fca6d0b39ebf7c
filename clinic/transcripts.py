"""Whole conversations as the staff console shows them: listed newest first, found by words and
dates, and read one at a time.

Read from the conversation store the inbox reads (Rasa's ``events`` table, ``TRACKER_DB_URL``),
only ever read here; what the store no longer holds (the retention purge, ``erase``, a visitor's
"Delete this conversation") is gone from the console too, and nothing is copied elsewhere.

Shown masked as the inbox masks (``clinic.visitor_questions``): a visitor's emails, phone-like
numbers and introduced names replaced, the assistant's emails and numbers; and every turn while
a form was asking for details (the visitor's name, phone, email; the assistant's confirmation
repeating them) hidden. ``Line.shown(reveal=True)`` gives the text as stored, for the one page a
staff member asked to reveal. A word search looks at the text as shown masked, so it cannot be
used to find a conversation by a contact detail that is hidden on the page.

A conversation is named outside the store (the audit log of reveals) by ``reference``, a digest
of its id: a REST client chooses its own sender ids, which could be a phone number, and the
audit log outlives an erasure.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clinic.visitor_questions import mask, mask_contacts

FORM_HIDDEN = "(details typed into a form: hidden)"
MAX_WORDS = 8
_IN_CHUNKS = 500  # conversations per IN (...) query: well under SQLite's bound-parameter limit
_READ = ("user", "bot", "active_loop")


@dataclass(frozen=True)
class Line:
    """One turn: the visitor's or the assistant's, as stored, and whether a form was asking."""

    when: datetime
    speaker: str  # "visitor" or "assistant"
    text: str
    in_form: bool

    def shown(self, reveal: bool = False) -> str:
        """The turn as the page shows it: masked (hidden in a form) unless revealed."""
        if reveal:
            return self.text
        if self.in_form:
            return FORM_HIDDEN
        return mask(self.text) if self.speaker == "visitor" else mask_contacts(self.text)


@dataclass(frozen=True)
class Summary:
    """One conversation in the list."""

    conversation: str  # the conversation store's id (the sender)
    started: datetime
    last: datetime
    messages: int  # the visitor's
    opening: str  # the visitor's first words outside a form, masked


def reference(conversation: str) -> str:
    """How the audit log names a conversation: a digest of its id, shown on its page too."""
    return hashlib.sha256(conversation.encode("utf-8")).hexdigest()[:16]


def _moment(timestamp: float) -> datetime:
    return datetime.fromtimestamp(float(timestamp or 0), timezone.utc)


def lines_of(rows: Iterable[Tuple[str, str]]) -> List[Line]:
    """Turns one conversation's event rows ``(type, data JSON)``, oldest first, into its lines."""
    lines: List[Line] = []
    in_form = False
    for kind, raw in rows:
        data = json.loads(raw or "{}")
        if kind == "active_loop":
            in_form = bool(data.get("name"))
        elif kind in ("user", "bot") and data.get("text"):
            speaker = "visitor" if kind == "user" else "assistant"
            lines.append(Line(_moment(data.get("timestamp")), speaker, str(data["text"]), in_form))
    return lines


def search_words(text: str) -> List[str]:
    """What a search box's text looks for: lower-case words, each at most once, a few at most."""
    found: List[str] = []
    for word in (text or "").lower().split():
        if word not in found:
            found.append(word)
    return found[:MAX_WORDS]


def matches(lines: Sequence[Line], words: Sequence[str]) -> bool:
    """Whether every word is in the conversation as shown masked."""
    shown = "\n".join(line.shown() for line in lines).lower()
    return all(word in shown for word in words)


class Transcripts:
    """The conversation store's conversations, read for the console."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _has_events(self, connection) -> bool:
        return sa.inspect(connection).has_table("events")

    def transcript(self, conversation: str, since: Optional[datetime] = None) -> List[Line]:
        """One conversation's lines since ``since`` (empty when the store has none)."""
        with self.engine.connect() as connection:
            if not self._has_events(connection):
                return []
            return self._transcripts(connection, [conversation], since.timestamp() if since else 0.0)[conversation]

    def _transcripts(self, connection, conversations: Sequence[str], since: float) -> Dict[str, List[Line]]:
        rows: Dict[str, List[Tuple[str, str]]] = {name: [] for name in conversations}
        for start in range(0, len(conversations), _IN_CHUNKS):
            chunk = list(conversations[start : start + _IN_CHUNKS])
            result = connection.execute(
                sa.text(
                    "SELECT sender_id, type_name, data FROM events WHERE sender_id IN :senders "
                    "AND timestamp >= :since AND type_name IN :kinds ORDER BY id"
                ).bindparams(sa.bindparam("senders", expanding=True), sa.bindparam("kinds", expanding=True)),
                {"senders": chunk, "since": since, "kinds": list(_READ)},
            )
            for sender, kind, data in result:
                rows[sender].append((kind, data))
        return {name: lines_of(found) for name, found in rows.items()}

    def find(
        self,
        since: datetime,
        until: datetime,
        words: Sequence[str] = (),
        offset: int = 0,
        limit: int = 20,
    ) -> Tuple[List[Summary], int]:
        """The conversations with a visitor message between ``since`` and ``until``, newest first,
        holding every one of ``words`` as shown; one page of them, and how many there are."""
        low, high = since.timestamp(), until.timestamp()
        where = "timestamp >= :low AND timestamp < :high"
        values: Dict[str, object] = {"low": low, "high": high}
        for index, word in enumerate(words):
            # A cheap narrowing in the database (the event's JSON holds the text, escaped as
            # json.dumps escapes it); whether the word is in the text as shown is checked below.
            values[f"w{index}"] = "%" + _like_escaped(json.dumps(word)[1:-1]) + "%"
            where += (
                f" AND sender_id IN (SELECT sender_id FROM events WHERE type_name IN ('user', 'bot') "
                f"AND lower(data) LIKE :w{index} ESCAPE '!')"
            )
        query = (
            "SELECT sender_id, MIN(timestamp), MAX(timestamp), "
            "SUM(CASE WHEN type_name = 'user' THEN 1 ELSE 0 END) AS visitor "
            f"FROM events WHERE {where} GROUP BY sender_id "
            "HAVING SUM(CASE WHEN type_name = 'user' THEN 1 ELSE 0 END) > 0 ORDER BY MAX(timestamp) DESC, sender_id"
        )
        with self.engine.connect() as connection:
            if not self._has_events(connection):
                return [], 0
            if words:
                groups = connection.execute(sa.text(query), values).all()
                lines = self._transcripts(connection, [row[0] for row in groups], low)
                groups = [row for row in groups if matches(lines[row[0]], words)]
                total, page = len(groups), groups[offset : offset + limit]
            else:
                total = connection.execute(sa.text(f"SELECT COUNT(*) FROM ({query}) AS found"), values).scalar_one()
                page = connection.execute(
                    sa.text(f"{query} LIMIT :limit OFFSET :offset"), {**values, "limit": limit, "offset": offset}
                ).all()
                lines = self._transcripts(connection, [row[0] for row in page], low)
        summaries = [
            Summary(
                conversation=sender,
                started=_moment(first),
                last=_moment(last),
                messages=int(visitor),
                opening=next(
                    (line.shown() for line in lines[sender] if line.speaker == "visitor" and not line.in_form), ""
                ),
            )
            for sender, first, last, visitor in page
        ]
        return summaries, int(total)


def _like_escaped(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
