"""Visitors' "Helpful?" votes end to end: the real assistant (action server and Rasa, the website
channel), the widget on its demo page in Debian's Chromium at 375 px, and the real console process
reading the same conversation store. A thumbs down given by keyboard and a thumbs up by mouse show
in /insights as each topic's helpful rate, the disliked question waits in the inbox; the
channel's refusals over HTTP; the widget's "Delete this conversation" takes the votes with it.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.browser import SCREENSHOTS, fits_the_width, launched_chromium, phone_page
from tests.conftest import MODEL_PATH
from tools.servers import RunningAssistant, RunningConsole, start_assistant, start_console

pytestmark = pytest.mark.servers

NAME = "orla.fenwick"
PASSWORD = "a long staff passphrase"
HURT = "does dry needling hurt?"
HOURS = "what are your opening hours?"
RED_FLAG = "i can't breathe since my session this morning"


@dataclass
class Servers:
    assistant: RunningAssistant
    console: RunningConsole
    tracker: Path


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[Servers]:
    work = tmp_path_factory.mktemp("feedback")
    (work / "assistant").mkdir()
    (work / "console").mkdir()
    assistant = start_assistant(MODEL_PATH, work / "assistant")
    try:
        console = start_console(work / "console", env={"TRACKER_DB_URL": assistant.env["TRACKER_DB_URL"]})
        try:
            added = console.staff("add-user", NAME, "--password-stdin", stdin=PASSWORD + "\n")
            assert added.returncode == 0, added.stderr
            yield Servers(assistant, console, work / "assistant" / "tracker.db")
        finally:
            console.stop()
    finally:
        assistant.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    yield from launched_chromium()


@pytest.fixture
def page(browser):
    yield from phone_page(browser, 60_000)


def ask(page, text: str):
    """Types a question into the widget; returns the bubbles of the assistant's new messages."""
    bubbles = page.locator(".msg.bot:not(.typing)")
    before = bubbles.count()
    page.locator("#ca-input").fill(text)
    page.locator("#ca-input").press("Enter")
    bubbles.nth(before).wait_for()
    page.locator(".typing").wait_for(state="detached")
    return [bubbles.nth(index) for index in range(before, bubbles.count())]


def focused_label(page) -> str:
    return page.evaluate(
        "() => { const a = document.querySelector('#clinic-assistant').shadowRoot.activeElement;"
        " return a ? (a.getAttribute('aria-label') || a.textContent) : ''; }"
    )


def votes(tracker: Path):
    with sqlite3.connect(tracker) as connection:
        return connection.execute("SELECT sender_id, topic, helpful FROM visitor_feedback ORDER BY id").fetchall()


