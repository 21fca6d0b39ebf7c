"""Teaching the assistant from the staff console, in a real browser: a visitor asks the real
assistant (the action server and Rasa, through the REST channel, on a temporary conversation
store) something it cannot answer; a staff member made with ``add-user`` finds it in the inbox of
the real console process (Debian's Chromium at 375 px, driven by Playwright), sees a visitor's
``<script>`` as text, and teaches the question to a topic; the wording lands in that topic's file
(a temporary copy of data/). Publishing the change to the assistant is a later step.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.browser import SCREENSHOTS, fits_the_width, launched_chromium, log_in, phone_page
from tests.conftest import MODEL_PATH, ROOT
from tools.servers import RunningAssistant, RunningConsole, start_assistant, start_console

pytestmark = pytest.mark.servers

NAME = "orla.fenwick"
PASSWORD = "a long staff passphrase"
CUPPING = "do you do cupping"
SCRIPT = "<script>alert(1)</script> can you fix my posture"


@dataclass
class Servers:
    assistant: RunningAssistant
    console: RunningConsole
    data: Path


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[Servers]:
    work = tmp_path_factory.mktemp("teach-in-browser")
    (work / "assistant").mkdir()
    (work / "console").mkdir()
    shutil.copytree(ROOT / "data", work / "data")
    assistant = start_assistant(MODEL_PATH, work / "assistant")
    try:
        console = start_console(
            work / "console",
            env={"CONSOLE_DATA_DIR": str(work / "data"), "TRACKER_DB_URL": assistant.env["TRACKER_DB_URL"]},
        )
        try:
            added = console.staff("add-user", NAME, "--password-stdin", stdin=PASSWORD + "\n")
            assert added.returncode == 0, added.stderr
            yield Servers(assistant, console, work / "data")
        finally:
            console.stop()
    finally:
        assistant.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    yield from launched_chromium()


@pytest.fixture
def page(browser):
    yield from phone_page(browser, 30_000)


def test_a_question_the_assistant_could_not_answer_is_taught_from_the_inbox(servers, page):
    for message in (CUPPING, SCRIPT):
        replies = servers.assistant.say(str(uuid.uuid4()), message)
        assert any("can't answer" in reply.get("text", "") for reply in replies), (message, replies)
    base = servers.console.base_url
    log_in(page, base, NAME, PASSWORD)

    cupping = page.locator("section.group", has=page.locator("h2", has_text=CUPPING))
    assert cupping.count() == 1
    assert "declined" in cupping.locator(".messages").inner_text()
    # The visitor's <script> is text on the page, never an element (Watch fails the test on a dialog).
    script = page.locator("section.group", has=page.locator("h2", has_text="can you fix my posture"))
    assert script.locator("h2").inner_text().strip('“”"') == SCRIPT
    assert page.evaluate("() => document.querySelectorAll('main script').length") == 0
    assert fits_the_width(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "console-inbox-questions-375.png"), full_page=True)

    cupping.locator("summary").click()  # the conversation around it
    assert "Assistant" in cupping.locator(".turns").inner_text()
    cupping.get_by_label("Teach to the topic").select_option("techniques")
    cupping.get_by_role("button", name="Teach").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/inbox?done=taught*")
    assert "Taught 1 new wording to “Needling techniques used”" in page.get_by_role("status").inner_text()
    assert page.locator("section.group", has=page.locator("h2", has_text=CUPPING)).count() == 0

    lines = (servers.data / "faq" / "techniques.yml").read_text().splitlines()
    assert lines[lines.index("responses:") - 1] == f"    - {CUPPING}"

    page.get_by_role("link", name="Topics").click()
    page.wait_for_url(f"{base}/topics")
    page.get_by_role("link", name="Needling techniques used", exact=True).click()
    page.wait_for_url(f"{base}/topics/techniques")
    assert page.get_by_label(CUPPING).is_visible()  # its checkbox among the examples
    assert fits_the_width(page)
    page.locator("#answer-form").screenshot(path=str(SCREENSHOTS / "console-topic-375.png"))
