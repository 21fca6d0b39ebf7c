"""The real ``python -m console`` process teaching the assistant: its inbox read from a conversation
store (``TRACKER_DB_URL``), its topic files a temporary copy of data/ (``CONSOLE_DATA_DIR``), spoken
to over HTTP as a browser would. The in-process tests (test_console_inbox.py, test_console_topics.py)
cover the pages in detail; this shows the process takes its settings and keeps the rules.
"""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest
import sqlalchemy as sa

from tests.conftest import ROOT
from tests.conversation_events import exchange, write_store
from tools.console_http import PASSWORD, Client
from tools.servers import RunningConsole, start_console

pytestmark = pytest.mark.servers

AT = (datetime.now(timezone.utc) - timedelta(hours=1)).timestamp()


@pytest.fixture(scope="module")
def console(tmp_path_factory) -> Iterator[RunningConsole]:
    work = tmp_path_factory.mktemp("console-teaching")
    shutil.copytree(ROOT / "data", work / "data")
    url = write_store(
        work / "tracker.db",
        [
            *exchange(
                "v1",
                "do you do cupping",
                "out_of_scope",
                ["utter_out_of_scope"],
                AT,
                ranking=[("techniques", 0.4)],
            ),
            *exchange(
                "v2",
                "I'm Dana Whitfield, text me on 0412 345 678: is parking free",
                "out_of_scope",
                ["action_decline"],
                AT + 60,
            ),
        ],
    )
    running = start_console(work, env={"CONSOLE_DATA_DIR": str(work / "data"), "TRACKER_DB_URL": url})
    running.data = work / "data"
    try:
        for name in ("anna", "bob"):
            added = running.staff("add-user", name, "--password-stdin", stdin=PASSWORD + "\n")
            assert added.returncode == 0, added.stderr
        yield running
    finally:
        running.stop()


def signed_in(console, name: str) -> Client:
    client = Client(console.port)
    status, headers, _ = client.log_in(name)
    assert (status, headers["location"]) == (303, "/inbox")
    return client


def test_teaching_from_the_inbox_changes_the_copys_topic_file(console):
    client = signed_in(console, "anna")
    status, _, page = client.request("GET", "/inbox")
    assert status == 200
    assert "I&#39;m [name], text me on [number]: is parking free" in page
    assert "Dana" not in page and "0412" not in page
    cupping = re.search(
        r'id="g-([0-9a-f]{32})"[^>]*>\s*<h2[^>]*><q class="visitor-text">do you do cupping', page
    ).group(1)
    assert re.search(rf'id="topic-{cupping}".*?<option value="techniques" selected>', page, re.S)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    status, headers, _ = client.request(
        "POST", "/inbox/teach", {"csrf_token": token, "message": cupping, "teach": cupping, "topic": "techniques"}
    )
    assert (status, headers["location"]) == (303, "/inbox?done=taught&topic=techniques&added=1&count=1")
    assert "    - do you do cupping\nresponses:" in (console.data / "faq" / "techniques.yml").read_text()
    assert (ROOT / "data" / "faq" / "techniques.yml").read_text() != (
        console.data / "faq" / "techniques.yml"
    ).read_text()
    _, _, page = client.request("GET", headers["location"])
    assert "do you do cupping" not in page and "Taught 1 new wording" in page
    # Kept in the clinic's database, which the process was given.
    engine = sa.create_engine(console.env["BOOKINGS_DB_URL"])
    try:
        with engine.connect() as connection:
            actions = connection.execute(sa.text("SELECT actor, action FROM staff_audit ORDER BY id")).all()
            changes = connection.execute(sa.text("SELECT actor, topic, action FROM console_topic_changes")).all()
            handled = connection.execute(sa.text("SELECT outcome, topic FROM console_inbox_handled")).all()
    finally:
        engine.dispose()
    assert ("anna", "teach") in actions
    assert changes == [("anna", "techniques", "teach")] and handled == [("taught", "techniques")]
    assert "Dana" not in console.log.read_text() and "cupping" not in console.log.read_text()


def test_two_staff_saving_one_topic_the_second_is_refused_with_their_text_kept(console):
    anna, bob = signed_in(console, "anna"), signed_in(console, "bob")
    forms = {}
    for who, client in (("anna", anna), ("bob", bob)):
        _, _, page = client.request("GET", "/topics/side_effects")
        forms[who] = {
            "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
            "version": re.search(r'name="version" value="([0-9a-f]+)"', page).group(1),
            "label": "Side effects",
            "sources": "000_200aa1fa4ffcefa7.txt",
        }
    status, _, _ = anna.request("POST", "/topics/side_effects/answer", dict(forms["anna"], answer="Anna's words."))
    assert status == 303
    status, _, page = bob.request("POST", "/topics/side_effects/answer", dict(forms["bob"], answer="Bob's words."))
    assert status == 409
    assert "Someone else changed the topic side_effects since you opened this page" in page
    assert ">Bob&#39;s words.</textarea>" in page
    text = (console.data / "faq" / "side_effects.yml").read_text()
    assert "Anna's words." in text and "Bob's words." not in text
