"""The Clinic and Conversations pages in a real browser against the real servers: the action
server and Rasa (the widget's channel) and the console as processes, all reading one temporary
copy of clinic.yml (``CLINIC_PROFILE``) and one conversation store. Debian's Chromium at 375 px,
driven by Playwright; the console's forms sent from the keyboard.

- Opening hours and the widget's greeting changed in /clinic are the ones the widget gives next,
  with every server process still the one started (no restart); a bad phone is refused naming
  the field, the file untouched.
- A conversation typed into the widget is found in /conversations by a word, masked; "Reveal
  contact details" shows them and puts a line naming the conversation in the audit log; no
  server's log holds what the visitor typed.
"""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List

import pytest
import sqlalchemy as sa
import yaml

from clinic.staff_accounts import StaffAccounts
from clinic.transcripts import reference
from tests.browser import SCREENSHOTS, browser_fixtures, fits_the_width
from tests.conftest import MODEL_PATH, ROOT
from tools.servers import RunningAssistant, RunningConsole, start_assistant, start_console

pytestmark = pytest.mark.servers

NAME = "orla.fenwick"
PASSWORD = "a long staff passphrase"
CONTACT = "my name is Dana Whitfield, call me on 202 555 0147 about the parking"
PRIVATE = ("Whitfield", "555 0147")


@dataclass
class Servers:
    assistant: RunningAssistant
    console: RunningConsole
    profile: Path


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[Servers]:
    work = tmp_path_factory.mktemp("clinic-in-browser")
    (work / "assistant").mkdir()
    (work / "console").mkdir()
    profile = work / "clinic.yml"
    shutil.copyfile(ROOT / "clinic.yml", profile)
    with ExitStack() as running:
        assistant = start_assistant(MODEL_PATH, work / "assistant", env={"CLINIC_PROFILE": str(profile)})
        running.callback(assistant.stop)
        console = start_console(
            work / "console",
            env={"CLINIC_PROFILE": str(profile), "TRACKER_DB_URL": assistant.env["TRACKER_DB_URL"]},
        )
        running.callback(console.stop)
        console.add_user(NAME, PASSWORD, role="admin")
        yield Servers(assistant, console, profile)


browser, page = browser_fixtures(60_000)


def bot_texts(page) -> List[str]:
    return page.locator(".msg.bot:not(.typing) .text").all_text_contents()


def ask(page, text: str) -> List[str]:
    """Types ``text`` into the widget; returns the replies to it."""
    before = len(bot_texts(page))
    page.locator("#ca-input").fill(text)
    page.locator("#ca-input").press("Enter")
    page.locator(".msg.bot:not(.typing)").nth(before).wait_for()
    page.locator(".typing").wait_for(state="detached")
    return bot_texts(page)[before:]


def open_widget(page, servers: Servers) -> None:
    page.goto(f"{servers.assistant.base_url}/webhooks/website/demo")
    page.locator(".launcher").click()
    page.locator(".reply").first.wait_for()


