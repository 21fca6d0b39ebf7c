"""Requests: the booking and callback requests visitors made, and their hand-off to the clinic.

- ``GET /requests`` (``?state=delivered|pending|failed``, ``?week=2026-W48``): the requests, newest
  first, each with the visitor's contact details, the time asked for, each channel's delivery (sent;
  retrying, with the next try; failed, with the reason), who marked it handled, and a link to its
  conversation.
- ``GET /requests/export.csv`` (the same filters): the staff command line's ``export``, the same
  columns from the same code (``clinic.staff.write_csv``).
- ``POST /requests/handled``: records who handled a request, and when.
- ``POST /requests/resend``: puts its failed deliveries back in the queue, as ``retry`` does; the
  action server's delivery worker sends them within ``DELIVERY_POLL_SECONDS``.
- ``POST /requests/erase``, admins only: the command line's ``erase --reference``
  (``clinic.staff.erase_visitor``): the visitor's requests, deliveries and conversations.

The audit log names the action and counts, never a request's reference: the reference is what the
visitor was given, and once they are erased nothing in the clinic's files may lead back to them.

Contact details are shown unmasked: this page is where staff pick up a booking to call the visitor
back, and the delivered email and webhook carry them as well. A request's conversation is found by
its reference, which the assistant's confirmation carries (as ``erase`` finds it).
"""

from __future__ import annotations

import asyncio
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple
from urllib.parse import quote, urlencode

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from clinic.booking_store import (
    REFERENCE_ALPHABET,
    REFERENCE_LENGTH,
    REFERENCE_PREFIX,
    STATES,
    BookingStoreError,
    DeliveryStatus,
    StoredBooking,
    UnknownReferenceError,
    local_time,
)
from clinic.conversations import ConversationStore, senders_by_mention
from clinic.postgres_files import RewriteError
from clinic.staff import erase_visitor, write_csv

if TYPE_CHECKING:
    from console.app import Pages

SHOWN = 100  # the newest matching requests; a week's filter shows the rest
STATE_LABELS = {"delivered": "Sent", "pending": "Sending or retrying", "failed": "Failed"}
REFERENCE = re.compile(re.escape(REFERENCE_PREFIX) + f"[{REFERENCE_ALPHABET}]{{{REFERENCE_LENGTH}}}")
WEEK = re.compile(r"(\d{4})-W(\d{2})")


class BadFilter(ValueError):
    """A ``state`` or ``week`` no form of this page sends; the message says which."""


@dataclass(frozen=True)
class Filters:
    """What the page is narrowed to: a delivery state and an ISO week (of the clinic's calendar)."""

    state: str = ""
    week: str = ""

    @classmethod
    def of(cls, request: Request, source: Optional[Dict] = None) -> "Filters":
        """The filters a request asks for (its query, or ``source``: a form's fields).

        Raises:
            BadFilter: an unknown state or a malformed week.
        """
        values = source if source is not None else request.args
        state, week = (values.get("state") or "").strip(), (values.get("week") or "").strip()
        if state and state not in STATES:
            raise BadFilter(f"There is no delivery state “{state[:20]}”: choose {', '.join(STATES)} or all.")
        if week:
            found = WEEK.fullmatch(week)
            if not found:
                raise BadFilter("A week is written like 2026-W48 (the year, W and the week's number).")
            try:
                date.fromisocalendar(int(found.group(1)), int(found.group(2)), 1)
            except ValueError:
                raise BadFilter(f"{week} is not a week of the calendar.") from None
        return cls(state, week)

    def matches(self, booking: StoredBooking) -> bool:
        return (not self.state or booking.state == self.state) and (not self.week or week_of(booking) == self.week)

    def query(self, **more: str) -> str:
        values = {key: value for key, value in (("state", self.state), ("week", self.week)) if value}
        values.update(more)
        return urlencode(values)


@dataclass(frozen=True)
class Delivery:
    """One channel's hand-off, in words: ``state`` is sent, retrying, waiting or failed."""

    channel: str
    state: str
    detail: str


def week_of(booking: StoredBooking) -> str:
    """The ISO week the request came in, in the clinic's time zone: ``2026-W48``."""
    year, week, _ = local_time(booking.created_at, booking.timezone).isocalendar()
    return f"{year}-W{week:02d}"


