"""The front desk's requests in a real browser: a visitor books in the chat widget of the real
assistant (both servers, the webhook going to a real local clinic endpoint); in the real console
process on the same databases (Debian's Chromium at 375 px, driven by Playwright) an admin finds the
request with its reference and delivery, marks it handled, exports the CSV (the command line's,
byte for byte), resends a request that failed while the clinic's endpoint was down, and erases the
visitor, after which their email is in no file of the servers' folder. A staff user sees neither
user management nor erasure and is refused both.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.browser import SCREENSHOTS, fits_the_width, launched_chromium, phone_page
from tests.conftest import MODEL_PATH
from tests.test_erasure import book, files_containing
from tests.test_widget_browser import ask, demo_url, open_widget
from tools.clinic_endpoint import ClinicEndpoint
from tools.console_http import Client
from tools.servers import RunningAssistant, RunningConsole, start_assistant, start_console, wait_until

pytestmark = pytest.mark.servers

SECRET = "test-webhook-secret-requests-page-0123"
ADMIN, STAFF = "ada.admin", "sam.staff"
PASSWORD = "a long staff passphrase"
REFERENCE = re.compile(r"\bDN-[2-9A-HJKMNP-Z]{5}\b")
# Unusual details, so finding them in a file cannot be a coincidence.
WIDGET_NAME, WIDGET_EMAIL = "Verity Quennell", "verity.quennell@mail.example"
DOWN_NAME, DOWN_EMAIL = "Osric Pembleton", "osric.pembleton@mail.example"


@dataclass
class Servers:
    assistant: RunningAssistant
    console: RunningConsole
    clinic: ClinicEndpoint
    folder: Path


@pytest.fixture(scope="module")
def servers(tmp_path_factory, clinic) -> Iterator[Servers]:
    if not MODEL_PATH.exists():
        pytest.fail("no trained model: run `make train` (make test does)")
    folder = tmp_path_factory.mktemp("requests-in-browser")
    env = {
        "CLINIC_BOOKING_WEBHOOK_URL": clinic.url,
        "CLINIC_WEBHOOK_SECRET": SECRET,
        "DELIVERY_RETRY_BASE_SECONDS": "0.2",
        "DELIVERY_RETRY_MAX_SECONDS": "0.5",
        "DELIVERY_POLL_SECONDS": "0.2",
        "DELIVERY_TIMEOUT_SECONDS": "2",
        "DELIVERY_MAX_ATTEMPTS": "2",
        "WEBSITE_RATE_LIMIT_PER_ADDRESS": "off",
    }
    assistant = start_assistant(MODEL_PATH, folder, env)
    try:
        # The same folder and so the same two databases as the assistant's (start_console's defaults).
        console = start_console(folder)
        try:
            for name, role in ((ADMIN, "admin"), (STAFF, "staff")):
                added = console.staff("add-user", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
                assert added.returncode == 0, added.stderr
            yield Servers(assistant, console, clinic, folder)
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


def log_in(page, base_url: str, name: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/inbox")


def request_card(page, reference: str):
    return page.locator(f"section#r-{reference}")


def reload_until(page, reference: str, text: str) -> None:
    """Reloads /requests until the request's card says ``text`` (the worker runs on its own)."""

    def shows() -> bool:
        page.reload()
        card = request_card(page, reference)
        return card.count() == 1 and text in card.inner_text()

    wait_until(shows, timeout=30, what=f"{reference} showing {text!r}")