def log_in(page, base_url: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Username").fill(NAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url(f"{base_url}/inbox")


def tab_to(page, name: str, limit: int = 40) -> None:
    """Presses Tab until the focused element's text or label is ``name``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate("() => (document.activeElement.innerText || document.activeElement.value || '').trim()")
        if focused == name:
            return
    raise AssertionError(f"{name!r} not reached by Tab")


def submit_from_keyboard(page, button: str) -> None:
    page.get_by_role("button", name=button).focus()
    page.keyboard.press("Enter")


def hours_line(replies: List[str], day: str) -> str:
    return next(line for reply in replies for line in reply.splitlines() if line.startswith(f"{day}:"))


def test_opening_hours_changed_in_the_clinic_page_are_the_ones_the_widget_gives_next(servers, page, browser):
    pids = [process.pid for process in servers.assistant.processes]
    open_widget(page, servers)
    assert hours_line(ask(page, "what are your opening hours?"), "Monday") == "Monday: 8 am to 6 pm"

    console = page.context.new_page()
    base = servers.console.base_url
    log_in(console, base)
    tab_to(console, "Clinic")
    console.keyboard.press("Enter")
    console.wait_for_url(f"{base}/clinic")
    assert fits_the_width(console)

    # A bad phone first: refused, naming the field, with what was typed kept and the file untouched.
    before = servers.profile.read_text()
    console.get_by_label("Phone").fill("call the front desk")
    submit_from_keyboard(console, "Save the clinic's details")
    console.wait_for_load_state()
    assert "Phone: must contain a phone number's digits" in console.get_by_role("alert").inner_text()
    assert console.get_by_label("Phone").input_value() == "call the front desk"
    assert servers.profile.read_text() == before

    console.get_by_label("Phone").fill("+1 202 555 0100")
    console.get_by_label("Monday").fill("09:30-17:00")
    console.get_by_label("Widget greeting").fill("Welcome to the front desk! Ask me anything.")
    submit_from_keyboard(console, "Save the clinic's details")
    console.wait_for_url(f"{base}/clinic?saved=yes")
    assert "no restart needed" in console.get_by_role("status").inner_text()
    assert console.get_by_label("Monday").input_value() == "09:30-17:00"
    assert yaml.safe_load(servers.profile.read_text())["opening_hours"]["monday"] == "09:30-17:00"
    assert fits_the_width(console)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    console.screenshot(path=str(SCREENSHOTS / "console-clinic-375.png"), full_page=True)

    # The action server's next answer, in the same conversation, with the same processes.
    assert hours_line(ask(page, "when are you open?"), "Monday") == "Monday: 9:30 am to 5 pm"
    # The Rasa server's widget settings: a visitor opening the widget now is greeted anew.
    fresh = browser.new_context(viewport={"width": 375, "height": 667}).new_page()
    try:
        open_widget(fresh, servers)
        assert "Welcome to the front desk! Ask me anything." in fresh.locator(".msg.bot .text").first.text_content()
    finally:
        fresh.context.close()
    assert [process.pid for process in servers.assistant.processes] == pids
    assert all(process.poll() is None for process in servers.assistant.processes)
    console.close()


def test_a_conversation_from_the_widget_is_found_masked_and_revealed_with_an_audit_line(servers, page):
    open_widget(page, servers)
    assert ask(page, CONTACT)
    sender = page.evaluate(
        "() => JSON.parse(Object.entries(localStorage).find(([k]) => k.startsWith('clinic-assistant:'))[1]).sender"
    )

    console = page.context.new_page()
    base = servers.console.base_url
    log_in(console, base)
    console.get_by_role("link", name="Conversations").click()
    console.wait_for_url(f"{base}/conversations")
    console.get_by_label("Words").fill("parking")
    console.get_by_label("Words").press("Enter")
    console.wait_for_url(f"{base}/conversations?q=parking*")
    assert "1 conversation found." in console.get_by_role("status").inner_text()
    found = console.locator(".conversation a")
    assert found.inner_text() == "my name is [name], call me on [number] about the parking"
    assert fits_the_width(console)
    found.focus()
    console.keyboard.press("Enter")
    console.wait_for_url(f"{base}/conversations/{sender}")
    transcript = console.locator(".transcript").inner_text()
    assert "[name]" in transcript and not any(text in transcript for text in PRIVATE)
    assert fits_the_width(console)

    submit_from_keyboard(console, "Reveal contact details")
    console.wait_for_load_state()
    assert "recorded in the audit log" in console.get_by_role("status").inner_text()
    assert CONTACT in console.locator(".transcript").inner_text()
    console.screenshot(path=str(SCREENSHOTS / "console-conversation-375.png"), full_page=True)

    engine = sa.create_engine(servers.console.env["BOOKINGS_DB_URL"])
    try:
        entry = StaffAccounts(engine).audit_log()[0]
    finally:
        engine.dispose()
    assert (entry.actor, entry.action, entry.detail) == (NAME, "reveal-contacts", f"conversation {reference(sender)}")
    console.goto(f"{base}/conversations/{sender}")  # opened again: masked again
    assert not any(text in console.locator(".transcript").inner_text() for text in PRIVATE)
    logs = servers.assistant.log_text() + servers.console.log.read_text()
    assert not any(text in logs for text in PRIVATE)
    console.close()
