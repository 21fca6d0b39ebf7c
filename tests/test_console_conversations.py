"""The Conversations pages (console/conversations.py) in this process, through the app's ASGI
interface, on a conversation store of Rasa's shape: the list newest first and paged, searched by
words and dates (a malformed search refused with its reason), one conversation masked with its
form turns hidden, a visitor's <script> as text, "Reveal contact details" showing them for that
response only and recorded in the audit log; the inbox linking to the whole conversation."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from urllib.parse import quote

import pytest

from clinic.transcripts import reference
from tests.conftest import ROOT
from tests.console_asgi import T0, running_console, signed_in
from tests.conversation_events import bot, exchange, loop, user, write_store

pytestmark = pytest.mark.unit

AT = (T0 - timedelta(days=2)).timestamp()
REST = "rest:front desk/tablet?1"  # a REST client's sender: any printable characters


def conversations():
    return [
        *exchange("v-old", "does it hurt", "faq", ["utter_faq"], (T0 - timedelta(days=120)).timestamp()),
        *exchange("v-hours", "when are you open on saturday", "ask_hours", ["action_hours"], AT),
        *exchange(
            "v-script",
            "<script>alert(1)</script> my name is Dana Whitfield, ring me on 0412 345 678",
            "out_of_scope",
            ["utter_out_of_scope"],
            AT + 60,
        ),
        *exchange(REST, "can I book", "book_appointment", ["booking_form"], AT + 120),
        loop(REST, "booking_form", AT + 121),
        bot(REST, "What name should the booking be under?", AT + 122),
        user(REST, "Robin Ashgrove", "inform", at=AT + 123),
        bot(REST, "Thanks Robin Ashgrove.", AT + 124),
        loop(REST, None, AT + 125),
    ]


@pytest.fixture
def console(tmp_path):
    shutil.copyfile(ROOT / "clinic.yml", tmp_path / "clinic.yml")  # retention_days: 90
    url = write_store(tmp_path / "tracker.db", conversations())
    with running_console(tmp_path, tracker_db_url=url, profile_path=tmp_path / "clinic.yml") as made:
        yield made


def listed(page: str):
    return re.findall(r'<li class="card conversation">\s*<a href="/conversations/([^"]+)">', page)


def test_the_list_holds_the_retention_periods_conversations_newest_first_masked(console):
    page = signed_in(console).get("/conversations").body
    assert listed(page) == [quote(REST, safe=""), "v-script", "v-hours"]  # not the one of 120 days ago
    assert "3 conversations." in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; my name is [name], ring me on [number]" in page
    assert "<script>" not in page and "Dana" not in page and "0412" not in page
    assert "the last 90 days" in page


def test_words_and_dates_narrow_the_list_and_a_bad_search_says_why(console):
    browser = signed_in(console)
    assert listed(browser.get("/conversations?q=Saturday+open").body) == ["v-hours"]
    assert listed(browser.get("/conversations?q=whitfield").body) == []  # masked on the page: not searchable
    day = (T0 - timedelta(days=2)).date().isoformat()
    assert len(listed(browser.get(f"/conversations?from={day}&to={day}").body)) == 3
    assert listed(browser.get(f"/conversations?to={(T0 - timedelta(days=3)).date()}").body) == []
    for query, reason in (
        ("from=yesterday", "The from date must be a date like 2026-11-23."),
        ("from=2026-11-20&to=2026-11-19", "The from date is after the to date."),
        ("page=0", "The page number must be a whole number from 1."),
    ):
        reply = browser.get(f"/conversations?{query}")
        assert reply.status == 400 and reason in reply.body, query


def test_the_list_is_paged(console, tmp_path):
    write_store(
        tmp_path / "tracker.db",
        [row for n in range(25) for row in exchange(f"p{n:02}", f"question {n}", "faq", ["utter_faq"], AT + 600 + n)],
    )
    browser = signed_in(console)
    first = browser.get("/conversations").body
    assert "28 conversations; page 1 of 2." in first and len(listed(first)) == 20
    assert listed(first)[0] == "p24"
    assert '<a href="/conversations?page=2" rel="next">Older</a>' in first
    second = browser.get("/conversations?page=2").body
    assert listed(second) == ["p04", "p03", "p02", "p01", "p00", quote(REST, safe=""), "v-script", "v-hours"]


def test_a_conversation_is_masked_and_revealed_for_that_response_only_with_an_audit_line(console):
    browser = signed_in(console)
    path = "/conversations/" + quote(REST, safe="")
    page = browser.get(path)
    assert page.status == 200
    assert "Robin" not in page.body and page.body.count("(details typed into a form: hidden)") == 3
    assert "What name should the booking be under?" not in page.body  # asked while the form was active
    revealed = browser.post(path, {"csrf_token": page.csrf_token, "reveal": "yes"})
    assert revealed.status == 200 and revealed.header("cache-control") == "no-store"
    assert '<span class="said">Robin Ashgrove</span>' in revealed.body
    assert "Your\n      reveal was recorded in the audit log" in revealed.body
    entry = console.accounts.audit_log()[0]
    assert (entry.actor, entry.action, entry.detail) == ("anna", "reveal-contacts", f"conversation {reference(REST)}")
    assert f"reference <code>{reference(REST)}</code>" in page.body  # staff can tell which one it was
    assert "Robin" not in browser.get(path).body  # the next view is masked again


def test_revealing_needs_the_token_and_the_button(console):
    browser = signed_in(console)
    page = browser.get("/conversations/v-script")
    assert browser.post("/conversations/v-script", {"reveal": "yes"}).status == 403
    assert browser.post("/conversations/v-script", {"csrf_token": page.csrf_token}).status == 400
    assert [entry.action for entry in console.accounts.audit_log()].count("reveal-contacts") == 0
    shown = browser.post("/conversations/v-script", {"csrf_token": page.csrf_token, "reveal": "yes"}).body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; my name is Dana Whitfield, ring me on 0412 345 678" in shown


def test_a_conversation_no_longer_kept_is_not_found(console):
    browser = signed_in(console)
    for path in ("/conversations/v-old", "/conversations/nobody"):
        reply = browser.get(path)
        assert reply.status == 404 and "There is no such conversation" in reply.body
    page = browser.get("/conversations/v-hours")
    assert browser.post("/conversations/nobody", {"csrf_token": page.csrf_token, "reveal": "yes"}).status == 404
    assert "reveal-contacts" not in [entry.action for entry in console.accounts.audit_log()]


def test_the_inbox_links_each_group_to_its_whole_conversation(console):
    page = signed_in(console).get("/inbox").body
    assert '<a href="/conversations/v-script">The whole conversation</a>' in page
