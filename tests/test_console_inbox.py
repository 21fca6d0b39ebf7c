"""The inbox (console/inbox.py) in this process, through the app's ASGI interface: what visitors
asked that the assistant could not answer, masked and grouped, taught to a topic (the topic file
of a copy of data/ changes), made into a new topic, or dismissed; every action audited."""

from __future__ import annotations

import html
import re
import shutil
from datetime import timedelta

import pytest

from tests.conftest import ROOT
from tests.console_asgi import T0, make_console, stop_console
from tests.conversation_events import exchange, write_store

pytestmark = pytest.mark.unit

AT = (T0 - timedelta(hours=2)).timestamp()
CUPPING = ("techniques", 0.41), ("vs_acupuncture", 0.2), ("needles", 0.1)


def conversations():
    return [
        *exchange("v1", "do you do cupping", "out_of_scope", ["utter_out_of_scope"], AT, ranking=CUPPING),
        *exchange("v2", "Do you do cupping?", "out_of_scope", ["utter_out_of_scope"], AT + 60, ranking=CUPPING),
        *exchange(
            "v3",
            "<script>alert(1)</script> is it like hijama",
            "nlu_fallback",
            ["action_clarify_topic"],
            AT + 120,
            confidence=0.3,
            ranking=[("vs_acupuncture", 0.3)],
        ),
        *exchange(
            "v4",
            "my name is Dana Whitfield, ring me on 0412 345 678 about parking",
            "out_of_scope",
            ["action_decline"],
            AT + 180,
        ),
        *exchange("v5", "does it hurt", "faq", ["utter_faq"], AT + 240, topic="faq/does_it_hurt"),
    ]


@pytest.fixture
def console(tmp_path):
    shutil.copytree(ROOT / "data", tmp_path / "data")
    url = write_store(tmp_path / "tracker.db", conversations())
    made = make_console(tmp_path, data_dir=tmp_path / "data", tracker_db_url=url)
    made.data = tmp_path / "data"
    made.tracker = tmp_path / "tracker.db"
    yield made
    stop_console(made)
    made.loop.close()


def groups(page: str):
    """The keys of the groups on the page, in order."""
    return re.findall(r'<section class="group card" id="g-([0-9a-f]+)"', page)


def section(page: str, key: str) -> str:
    return re.search(rf'<section class="group card" id="g-{key}".*?</section>', page, re.S).group(0)


def message_keys(page: str, key: str):
    return re.findall(r'name="message" value="([0-9a-f]+)"', section(page, key).split('action="/inbox/dismiss"')[0])


def signed_in(console):
    browser = console.browser()
    assert browser.log_in("anna").status == 303
    return browser


def test_the_inbox_shows_what_was_not_answered_grouped_newest_first_and_masked(console):
    page = signed_in(console).get("/inbox").body
    headings = [html.unescape(h) for h in re.findall(r'<h2 id="h-[0-9a-f]+"><q class="visitor-text">(.*?)</q>', page)]
    assert headings == [
        "my name is [name], ring me on [number] about parking",
        "<script>alert(1)</script> is it like hijama",
        "Do you do cupping?",
    ]
    assert "Dana" not in page and "0412" not in page
    assert "does it hurt" not in page  # answered
    cupping = section(page, groups(page)[2])
    assert "2 messages" in cupping and cupping.count('name="teach"') == 1  # one wording, as compared
    assert '<span class="tag">declined</span>' in cupping
    # The model's best guess comes first and is chosen.
    options = re.findall(r'<option value="(\w*)"( selected)?>([^<]*)</option>', cupping)
    assert options[0] == ("techniques", " selected", "Needling techniques used (best guess)")
    assert [name for name, _, _ in options[1:3]] == ["vs_acupuncture", "needles"]
    assert len(options) == 21
    # No guess at all: nothing is chosen for staff.
    parking = section(page, groups(page)[0])
    assert re.search(r'<option value="" selected>Choose a topic</option>', parking)
    # The conversation around it.
    assert '<span class="speaker">Assistant</span> <span class="said">(what utter_out_of_scope says)</span>' in cupping


def test_a_visitors_script_is_shown_as_text(console):
    page = signed_in(console).get("/inbox").body
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; is it like hijama" in page


def test_teaching_adds_the_wording_to_the_topic_file_and_closes_the_group(console):
    browser = signed_in(console)
    page = browser.get("/inbox")
    cupping = groups(page.body)[2]
    keys = message_keys(page.body, cupping)
    assert len(keys) == 2
    before = (console.data / "faq" / "techniques.yml").read_text()
    reply = browser.post(
        "/inbox/teach",
        [
            ("csrf_token", page.csrf_token),
            *(("message", key) for key in keys),
            ("teach", cupping),
            ("topic", "techniques"),
        ],
    )
    assert (reply.status, reply.header("location")) == (303, "/inbox?done=taught&topic=techniques&added=1&count=2")
    after = (console.data / "faq" / "techniques.yml").read_text()
    assert after == before.replace("\nresponses:", "\n    - Do you do cupping?\nresponses:")
    shown = browser.get(reply.header("location")).body
    assert "Taught 1 new wording to “Needling techniques used” (2 messages closed)" in shown
    assert "after the next Publish" in shown
    assert cupping not in groups(shown) and len(groups(shown)) == 2
    # Kept: the history with its diff, the audit log.
    change = console.records.changes()[0]
    assert (change.actor, change.topic, change.action) == ("anna", "techniques", "teach")
    assert "+    - Do you do cupping?" in change.diff and change.before == before and change.after == after
    assert console.actions()[-1] == ("anna", "teach", "127.0.0.1")
    entry = console.accounts.audit_log(1)[0]
    assert entry.detail == "techniques: 1 added, 0 already there, 2 messages closed: Do you do cupping?"


