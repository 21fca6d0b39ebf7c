"""Teaching, publishing and undoing in a real browser, seen in the real chat widget.

The staff console's process (with its publisher), the action server and a Rasa server that
follows the console's model; Debian's Chromium at 375 px through Playwright, one page for the
staff member, one for the widget on the demo page. A visitor's question the assistant declined is
taught from the inbox and published: the widget then answers it, with no server restarted and
visitors asking all along without one failed request. An answer edited and published is what the
widget gives next; Undo in the history brings the old answer back.
"""

from __future__ import annotations

import secrets
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List

import pytest
import yaml

from tests.browser import SCREENSHOTS, fits_the_width, launched_chromium, log_in, phone_page
from tests.conftest import MODEL_PATH, ROOT
from tools.publish_timing import Visitors
from tools.servers import (
    RunningAssistant,
    RunningConsole,
    free_port,
    model_server_section,
    start_assistant,
    start_console,
    wait_until,
)

pytestmark = pytest.mark.servers

NAME = "orla.fenwick"
PASSWORD = "a long staff passphrase"
CUPPING = "do you do cupping"
ADDED = "Ask the team which needle size suits you best."


def first_words(topic: str) -> str:
    """The first words of a topic's answer, as the widget shows it."""
    text = yaml.safe_load((ROOT / "data" / "faq" / f"{topic}.yml").read_text())["responses"][f"utter_faq/{topic}"]
    return " ".join(text[0]["text"].split()[:8])


@dataclass
class Servers:
    assistant: RunningAssistant
    console: RunningConsole
    data: Path


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[Servers]:
    work = tmp_path_factory.mktemp("publish-in-browser")
    for folder in ("assistant", "console", "models"):
        (work / folder).mkdir()
    shutil.copytree(ROOT / "data", work / "data")
    model = work / "models" / "clinic-assistant.tar.gz"
    shutil.copyfile(MODEL_PATH, model)
    token, port = secrets.token_hex(16), free_port()
    console = start_console(
        work / "console",
        port=port,
        env={
            "CONSOLE_DATA_DIR": str(work / "data"),
            "CONSOLE_MODEL": str(model),
            "MODEL_SERVER_TOKEN": token,
            "TRACKER_DB_URL": f"sqlite:///{work / 'assistant' / 'tracker.db'}",
        },
    )
    try:
        console.add_user(NAME, PASSWORD)
        assistant = start_assistant(model, work / "assistant", model_server=model_server_section(port, token))
        try:
            yield Servers(assistant, console, work / "data")
        finally:
            assistant.stop()
    finally:
        console.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    yield from launched_chromium()


@pytest.fixture
def staff(browser):
    yield from phone_page(browser, 60_000)


@pytest.fixture
def visitor(browser):
    yield from phone_page(browser, 60_000)


def widget_answer(page, assistant: RunningAssistant, question: str) -> List[str]:
    """Opens the widget on the demo page afresh, asks ``question``; returns the bot's messages."""
    page.goto(f"{assistant.base_url}/webhooks/website/demo")
    page.evaluate("() => localStorage.clear()")
    page.reload()
    page.locator(".launcher").click()
    page.locator(".reply").first.wait_for()
    before = page.locator(".msg.bot:not(.typing)").count()
    page.locator("#ca-input").fill(question)
    page.locator("#ca-input").press("Enter")
    page.locator(".msg.bot:not(.typing)").nth(before).wait_for()
    page.locator(".typing").wait_for(state="detached")
    return page.locator(".msg.bot:not(.typing) .text").all_text_contents()[before:]


def rest_answer(assistant: RunningAssistant, question: str) -> str:
    return " ".join(reply.get("text", "") for reply in assistant.say(str(uuid.uuid4()), question))


def menu(page, name: str) -> None:
    page.get_by_role("navigation", name="Console").get_by_role("link", name=name, exact=True).click()


def publish(page, base: str) -> None:
    """Presses Publish on /publish and waits (the page reloads itself) until it has published."""
    menu(page, "Publish")
    page.wait_for_url(f"{base}/publish")
    page.get_by_role("button", name="Publish").click()
    page.get_by_text("Published. The assistant's servers fetch the new version").wait_for(timeout=240_000)


def test_taught_published_edited_and_undone_reaching_the_widget_without_a_restart(servers, staff, visitor):
    assistant, base = servers.assistant, servers.console.base_url
    rasa_pid = assistant.processes[1].pid
    assert "can't answer" in rest_answer(assistant, CUPPING)
    log_in(staff, base, NAME, PASSWORD)

    # Taught from the inbox, then published while visitors keep asking.
    group = staff.locator("section.group", has=staff.locator("h2", has_text=CUPPING))
    group.get_by_label("Teach to the topic").select_option("techniques")
    group.get_by_role("button", name="Teach").click()
    staff.wait_for_url(f"{base}/inbox?done=taught*")
    menu(staff, "Publish")
    assert "data/faq/techniques.yml" in staff.locator("main").inner_text()
    load = Visitors(assistant.base_url + "/webhooks/rest/webhook")
    load.start()
    try:
        publish(staff, base)
        assert fits_the_width(staff)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        staff.screenshot(path=str(SCREENSHOTS / "console-publish-375.png"), full_page=True)
        assert wait_until(lambda: first_words("techniques") in rest_answer(assistant, CUPPING), 60)
    finally:
        load.stopping.set()
        load.join(timeout=60)
    assert load.sent >= 5 and load.failed == 0
    assert any(first_words("techniques") in text for text in widget_answer(visitor, assistant, CUPPING))

    # An answer edited and published is what the widget gives next.
    menu(staff, "Topics")
    staff.get_by_role("link", name="About the needles", exact=True).click()
    answer = staff.get_by_role("textbox", name="Answer")
    answer.fill(f"{answer.input_value().strip()} {ADDED}")
    staff.get_by_role("button", name="Save answer").click()
    staff.wait_for_url(f"{base}/topics/needles?done=*")
    publish(staff, base)
    assert wait_until(lambda: ADDED in rest_answer(assistant, "what needles do you use"), 60)
    assert any(ADDED in text for text in widget_answer(visitor, assistant, "what needles do you use"))

    # Undo: the answer before comes back, published the same way.
    menu(staff, "History")
    staff.wait_for_url(f"{base}/history")
    assert "by orla.fenwick" in staff.locator("main").inner_text()
    assert fits_the_width(staff)
    staff.screenshot(path=str(SCREENSHOTS / "console-history-375.png"), full_page=True)
    staff.get_by_role("button", name="Undo publish").first.click()
    staff.wait_for_url(f"{base}/publish")
    staff.get_by_text("Published. The assistant's servers fetch the new version").wait_for(timeout=240_000)
    assert wait_until(lambda: ADDED not in rest_answer(assistant, "what needles do you use"), 60)
    assert not any(ADDED in text for text in widget_answer(visitor, assistant, "what needles do you use"))
    assert first_words("techniques") in rest_answer(assistant, CUPPING)  # the earlier publish stays
    assert assistant.processes[1].pid == rasa_pid and assistant.processes[1].poll() is None
