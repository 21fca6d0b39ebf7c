"""runtime/tracker_store.py against Rasa's own SQLTrackerStore, on real SQLite files."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import List

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered

from runtime.tracker_store import CachedSQLTrackerStore

pytestmark = pytest.mark.unit

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [greet]
slots:
  full_name:
    type: text
    mappings: [{type: custom}]
"""
)


def run(coroutine):
    return asyncio.run(coroutine)


def store(kind, path: Path):
    return kind(domain=DOMAIN, dialect="sqlite", db=str(path))


def turn(number: int):
    """The events of one visitor turn."""
    return [
        UserUttered(f"message {number}", {"name": "greet", "confidence": 1.0}),
        ActionExecuted("utter_greet"),
        BotUttered(f"answer {number}"),
        SlotSet("full_name", f"Name {number}"),
        ActionExecuted("action_listen"),
    ]


def rows(path: Path) -> List[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT sender_id, type_name, intent_name, action_name, data FROM events ORDER BY id"
        ).fetchall()


def conversation(tracker_store, sender: str, turns: int) -> None:
    """What Rasa's processor does: get or create, then per turn update, save, read back."""
    for number in range(turns):
        tracker = run(tracker_store.get_or_create_tracker(sender))
        for event in turn(number):
            tracker.update(event)
            if isinstance(event, BotUttered):
                run(tracker_store.save(tracker))  # Rasa saves mid-turn too (after logging the message)
        run(tracker_store.save(tracker))


def test_the_database_holds_exactly_what_rasas_store_writes(tmp_path):
    ours, rasas = tmp_path / "ours.db", tmp_path / "rasa.db"
    conversation(store(CachedSQLTrackerStore, ours), "visitor-1", 6)
    conversation(store(SQLTrackerStore, rasas), "visitor-1", 6)
    ours_rows, rasa_rows = rows(ours), rows(rasas)
    assert len(ours_rows) == len(rasa_rows) > 6 * 5
    strip = [(r[0], r[1], r[2], r[3]) for r in ours_rows]
    assert strip == [(r[0], r[1], r[2], r[3]) for r in rasa_rows]
    # And Rasa's store reads our file back to the same conversation.
    theirs = run(store(SQLTrackerStore, ours).retrieve("visitor-1"))
    assert theirs.get_slot("full_name") == "Name 5"
    assert [e.type_name for e in theirs.events] == [
        e.type_name for e in run(store(SQLTrackerStore, rasas).retrieve("visitor-1")).events
    ]


def test_a_remembered_conversation_is_handed_out_without_reading_it_back(tmp_path):
    cached = store(CachedSQLTrackerStore, tmp_path / "t.db")
    conversation(cached, "visitor-2", 2)
    first = run(cached.retrieve("visitor-2"))
    for event in turn(9):
        first.update(event)
    run(cached.save(first))
    assert run(cached.retrieve("visitor-2")) is first  # the fast path was taken


def test_two_servers_on_one_database_see_each_others_turns(tmp_path):
    path = tmp_path / "shared.db"
    server_a, server_b = store(CachedSQLTrackerStore, path), store(CachedSQLTrackerStore, path)
    conversation(server_a, "visitor-3", 2)
    conversation(server_b, "visitor-3", 1)  # the next turn reached the other server
    tracker = run(server_a.retrieve("visitor-3"))
    assert tracker.get_slot("full_name") == "Name 0"  # server B's turn (its turn 0) is the latest
    assert [e.text for e in tracker.events if isinstance(e, UserUttered)][-1] == "message 0"
    conversation(server_a, "visitor-3", 1)
    assert len(rows(path)) == len(set(r[4] for r in rows(path)))  # nothing written twice


