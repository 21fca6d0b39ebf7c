"""Hands stored booking requests to the clinic: a signed webhook and/or an email.

The booking form saves a request (``clinic.booking_store``) and wakes the
``DeliveryWorker``, which claims due deliveries, sends them and records the result,
retrying with exponential backoff until ``DELIVERY_MAX_ATTEMPTS``; after that the
delivery is "failed" and waits for staff (``python -m actions.staff retry``).
Pending deliveries live in the database, so a restarted action server resumes them.

Delivery is at least once: a crash between the clinic's answer and the database
update sends the request again. Each request carries its reference as
``Idempotency-Key`` (webhook) and in the ``Message-ID`` (email), so the clinic
can drop duplicates.

The webhook: ``POST`` of a JSON document (UTF-8, sorted keys, no spaces) with headers

* ``Content-Type: application/json``
* ``X-Clinic-Signature: sha256=<hex>``: HMAC-SHA256 of the exact body bytes, keyed
  with ``CLINIC_WEBHOOK_SECRET``; check it with a constant-time comparison
  (see ``verify_signature``).
* ``Idempotency-Key: <reference>``
* ``User-Agent: clinic-assistant``

Any 2xx answer counts as delivered; anything else (or no answer within
``DELIVERY_TIMEOUT_SECONDS``) is retried later. Redirects are not followed.

The document's fields:

* ``reference``: the request's reference, e.g. ``DN-7K3Q9`` (also told to the visitor).
* ``kind``: ``booking`` (later also ``callback``).
* ``created_at``: when the request was stored, ISO 8601 in UTC (``+00:00``).
* ``name``: the visitor's name.
* ``phone``: E.164 (``+447700900123``) or null.
* ``email``: the visitor's email address or null.
* ``requested_time``: the time asked for, ISO 8601 with the offset of the clinic's
  time zone, or null when the visitor gave no time that could be read.
* ``requested_time_text``: the visitor's own words for the time, or null.
* ``timezone``: the clinic's IANA time zone, e.g. ``Europe/London``.
* ``consent_at``: when the visitor agreed to be contacted, ISO 8601 in UTC.
* ``clinic``: the clinic's name from the clinic profile.
* ``source``: always ``website chat``.

Logs name the reference, channel, attempt, status code or error class and the
next retry delay; never the visitor's details, the time text or the body.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import random
import smtplib
import ssl
import traceback
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Callable, Dict, List, Optional

import aiohttp

from clinic import clock
from clinic.booking_store import BookingStore, BookingStoreError, Claim, StoredBooking, local_time
from clinic.settings import DeliverySettings, SmtpSettings

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Clinic-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "clinic-assistant"
SOURCE = "website chat"
BATCH_SIZE = 10


class DeliveryError(Exception):
    """One delivery attempt failed. The message is short and free of contact details.

    Attributes:
        status: The HTTP status or SMTP reply code, when there was one.
    """

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.status = status


# -- the document ----------------------------------------------------------


def _iso(moment: Optional[datetime]) -> Optional[str]:
    return None if moment is None else moment.isoformat(timespec="seconds")


def booking_document(booking: StoredBooking, clinic_name: str) -> Dict[str, Any]:
    """The JSON document sent to the clinic (fields in the module docstring)."""
    requested = booking.requested_time
    return {
        "reference": booking.reference,
        "kind": booking.kind,
        "created_at": _iso(booking.created_at.astimezone(timezone.utc)),
        "name": booking.name,
        "phone": booking.phone,
        "email": booking.email,
        "requested_time": _iso(local_time(requested, booking.timezone)) if requested else None,
        "requested_time_text": booking.requested_time_text,
        "timezone": booking.timezone,
        "consent_at": _iso(booking.consent_at.astimezone(timezone.utc)),
        "clinic": clinic_name,
        "source": SOURCE,
    }


def document_body(doc: Dict[str, Any]) -> bytes:
    """The exact bytes sent and signed: sorted keys, compact, UTF-8 without escapes."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(body: bytes, secret: str) -> str:
    """The ``X-Clinic-Signature`` value: ``sha256=`` + HMAC-SHA256(secret, body) in hex."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, secret: str, header: Optional[str]) -> bool:
    """Whether ``header`` is the right signature of ``body``, compared in constant time."""
    if not header:
        return False
    return hmac.compare_digest(sign(body, secret).encode("ascii"), header.strip().encode("utf-8"))


# -- the webhook -----------------------------------------------------------


async def post_webhook(
    session: Optional[aiohttp.ClientSession],
    url: str,
    secret: str,
    body: bytes,
    reference: str,
    timeout: float,
) -> int:
    """POSTs a signed document to the clinic.

    Args:
        session: A session to reuse, or None for a one-off one.
        url: The clinic's webhook URL.
        secret: The shared signing secret.
        body: The document's bytes (``document_body``).
        reference: The request's reference, sent as ``Idempotency-Key``.
        timeout: Seconds for the whole exchange.

    Returns:
        The 2xx status the clinic answered.

    Raises:
        DeliveryError: a non-2xx answer, a timeout or a connection error.
    """
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body, secret),
        IDEMPOTENCY_HEADER: reference,
        "User-Agent": USER_AGENT,
    }
    if session is None:
        async with aiohttp.ClientSession() as own_session:
            return await _post(own_session, url, headers, body, timeout)
    return await _post(session, url, headers, body, timeout)


async def _post(session: aiohttp.ClientSession, url: str, headers: Dict[str, str], body: bytes, timeout: float) -> int:
    try:
        async with session.post(
            url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
        ) as response:
            status = response.status
    except asyncio.TimeoutError:
        raise DeliveryError(f"timeout after {timeout:g}s") from None
    except aiohttp.ClientError as error:
        raise DeliveryError(type(error).__name__) from None
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}", status=status)
    return status


# -- the email -------------------------------------------------------------


def _when(moment: datetime) -> str:
    return f"{moment:%a} {moment.day} {moment:%b %H:%M}"


def _sender(smtp: SmtpSettings, clinic_email: str) -> str:
    if smtp.from_address:
        return smtp.from_address
    if smtp.user and "@" in smtp.user:
        return smtp.user
    return clinic_email


def email_subject(booking: StoredBooking) -> str:
    """E.g. ``Booking request DN-7K3Q9 for Tue 24 Nov 17:30`` (clinic time)."""
    subject = f"{booking.kind.capitalize()} request {booking.reference}"
    if booking.requested_time:
        subject += f" for {_when(local_time(booking.requested_time, booking.timezone))}"
    return subject


def email_text(booking: StoredBooking, clinic_name: str) -> str:
    """The email's plain-text body: every field in plain words."""
    zone = booking.timezone
    requested = booking.requested_time
    lines = [
        f"A new {booking.kind} request came in through the {SOURCE} for {clinic_name}.",
        "",
        f"Reference:      {booking.reference}",
        f"Name:           {booking.name}",
        f"Phone:          {booking.phone or '(not given)'}",
        f"Email:          {booking.email or '(not given)'}",
        "Requested time: "
        + (f"{local_time(requested, zone):%a %d %b %Y %H:%M} ({zone})" if requested else "(not given)"),
        f"In their words: {booking.requested_time_text or '(not given)'}",
        f"Received:       {local_time(booking.created_at, zone):%a %d %b %Y %H:%M} ({zone})",
        f"Consent given:  {_iso(booking.consent_at.astimezone(timezone.utc))}",
        "",
        "Please contact the visitor to confirm or suggest another time.",
        f"If {booking.reference} has reached you before, this is a duplicate and can be ignored.",
    ]
    return "\n".join(lines) + "\n"


