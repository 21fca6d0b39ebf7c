"""Two staff console processes on one PostgreSQL database, as a clinic group runs them
(docs/deployment.md): a user added by the command line logs in through either, a session opened
through one is known to the other and ended by logging out through the other, failed logins
counted by one make the other wait, and both inboxes read the shared conversation store, a
message dismissed through one gone from the other's; a visitor erased through one console (an
admin's "Erase this visitor") is gone from PostgreSQL's files and from the other's requests.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Iterator, Tuple

import pytest

from clinic.booking_store import BookingStore, NewBooking
from tests.cluster import Postgres, missing_packages
from tests.conversation_events import bot, exchange, write_events
from tools.console_http import PASSWORD, Client
from tools.servers import RunningConsole, start_console

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def consoles(tmp_path_factory) -> Iterator[Tuple[RunningConsole, RunningConsole]]:
    if "postgresql" in missing_packages():
        pytest.fail("PostgreSQL is not installed: run `make services` (make test does)")
    postgres = Postgres(tmp_path_factory.mktemp("console-postgres")).start(["clinic_bookings", "clinic_tracker"])
    env = {"BOOKINGS_DB_URL": postgres.url("clinic_bookings"), "TRACKER_DB_URL": postgres.url("clinic_tracker")}
    started = []
    try:
        for name in ("a", "b"):  # started together: both create the tables, one at a time
            started.append(start_console(tmp_path_factory.mktemp(f"console-{name}"), env=env))
        for user in ("anna", "bob"):
            added = started[0].staff("add-user", user, "--password-stdin", stdin=PASSWORD + "\n")
            assert added.returncode == 0, added.stderr
        started[0].postgres = postgres
        yield started[0], started[1]
    finally:
        for console in started:
            console.stop()
        postgres.stop()


def test_a_session_opened_through_one_console_is_known_to_the_other(consoles):
    first, second = consoles
    client = Client(first.port)
    assert client.log_in("anna")[1]["location"] == "/inbox"
    session = dict(client.cookies)
    client.port = second.port  # the same browser, sent to the other process by a load balancer
    status, _, page = client.request("GET", "/inbox")
    assert status == 200 and "Signed in as <strong>anna</strong>" in page
    status, headers, _ = client.request("POST", "/logout", {"csrf_token": client.token("/inbox")})
    assert (status, headers["location"]) == (303, "/login")
    stale = Client(first.port)
    stale.cookies = session  # the cookie as it was before logging out, replayed to the first process
    assert stale.request("GET", "/inbox")[1]["location"] == "/login"


def test_failed_logins_counted_by_one_console_make_the_other_wait(consoles):
    first, second = consoles
    for _ in range(5):
        assert Client(first.port, forwarded_for="203.0.113.20").log_in("bob", "not the password")[0] == 401
    status, headers, page = Client(second.port, forwarded_for="198.51.100.20").log_in("bob")
    assert status == 429 and "Too many failed logins" in page
    listed = first.staff("list-users").stdout.splitlines()[1:]  # the command line reads the same database
    assert [line.split()[0] for line in listed] == ["anna", "bob"]


def test_both_inboxes_read_the_shared_conversations_and_agree_on_what_was_handled(consoles):
    first, second = consoles
    write_events(
        first.env["TRACKER_DB_URL"],
        exchange("v1", "do you do cupping", "out_of_scope", ["utter_out_of_scope"], time.time() - 60),
    )
    anna, again = Client(first.port), Client(second.port)  # bob waits after the test before
    anna.log_in("anna")
    again.log_in("anna")
    _, _, page = anna.request("GET", "/inbox")
    assert "do you do cupping" in page
    key = re.search(r'name="message" value="([0-9a-f]{32})"', page).group(1)
    status, headers, _ = again.request("POST", "/inbox/dismiss", {"csrf_token": again.token("/inbox"), "message": key})
    assert (status, headers["location"]) == (303, "/inbox?done=dismissed&count=1")
    assert "do you do cupping" not in anna.request("GET", "/inbox")[2]


def test_a_visitor_erased_through_one_console_is_gone_from_postgresqls_files(consoles):
    first, second = consoles
    email = "wilhelmina.oduya@mail.example"
    now = datetime.now(timezone.utc)
    with BookingStore(first.env["BOOKINGS_DB_URL"]) as store:
        visitor = NewBooking("booking", "Wilhelmina Oduya", None, email, None, "friday", "Europe/London", now)
        reference = store.save(visitor, ["webhook"], now).reference
    write_events(
        first.env["TRACKER_DB_URL"],
        [*exchange("v9", email, "inform", ["booking_form"], time.time() - 30), bot("v9", f"Saved: {reference}")],
    )
    assert first.staff("set-role", "anna", "admin").returncode == 0
    admin = Client(second.port)
    admin.log_in("anna")
    _, _, page = admin.request("GET", "/requests")
    assert reference in page and email in page
    status, headers, _ = admin.request(
        "POST", "/requests/erase", {"csrf_token": admin.token("/requests"), "reference": reference, "confirm": "yes"}
    )
    assert status == 303 and "done=erased" in headers["location"]
    other = Client(first.port)
    other.log_in("anna")
    assert reference not in other.request("GET", "/requests")[2]
    for secret in (email, reference, "Wilhelmina"):
        assert first.postgres.files_containing(secret) == [], secret