def test_a_turn_that_failed_before_saving_is_not_remembered(tmp_path):
    cached = store(CachedSQLTrackerStore, tmp_path / "t.db")
    conversation(cached, "visitor-4", 2)
    tracker = run(cached.retrieve("visitor-4"))
    tracker.update(SlotSet("full_name", "never saved"))  # then the turn fails: no save
    again = run(cached.retrieve("visitor-4"))
    assert again.get_slot("full_name") == "Name 1"


def test_a_new_session_is_read_back_as_rasa_would(tmp_path):
    cached = store(CachedSQLTrackerStore, tmp_path / "t.db")
    conversation(cached, "visitor-5", 2)
    tracker = run(cached.retrieve("visitor-5"))
    for event in [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]:
        tracker.update(event)
    run(cached.save(tracker))
    fresh = run(cached.retrieve("visitor-5"))
    expected = run(store(SQLTrackerStore, tmp_path / "t.db").retrieve("visitor-5"))
    assert fresh is not tracker
    assert [e.as_dict() for e in fresh.events] == [e.as_dict() for e in expected.events]
    assert fresh.current_state() == expected.current_state()


def test_a_new_conversation_is_remembered_as_rasa_would_read_it(tmp_path):
    """What the server does with a new visitor: create the tracker (saved with action_listen),
    start the session (the session's events), then the first turn. The conversation kept in
    memory is the one Rasa's store reads from the file, so it need not be read back."""
    cached = store(CachedSQLTrackerStore, tmp_path / "t.db")
    tracker = run(cached.get_or_create_tracker("visitor-7"))
    for event in [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        SlotSet("full_name", "Ann"),
        ActionExecuted("action_listen"),
    ]:
        tracker.update(event)
    run(cached.save(tracker))
    remembered = run(cached.retrieve("visitor-7"))
    expected = run(store(SQLTrackerStore, tmp_path / "t.db").retrieve("visitor-7"))
    assert cached._known["visitor-7"].tracker is remembered  # handed out from memory
    assert [e.as_dict() for e in remembered.events] == [e.as_dict() for e in expected.events]
    assert remembered.current_state() == expected.current_state()
    assert remembered.events[0].type_name == "session_started"  # not the action before it

    for event in turn(2):
        remembered.update(event)
    run(cached.save(remembered))
    again = run(store(SQLTrackerStore, tmp_path / "t.db").retrieve("visitor-7"))
    assert [e.as_dict() for e in run(cached.retrieve("visitor-7")).events] == [e.as_dict() for e in again.events]
    assert len(rows(tmp_path / "t.db")) == len(set(r[4] for r in rows(tmp_path / "t.db")))


@pytest.mark.parametrize("size", [0, 2])
def test_the_memory_is_bounded(tmp_path, size):
    cached = CachedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "t.db"), cache_size=size)
    for number in range(5):
        conversation(cached, f"visitor-{number}", 2)
    assert len(cached._known) <= size


def test_an_idle_conversation_is_let_go_and_an_erased_one_gone(tmp_path, monkeypatch):
    """Nothing outlives its rows in memory: a conversation idle longer than a session is let go,
    and one erased (the widget's "Delete this conversation") is gone from memory and file."""
    clock = [1000.0]
    monkeypatch.setattr("runtime.tracker_store.time.monotonic", lambda: clock[0])
    cached = store(CachedSQLTrackerStore, tmp_path / "t.db")
    conversation(cached, "visitor-idle", 2)
    conversation(cached, "visitor-erased", 2)
    assert set(cached._known) == {"visitor-idle", "visitor-erased"}
    clock[0] += 3000
    run(cached.retrieve("visitor-erased"))  # used again: kept
    clock[0] += 1000  # visitor-idle: 4000 s without use
    conversation(cached, "visitor-new", 1)
    assert set(cached._known) == {"visitor-erased", "visitor-new"}
    assert cached.erase("visitor-erased") > 0
    assert "visitor-erased" not in cached._known and run(cached.retrieve("visitor-erased")) is None
    assert not any(row[0] == "visitor-erased" for row in rows(tmp_path / "t.db"))