def booking_email(smtp: SmtpSettings, booking: StoredBooking, clinic_name: str, clinic_email: str) -> EmailMessage:
    """The email to the clinic, with a ``Message-ID`` made from the reference."""
    message = EmailMessage()
    message["From"] = _sender(smtp, clinic_email)
    message["To"] = smtp.to_address
    message["Subject"] = email_subject(booking)
    message["Date"] = format_datetime(clock.now())
    message["Message-ID"] = f"<{booking.reference}@{USER_AGENT}>"
    message["X-Booking-Reference"] = booking.reference
    message.set_content(email_text(booking, clinic_name))
    return message


def send_email(
    smtp: SmtpSettings,
    booking: StoredBooking,
    clinic_name: str,
    clinic_email: str,
    timeout: float = 10.0,
) -> None:
    """Sends the booking email (blocking; the worker runs it in a thread).

    Port 465 uses implicit TLS; otherwise STARTTLS is required ("always": a server that does
    not offer it gets no password and no booking) unless ``smtp.starttls`` is "never".

    Raises:
        DeliveryError: the message was not accepted; the reason has no contact details.
    """
    message = booking_email(smtp, booking, clinic_name, clinic_email)
    try:
        _smtp_send(smtp, message, timeout)
    except DeliveryError:
        raise
    except smtplib.SMTPResponseException as error:
        raise DeliveryError(f"SMTP {error.smtp_code} ({type(error).__name__})", error.smtp_code) from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as error:
        # Class names only: server replies can quote addresses.
        raise DeliveryError(type(error).__name__) from None