def test_a_wording_another_intent_has_is_refused_with_the_reason_and_stays_in_the_inbox(console, tmp_path):
    write_store(
        console.tracker,
        exchange("v6", "do you offer cupping therapy", "out_of_scope", ["utter_out_of_scope"], AT + 300),
    )
    browser = signed_in(console)
    page = browser.get("/inbox")
    key = groups(page.body)[0]
    reply = browser.post(
        "/inbox/teach",
        {"csrf_token": page.csrf_token, "message": key, "teach": key, "topic": "techniques"},
    )
    assert reply.status == 409
    assert (
        "Not taught to techniques: &#39;do you offer cupping therapy&#39; is already an example of the intent "
        "out_of_scope (data/nlu/out_of_scope.yml)" in reply.body
    )
    assert key in groups(reply.body)  # still waiting
    assert (console.data / "faq" / "techniques.yml").read_text() == (
        ROOT / "data" / "faq" / "techniques.yml"
    ).read_text()
    assert console.actions()[-1] == ("anna", "teach-refused", "127.0.0.1")


def test_a_message_that_arrives_while_the_page_is_open_is_not_closed_unseen(console):
    browser = signed_in(console)
    page = browser.get("/inbox")
    cupping = groups(page.body)[2]
    keys = message_keys(page.body, cupping)
    write_store(console.tracker, exchange("v7", "do you do cupping?", "out_of_scope", ["utter_out_of_scope"], AT + 400))
    reply = browser.post("/inbox/dismiss", [("csrf_token", page.csrf_token), *(("message", key) for key in keys)])
    assert reply.header("location") == "/inbox?done=dismissed&count=2"
    after = browser.get("/inbox").body
    headings = [html.unescape(h) for h in re.findall(r'<h2 id="h-[0-9a-f]+"><q class="visitor-text">(.*?)</q>', after)]
    assert headings[0] == "do you do cupping?" and "1 message ·" in after
    assert console.actions()[-1] == ("anna", "dismiss", "127.0.0.1")


def test_a_new_topic_from_the_inbox_is_prefilled_with_its_wordings_and_closes_it(console):
    browser = signed_in(console)
    page = browser.get("/inbox")
    cupping = groups(page.body)[2]
    link = html.unescape(re.search(r'href="(/topics/new\?from=[0-9a-f,]+)"', section(page.body, cupping)).group(1))
    form = browser.get(link)
    assert form.status == 200
    assert re.search(r'<textarea id="examples" name="examples"[^>]*>Do you do cupping\?</textarea>', form.body)
    examples = ["Do you do cupping?"] + [f"is cupping something you offer, question {i}" for i in range(14)]
    reply = browser.post(
        "/topics/new",
        {
            "csrf_token": form.csrf_token,
            "from": re.search(r'name="from" value="([0-9a-f,]+)"', form.body).group(1),
            "name": "cupping",
            "label": "Cupping",
            "examples": "\n".join(examples),
            "answer": "We don't offer cupping; ask the team about what we do offer.",
            "sources": "000_200aa1fa4ffcefa7.txt",
        },
    )
    assert reply.header("location") == "/inbox?done=new-topic&topic=cupping&count=2"
    shown = browser.get(reply.header("location")).body
    assert "The new topic “Cupping” was added (2 messages closed)" in shown
    assert cupping not in groups(shown)
    assert (console.data / "faq" / "cupping.yml").read_text().startswith("# Sources: 000_200aa1fa4ffcefa7.txt\n")


def test_the_inbox_forms_need_a_session_and_its_csrf_token(console):
    browser = console.browser()
    assert browser.post("/inbox/dismiss", {}).header("location") == "/login"
    browser = signed_in(console)
    key = groups(browser.get("/inbox").body)[0]
    reply = browser.post("/inbox/dismiss", {"message": key})
    assert reply.status == 403 and "did not come from your session" in reply.body
    assert key in groups(browser.get("/inbox").body)


def test_the_newest_open_messages_are_grouped_and_the_older_ones_wait(console, monkeypatch):
    monkeypatch.setattr("console.inbox.GROUPED_MESSAGES", 2)
    page = signed_in(console).get("/inbox").body
    assert "4 messages waiting; the newest 2 are grouped below, the older ones wait until these are handled." in page
    assert len(groups(page)) == 2 and "cupping" not in page
