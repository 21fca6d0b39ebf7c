"""The requests and users pages (console/requests.py, console/users.py) in this process, through the
app's ASGI interface, on a real booking store and conversation store: each request's delivery in
words, the filters, "Mark handled", the CSV (byte for byte the command line's export), "Resend",
"Erase this visitor" for admins only, and the users page with its refusals; every action audited."""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from clinic.booking_store import BookingStore, NewBooking
from clinic.staff import CSV_FIELDS
from tests.console_asgi import PASSWORD, T0, make_console, stop_console
from tests.conversation_events import bot, exchange, write_store
from tests.test_staff_cli import staff

pytestmark = pytest.mark.unit

LONDON = ZoneInfo("Europe/London")


def visitor(name: str, email: str, phone: str = None) -> NewBooking:
    return NewBooking(
        kind="booking",
        name=name,
        phone=phone,
        email=email,
        requested_time=datetime(2026, 11, 24, 10, 0, tzinfo=LONDON),
        requested_time_text="tuesday at 10",
        timezone="Europe/London",
        consent_at=T0 - timedelta(days=1),
    )


@pytest.fixture
def console(tmp_path):
    """Three requests of this week (sent, failed, retrying) and one of last week, from the same
    visitor as the failed one; the sent one's conversation in the store."""
    url = f"sqlite:///{tmp_path / 'bookings.db'}"
    with BookingStore(url) as store:
        sent = store.save(
            visitor("Mia Kowal", "mia.k@mail.example", "+447700900123"), ["webhook"], T0 - timedelta(hours=5)
        )
        failed = store.save(visitor("Noor Amsel", "noor.a@mail.example"), ["webhook"], T0 - timedelta(hours=4))
        retrying = store.save(visitor("Ida Brandt", "ida.b@mail.example"), ["webhook"], T0 - timedelta(hours=3))
        earlier = store.save(visitor("Noor Amsel", "noor.a@mail.example"), ["webhook"], T0 - timedelta(days=7))
        for claim in store.claim_due(T0, 60, 10):
            reference = claim.booking.reference
            if reference == sent.reference:
                store.mark_delivered(claim.delivery_id, T0 - timedelta(hours=5))
            elif reference == failed.reference:
                store.mark_attempt_failed(claim.delivery_id, "HTTP 500", None, give_up=True)
            elif reference == retrying.reference:
                store.mark_attempt_failed(claim.delivery_id, "ConnectionRefusedError", T0 + timedelta(minutes=5), False)
            else:
                store.mark_delivered(claim.delivery_id, T0 - timedelta(days=7))
    at = (T0 - timedelta(hours=5)).timestamp()
    tracker = write_store(
        tmp_path / "tracker.db",
        [
            *exchange("website:mia-1", "mia.k@mail.example", "inform", ["booking_form"], at),
            bot("website:mia-1", f"Thank you, your request is saved: {sent.reference}", at + 1),
            *exchange("website:noor-1", "noor.a@mail.example", "inform", ["booking_form"], at),
            bot("website:noor-1", f"Saved: {failed.reference}", at + 1),
        ],
    )
    made = make_console(tmp_path, tracker_db_url=tracker)
    made.accounts.add_user("ada", PASSWORD, T0, role="admin")
    made.url, made.tracker = url, tmp_path / "tracker.db"
    made.refs = dict(
        sent=sent.reference, failed=failed.reference, retrying=retrying.reference, earlier=earlier.reference
    )
    yield made
    stop_console(made)
    made.loop.close()


def signed_in(console, name: str = "anna"):
    browser = console.browser()
    assert browser.log_in(name).status == 303
    return browser


def card(page: str, reference: str) -> str:
    return re.search(rf'<section class="request card" id="r-{reference}".*?</section>', page, re.S).group(0)


def bookings(console):
    with BookingStore(console.url) as store:
        return {booking.reference: booking for booking in store.list()}


def test_each_request_shows_the_visitor_its_delivery_in_words_and_its_conversation(console):
    page = signed_in(console).get("/requests")
    assert page.status == 200
    refs = console.refs
    assert re.findall(r'id="r-(DN-\w+)"', page.body) == [
        refs["retrying"],
        refs["failed"],
        refs["sent"],
        refs["earlier"],
    ]
    sent = card(page.body, refs["sent"])
    assert "Mia Kowal" in sent and 'href="tel:+447700900123"' in sent and 'href="mailto:mia.k@mail.example"' in sent
    assert "sent Mon 23 Nov 2026 10:00" in sent  # 10:00 UTC is 10:00 in London in November
    assert "Tue 24 Nov 2026 10:00" in sent and "tuesday at 10" in sent
    assert 'href="/conversations/website%3Amia-1"' in sent
    assert "failed after 1 try: HTTP 500" in card(page.body, refs["failed"])
    assert "Resend" in card(page.body, refs["failed"]) and "Resend" not in sent
    retrying = card(page.body, refs["retrying"])
    assert "1 try failed (ConnectionRefusedError); next try Mon 23 Nov 2026 15:05" in retrying
    assert "/conversations/" not in retrying  # no conversation mentions it
    # A staff account: Requests in the menu, but neither Users nor erasure.
    assert 'href="/requests" aria-current="page"' in page.body
    assert 'href="/users"' not in page.body and "Erase this visitor" not in page.body