def _smtp_send(smtp: SmtpSettings, message: EmailMessage, timeout: float) -> None:
    context = ssl.create_default_context()
    if smtp.port == 465:
        client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
    with client:
        client.ehlo()
        if smtp.port != 465 and smtp.starttls != "never":
            # Before any password or booking is sent: a server without STARTTLS (or one an
            # attacker stripped it from) gets neither.
            if not client.has_extn("starttls"):
                raise DeliveryError("SMTP server does not offer STARTTLS")
            client.starttls(context=context)
            client.ehlo()
        if smtp.user and smtp.password:
            client.login(smtp.user, smtp.password)
        client.send_message(message)


# -- retries ---------------------------------------------------------------


def backoff_seconds(attempts: int, base: float, maximum: float) -> float:
    """Delay before the next try after ``attempts`` failed ones.

    ``base * 2 ** (attempts - 1)`` capped at ``maximum``, plus up to 10 % jitter so
    many deliveries failing together do not retry together; never below ``base``
    nor above ``maximum * 1.1``.
    """
    exponent = min(max(attempts, 1) - 1, 60)  # 2**60 is past any sane maximum; avoids float overflow
    delay = min(base * 2**exponent, maximum)
    delay += delay * 0.1 * random.random()
    return min(max(delay, base), maximum * 1.1)


def lease_seconds(settings: DeliverySettings) -> float:
    """How long a claimed delivery stays reserved: well beyond one attempt's timeout."""
    return settings.timeout_seconds * 3 + 30


def _where(error: BaseException) -> str:
    # The innermost frame's file and line: enough to find a bug, and unlike the
    # exception's message it cannot carry the visitor's details.
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return ""
    return f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}"


# -- the worker ------------------------------------------------------------