def test_a_booking_made_in_the_widget_is_handled_exported_and_its_visitor_erased(servers, page, tmp_path):
    page.goto(demo_url(servers.assistant))
    open_widget(page)
    for said in ("I'd like to book an appointment", WIDGET_NAME, WIDGET_EMAIL, "next tuesday at 10am", "yes"):
        ask(page, said)
    found = REFERENCE.search(" ".join(ask(page, "yes")))
    assert found, "no reference given"
    reference = found.group(0)

    base = servers.console.base_url
    log_in(page, base, ADMIN)
    page.get_by_role("link", name="Requests").click()
    page.wait_for_url(f"{base}/requests")
    card = request_card(page, reference)
    assert WIDGET_NAME in card.inner_text() and WIDGET_EMAIL in card.inner_text()
    reload_until(page, reference, "webhook: sent")
    assert reference in servers.clinic.unique_references()
    assert card.get_by_role("link", name="The conversation").get_attribute("href").startswith("/conversations/")
    assert fits_the_width(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "console-requests-375.png"), full_page=True)

    card.get_by_role("button", name=f"Mark {reference} handled").focus()
    page.keyboard.press("Enter")  # by keyboard
    page.wait_for_url(f"{base}/requests?done=handled*")
    assert f"{reference} is marked handled." in page.get_by_role("status").inner_text()
    assert f"by {ADMIN}," in request_card(page, reference).inner_text()

    with page.expect_download() as download:
        page.get_by_role("link", name="Export these as CSV").click()
    exported = Path(download.value.path()).read_bytes()
    written = tmp_path / "cli.csv"
    cli = servers.console.staff("export", "--output", str(written))
    assert cli.returncode == 0, cli.stderr
    assert exported == written.read_bytes()
    assert f"{reference},booking,delivered," in exported.decode() and WIDGET_EMAIL in exported.decode()

    # Erase this visitor: the details open by keyboard, the box ticked, the button pressed.
    card = request_card(page, reference)
    card.locator("summary", has_text="Erase this visitor").focus()
    page.keyboard.press("Enter")
    card.get_by_label(f"Yes, erase this visitor ({reference})").check()
    card.get_by_role("button", name="Erase this visitor").click()
    page.wait_for_url(f"{base}/requests?done=erased*")
    assert (
        f"The visitor of {reference} was erased: 1 request(s) and 1 conversation(s)."
        in page.get_by_role("status").inner_text()
    )
    assert request_card(page, reference).count() == 0
    assert files_containing(servers.folder, WIDGET_EMAIL) == []
    assert files_containing(servers.folder, WIDGET_NAME) == []

    page.get_by_role("link", name="Users").click()  # an admin's menu has it
    page.wait_for_url(f"{base}/users")
    assert page.get_by_label(f"Role of {STAFF}").input_value() == "staff"
    assert fits_the_width(page)
    page.screenshot(path=str(SCREENSHOTS / "console-users-375.png"), full_page=True)


def test_a_failed_delivery_is_resent_from_the_page_once_the_endpoint_is_back(servers, page):
    servers.clinic.stop()
    try:
        reference = book(servers.assistant, f"visitor-{uuid.uuid4()}", DOWN_NAME, DOWN_EMAIL)
        base = servers.console.base_url
        log_in(page, base, STAFF)  # resending is staff's work too
        page.goto(f"{base}/requests?state=failed")
        reload_until(page, reference, "webhook: failed after 2 tries")
    finally:
        servers.clinic.start()
    assert reference not in servers.clinic.unique_references()
    request_card(page, reference).get_by_role("button", name=f"Resend {reference}").click()
    page.wait_for_url(f"{base}/requests?state=failed&done=resent*")
    assert "queued again" in page.get_by_role("status").inner_text()
    assert wait_until(lambda: reference in servers.clinic.unique_references(), timeout=30)
    page.goto(f"{base}/requests")
    reload_until(page, reference, "webhook: sent")
    assert files_containing(servers.folder, DOWN_EMAIL)  # only the erased visitor's email went


def test_a_staff_user_sees_neither_users_nor_erasure_and_is_refused_both(servers, page):
    base = servers.console.base_url
    log_in(page, base, STAFF)
    page.goto(f"{base}/requests")
    assert page.get_by_role("link", name="Requests").is_visible()
    assert page.get_by_role("link", name="Users").count() == 0
    assert page.get_by_text("Erase this visitor").count() == 0
    assert page.locator("section.request").count() >= 1
    page.goto(f"{base}/users")
    assert "Admins only" in page.get_by_role("alert").inner_text()

    client = Client(servers.console.port)
    assert client.log_in(STAFF, PASSWORD)[0] == 303
    status, _, _ = client.request("GET", "/users")
    assert status == 403
    reference = REFERENCE.search(client.request("GET", "/requests")[2]).group(0)
    token = client.token("/requests")
    for path, form in (
        ("/requests/erase", {"reference": reference, "confirm": "yes"}),
        ("/users/add", {"name": "mallory", "password": PASSWORD, "password_again": PASSWORD, "role": "admin"}),
        ("/users/role", {"name": STAFF, "role": "admin"}),
    ):
        status, _, body = client.request("POST", path, dict(form, csrf_token=token))
        assert status == 403 and "Admins only" in body, path
    listed = servers.console.staff("list-users").stdout
    assert "mallory" not in listed and re.search(rf"{re.escape(STAFF)}\s+staff", listed)
    assert reference in client.request("GET", "/requests")[2]  # nothing erased
