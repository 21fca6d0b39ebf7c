"""Debian's Chromium driven by Playwright, as the browser tests use it (the widget's and the staff
console's). No browser is downloaded: Playwright is pointed at /usr/bin/chromium (`make test`
installs Debian's package when it is missing). Screenshots are kept in results/screenshots/.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator, List

import pytest
from playwright import sync_api as playwright_api

from tests.conftest import ROOT

SCREENSHOTS = ROOT / "results" / "screenshots"
# As the machine's notes advise: no sandbox (root), no GPU, and none of Chromium's own
# background connections (this machine's network refuses them).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        pytest.fail("Debian's chromium is not installed: `make test` installs it (apt-get install chromium)")
    return path


def launched_chromium() -> Iterator:
    """Chromium for one test module (the modules' ``browser`` fixtures yield from it)."""
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def log_in(page, base_url: str, name: str, password: str) -> None:
    """Logs ``name`` in to the staff console at ``base_url`` through its login form, as staff do,
    and waits for the inbox."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/inbox")


def browser_fixtures(timeout_ms: int):
    """A module's ``browser`` (one Chromium for the module) and ``page`` (a phone-sized page per
    test, waiting up to ``timeout_ms``) fixtures: ``browser, page = browser_fixtures(30_000)``."""

    @pytest.fixture(scope="module")
    def browser() -> Iterator:
        yield from launched_chromium()

    @pytest.fixture
    def page(browser) -> Iterator:
        yield from phone_page(browser, timeout_ms)

    return browser, page


def phone_page(browser, timeout_ms: int) -> Iterator:
    """A fresh browser profile (empty storage) with a phone-sized window; whatever the page did that
    it must not (``Watch``) fails the test when it ends."""
    context = browser.new_context(viewport={"width": 375, "height": 667})
    opened = context.new_page()
    opened.set_default_timeout(timeout_ms)
    opened.watch = Watch(opened)
    yield opened
    opened.watch.assert_clean()
    context.close()


def fits_the_width(page) -> bool:
    """Whether the page needs no sideways scrolling."""
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


class Watch:
    """What a page did that it must not: dialogs, script errors, Content-Security-Policy refusals."""

    def __init__(self, page) -> None:
        self.dialogs: List[str] = []
        self.errors: List[str] = []
        self.csp: List[str] = []
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", self._console)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.csp.append(message.text)

    def assert_clean(self) -> None:
        assert self.dialogs == [] and self.errors == [] and self.csp == [], vars(self)
