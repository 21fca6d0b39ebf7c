"""Deleting from the conversation store: the retention purge and one visitor's erasure.

Rasa keeps every conversation as rows of its ``events`` table (SQLite by default,
PostgreSQL for several servers; ``clinic.settings.tracker_db_url``), and nothing in Rasa
ever deletes them. The privacy notice promises deletion after ``retention_days``, and a
visitor may ask to be erased: this module does both, from the action server's retention
task and the staff command line.

- ``purge(before)`` deletes every row older than ``before``. Rasa reads a conversation from
  its latest session start on (a session ends after an hour of silence), so rows older than
  the retention period are never part of a conversation in progress.
- ``scrub(sender, secrets)`` rewrites one conversation's rows without the given strings: a
  visitor who cancels a booking or refuses consent is told nothing was kept, and the name
  and contact details they typed into the form are taken out at once.
- ``erase(senders)`` deletes every row of those conversations; ``senders_mentioning(words)``
  finds the conversations whose rows contain a booking's reference, an email or a phone
  number (the bot's confirmation carries the reference; the form's slots carry the
  normalised contact details).

The visitors' votes on answers ("Helpful?" in the widget) are kept beside the events, in the
``visitor_feedback`` table of the same database (``FEEDBACK``, written by ``clinic.feedback``):
``purge`` and ``erase`` delete them with their conversations, as the Rasa server's own store does
when a visitor deletes a conversation from the widget.

On SQLite every connection deletes with ``secure_delete`` (freed pages are overwritten
with zeros) and the write-ahead log is checkpointed and truncated afterwards, so deleted
text stays readable neither in the database file's free pages nor in the WAL. On PostgreSQL
``purge`` and ``erase`` rewrite the table afterwards (``clinic.postgres_files``); the purge does
so even when it deleted nothing, so the rows the running servers delete or rewrite themselves
(the widget's "Delete this conversation", ``scrub``) are gone from the files by the next one.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Dict, Iterable, List, Sequence, Tuple

import sqlalchemy as sa

from clinic.postgres_files import rewrite_tables
from clinic.sqlite_files import truncate_log

REMOVED = "[removed]"

EVENTS = sa.table(
    "events",
    sa.column("id"),
    sa.column("sender_id"),
    sa.column("timestamp"),
    sa.column("data"),
)
PRIVATE_COLUMNS = {"events": ("data",)}  # the events' JSON: every word typed and said

# One vote per answer and conversation; the answer is known by ``message_key`` of its bot event,
# so the table holds no visitor or assistant text.
FEEDBACK = sa.Table(
    "visitor_feedback",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sender_id", sa.String(255), nullable=False, index=True),
    sa.Column("answer_key", sa.String(64), nullable=False),
    sa.Column("topic", sa.String(80), nullable=False),
    sa.Column("helpful", sa.Boolean, nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False, index=True),
    sa.UniqueConstraint("sender_id", "answer_key", name="visitor_feedback_once"),
)
FEEDBACK_PRIVATE_COLUMNS = {"visitor_feedback": ("sender_id",)}  # which conversation voted


def message_key(sender: str, timestamp: float) -> str:
    """One event's identity (a visitor's message, an answer): a digest of its conversation and
    moment, so what refers to it (the inbox's handled messages, a vote) holds no visitor text."""
    return hashlib.sha256(f"{sender}\x00{timestamp!r}".encode()).hexdigest()[:32]


def has_feedback(engine: Any) -> bool:
    """Whether the votes' table exists yet (made at the first vote)."""
    return sa.inspect(engine).has_table(FEEDBACK.name)


def delete_feedback(connection: Any, senders: Sequence[str] = (), before: Any = None) -> int:
    """Deletes the votes of ``senders`` or, with ``before`` (a timestamp), those cast before it,
    in an open transaction; returns how many (none when the table does not exist)."""
    if not sa.inspect(connection).has_table(FEEDBACK.name):
        return 0
    column = FEEDBACK.c
    if before is not None:
        query = FEEDBACK.delete().where(column.timestamp < before)
    elif senders:
        query = FEEDBACK.delete().where(column.sender_id.in_(list(senders)))
    else:
        return 0
    return connection.execute(query).rowcount or 0


def private_tables(engine: Any) -> Dict[str, Tuple[str, ...]]:
    """The conversation store's tables to rewrite after deleting, with their private columns."""
    if has_feedback(engine):
        return {**PRIVATE_COLUMNS, **FEEDBACK_PRIVATE_COLUMNS}
    return dict(PRIVATE_COLUMNS)


class ConversationStore:
    """Rasa's conversation rows, for deleting."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = sa.create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _secure_sqlite)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "ConversationStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def exists(self) -> bool:
        """Whether the store has its table yet (Rasa creates it at its first start)."""
        return sa.inspect(self.engine).has_table("events")

    def purge(self, before: datetime) -> int:
        """Deletes every row older than ``before`` (timezone-aware), and the votes cast before it;
        returns how many event rows.

        Raises:
            RewriteError: PostgreSQL's table could not be rewritten (the rows are deleted).
        """
        if not self.exists():
            return 0
        with self.engine.begin() as connection:
            removed = connection.execute(sa.delete(EVENTS).where(EVENTS.c.timestamp < before.timestamp())).rowcount
            delete_feedback(connection, before=before.timestamp())
        self._forget_deleted()
        return removed or 0

    def senders_mentioning(self, words: Iterable[str]) -> List[str]:
        """The conversations whose rows contain any of ``words`` (case-insensitive)."""
        wanted = _searchable(words)
        if not wanted or not self.exists():
            return []
        clause = _mentioning(wanted)
        with self.engine.connect() as connection:
            found = connection.execute(sa.select(EVENTS.c.sender_id).where(clause).distinct()).scalars()
            return sorted(found)

    def erase(self, senders: Sequence[str]) -> int:
        """Deletes every row of these conversations, and their votes; returns how many event rows.

        Raises:
            RewriteError: PostgreSQL's table could not be rewritten (the rows are deleted).
        """
        if not senders or not self.exists():
            return 0
        with self.engine.begin() as connection:
            removed = connection.execute(sa.delete(EVENTS).where(EVENTS.c.sender_id.in_(list(senders)))).rowcount
            delete_feedback(connection, senders)
        self._forget_deleted()
        return removed or 0

    def _forget_deleted(self) -> None:
        """Deleted rows gone from the files: SQLite's log emptied, PostgreSQL's table rewritten.

        Raises:
            RewriteError: PostgreSQL's table could not be rewritten (the rows are deleted).
        """
        truncate_log(self.engine)
        rewrite_tables(self.engine, private_tables(self.engine))

    def scrub(self, sender: str, secrets: Iterable[str]) -> int:
        """Replaces every occurrence of ``secrets`` in one conversation's rows with "[removed]";
        returns how many rows changed.

        Rows are rewritten, never deleted: Rasa counts a conversation's stored rows to know which
        of its events are new, and a missing row would make it write old events again.
        """
        wanted = sorted({value for value in secrets if value and len(value.strip()) >= 2}, key=len, reverse=True)
        if not wanted or not self.exists():
            return 0
        changed = 0
        with self.engine.begin() as connection:
            rows = connection.execute(sa.select(EVENTS.c.id, EVENTS.c.data).where(EVENTS.c.sender_id == sender)).all()
            for row_id, raw in rows:
                try:
                    data = json.loads(raw or "null")
                except ValueError:
                    continue
                cleaned = _without(data, wanted)
                if cleaned != data:
                    connection.execute(sa.update(EVENTS).where(EVENTS.c.id == row_id).values(data=json.dumps(cleaned)))
                    changed += 1
        if changed:
            truncate_log(self.engine)
        return changed


def _searchable(words: Iterable[str]) -> List[str]:
    return [word for word in words if word and len(word) >= 5]  # never a short, common string


def _mentioning(words: Sequence[str]) -> Any:
    return sa.or_(*(sa.func.lower(EVENTS.c.data).contains(word.lower(), autoescape=True) for word in words))


def senders_by_mention(engine: sa.engine.Engine, words: Iterable[str]) -> Dict[str, List[str]]:
    """For each of ``words``, the conversations whose rows contain it, as ``senders_mentioning``
    finds them (the staff console links each request to its conversation by its reference)."""
    wanted = _searchable(words)
    if not wanted or not sa.inspect(engine).has_table("events"):
        return {}
    found: Dict[str, set] = {}
    with engine.connect() as connection:
        for sender, data in connection.execute(sa.select(EVENTS.c.sender_id, EVENTS.c.data).where(_mentioning(wanted))):
            text = (data or "").lower()
            for word in wanted:
                if word.lower() in text:
                    found.setdefault(word, set()).add(sender)
    return {word: sorted(senders) for word, senders in found.items()}


def _secure_sqlite(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _without(value: Any, secrets: List[str]) -> Any:
    """``value`` (decoded JSON) with every secret in its strings replaced."""
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REMOVED)
        return value
    if isinstance(value, list):
        return [_without(item, secrets) for item in value]
    if isinstance(value, dict):
        return {key: _without(item, secrets) for key, item in value.items()}
    return value
