"""Erasing one visitor and purging old conversations, as staff do it (`python -m actions.staff`),
against the running servers' SQLite files: deleted means gone from every file, WAL included;
and the conversation store's deletions on their own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from clinic.conversations import ConversationStore
from tests.conftest import MODEL_PATH, ROOT
from tools.servers import start_assistant

REFERENCE = re.compile(r"\bDN-[2-9A-HJKMNP-Z]{5}\b")


def texts(replies) -> str:
    return "\n".join(reply.get("text") or "" for reply in replies)


def book(assistant, sender: str, name: str, contact: str) -> str:
    assert "What name" in texts(assistant.say(sender, "I'd like to book an appointment"))
    assert "phone number or email" in texts(assistant.say(sender, name))
    assert "Which day and time" in texts(assistant.say(sender, contact))
    assert "Do you agree" in texts(assistant.say(sender, "next tuesday at 10am"))
    assert name in texts(assistant.say(sender, "yes"))
    found = REFERENCE.search(texts(assistant.say(sender, "yes")))
    assert found
    return found.group(0)


def files_containing(folder: Path, needle: str) -> list:
    """Every file under ``folder`` (databases, their WAL and shared memory, logs) holding ``needle``."""
    return [path.name for path in folder.rglob("*") if path.is_file() and needle.encode() in path.read_bytes()]


def staff(assistant, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **{k: assistant.env[k] for k in ("BOOKINGS_DB_URL", "TRACKER_DB_URL")})
    return subprocess.run(
        [sys.executable, "-m", "actions.staff", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.servers
def test_erase_and_purge_leave_nothing_readable_in_any_file(tmp_path):
    if not MODEL_PATH.exists():
        pytest.fail("no trained model: run `make train` (make test does)")
    assistant = start_assistant(MODEL_PATH, tmp_path)
    try:
        erased_email, kept_email = "quillon.varda@mail.example", "ottilie.brenner@mail.example"
        erased_sender = f"visitor-{uuid.uuid4()}"
        reference = book(assistant, erased_sender, "Quillon Varda", erased_email)
        kept = book(assistant, f"visitor-{uuid.uuid4()}", "Ottilie Brenner", kept_email)
        assert files_containing(tmp_path, erased_email)  # it was stored (conversation and booking)
        with ConversationStore(assistant.env["TRACKER_DB_URL"]) as conversations:  # kept in the REST namespace
            assert conversations.senders_mentioning([erased_email]) == ["rest:" + erased_sender]
        databases = [path for path in tmp_path.iterdir() if path.name.startswith(("tracker.db", "bookings.db"))]
        assert len(databases) >= 2 and all(path.stat().st_mode & 0o077 == 0 for path in databases), [
            (path.name, oct(path.stat().st_mode)) for path in databases
        ]  # readable by the servers' user alone

        # Stopped bookings: the name and the phone or email typed into the form go at once, from
        # every file, so "nothing was saved" / "I haven't saved anything" is true.
        cancelled = f"visitor-{uuid.uuid4()}"
        assert "What name" in texts(assistant.say(cancelled, "I'd like to book an appointment"))
        assert "phone number or email" in texts(assistant.say(cancelled, "Brisbane Okonkwo-Lira"))
        assert "Which day and time" in texts(assistant.say(cancelled, "(212) 555-0163"))
        assert "nothing was saved" in texts(assistant.say(cancelled, "cancel"))
        refused = f"visitor-{uuid.uuid4()}"
        assert "What name" in texts(assistant.say(refused, "can I book in?"))
        assert "phone number or email" in texts(assistant.say(refused, "Marisol Quintavalle"))
        assert "Which day and time" in texts(assistant.say(refused, "marisol.q@mail.example"))
        assert "Do you agree" in texts(assistant.say(refused, "next tuesday at 10am"))
        assert "haven't saved anything" in texts(assistant.say(refused, "no"))
        for typed in ("Okonkwo", "555-0163", "2125550163", "Quintavalle", "marisol.q@mail.example"):
            assert files_containing(tmp_path, typed) == [], typed
        assert "What name" in texts(assistant.say(cancelled, "I'd like to book an appointment"))  # it goes on

        done = staff(assistant, "erase", "--reference", reference)
        assert done.returncode == 0, done.stderr
        assert f"request {reference}" in done.stdout and "1 request(s) and 1 conversation(s)" in done.stdout
        assert files_containing(tmp_path, erased_email) == []
        assert files_containing(tmp_path, kept_email)  # only that visitor was erased
        listed = staff(assistant, "list")
        assert kept in listed.stdout and reference not in listed.stdout

        again = staff(assistant, "erase", "--reference", reference)
        assert again.returncode == 1 and "nothing found to erase" in again.stderr

        purged = staff(assistant, "purge", "--older-than-days", "0")
        assert purged.returncode == 0, purged.stderr
        assert "Removed 1 booking request(s)" in purged.stdout
        for typed in (kept_email, "Ottilie Brenner", "next tuesday at 10am", "I'd like to book an appointment"):
            assert files_containing(tmp_path, typed) == [], typed
    finally:
        assistant.stop()


def events_table(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        connection.exec_driver_sql(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), type_name VARCHAR(255),"
            " timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)"
        )
        now = datetime.now(timezone.utc).timestamp()
        rows = [
            ("old", now - 100 * 86400, '{"text": "an old question about needles"}'),
            ("recent", now - 60, '{"text": "my email is Someone@Mail.example"}'),
            ("recent", now - 30, '{"text": "DN-7K3Q9 confirmed"}'),
            ("other", now - 10, '{"text": "short"}'),
        ]
        for sender, moment, data in rows:
            connection.execute(
                sa.text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, 'user', :t, :d)"),
                {"s": sender, "t": moment, "d": data},
            )
    engine.dispose()


@pytest.mark.unit
def test_the_conversation_store_purges_by_age_and_erases_by_mention(tmp_path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    with ConversationStore(url) as store:
        assert store.purge(datetime.now(timezone.utc)) == 0  # no table yet: nothing to do
    events_table(url)
    with ConversationStore(url) as store:
        assert store.purge(datetime.now(timezone.utc) - timedelta(days=90)) == 1
        assert store.senders_mentioning(["someone@mail.example"]) == ["recent"]
        assert store.senders_mentioning(["dn-7k3q9"]) == ["recent"]
        assert store.senders_mentioning(["ab", "", "nobody@mail.example"]) == []  # short words never match
        assert store.scrub("recent", ["Someone@Mail.example", "x"]) == 1  # one-letter strings are never scrubbed
        assert store.senders_mentioning(["someone@mail.example"]) == []
        assert store.senders_mentioning(["[removed]"]) == ["recent"]
        assert store.erase(["recent"]) == 2
    for path in tmp_path.iterdir():
        data = path.read_bytes()
        assert b"old question" not in data and b"Someone@Mail" not in data and b"DN-7K3Q9" not in data, path.name


@pytest.mark.unit
def test_the_details_typed_into_the_form_are_found_from_its_events():
    from rasa_sdk import Tracker

    from actions.booking_form import typed_details

    def slot(name, value):
        return {"event": "slot", "name": name, "value": value}

    def user(text):
        return {"event": "user", "text": text, "parse_data": {}}

    events = [
        user("can I book?"),
        slot("requested_slot", "full_name"),
        user("it's Ada Lovelace"),
        slot("full_name", "Ada Lovelace"),
        slot("requested_slot", "contact"),
        user("call me on (212) 555-0163"),
        slot("phone", "+12125550163"),
        slot("contact", "+12125550163"),
        slot("requested_slot", "preferred_time"),
        user("tuesday at 10"),
        user("cancel"),
    ]
    tracker = Tracker("s", {"full_name": "Ada Lovelace", "phone": "+12125550163"}, {}, events, False, None, {}, "")
    found = set(typed_details(tracker))
    assert {"Ada Lovelace", "+12125550163", "it's Ada Lovelace", "call me on (212) 555-0163"} <= found
    assert "tuesday at 10" not in found and "cancel" not in found and "can I book?" not in found
