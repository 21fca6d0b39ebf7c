"""Delivery to the clinic against real local servers: the stand-in webhook and an aiosmtpd SMTP server."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from clinic.booking_store import BookingStore, BookingStoreError, NewBooking
from clinic.clock import now as utc_now
from clinic.delivery import (
    DeliveryError,
    DeliveryWorker,
    backoff_seconds,
    booking_document,
    document_body,
    lease_seconds,
    post_webhook,
    send_email,
    sign,
    verify_signature,
)
from clinic.settings import DeliverySettings, SettingsError, SmtpSettings, delivery_settings
from tools.clinic_endpoint import ClinicEndpoint
from tools.servers import free_port

pytestmark = pytest.mark.unit

SECRET = "test-webhook-secret-0123456789abcd"
CLINIC = "Example Dry Needling Clinic (fictional)"
CLINIC_EMAIL = "hello@clinic.example"
NOW = datetime(2026, 6, 20, 9, 0, tzinfo=timezone.utc)
LONDON = ZoneInfo("Europe/London")
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")

NAME, PHONE, EMAIL, WORDS = "Zoë Testperson", "+447700900123", "zoe.testperson@example.org", "next Tuesday after work"


def visitor(**changes) -> NewBooking:
    fields = dict(
        kind="booking",
        name=NAME,
        phone=PHONE,
        email=EMAIL,
        requested_time=datetime(2026, 6, 24, 16, 30, tzinfo=timezone.utc),  # 17:30 in London
        requested_time_text=WORDS,
        timezone="Europe/London",
        consent_at=NOW - timedelta(minutes=2),
    )
    fields.update(changes)
    return NewBooking(**fields)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_settings(webhook_url=None, secret=SECRET, smtp=None, **changes) -> DeliverySettings:
    fields = dict(
        webhook_url=webhook_url,
        webhook_secret=secret if webhook_url else None,
        smtp=smtp,
        timeout_seconds=1.0,
        retry_base_seconds=0.05,
        retry_max_seconds=1.0,
        max_attempts=5,
        poll_seconds=0.05,
    )
    fields.update(changes)
    return DeliverySettings(**fields)


def smtp_settings(port: int, **changes) -> SmtpSettings:
    fields = dict(
        host="127.0.0.1",
        port=port,
        user=None,
        password=None,
        to_address="bookings@clinic.example",
        from_address=None,
        starttls="never",  # the test's SMTP server runs on this machine, without TLS
    )
    fields.update(changes)
    return SmtpSettings(**fields)


@pytest.fixture
def endpoint():
    with ClinicEndpoint(SECRET) as running:
        yield running


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'bookings.db'}"


@pytest.fixture
def store(db_url):
    with BookingStore(db_url) as opened:
        yield opened


class Inbox:
    """aiosmtpd handler keeping every message."""

    def __init__(self) -> None:
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self):
        return [message_from_bytes(e.original_content or e.content, policy=policy.default) for e in self.envelopes]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def webhook_state(store, reference):
    status = store.get(reference).delivery("webhook")
    return status.state, status.attempts, status.last_error


# -- the document and its signature ------------------------------------------


def test_sign_and_verify():
    body = b'{"reference":"DN-7K3Q9"}'
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert sign(body, SECRET) == expected
    assert verify_signature(body, SECRET, expected)
    assert not verify_signature(body, "another-secret", expected)
    assert not verify_signature(body + b" ", SECRET, expected)
    assert not verify_signature(body, SECRET, None)
    assert not verify_signature(body, SECRET, "sha256=zz")
    assert not verify_signature(body, SECRET, "ünïcode")


def test_document_fields_and_times(store):
    booking = store.save(visitor(), ["webhook"], NOW)
    doc = booking_document(booking, CLINIC)
    assert set(doc) == {
        "reference",
        "kind",
        "created_at",
        "name",
        "phone",
        "email",
        "requested_time",
        "requested_time_text",
        "timezone",
        "consent_at",
        "clinic",
        "source",
    }
    assert doc["requested_time"] == "2026-06-24T17:30:00+01:00"  # the clinic's local time
    assert doc["created_at"] == "2026-06-20T09:00:00+00:00"
    for field in ("requested_time", "created_at", "consent_at"):
        assert ISO_WITH_OFFSET.match(doc[field]), field
    assert (doc["name"], doc["phone"], doc["email"], doc["requested_time_text"]) == (NAME, PHONE, EMAIL, WORDS)
    assert (doc["reference"], doc["kind"], doc["timezone"]) == (booking.reference, "booking", "Europe/London")
    assert (doc["clinic"], doc["source"]) == (CLINIC, "website chat")

    body = document_body(doc)
    assert body == document_body(dict(reversed(list(doc.items()))))  # key order does not matter
    assert "Zoë".encode() in body and b", " not in body and b'": ' not in body
    assert json.loads(body) == doc

    no_time = booking_document(store.save(visitor(requested_time=None, phone=None), [], NOW), CLINIC)
    assert no_time["requested_time"] is None and no_time["phone"] is None


def test_backoff_grows_is_capped_and_jittered():
    for _ in range(200):
        assert 1.0 <= backoff_seconds(1, 1.0, 60.0) <= 1.1
        assert 4.0 <= backoff_seconds(3, 1.0, 60.0) <= 4.4
        assert 60.0 <= backoff_seconds(12, 1.0, 60.0) <= 66.0
        assert 60.0 <= backoff_seconds(10_000, 1.0, 60.0) <= 66.0
        assert 1.0 <= backoff_seconds(0, 1.0, 60.0) <= 1.1
    assert len({backoff_seconds(2, 1.0, 60.0) for _ in range(20)}) > 1


# -- the webhook on its own ------------------------------------------------------


def test_webhook_success_sends_signed_document(endpoint):
    body = document_body({"reference": "DN-7K3Q9", "name": NAME})
    status = asyncio.run(post_webhook(None, endpoint.url, SECRET, body, "DN-7K3Q9", 2.0))
    assert status == 200
    [received] = endpoint.received
    assert received.body == body and received.json["name"] == NAME
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["Idempotency-Key"] == "DN-7K3Q9"
    assert received.headers["User-Agent"] == "clinic-assistant"
    assert verify_signature(body, SECRET, received.headers["X-Clinic-Signature"])
    assert endpoint.unique_references() == ["DN-7K3Q9"]


def test_webhook_failures_are_short_delivery_errors(endpoint):
    body = document_body({"reference": "DN-7K3Q9", "phone": PHONE})

    with pytest.raises(DeliveryError, match="^HTTP 401$") as caught:
        asyncio.run(post_webhook(None, endpoint.url, "wrong-secret", body, "DN-7K3Q9", 2.0))
    assert caught.value.status == 401 and endpoint.rejected_signatures == 1 and endpoint.received == []

    endpoint.fail_next(1, status=503)
    with pytest.raises(DeliveryError, match="^HTTP 503$"):
        asyncio.run(post_webhook(None, endpoint.url, SECRET, body, "DN-7K3Q9", 2.0))

    endpoint.delay_next(1, 0.6)
    started = time.monotonic()
    with pytest.raises(DeliveryError, match="^timeout after 0.2s$"):
        asyncio.run(post_webhook(None, endpoint.url, SECRET, body, "DN-7K3Q9", 0.2))
    assert time.monotonic() - started < 0.5

    endpoint.stop()
    with pytest.raises(DeliveryError, match="^ClientConnector") as caught:
        asyncio.run(post_webhook(None, endpoint.url, SECRET, body, "DN-7K3Q9", 2.0))
    assert PHONE not in str(caught.value)


# -- the worker -----------------------------------------------------------------


def test_worker_retries_a_500_until_delivered(endpoint, store):
    booking = store.save(visitor(), ["webhook"], NOW)
    endpoint.fail_next(2)
    clock = Clock()
    worker = DeliveryWorker(store, make_settings(endpoint.url), CLINIC, CLINIC_EMAIL, now=clock)

    assert asyncio.run(worker.run_once()) == 1
    assert webhook_state(store, booking.reference) == ("pending", 1, "HTTP 500")
    next_at = store.get(booking.reference).delivery("webhook").next_attempt_at
    assert NOW + timedelta(seconds=0.05) <= next_at <= NOW + timedelta(seconds=0.056)
    assert asyncio.run(worker.run_once()) == 0  # not due yet

    clock.advance(1)
    assert asyncio.run(worker.run_once()) == 1
    assert webhook_state(store, booking.reference) == ("pending", 2, "HTTP 500")
    clock.advance(1)
    assert asyncio.run(worker.run_once()) == 1
    assert webhook_state(store, booking.reference)[:2] == ("delivered", 3)
    assert store.get(booking.reference).state == "delivered"
    assert endpoint.hits == 3 and len(endpoint.received) == 1
    assert endpoint.unique_references() == [booking.reference]
    assert endpoint.received[0].json == booking_document(store.get(booking.reference), CLINIC)


def test_timeout_is_retried_and_the_duplicate_is_recognisable(endpoint, store):
    booking = store.save(visitor(), ["webhook"], NOW)
    endpoint.delay_next(1, 0.5)
    clock = Clock()
    worker = DeliveryWorker(store, make_settings(endpoint.url, timeout_seconds=0.2), CLINIC, CLINIC_EMAIL, now=clock)
    asyncio.run(worker.run_once())
    assert webhook_state(store, booking.reference) == ("pending", 1, "timeout after 0.2s")
    clock.advance(1)
    asyncio.run(worker.run_once())
    assert webhook_state(store, booking.reference)[0] == "delivered"
    assert endpoint.wait_for(1, timeout=2)
    assert endpoint.unique_references() == [booking.reference]


def test_wrong_secret_is_rejected_by_the_clinic(endpoint, store):
    booking = store.save(visitor(), ["webhook"], NOW)
    worker = DeliveryWorker(
        store, make_settings(endpoint.url, secret="not-the-clinics"), CLINIC, CLINIC_EMAIL, now=Clock()
    )
    asyncio.run(worker.run_once())
    assert webhook_state(store, booking.reference) == ("pending", 1, "HTTP 401")
    assert endpoint.rejected_signatures == 1 and endpoint.received == []


def test_endpoint_down_then_back(endpoint, store):
    booking = store.save(visitor(), ["webhook"], NOW)
    clock = Clock()
    worker = DeliveryWorker(store, make_settings(endpoint.url), CLINIC, CLINIC_EMAIL, now=clock)
    endpoint.stop()
    asyncio.run(worker.run_once())
    state, attempts, error = webhook_state(store, booking.reference)
    assert (state, attempts) == ("pending", 1) and error.startswith("ClientConnector")
    endpoint.start()
    clock.advance(1)
    asyncio.run(worker.run_once())
    assert webhook_state(store, booking.reference)[0] == "delivered"
    assert endpoint.unique_references() == [booking.reference]


def test_gives_up_after_max_attempts_then_staff_retry_delivers(endpoint, store):
    booking = store.save(visitor(), ["webhook"], NOW)
    endpoint.fail_next(2)
    clock = Clock()
    worker = DeliveryWorker(store, make_settings(endpoint.url, max_attempts=2), CLINIC, CLINIC_EMAIL, now=clock)
    asyncio.run(worker.run_once())
    clock.advance(1)
    asyncio.run(worker.run_once())
    assert webhook_state(store, booking.reference) == ("failed", 2, "HTTP 500")
    assert store.get(booking.reference).state == "failed"
    clock.advance(3600)
    assert asyncio.run(worker.run_once()) == 0  # failed rows wait for staff

    assert store.retry(booking.reference, clock()) == 1
    assert asyncio.run(worker.run_once()) == 1
    assert webhook_state(store, booking.reference)[:2] == ("delivered", 1)
    assert endpoint.unique_references() == [booking.reference]


def test_email_through_a_real_smtp_server(smtp_server, store):
    inbox, port = smtp_server
    booking = store.save(visitor(), ["email"], NOW)
    worker = DeliveryWorker(store, make_settings(smtp=smtp_settings(port)), CLINIC, CLINIC_EMAIL, now=Clock())
    assert asyncio.run(worker.run_once()) == 1
    assert store.get(booking.reference).delivery("email").state == "delivered"

    [envelope] = inbox.envelopes
    assert envelope.rcpt_tos == ["bookings@clinic.example"]
    [message] = inbox.messages()
    assert message["To"] == "bookings@clinic.example"
    assert message["From"] == CLINIC_EMAIL
    assert message["Subject"] == f"Booking request {booking.reference} for Wed 24 Jun 17:30"
    assert message["Message-ID"] == f"<{booking.reference}@clinic-assistant>"
    text = message.get_content()
    assert "Wed 24 Jun 2026 17:30 (Europe/London)" in text
    for value in (NAME, PHONE, EMAIL, WORDS, booking.reference):
        assert value in text


def test_email_sender_and_tls_rules(smtp_server, store):
    inbox, port = smtp_server
    booking = store.save(visitor(), ["email"], NOW)
    send_email(smtp_settings(port, user="robot@clinic.example"), booking, CLINIC, CLINIC_EMAIL, 2.0)
    send_email(
        smtp_settings(port, from_address="desk@clinic.example", starttls="never"), booking, CLINIC, CLINIC_EMAIL, 2.0
    )
    assert [m["From"] for m in inbox.messages()] == ["robot@clinic.example", "desk@clinic.example"]

    with pytest.raises(DeliveryError, match="STARTTLS"):
        send_email(smtp_settings(port, starttls="always"), booking, CLINIC, CLINIC_EMAIL, 2.0)
    with pytest.raises(DeliveryError, match="^ConnectionRefusedError$"):
        send_email(smtp_settings(free_port()), booking, CLINIC, CLINIC_EMAIL, 2.0)
    assert len(inbox.envelopes) == 2


def test_a_mail_server_without_starttls_gets_no_password_and_no_booking(store):
    """What an attacker who strips STARTTLS presents: a server offering login in clear. With the
    default (always), neither the password nor the booking is sent to it."""
    inbox, logins = Inbox(), []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((mechanism, auth_data))
        return AuthResult(success=True)

    controller = Controller(
        inbox, hostname="127.0.0.1", port=free_port(), authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    try:
        booking = store.save(visitor(), ["email"], NOW)
        secure = smtp_settings(controller.port, user="robot@clinic.example", password="hunter2-pass", starttls="always")
        with pytest.raises(DeliveryError, match="does not offer STARTTLS"):
            send_email(secure, booking, CLINIC, CLINIC_EMAIL, 2.0)
        assert logins == [] and inbox.envelopes == []
        # The same server with STARTTLS=never (a mail server on this machine): the login goes through,
        # which shows the server above would have taken the password.
        send_email(
            smtp_settings(controller.port, user="robot@clinic.example", password="hunter2-pass"),
            booking,
            CLINIC,
            CLINIC_EMAIL,
            2.0,
        )
        assert len(logins) == 1 and len(inbox.envelopes) == 1
    finally:
        controller.stop()


def test_the_hand_off_settings_refuse_clear_text_and_short_secrets():
    good = {"CLINIC_BOOKING_WEBHOOK_URL": "https://clinic.example/bookings", "CLINIC_WEBHOOK_SECRET": "s" * 32}
    assert delivery_settings(good).webhook_url == "https://clinic.example/bookings"
    for url in ("http://127.0.0.1:8080/b", "http://localhost/b", "http://[::1]:9/b"):
        assert delivery_settings({**good, "CLINIC_BOOKING_WEBHOOK_URL": url}).webhook_url == url
    for url in ("http://clinic.example/bookings", "http://127.attacker.example/bookings"):
        with pytest.raises(SettingsError, match="must start with https://"):
            delivery_settings({**good, "CLINIC_BOOKING_WEBHOOK_URL": url})
    with pytest.raises(SettingsError, match="at least 32 random characters"):
        delivery_settings({**good, "CLINIC_WEBHOOK_SECRET": "s" * 31})
    mail = {"SMTP_HOST": "mail.clinic.example", "CLINIC_BOOKING_EMAIL": "desk@clinic.example"}
    assert delivery_settings(mail).smtp.starttls == "always"
    assert delivery_settings({**mail, "SMTP_STARTTLS": "never"}).smtp.starttls == "never"
    with pytest.raises(SettingsError, match="SMTP_STARTTLS: auto would send the password"):
        delivery_settings({**mail, "SMTP_STARTTLS": "auto"})


def test_wake_delivers_at_once(endpoint, store):
    async def scenario() -> float:
        worker = DeliveryWorker(store, make_settings(endpoint.url, poll_seconds=30), CLINIC, CLINIC_EMAIL)
        await worker.start()
        await asyncio.sleep(0.2)  # the first pass found nothing; the next poll is 30 s away
        await asyncio.to_thread(store.save, visitor(), ["webhook"], utc_now())
        started = time.monotonic()
        worker.wake()
        while not endpoint.unique_references() and time.monotonic() - started < 3:
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - started
        await worker.stop()
        assert not worker.running
        return elapsed

    assert asyncio.run(scenario()) < 1.0
    assert len(endpoint.unique_references()) == 1


def test_stop_waits_for_the_delivery_in_flight(endpoint, store):
    booking = store.save(visitor(), ["webhook"], utc_now())
    endpoint.delay_next(1, 0.3)

    async def scenario() -> None:
        worker = DeliveryWorker(store, make_settings(endpoint.url, poll_seconds=30), CLINIC, CLINIC_EMAIL)
        await worker.start()
        # Stop only once the request is really in flight (the clinic holds it for 0.3 s):
        # a fixed sleep raced the first claim on a slow machine, and stop() then released it.
        for _ in range(200):
            if endpoint.hits:
                break
            await asyncio.sleep(0.01)
        assert endpoint.hits == 1
        await worker.stop()

    asyncio.run(scenario())
    assert webhook_state(store, booking.reference)[0] == "delivered"


def test_a_failing_pass_does_not_kill_the_loop(endpoint, db_url):
    class FlakyStore(BookingStore):
        failures = 2

        def claim_due(self, *args, **kwargs):
            if self.failures:
                self.failures -= 1
                raise BookingStoreError("claiming deliveries failed (database is locked)")
            return super().claim_due(*args, **kwargs)

    with FlakyStore(db_url) as store:
        booking = store.save(visitor(), ["webhook"], utc_now())

        async def scenario() -> None:
            worker = DeliveryWorker(store, make_settings(endpoint.url, poll_seconds=0.05), CLINIC, CLINIC_EMAIL)
            await worker.start()
            await asyncio.to_thread(endpoint.wait_for, 1, 3)
            await worker.stop()

        asyncio.run(scenario())
        assert webhook_state(store, booking.reference)[0] == "delivered"


def test_an_unexpected_error_is_recorded_without_details(endpoint, store):
    booking = store.save(visitor(), ["webhook"], NOW)
    worker = DeliveryWorker(store, make_settings(endpoint.url), object(), CLINIC_EMAIL, now=Clock())
    assert asyncio.run(worker.run_once()) == 1
    state, attempts, error = webhook_state(store, booking.reference)
    assert (state, attempts) == ("pending", 1)
    assert re.match(r"^unexpected TypeError at \w+\.py:\d+$", error)


def test_a_new_worker_resumes_what_the_first_left(endpoint, db_url):
    clock = Clock()
    settings = make_settings(endpoint.url)
    with BookingStore(db_url) as first_store:
        failed_once = first_store.save(visitor(), ["webhook"], NOW)
        endpoint.fail_next(1)
        asyncio.run(DeliveryWorker(first_store, settings, CLINIC, CLINIC_EMAIL, now=clock).run_once())
        crashed = first_store.save(visitor(), ["webhook"], NOW)
        first_store.claim_due(NOW, lease_seconds(settings), 10)  # claimed, then the server died

    with BookingStore(db_url) as second_store:
        worker = DeliveryWorker(second_store, settings, CLINIC, CLINIC_EMAIL, now=clock)
        clock.advance(1)
        assert asyncio.run(worker.run_once()) == 1  # the backed-off one; the other is still leased
        clock.advance(lease_seconds(settings))
        assert asyncio.run(worker.run_once()) == 1  # the lease expired
        assert {b.state for b in second_store.list()} == {"delivered"}
    assert sorted(endpoint.unique_references()) == sorted([failed_once.reference, crashed.reference])


def test_two_workers_on_one_database_never_send_a_row_twice(endpoint, db_url):
    with BookingStore(db_url) as first, BookingStore(db_url) as second:
        references = {first.save(visitor(), ["webhook"], NOW).reference for _ in range(12)}
        settings = make_settings(endpoint.url)
        workers = [
            DeliveryWorker(s, settings, CLINIC, CLINIC_EMAIL, now=Clock(), batch_size=8) for s in (first, second)
        ]

        async def both() -> list:
            return await asyncio.gather(*(worker.run_once() for worker in workers))

        counts = asyncio.run(both())
        assert sum(counts) == 12
        assert len(endpoint.received) == 12
        assert set(endpoint.unique_references()) == references
        assert {b.state for b in first.list()} == {"delivered"}


def test_logs_never_contain_contact_details(endpoint, smtp_server, store, caplog):
    caplog.set_level(logging.WARNING, logger="mail.log")  # the test mail server's own transcript
    caplog.set_level(logging.DEBUG)  # last: this also sets the capturing handler's level
    inbox, port = smtp_server
    clock = Clock()
    settings = make_settings(endpoint.url, smtp=smtp_settings(port), timeout_seconds=0.3, max_attempts=3)
    first = store.save(visitor(), ["webhook", "email"], NOW)
    second = store.save(visitor(name="Ånother Visitor", email=None), ["webhook", "email"], NOW)
    endpoint.fail_next(1)
    endpoint.delay_next(2, 0.5)

    async def scenario() -> None:
        worker = DeliveryWorker(store, settings, CLINIC, CLINIC_EMAIL, now=clock)
        for _ in range(4):
            await worker.run_once()
            clock.advance(5)
        broken = DeliveryWorker(
            store,
            make_settings(endpoint.url, smtp=smtp_settings(free_port()), max_attempts=1),
            CLINIC,
            CLINIC_EMAIL,
            now=clock,
        )
        await asyncio.to_thread(store.save, visitor(), ["email"], clock())
        await broken.start()
        broken.wake()
        # Wait for the failed attempt itself rather than a fixed time, which a slow machine can miss.
        for _ in range(500):
            if any("giving up" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.01)
        await broken.stop()

    asyncio.run(scenario())
    assert {store.get(first.reference).state, store.get(second.reference).state} == {"delivered"}
    assert any(first.reference in r.getMessage() and "delivered" in r.getMessage() for r in caplog.records)
    assert any("giving up" in r.getMessage() for r in caplog.records)
    assert any("next try in" in r.getMessage() for r in caplog.records)

    everything = caplog.text + "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    for secret in (NAME, PHONE, EMAIL, WORDS, "Ånother Visitor", "Zoë", "7700900123", "example.org"):
        assert secret not in everything, secret
