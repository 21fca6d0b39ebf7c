"""Rasa's SQL conversation store, minus most of its work for each message.

Rasa's ``SQLTrackerStore`` reads a conversation's events back from the database, decodes and
replays them for every message, and before every save counts what is stored to find what is
new: a third of the Rasa server's CPU under load once the other costs were gone
(docs/benchmarks.md). This store keeps the conversations it has just saved in memory and uses
one cheap query to make sure the database still ends where it left them:

- ``retrieve``: the highest event id stored for the sender; when it is the one this store
  last wrote or read, and the tracker it handed out has nothing unsaved, that tracker is
  returned as it is. Otherwise (another server or worker wrote, a turn failed before saving,
  a new session began, the entry was forgotten) the conversation is read as Rasa reads it.
- ``save``: the events added since, inserted in one statement; the count query is skipped.
  Anything unexpected falls back to Rasa's own ``save``.

The database holds exactly what Rasa's store would write (the same table and rows), so the
staff report, other servers and Rasa's own store read it as before. Configured in
endpoints.yml as ``type: runtime.tracker_store.CachedSQLTrackerStore`` with the usual
SQL settings; ``cache_size`` (default 200) bounds how many conversations are kept: the ones
in progress are what it is for, and a kept conversation is about 75 kB (four messages, measured):
1000 made the server grow 9% in the 5-minute soak (make soak), 200 is ample for 50 at once.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional, Text

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool

from clinic.conversations import delete_feedback
from clinic.sqlite_files import owner_only, truncate_log

logger = logging.getLogger(__name__)

# A kept conversation idle this long is let go (Rasa's default session lasts an hour).
IDLE_SECONDS = 3600

# What this relies on in Rasa (runtime/internals.py checks it before the server starts).
RELIES_ON = {
    "rasa.core.tracker_store:SQLTrackerStore.__init__": "64e704d159dfa35b",
    "rasa.core.tracker_store:SQLTrackerStore.save": "57165e46eab3de08",
    "rasa.core.tracker_store:SQLTrackerStore._retrieve": "c8adbf6f4b61ddd1",
    "rasa.core.tracker_store:SQLTrackerStore.retrieve": "0d99846daced97d3",
    "rasa.core.tracker_store:SQLTrackerStore.SQLEvent": "696a0661ef7643a9",
    "rasa.core.tracker_store:TrackerStore.stream_events": "efd3615f5340218a",
}


@dataclass
class _Known:
    """A conversation as this store last saw it in the database."""

    tracker: DialogueStateTracker
    stored: int  # how many of ``tracker.events`` are in the database
    last_id: Optional[int]  # the sender's highest event id in the database then
    complete: bool = False  # ``tracker.events[:stored]`` are all the sender's rows, in order
    used: float = field(default_factory=lambda: time.monotonic())  # when it was last saved or handed out


class CachedSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` that remembers the conversations it saved (see the module docstring)."""

    def __init__(self, *args: Any, cache_size: int = 200, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._known: "OrderedDict[str, _Known]" = OrderedDict()
        self._cache_size = max(0, int(cache_size))
        self._table = self.SQLEvent.__table__
        # Built once: SQLAlchemy works out a new statement's cache key on every execution.
        column = self._table.c
        self._max_id = sa.select(sa.func.max(column.id)).where(column.sender_id == sa.bindparam("sender_id"))
        self._insert = self._table.insert()
        if self.engine.dialect.name == "sqlite":
            # SQLAlchemy 1.4 opens a new SQLite connection for every query of a file database
            # (NullPool): 6% of the server's CPU in the profile. One pooled connection instead
            # (the store is used from the server's event loop only, one call at a time).
            # A write-ahead log: a commit no longer waits for the disk twice, and readers
            # (the staff report) never block the server. Still durable across a crash of the
            # process; `synchronous=NORMAL` may lose the last commits only if the machine loses power.
            url = self.engine.url
            if url.database and url.database != ":memory:":
                owner_only(Path(url.database))
            self.engine.dispose()
            self.engine = sa.create_engine(
                url,
                poolclass=QueuePool,
                pool_size=1,
                max_overflow=4,
                connect_args={"check_same_thread": False},
            )
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            self.sessionmaker = sessionmaker(bind=self.engine)

    def erase(self, sender_id: Text) -> int:
        """Deletes one conversation, and the visitor's votes on its answers, from the database and
        from this store's memory (the widget's "Delete this conversation"); returns how many events
        were deleted. On SQLite the freed pages are overwritten and the write-ahead log truncated,
        so nothing of it stays readable."""
        self._known.pop(sender_id, None)
        column = self._table.c
        with self.engine.begin() as connection:  # secure_delete is on for every connection (below)
            removed = connection.execute(self._table.delete().where(column.sender_id == sender_id)).rowcount
            delete_feedback(connection, [sender_id])
        truncate_log(self.engine)
        return removed or 0

    def _last_id(self, connection: Any, sender_id: Text) -> Optional[int]:
        return connection.execute(self._max_id, {"sender_id": sender_id}).scalar()

    def _remember(self, sender_id: Text, known: _Known) -> None:
        self._forget_idle()
        if not self._cache_size:
            return
        self._known[sender_id] = known
        self._known.move_to_end(sender_id)
        while len(self._known) > self._cache_size:
            self._known.popitem(last=False)

    def _forget_idle(self) -> None:
        """Lets go of conversations idle for longer than a session lasts: a copy kept in memory
        must not outlive the rows the retention purge and erasures delete."""
        cutoff = time.monotonic() - IDLE_SECONDS
        while self._known and next(iter(self._known.values())).used < cutoff:
            self._known.popitem(last=False)  # least recently used first

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        with self.engine.connect() as connection:
            last_id = self._last_id(connection, sender_id)
        self._forget_idle()
        known = self._known.get(sender_id)
        if known is not None:
            if last_id == known.last_id and len(known.tracker.events) == known.stored:
                self._known.move_to_end(sender_id)
                known.used = time.monotonic()
                return known.tracker
            del self._known[sender_id]
        if last_id is None:  # nothing stored: a new conversation (Rasa's query would find no rows)
            return None
        tracker = await self._retrieve(sender_id, fetch_events_from_all_sessions=False)
        if tracker is not None:
            # The id found before reading: a row added meanwhile makes the next check read again.
            self._remember(sender_id, _Known(tracker, len(tracker.events), last_id))
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        known = self._known.pop(tracker.sender_id, None)
        if known is None:  # a conversation this store has not seen: new, if nothing is stored
            stored, expected_last_id = 0, None
        elif known.tracker is tracker and known.stored <= len(tracker.events):
            stored, expected_last_id = known.stored, known.last_id
        else:
            await super().save(tracker)  # Rasa's own way: count what is stored, add the rest
            return
        await self.stream_events(tracker)
        new_events = list(tracker.events)[stored:]
        rows = [_row(tracker.sender_id, event) for event in new_events]
        with self.engine.begin() as connection:
            unchanged = self._last_id(connection, tracker.sender_id) == expected_last_id
            if unchanged and rows:
                connection.execute(self._insert, rows)
            last_id = self._last_id(connection, tracker.sender_id)
        if not unchanged:
            await super().save(tracker)  # stored meanwhile by someone else, or before: Rasa's way
            return
        complete = expected_last_id is None or (known is not None and known.complete)
        if not any(isinstance(event, SessionStarted) for event in new_events):
            self._remember(tracker.sender_id, _Known(tracker, len(tracker.events), last_id, complete))
        elif complete:
            # A new session changes what Rasa's retrieve returns (the events from the session's
            # start on). All the sender's rows are this tracker's events: that tracker is built
            # from them as Rasa's retrieve would build it from the database.
            read_back = self._as_read_back(tracker.sender_id, list(tracker.events)[:stored], rows)
            if read_back is not None:
                self._remember(tracker.sender_id, _Known(read_back, len(read_back.events), last_id))
        # (otherwise: read back next time)

    def _as_read_back(self, sender_id: Text, earlier: List[Any], rows: List[dict]) -> Optional[DialogueStateTracker]:
        """The tracker Rasa's ``_retrieve`` would make of a sender whose rows are the events
        ``earlier`` then ``rows``, in id order: the rows from the latest session start's timestamp
        on, decoded. None when one of the ``earlier`` events would be among them (not expected)."""
        starts = [row["timestamp"] for row in rows if row["type_name"] == SessionStarted.type_name]
        starts += [event.timestamp for event in earlier if isinstance(event, SessionStarted)]
        starts = [timestamp for timestamp in starts if timestamp is not None]
        if not starts:  # SQL's max() of no timestamps is NULL: every row would be read
            return None
        start = max(starts)
        if any(event.timestamp is not None and event.timestamp >= start for event in earlier):
            return None
        events = [json.loads(row["data"]) for row in rows if row["timestamp"] is not None and row["timestamp"] >= start]
        if not self.domain or not events:
            return None
        return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)


def _row(sender_id: Text, event: Any) -> dict:
    """The row Rasa's SQLTrackerStore.save writes for ``event``."""
    data = event.as_dict()
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


__all__: List[str] = ["CachedSQLTrackerStore"]
