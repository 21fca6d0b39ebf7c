"""What the staff console keeps besides the accounts: which inbox messages staff handled, and
every change made to a topic file.

In the clinic's database, beside the accounts (``BOOKINGS_DB_URL``), so every console process
agrees on what has left the inbox. Like ``StaffAccounts`` it works on an open engine, takes every
moment from its caller, and blocks (call it through ``asyncio.to_thread`` from async code).

- ``console_inbox_handled``: one row per visitor message taught, turned into a topic or
  dismissed. A message is known by ``clinic.visitor_questions.message_key``, a digest of its
  conversation and moment: the visitor's words stay in the conversation store alone, under its
  retention and erasure, never copied here.
- ``console_topic_changes``: who changed which topic file, when, how (a unified diff), and the
  file's text before and after, so a change can be shown and undone later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, List, Optional, Set

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from clinic.booking_store import create_tables_once, from_db, to_db

OUTCOMES = ("taught", "new-topic", "dismissed")
_IN_CHUNKS = 500  # keys per IN (...) query: well under SQLite's bound-parameter limit

tables = MetaData()

inbox_handled = Table(
    "console_inbox_handled",
    tables,
    Column("message_key", String(64), primary_key=True),
    Column("outcome", String(20), nullable=False),
    Column("topic", String(80)),
    Column("actor", String(200), nullable=False),
    Column("at", DateTime(), nullable=False, index=True),
)

topic_changes = Table(
    "console_topic_changes",
    tables,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(), nullable=False, index=True),
    Column("actor", String(200), nullable=False),
    Column("topic", String(80), nullable=False),
    Column("action", String(40), nullable=False),
    Column("summary", String(500), nullable=False),
    Column("diff", Text(), nullable=False),
    Column("before_text", Text(), nullable=False),  # "" for a topic added
    Column("after_text", Text(), nullable=False),  # "" for a topic removed
)


@dataclass(frozen=True)
class TopicChange:
    """One change to a topic file, as the history keeps it."""

    id: int
    at: datetime
    actor: str
    topic: str
    action: str
    summary: str
    diff: str
    before: str
    after: str


class ConsoleRecords:
    """The inbox's handled messages and the topics' change history, on an open engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_tables(self) -> "ConsoleRecords":
        """Creates the two tables if missing; returns the records."""
        create_tables_once(self.engine, tables)
        return self

    # -- the inbox ---------------------------------------------------------------

    def handled(self, keys: Iterable[str]) -> Set[str]:
        """Which of ``keys`` staff have handled already."""
        wanted = sorted(set(keys))
        found: Set[str] = set()
        with self.engine.connect() as connection:
            for start in range(0, len(wanted), _IN_CHUNKS):
                chunk = wanted[start : start + _IN_CHUNKS]
                found |= set(
                    connection.execute(
                        select(inbox_handled.c.message_key).where(inbox_handled.c.message_key.in_(chunk))
                    ).scalars()
                )
        return found

    def mark_handled(
        self, keys: Iterable[str], outcome: str, actor: str, now: datetime, topic: Optional[str] = None
    ) -> int:
        """Records ``keys`` as handled (those already handled keep their first outcome); returns
        how many were new."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        new = 0
        for key in sorted(set(keys) - self.handled(keys)):
            try:
                with self.engine.begin() as connection:
                    connection.execute(
                        insert(inbox_handled).values(
                            message_key=key, outcome=outcome, topic=topic, actor=actor[:200], at=to_db(now)
                        )
                    )
                new += 1
            except IntegrityError:  # another console process handled it at the same moment
                continue
        return new

    # -- the history -------------------------------------------------------------

    def record_change(
        self, now: datetime, actor: str, topic: str, action: str, summary: str, diff: str, before: str, after: str
    ) -> int:
        """Keeps one change to a topic file; returns its id."""
        with self.engine.begin() as connection:
            result = connection.execute(
                insert(topic_changes).values(
                    at=to_db(now),
                    actor=actor[:200],
                    topic=topic[:80],
                    action=action[:40],
                    summary=summary[:500],
                    diff=diff,
                    before_text=before,
                    after_text=after,
                )
            )
            return int(result.inserted_primary_key[0])

    def changes(self, limit: int = 100, topic: Optional[str] = None) -> List[TopicChange]:
        """The newest ``limit`` changes, newest first (of one topic when ``topic`` is given)."""
        query = select(topic_changes).order_by(topic_changes.c.at.desc(), topic_changes.c.id.desc()).limit(limit)
        if topic is not None:
            query = query.where(topic_changes.c.topic == topic)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            TopicChange(
                row.id,
                from_db(row.at),
                row.actor,
                row.topic,
                row.action,
                row.summary,
                row.diff,
                row.before_text,
                row.after_text,
            )
            for row in rows
        ]