def test_filtered_by_state_and_by_week_and_a_bad_filter_refused_with_the_reason(console):
    browser = signed_in(console)
    failed = browser.get("/requests?state=failed").body
    assert re.findall(r'id="r-(DN-\w+)"', failed) == [console.refs["failed"]]
    this_week = browser.get("/requests?week=2026-W48").body
    assert console.refs["earlier"] not in this_week and len(re.findall(r'id="r-', this_week)) == 3
    assert '<option value="2026-W47">week of Mon 16 Nov 2026 (1)</option>' in this_week
    last_week = browser.get("/requests?week=2026-W47&state=delivered").body
    assert re.findall(r'id="r-(DN-\w+)"', last_week) == [console.refs["earlier"]]
    for query, reason in (
        ("state=lost", "There is no delivery state “lost”"),
        ("week=48", "A week is written like 2026-W48"),
        ("week=2026-W60", "2026-W60 is not a week of the calendar"),
    ):
        refused = browser.get(f"/requests?{query}")
        assert refused.status == 400 and reason in refused.body, query


def test_mark_handled_keeps_who_and_when_once(console):
    browser = signed_in(console)
    reference = console.refs["sent"]
    token = browser.get("/requests").csrf_token
    done = browser.post("/requests/handled", {"csrf_token": token, "reference": reference, "week": "2026-W48"})
    assert done.status == 303
    assert done.header("location") == f"/requests?week=2026-W48&done=handled&reference={reference}#r-{reference}"
    page = browser.get(done.header("location").split("#")[0]).body
    assert f"{reference} is marked handled." in page
    assert "by anna, Mon 23 Nov 2026 15:00" in card(page, reference) and "Mark handled" not in card(page, reference)
    console.advance(minutes=10)
    ada = signed_in(console, "ada")
    again = ada.post("/requests/handled", {"csrf_token": ada.get("/requests").csrf_token, "reference": reference})
    assert again.status == 303
    stored = bookings(console)[reference]
    assert (stored.handled_by, stored.handled_at) == ("anna", T0)  # the first record stands
    missing = browser.post("/requests/handled", {"csrf_token": token, "reference": "DN-22222"})
    assert missing.status == 404 and "There is no request DN-22222" in missing.body
    forged = browser.post("/requests/handled", {"csrf_token": token, "reference": "<b>"})
    assert forged.status == 400
    assert ("anna", "mark-handled", "127.0.0.1") in console.actions()


def test_the_export_is_the_command_lines_byte_for_byte(console):
    browser = signed_in(console)
    for query, args in (("", []), ("?state=failed", ["--state", "failed"])):
        exported = browser.get(f"/requests/export.csv{query}")
        assert exported.status == 200 and exported.header("content-type") == "text/csv; charset=utf-8"
        assert exported.header("content-disposition").startswith("attachment; filename=")
        written = console.tracker.parent / "export.csv"
        cli = staff(console.url, "export", *args, "--output", str(written))
        assert cli.returncode == 0, cli.stderr
        assert exported.body.encode() == written.read_bytes()
        assert exported.body.splitlines()[0] == ",".join(CSV_FIELDS)
    week = browser.get("/requests/export.csv?week=2026-W47").body.splitlines()
    assert len(week) == 2 and week[1].startswith(console.refs["earlier"] + ",booking,delivered,")
    assert [action for _, action, _ in console.actions()].count("export") == 3


def test_resend_queues_a_failed_request_again_as_retry_does(console):
    browser = signed_in(console)
    reference = console.refs["failed"]
    token = browser.get("/requests").csrf_token
    assert browser.post("/requests/resend", {"csrf_token": token, "reference": reference}).status == 303
    status = bookings(console)[reference].deliveries[0]
    assert (status.state, status.attempts, status.next_attempt_at) == ("pending", 0, T0)
    page = browser.get(f"/requests?done=resent&reference={reference}").body
    assert "queued again" in page and "waiting for its first try" in card(page, reference)
    no_token = browser.post("/requests/resend", {"reference": reference})
    assert no_token.status == 403