class DeliveryWorker:
    """Delivers pending booking requests in the background of the action server.

    Args:
        store: An open booking store.
        settings: From ``settings.delivery_settings()``.
        clinic_name: Put into the document and the email.
        clinic_email: The email's sender when ``SMTP_FROM`` and ``SMTP_USER`` give none.
        now: The clock (timezone-aware); tests pass their own.
        batch_size: The most deliveries claimed (and sent concurrently) per pass.
    """

    def __init__(
        self,
        store: BookingStore,
        settings: DeliverySettings,
        clinic_name: str,
        clinic_email: str,
        now: Callable[[], datetime] = clock.now,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._store = store
        self._settings = settings
        self._clinic_name = clinic_name
        self._clinic_email = clinic_email
        self._now = now
        self._batch_size = batch_size
        self._task: Optional[asyncio.Task] = None
        self._wake: Optional[asyncio.Event] = None
        self._session: Optional[aiohttp.ClientSession] = None
        self._stopping = False

    @property
    def running(self) -> bool:
        """Whether the background loop is running."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Starts the background loop on the running event loop (a first pass runs at once)."""
        if self.running:
            return
        self._stopping = False
        self._wake = asyncio.Event()
        self._session = aiohttp.ClientSession()
        self._task = asyncio.create_task(self._loop(), name="booking-delivery")
        logger.info("delivery worker started (channels: %s)", ", ".join(self._settings.channels) or "none")

    def wake(self) -> None:
        """Asks the loop for a pass now (call from the event loop, e.g. after a save)."""
        if self._wake is not None:
            self._wake.set()

    async def stop(self) -> None:
        """Stops the loop after the deliveries in flight (cancelling them past the timeout)."""
        task, self._task = self._task, None
        self._stopping = True
        if task is not None:
            self.wake()
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=self._settings.timeout_seconds + 5)
            except asyncio.TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        logger.info("delivery worker stopped")

    async def _loop(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            attempted = 0
            try:
                attempted = await self.run_once()
            except BookingStoreError as error:  # its message never holds contact details
                logger.error("delivery pass failed: %s", error)
            except Exception as error:  # noqa: BLE001 - the loop must outlive any one bad pass
                logger.error("delivery pass failed: %s%s", type(error).__name__, _where(error))
            if self._stopping:
                break
            if attempted >= self._batch_size:
                continue  # more may be due right now
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._settings.poll_seconds)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def run_once(self) -> int:
        """One pass: claims due deliveries and attempts them concurrently.

        Returns:
            How many deliveries were attempted.
        """
        channels = self._settings.channels
        if not channels:
            return 0
        claims: List[Claim] = await asyncio.to_thread(
            self._store.claim_due, self._now(), lease_seconds(self._settings), self._batch_size, channels
        )
        if self._stopping:
            await asyncio.to_thread(self._store.release, [claim.delivery_id for claim in claims])
            return 0
        if claims:
            await asyncio.gather(*(self._attempt(claim) for claim in claims))
        return len(claims)

    async def _attempt(self, claim: Claim) -> None:
        attempt = claim.attempts + 1
        reference = claim.booking.reference
        try:
            await self._send(claim)
        except DeliveryError as error:
            await self._record_failure(claim, attempt, str(error))
            return
        except Exception as error:  # noqa: BLE001 - never let one delivery stop the others
            await self._record_failure(claim, attempt, f"unexpected {type(error).__name__}{_where(error)}")
            return
        try:
            await asyncio.to_thread(self._store.mark_delivered, claim.delivery_id, self._now())
        except Exception as error:  # noqa: BLE001 - delivered but not recorded: sent again, never lost
            logger.error(
                "%s %s delivered but not recorded (%s); it will be sent again",
                reference,
                claim.channel,
                type(error).__name__,
            )
            return
        logger.info("%s delivered by %s (attempt %d)", reference, claim.channel, attempt)

    async def _send(self, claim: Claim) -> None:
        booking = claim.booking
        settings = self._settings
        if claim.channel == "webhook" and settings.webhook_url and settings.webhook_secret:
            body = document_body(booking_document(booking, self._clinic_name))
            await post_webhook(
                self._session,
                settings.webhook_url,
                settings.webhook_secret,
                body,
                booking.reference,
                settings.timeout_seconds,
            )
        elif claim.channel == "email" and settings.smtp is not None:
            await asyncio.to_thread(
                send_email,
                settings.smtp,
                booking,
                self._clinic_name,
                self._clinic_email,
                settings.timeout_seconds,
            )
        else:
            raise DeliveryError(f"channel {claim.channel} is not configured")

    async def _record_failure(self, claim: Claim, attempt: int, error: str) -> None:
        settings = self._settings
        reference = claim.booking.reference
        give_up = attempt >= settings.max_attempts
        delay = 0.0 if give_up else backoff_seconds(attempt, settings.retry_base_seconds, settings.retry_max_seconds)
        next_at = None if give_up else self._now() + timedelta(seconds=delay)
        try:
            await asyncio.to_thread(self._store.mark_attempt_failed, claim.delivery_id, error, next_at, give_up)
        except Exception as db_error:  # noqa: BLE001 - the record of a failure must not end the worker
            logger.error(
                "%s %s attempt %d failed (%s) and could not be recorded (%s)",
                reference,
                claim.channel,
                attempt,
                error,
                type(db_error).__name__,
            )
            return
        if give_up:
            logger.error(
                "%s %s attempt %d failed (%s); giving up, staff can retry it",
                reference,
                claim.channel,
                attempt,
                error,
            )
        else:
            logger.warning(
                "%s %s attempt %d failed (%s); next try in %.1fs",
                reference,
                claim.channel,
                attempt,
                error,
                delay,
            )