def week_label(week: str) -> str:
    """``2026-W48`` as staff read it: "week of Mon 23 Nov 2026"."""
    found = WEEK.fullmatch(week)
    monday = date.fromisocalendar(int(found.group(1)), int(found.group(2)), 1) if found else None
    return f"week of {monday:%a %d %b %Y}" if monday else week


def clinic_time(moment: Optional[datetime], zone: str) -> str:
    return "" if moment is None else f"{local_time(moment, zone):%a %d %b %Y %H:%M}"


def delivery(status: DeliveryStatus, zone: str) -> Delivery:
    """Where one channel's hand-off stands, in the words the page shows."""
    tries = f"{status.attempts} tr{'y' if status.attempts == 1 else 'ies'}"
    if status.state == "delivered":
        return Delivery(status.channel, "sent", f"sent {clinic_time(status.delivered_at, zone)}")
    if status.state == "failed":
        return Delivery(status.channel, "failed", f"failed after {tries}: {status.last_error or 'no reason kept'}")
    if status.attempts:
        return Delivery(
            status.channel,
            "retrying",
            f"{tries} failed ({status.last_error or 'no reason kept'}); next try {clinic_time(status.next_attempt_at, zone)}",
        )
    return Delivery(status.channel, "waiting", "waiting for its first try")


