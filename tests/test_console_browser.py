"""The staff console in a real browser: Debian's Chromium, driven by Playwright, against the real
console process, with a user made as staff make one (``python -m actions.staff add-user NAME
--password-stdin``). The pages run no script at all; the test checks Chromium refused nothing.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.browser import SCREENSHOTS, fits_the_width, launched_chromium, phone_page
from tools.servers import RunningConsole, start_console

pytestmark = pytest.mark.servers

NAME = "orla.fenwick"
PASSWORD = "a long staff passphrase"


@pytest.fixture(scope="module")
def console(tmp_path_factory) -> Iterator[RunningConsole]:
    running = start_console(tmp_path_factory.mktemp("console-browser"))
    try:
        added = running.staff("add-user", NAME, "--password-stdin", stdin=PASSWORD + "\n")
        assert added.returncode == 0, added.stderr
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    yield from launched_chromium()


@pytest.fixture
def page(browser):
    yield from phone_page(browser, 30_000)


def test_log_in_see_the_inbox_log_out(page, console):
    page.goto(f"{console.base_url}/inbox")
    assert page.url == f"{console.base_url}/login"  # no session: the login page
    assert fits_the_width(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "console-login-375.png"), full_page=True)

    page.get_by_label("Username").fill(NAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{console.base_url}/inbox")
    assert page.get_by_role("heading", name="Inbox").is_visible()
    assert page.locator(".who").inner_text() == f"Signed in as {NAME}"
    assert fits_the_width(page)
    page.screenshot(path=str(SCREENSHOTS / "console-inbox-375.png"), full_page=True)
    cookie = next(cookie for cookie in page.context.cookies() if cookie["name"] == "console_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("() => document.cookie") == ""  # no script can read it

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{console.base_url}/login")
    assert page.get_by_role("button", name="Log in").is_visible()
    page.goto(f"{console.base_url}/inbox")
    assert page.url == f"{console.base_url}/login"  # the session is gone


def test_logging_in_by_keyboard_alone(page, console):
    page.goto(f"{console.base_url}/login")
    # The form takes the focus (autofocus): Chromium applies it at a rendering step after the load
    # event, which a busy machine can delay; waited for, never assumed.
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'username'", timeout=10_000)
    page.keyboard.type(NAME)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{console.base_url}/inbox")
    page.keyboard.press("Tab")  # the skip link first, then on to the log-out button
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to the page"
    for _ in range(15):  # past every link of the menu
        if page.evaluate("() => document.activeElement.textContent") == "Log out":
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{console.base_url}/login")


def test_a_wrong_password_is_said_plainly_and_the_name_is_kept(page, console):
    page.goto(f"{console.base_url}/login")
    page.get_by_label("Username").fill(NAME)
    page.get_by_label("Password").fill("not the passphrase")
    page.get_by_role("button", name="Log in").click()
    alert = page.get_by_role("alert")
    assert alert.inner_text() == "Wrong username or password."
    assert page.get_by_label("Username").input_value() == NAME
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'password'", timeout=10_000)