def test_staff_cannot_erase_nor_reach_the_users_page(console):
    browser = signed_in(console)
    token = browser.get("/requests").csrf_token
    for path, form in (
        ("/requests/erase", {"reference": console.refs["failed"], "confirm": "yes"}),
        ("/users/add", {"name": "eve", "password": PASSWORD, "password_again": PASSWORD, "role": "admin"}),
        ("/users/role", {"name": "anna", "role": "admin"}),
        ("/users/remove", {"name": "ada", "confirm": "yes"}),
    ):
        refused = browser.post(path, dict(form, csrf_token=token))
        assert refused.status == 403 and "Admins only" in refused.body, path
    assert browser.get("/users").status == 403
    assert len(bookings(console)) == 4
    assert [(u.name, u.role) for u in console.accounts.list_users()] == [("ada", "admin"), ("anna", "staff")]
    assert ("anna", "erase-refused", "127.0.0.1") in console.actions()


def test_an_admin_erases_the_visitor_as_the_command_line_does(console):
    browser = signed_in(console, "ada")
    page = browser.get("/requests").body
    assert 'href="/users"' in page and "Erase this visitor" in card(page, console.refs["failed"])
    reference = console.refs["failed"]
    unconfirmed = browser.post(
        "/requests/erase", {"csrf_token": browser.get("/requests").csrf_token, "reference": reference}
    )
    assert unconfirmed.status == 400 and "Tick “Yes, erase this visitor”" in unconfirmed.body
    token = browser.get("/requests").csrf_token
    done = browser.post("/requests/erase", {"csrf_token": token, "reference": reference, "confirm": "yes"})
    assert done.status == 303
    page = browser.get(done.header("location").split("#")[0]).body
    assert f"The visitor of {reference} was erased: 2 request(s) and 1 conversation(s)." in page
    # Both of that visitor's requests (the same email), and the conversation naming the reference.
    assert sorted(bookings(console)) == sorted([console.refs["sent"], console.refs["retrying"]])
    with sqlite3.connect(console.tracker) as connection:
        senders = {row[0] for row in connection.execute("SELECT DISTINCT sender_id FROM events")}
    assert senders == {"website:mia-1"}
    for path in console.tracker.parent.iterdir():
        assert b"noor.a@mail.example" not in path.read_bytes(), path.name
    assert ("ada", "erase", "127.0.0.1") in console.actions()
    assert not any(reference in (entry.detail or "") for entry in console.accounts.audit_log())


def test_an_admin_manages_users_but_not_their_own_account(console):
    browser = signed_in(console, "ada")
    page = browser.get("/users")
    assert page.status == 200 and 'href="/users" aria-current="page"' in page.body
    token = page.csrf_token
    form = {"csrf_token": token, "name": "cleo", "password": PASSWORD, "password_again": PASSWORD, "role": "staff"}
    differ = browser.post("/users/add", dict(form, password_again="something else"))
    assert differ.status == 422 and "The two passwords differ" in differ.body and 'value="cleo"' in differ.body
    bad = browser.post("/users/add", dict(form, name="cleo smith"))
    assert bad.status == 422 and "Not added: a user name starts with a letter or digit" in bad.body
    added = browser.post("/users/add", form)
    assert (added.status, added.header("location")) == (303, "/users?done=added&user=cleo")
    assert "cleo was added: they can log in now." in browser.get(added.header("location")).body
    assert browser.post("/users/role", {"csrf_token": token, "name": "cleo", "role": "admin"}).status == 303
    assert console.accounts.find_user("cleo").is_admin
    own = browser.post("/users/role", {"csrf_token": token, "name": "ADA", "role": "staff"})
    assert own.status == 409 and "You cannot change your own role" in own.body
    mine = browser.post("/users/remove", {"csrf_token": token, "name": "ada", "confirm": "yes"})
    assert mine.status == 409 and "You cannot remove your own account" in mine.body
    unticked = browser.post("/users/remove", {"csrf_token": token, "name": "cleo"})
    assert unticked.status == 400 and console.accounts.find_user("cleo") is not None
    cleo = signed_in(console, "cleo")
    assert browser.post("/users/remove", {"csrf_token": token, "name": "cleo", "confirm": "yes"}).status == 303
    assert cleo.get("/requests").status == 303  # her session ended with her account
    assert console.accounts.find_user("ada").is_admin
    actions = [action for _, action, _ in console.actions() if "user" in action or "role" in action]
    assert actions == [
        "add-user-refused",
        "add-user-refused",
        "add-user",
        "set-role",
        "set-role-refused",
        "remove-user-refused",
        "remove-user-refused",
        "remove-user",
    ]