def add_routes(app: Sanic, pages: "Pages") -> None:
    """The requests page, its export and its forms."""
    store = pages.bookings

    def load(filters: Filters) -> Tuple[List[StoredBooking], List[Tuple[str, int]]]:
        """The matching requests, and every week with requests (newest first, with its count)."""
        every = store.list()
        weeks: Dict[str, int] = {}
        for booking in every:
            weeks[week_of(booking)] = weeks.get(week_of(booking), 0) + 1
        return [booking for booking in every if filters.matches(booking)], sorted(weeks.items(), reverse=True)

    def conversations_of(bookings: List[StoredBooking]) -> Dict[str, List[str]]:
        if pages.conversations is None:
            return {}
        return senders_by_mention(pages.conversations, [booking.reference for booking in bookings])

    async def requests_page(
        request: Request, filters: Filters, status: int = 200, error: Optional[str] = None
    ) -> HTTPResponse:
        matching, weeks = await asyncio.to_thread(load, filters)
        shown = matching[:SHOWN]
        links = await asyncio.to_thread(conversations_of, shown)
        return pages.page(
            request,
            "requests.html",
            status=status,
            section="requests",
            requests=shown,
            more=len(matching) - len(shown),
            matching=len(matching),
            filters=filters,
            states=STATE_LABELS,
            weeks=[(week, week_label(week), count) for week, count in weeks],
            deliveries={b.reference: [delivery(s, b.timezone) for s in b.deliveries] for b in shown},
            links={
                b.reference: [f"/conversations/{quote(sender, safe='')}" for sender in links.get(b.reference, [])]
                for b in shown
            },
            clinic_time=clinic_time,
            error=error,
            notice=notice_from(request) if request.method == "GET" else None,
        )

    def notice_from(request: Request) -> Optional[str]:
        """The sentence a form's redirect asks for (only ever from known words, references, numbers)."""
        done, reference = request.args.get("done") or "", request.args.get("reference") or ""
        if not REFERENCE.fullmatch(reference):
            return None
        if done == "handled":
            return f"{reference} is marked handled."
        if done == "resent":
            return f"{reference}'s failed deliveries are queued again: the assistant sends them within seconds."
        if done == "erased":
            numbers = [request.args.get(key) or "" for key in ("requests", "conversations")]
            if all(number.isdigit() for number in numbers):
                return (
                    f"The visitor of {reference} was erased: {numbers[0]} request(s) and {numbers[1]} "
                    "conversation(s). Delete what the clinic keeps outside the assistant too (the email, "
                    "the webhook's record)."
                )
        return None

    async def bad_filter(request: Request, error: BadFilter) -> HTTPResponse:
        return await requests_page(request, Filters(), 400, str(error))

    @app.get("/requests")
    async def show_requests(request: Request) -> HTTPResponse:
        try:
            filters = Filters.of(request)
        except BadFilter as error:
            return await bad_filter(request, error)
        return await requests_page(request, filters)

    @app.get("/requests/export.csv")
    async def export(request: Request) -> HTTPResponse:
        try:
            filters = Filters.of(request)
        except BadFilter as error:
            return await bad_filter(request, error)
        matching, _ = await asyncio.to_thread(load, filters)
        out = io.StringIO()
        count = write_csv(matching, out)
        await pages.audit(request, "export", f"{count} requests ({filters.query() or 'all'})")
        name = "-".join(["requests", filters.week or "all-weeks", filters.state or "all-states"])
        return response.text(
            out.getvalue(),
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )

    async def act(request: Request, action: str):
        """The reference and filters a form sent; a page refusing it instead when they are wrong."""
        reference = (request.form.get("reference") or "").strip().upper()
        try:
            filters = Filters.of(request, request.form)
        except BadFilter as error:
            return None, None, await bad_filter(request, error)
        if not REFERENCE.fullmatch(reference):
            await pages.audit(request, f"{action}-refused", "no such reference")
            return (
                None,
                None,
                await requests_page(request, filters, 400, "That form named no request: reload the page."),
            )
        return reference, filters, None

    def back(filters: Filters, done: str, reference: str, **numbers: int) -> HTTPResponse:
        query = filters.query(done=done, reference=reference, **{key: str(value) for key, value in numbers.items()})
        return response.redirect(f"/requests?{query}#r-{reference}", status=303)

    async def gone(request: Request, filters: Filters, action: str, reference: str) -> HTTPResponse:
        await pages.audit(request, f"{action}-refused", "no such request")
        return await requests_page(request, filters, 404, f"There is no request {reference} (any more).")

    @app.post("/requests/handled")
    async def mark_handled(request: Request) -> HTTPResponse:
        reference, filters, refusal = await act(request, "mark-handled")
        if refusal:
            return refusal
        try:
            booking = await asyncio.to_thread(store.mark_handled, reference, pages.actor(request), pages.now())
        except UnknownReferenceError:
            return await gone(request, filters, "mark-handled", reference)
        await pages.audit(request, "mark-handled", f"a {booking.kind} request of {week_of(booking)}")
        return back(filters, "handled", reference)

    @app.post("/requests/resend")
    async def resend(request: Request) -> HTTPResponse:
        reference, filters, refusal = await act(request, "resend")
        if refusal:
            return refusal
        try:
            count = await asyncio.to_thread(store.retry, reference, pages.now())
        except UnknownReferenceError:
            return await gone(request, filters, "resend", reference)
        await pages.audit(request, "resend", f"{count} failed deliveries queued again")
        return back(filters, "resent", reference)

    @app.post("/requests/erase")
    async def erase(request: Request) -> HTTPResponse:
        if refusal := pages.admin_only(request):
            await pages.audit(request, "erase-refused", "not an admin")
            return refusal
        reference, filters, refusal = await act(request, "erase")
        if refusal:
            return refusal
        if request.form.get("confirm") != "yes":
            await pages.audit(request, "erase-refused", "not confirmed")
            return await requests_page(request, filters, 400, f"Tick “Yes, erase this visitor” to erase {reference}.")
        if pages.config.tracker_db_url is None:
            return await requests_page(
                request,
                filters,
                409,
                "The console was started without the conversation store, so it cannot erase the "
                "visitor's conversations: use `python -m actions.staff erase` on the server.",
            )
        try:
            erased = await asyncio.to_thread(erase_now, reference)
        except RewriteError as error:
            await pages.audit(request, "erase", "erased; the conversation table not rewritten")
            return await requests_page(
                request,
                filters,
                500,
                f"The visitor was erased, but the conversations' table was not rewritten: {error}. "
                "Their text stays in PostgreSQL's files until the next purge rewrites it.",
            )
        except BookingStoreError as error:
            await pages.audit(request, "erase-refused", str(error))
            return await requests_page(request, filters, 503, f"Nothing was erased: {error}.")
        if erased.nothing:
            return await gone(request, filters, "erase", reference)
        await pages.audit(
            request,
            "erase",
            f"{len(erased.requests)} requests, {len(erased.conversations)} conversations ({erased.events} events)",
        )
        return back(
            filters, "erased", reference, requests=len(erased.requests), conversations=len(erased.conversations)
        )

    def erase_now(reference: str):
        with ConversationStore(pages.config.tracker_db_url) as conversations:
            return erase_visitor(store, conversations, reference=reference)
