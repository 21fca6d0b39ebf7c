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
- ``console_publishes``: every Publish (and the files as first found, the baseline): who, when,
  how it went step by step, and which version of every file of the data folder it published.
- ``console_file_versions``: those versions' texts, each kept once whatever the number of
  publishes that include it, so a publish costs only the files it changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, Iterable, List, Optional, Set

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, insert, select, update
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


publishes = Table(
    "console_publishes",
    tables,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started", DateTime(), nullable=False, index=True),
    Column("finished", DateTime()),
    Column("actor", String(200), nullable=False),
    Column("state", String(20), nullable=False),  # one of PUBLISH_STATES
    Column("undo_of", Integer),
    Column("files", Text(), nullable=False),  # JSON: {path in the data folder: digest of its text}
    Column("steps", Text(), nullable=False),  # JSON: [{step, title, state, detail}]
    Column("detail", Text(), nullable=False),
    Column("fingerprint", String(64)),  # of the model it published
    Column("seconds", Text()),  # JSON: {step: seconds}
)

file_versions = Table(
    "console_file_versions",
    tables,
    Column("digest", String(64), primary_key=True),
    Column("text", Text(), nullable=False),
)

# baseline: the files as the console first found them, before any publish of its own.
# interrupted: the console stopped while it ran.
PUBLISH_STATES = ("baseline", "running", "published", "failed", "interrupted")


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Publish:
    """One publish as the history keeps it (``files``: path to digest)."""

    id: int
    started: datetime
    finished: Optional[datetime]
    actor: str
    state: str
    undo_of: Optional[int]
    files: Dict[str, str]
    steps: List[Dict[str, Any]] = field(default_factory=list)
    detail: str = ""
    fingerprint: Optional[str] = None
    seconds: Dict[str, float] = field(default_factory=dict)


class PublishRunning(Exception):
    """Another publish is running; ``id`` is its id."""

    def __init__(self, publish_id: int) -> None:
        super().__init__(f"publish {publish_id} is running")
        self.id = publish_id


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
        return self._changes(query)

    def changes_between(self, after: datetime, until: datetime) -> List[TopicChange]:
        """Topic changes made in the console after ``after`` up to ``until``, oldest first."""
        query = (
            select(topic_changes)
            .where(topic_changes.c.at > to_db(after), topic_changes.c.at <= to_db(until))
            .order_by(topic_changes.c.at, topic_changes.c.id)
        )
        return self._changes(query)

    def _changes(self, query: Any) -> List[TopicChange]:
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

    # -- publishes ---------------------------------------------------------------

    def _keep_texts(self, connection: Any, files: Dict[str, str]) -> Dict[str, str]:
        digests = {path: text_digest(text) for path, text in files.items()}
        known = set(
            connection.execute(
                select(file_versions.c.digest).where(file_versions.c.digest.in_(sorted(set(digests.values()))))
            ).scalars()
        )
        for path, digest in digests.items():
            if digest not in known:
                connection.execute(insert(file_versions).values(digest=digest, text=files[path]))
                known.add(digest)
        return digests

    def start_publish(
        self, now: datetime, actor: str, files: Dict[str, str], undo_of: Optional[int] = None, state: str = "running"
    ) -> int:
        """Records a publish starting with ``files`` (path to text); returns its id.

        Raises:
            PublishRunning: another publish is running (only one at a time, whichever console).
        """
        with self.engine.begin() as connection:
            running = connection.execute(select(publishes.c.id).where(publishes.c.state == "running")).scalar()
            if running is not None and state == "running":
                raise PublishRunning(int(running))
            digests = self._keep_texts(connection, files)
            result = connection.execute(
                insert(publishes).values(
                    started=to_db(now),
                    finished=to_db(now) if state != "running" else None,
                    actor=actor[:200],
                    state=state,
                    undo_of=undo_of,
                    files=json.dumps(digests, sort_keys=True),
                    steps="[]",
                    detail="",
                )
            )
            return int(result.inserted_primary_key[0])

    def publish_steps(self, publish_id: int, steps: List[Dict[str, Any]]) -> None:
        """How the running publish is going, step by step."""
        with self.engine.begin() as connection:
            connection.execute(update(publishes).where(publishes.c.id == publish_id).values(steps=json.dumps(steps)))

    def finish_publish(
        self,
        publish_id: int,
        now: datetime,
        state: str,
        detail: str = "",
        fingerprint: Optional[str] = None,
        seconds: Optional[Dict[str, float]] = None,
    ) -> None:
        if state not in PUBLISH_STATES:
            raise ValueError(f"unknown publish state {state!r}")
        with self.engine.begin() as connection:
            connection.execute(
                update(publishes)
                .where(publishes.c.id == publish_id)
                .values(
                    finished=to_db(now),
                    state=state,
                    detail=detail,
                    fingerprint=fingerprint,
                    seconds=json.dumps(seconds or {}),
                )
            )

    def interrupt_running(self, now: datetime) -> int:
        """Marks every publish left running (by a console that stopped) as interrupted; returns how many."""
        with self.engine.begin() as connection:
            result = connection.execute(
                update(publishes)
                .where(publishes.c.state == "running")
                .values(state="interrupted", finished=to_db(now), detail="The console stopped while it ran.")
            )
            return int(result.rowcount or 0)

    @staticmethod
    def _publish(row: Any) -> Publish:
        return Publish(
            id=row.id,
            started=from_db(row.started),
            finished=from_db(row.finished) if row.finished is not None else None,
            actor=row.actor,
            state=row.state,
            undo_of=row.undo_of,
            files=json.loads(row.files),
            steps=json.loads(row.steps or "[]"),
            detail=row.detail or "",
            fingerprint=row.fingerprint,
            seconds=json.loads(row.seconds or "{}"),
        )

    def publishes(self, limit: int = 50) -> List[Publish]:
        """The newest ``limit`` publishes, newest first."""
        query = select(publishes).order_by(publishes.c.id.desc()).limit(limit)
        with self.engine.connect() as connection:
            return [self._publish(row) for row in connection.execute(query).all()]

    def publish(self, publish_id: int) -> Optional[Publish]:
        with self.engine.connect() as connection:
            row = connection.execute(select(publishes).where(publishes.c.id == publish_id)).first()
        return self._publish(row) if row is not None else None

    def live_before(self, publish_id: Optional[int] = None) -> Optional[Publish]:
        """The last publish that reached visitors (or the baseline) before ``publish_id``
        (before now when None)."""
        query = select(publishes).where(publishes.c.state.in_(("published", "baseline")))
        if publish_id is not None:
            query = query.where(publishes.c.id < publish_id)
        with self.engine.connect() as connection:
            row = connection.execute(query.order_by(publishes.c.id.desc()).limit(1)).first()
        return self._publish(row) if row is not None else None

    def texts(self, digests: Dict[str, str]) -> Dict[str, str]:
        """The texts of a publish's files (path to text)."""
        wanted = sorted(set(digests.values()))
        found: Dict[str, str] = {}
        with self.engine.connect() as connection:
            for start in range(0, len(wanted), _IN_CHUNKS):
                rows = connection.execute(
                    select(file_versions.c.digest, file_versions.c.text).where(
                        file_versions.c.digest.in_(wanted[start : start + _IN_CHUNKS])
                    )
                ).all()
                found.update({row.digest: row.text for row in rows})
        return {path: found[digest] for path, digest in digests.items() if digest in found}