def test_a_thumbs_down_shows_in_insights_and_puts_the_question_in_the_inbox(servers, page):
    page.goto(f"{servers.assistant.base_url}/webhooks/website/demo")
    page.locator(".launcher").click()
    page.locator(".reply").first.wait_for()
    assert page.locator(".rate").count() == 0  # not under the greeting

    hurt = ask(page, HURT)
    assert [bubble.locator(".rate").count() for bubble in hurt] == [0, 1]  # the disclaimer has none
    # By keyboard: back from the message box to the answer's thumbs down, then Enter.
    page.locator("#ca-input").focus()
    for _ in range(6):
        page.keyboard.press("Shift+Tab")
        if focused_label(page) == "No, not helpful":
            break
    assert focused_label(page) == "No, not helpful"
    with page.expect_response("**/webhooks/website/feedback") as answered:
        page.keyboard.press("Enter")
    assert answered.value.status == 200
    rating = hurt[1].locator(".rate")
    rating.locator(".thanks").wait_for()
    assert rating.get_by_role("button", name="No, not helpful").get_attribute("aria-pressed") == "true"
    assert rating.get_by_role("button", name="Yes, helpful").get_attribute("aria-pressed") == "false"
    assert all(button.is_disabled() for button in rating.get_by_role("button").all())
    assert focused_label(page) == "Thanks for your feedback."

    hours = ask(page, HOURS)
    hours[-1].get_by_role("button", name="Yes, helpful").click()
    hours[-1].locator(".thanks").wait_for()
    safety = ask(page, RED_FLAG)
    assert "911" in safety[-1].inner_text() or "emergency" in safety[-1].inner_text().lower()
    assert all(bubble.locator(".rate").count() == 0 for bubble in safety)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "widget-feedback-375.png"))
    page.reload()  # the votes stay given in the transcript
    page.locator(".thanks").nth(1).wait_for()
    assert page.get_by_role("button", name="Yes, helpful").first.is_disabled()
    assert [(topic, helpful) for _, topic, helpful in votes(servers.tracker)] == [
        ("does_it_hurt", 0),
        ("ask_hours", 1),
    ]

    base = servers.console.base_url
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(NAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/inbox")
    disliked = page.locator("section.group", has=page.locator("h2", has_text=HURT))
    assert "marked not helpful" in disliked.locator(".messages").inner_text()
    page.get_by_role("link", name="Insights").click()
    page.wait_for_url(f"{base}/insights")
    helpful = page.locator("section", has=page.get_by_role("heading", name="Helpful rate per topic"))
    rows = [row.split("\t") for row in helpful.locator("tbody tr").all_inner_texts()]
    assert ["Does it hurt?", "0", "1", "0%"] in rows and ["Opening hours", "1", "0", "100%"] in rows
    chart = helpful.get_by_role("img")
    assert "Does it hurt? 0% of 1" in chart.locator("desc").text_content()
    red_flags = page.locator("section", has=page.get_by_role("heading", name="Red flags per week"))
    assert red_flags.locator("tbody tr").first.inner_text().split("\t")[1] == "1"
    assert fits_the_width(page)
    page.screenshot(path=str(SCREENSHOTS / "console-insights-375.png"), full_page=True)
    # By keyboard: the period links.
    page.get_by_role("link", name="Last 7 days").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/insights?days=7")


def post(servers: Servers, path: str, document, origin: str = ""):
    headers = {"Content-Type": "application/json", **({"Origin": origin} if origin else {})}
    return servers.assistant.request("POST", f"/webhooks/website/{path}", json.dumps(document).encode(), headers)


def test_the_channel_refuses_every_vote_it_must_not_keep_and_forgets_them_with_the_conversation(servers):
    visitor, stranger = str(uuid.uuid4()), str(uuid.uuid4())
    status, replies = post(servers, "webhook", {"sender": visitor, "message": HURT})
    assert status == 200
    [answer] = [reply["answer"] for reply in replies if "answer" in reply]
    status, greeting = post(servers, "webhook", {"sender": stranger, "message": "hello"})
    assert status == 200 and not any("answer" in reply for reply in greeting)

    vote = {"sender": visitor, "answer": answer, "helpful": False}
    refusals = [
        ({**vote, "sender": "visitor-1"}, "", 400, "UUID"),
        ({**vote, "answer": "not-an-id"}, "", 400, "32 hex digits"),
        ({**vote, "helpful": "no"}, "", 400, "true or false"),
        ({**vote, "comment": "call me on 0412 345 678"}, "", 400, "'comment'"),
        ({**vote, "sender": stranger}, "", 404, "no such answer"),  # someone else's conversation
        ({**vote, "answer": "0" * 32}, "", 404, "no such answer"),  # an answer never given
        (vote, "https://elsewhere.example", 403, "allowed origins"),
    ]
    for document, origin, expected, reason in refusals:
        status, body = post(servers, "feedback", document, origin)
        assert (status, reason in body["error"]) == (expected, True), (document, status, body)
    assert post(servers, "feedback", vote) == (200, {"recorded": True})
    status, body = post(servers, "feedback", {**vote, "helpful": True})
    assert status == 409 and "already" in body["error"]
    status, body = servers.assistant.request(
        "POST", "/webhooks/website/feedback", b"x" * 2000, {"Content-Type": "application/json"}
    )
    assert status == 400 and "1024 bytes" in body["error"]
    assert visitor in [sender for sender, _, _ in votes(servers.tracker)]

    assert post(servers, "forget", {"sender": visitor}) == (200, {"deleted": True})
    assert visitor not in [sender for sender, _, _ in votes(servers.tracker)]
    for path in servers.tracker.parent.glob("tracker.db*"):
        assert visitor.encode() not in path.read_bytes(), path
    logs = servers.assistant.log_text()
    assert "0412 345 678" not in logs and HURT not in logs
