"""`make report`: unanswered questions grouped and counted, topics, red flags and bookings per week,
never contact details. Unit tests on event rows, then a report on a conversation store filled
by a real conversation run through the servers."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from clinic.insights import summarise
from clinic.settings import tracker_db_url
from clinic.visitor_questions import group_similar, mask, read_questions
from tests.conftest import MODEL_PATH, ROOT
from tools.servers import start_assistant
from tools.visitor_report import render

NAME, PHONE, EMAIL = "Quillon Marbeck", "(212) 555-0143", "quillon.m@mail.example"


def user(sender, text, intent, confidence=0.9, topic=None, at=1_790_000_000.0):
    parse = {"intent": {"name": intent, "confidence": confidence}}
    if topic:
        parse["response_selector"] = {"faq": {"response": {"intent_response_key": topic}}}
    return (sender, "user", None, json.dumps({"text": text, "parse_data": parse, "timestamp": at}))


def action(sender, name):
    return (sender, "action", name, json.dumps({"name": name}))


def loop(sender, name):
    return (sender, "active_loop", None, json.dumps({"name": name}))


@pytest.mark.unit
def test_questions_typed_in_a_form_are_left_out_and_the_rest_masked():
    rows = [
        user("a", "does it hurt", "faq", topic="faq/does_it_hurt"),
        action("a", "utter_faq"),
        user("a", "book me in", "book_appointment"),
        loop("a", "booking_form"),
        user("a", NAME, "inform", 0.4),
        user("a", PHONE, "inform", 0.3),
        loop("a", None),
        user("a", f"can you email me at {EMAIL} or ring 212 555 0143", "out_of_scope"),
        action("a", "utter_out_of_scope"),
    ]
    questions = read_questions(rows)
    texts = [q.text for q in questions]
    assert texts == ["does it hurt", "book me in", "can you email me at [email] or ring [number]"]
    assert [q.unanswered for q in questions] == [False, False, True]
    assert questions[0].topic == "faq/does_it_hurt"


@pytest.mark.unit
def test_a_clarified_or_unsure_question_counts_as_unanswered_but_a_button_does_not():
    rows = [
        user("b", "about the needles and sessions", "faq", 0.95, "faq/needles"),
        action("b", "action_clarify_topic"),
        user("b", "hmm", "greet", 0.3),
        action("b", "utter_greet"),
        user("b", '/choose_faq_topic{"faq_topic": "needles"}', "choose_faq_topic", 1.0),
        action("b", "action_answer_chosen_topic"),
    ]
    assert [q.unanswered for q in read_questions(rows)] == [True, True, False]


@pytest.mark.unit
def test_similar_wordings_are_grouped_and_counted_newest_first():
    rows = [
        user("c", "what's the weather like tomorrow", "out_of_scope", at=1_790_000_000.0),
        user("d", "whats the weather like tomorow", "out_of_scope", at=1_790_000_100.0),
        user("e", "do you sell gift vouchers", "nlu_fallback", 0.3, at=1_790_000_200.0),
    ]
    groups = group_similar(read_questions(rows))
    assert [len(g.wordings) for g in groups] == [1, 2]
    assert groups[0].wordings[0].text == "do you sell gift vouchers"
    until = datetime.fromtimestamp(1_790_000_300.0, timezone.utc)
    insights = summarise(rows, [], {("2026-W47", "booking"): 2}, None, until - timedelta(days=30), until, 30)
    report = render(insights)
    assert "  2x" in report and "gift vouchers" in report and "2026-W47" in report


@pytest.mark.unit
def test_masking():
    assert mask("call +1 212 555 0143 or a@b.example") == "call [number] or [email]"
    assert mask("i'm 45 and sore for 2 days") == "i'm 45 and sore for 2 days"
    assert mask("my number is 202/555/0147") == "my number is [number]"
    assert mask("write to dana dot w at mail dot com please") == "write to [email] please"
    assert mask("or dana(at)mail.example.com") == "or [email]"
    assert mask("Hi, my name is Dana Whitfield and my back hurts") == "Hi, my name is [name] and my back hurts"
    assert mask("i'm dana, can i book") == "i'm [name], can i book"
    assert mask("I'm pregnant, is it safe") == "I'm pregnant, is it safe"
    assert mask("this is a question about needles") == "this is a question about needles"
    assert mask("meet me at 5 at the clinic") == "meet me at 5 at the clinic"


@pytest.mark.unit
def test_the_store_is_found_from_endpoints_yml(tmp_path, monkeypatch):
    monkeypatch.delenv("TRACKER_DB_URL", raising=False)
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: var/tracker.db\n")
    assert tracker_db_url(endpoints) == f"sqlite:///{ROOT / 'var' / 'tracker.db'}"
    assert tracker_db_url(ROOT / "endpoints.yml").startswith("sqlite:///")
    # A clinic group's shared store (deploy/endpoints.cluster.yml reads the same variable).
    monkeypatch.setenv("TRACKER_DB_URL", "postgresql://clinic:pw@db.internal:5432/clinic_tracker")
    assert tracker_db_url(endpoints) == "postgresql://clinic:pw@db.internal:5432/clinic_tracker"


@pytest.mark.servers
def test_a_report_on_a_real_conversation_run(tmp_path):
    running = start_assistant(MODEL_PATH, tmp_path)
    try:
        running.say(str(uuid.uuid4()), "what's the weather like tomorrow")
        running.say(str(uuid.uuid4()), "whats the weather like tomorrow?")
        running.say(str(uuid.uuid4()), "write me a poem about cats")
        for question in ("does dry needling hurt?", "does it hurt much?", "how many sessions will I need?"):
            running.say(str(uuid.uuid4()), question)
        running.say(str(uuid.uuid4()), "i can't breathe since my session this morning")
        booker = str(uuid.uuid4())
        for text in ("I'd like to book an appointment", NAME, PHONE, "next tuesday at 10am", "yes", "yes"):
            running.say(booker, text)
    finally:
        running.stop()
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.visitor_report",
            "--db",
            f"sqlite:///{tmp_path / 'tracker.db'}",
            "--bookings-db",
            f"sqlite:///{tmp_path / 'bookings.db'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    report = finished.stdout
    assert "2x" in report and "weather" in report and "poem about cats" in report
    assert "faq/does_it_hurt" in report.split("Most asked topics:")[1]
    week = datetime.now(timezone.utc).isocalendar()
    [row] = [line for line in report.splitlines() if line.strip().startswith(f"{week[0]}-W{week[1]:02d}")]
    assert row.split()[1:] == ["1", "1", "0"]  # one red flag, one booking, no callback
    for detail in (NAME, "Quillon", PHONE, "555-0143", "5550143"):
        assert detail not in report
