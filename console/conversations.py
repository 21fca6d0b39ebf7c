"""The conversations: every transcript the conversation store keeps, to read what visitors were told.

- ``GET /conversations``: the conversations of the retention period, newest first, 20 a page;
  ``?q=`` words (all of them, in the text as shown), ``?from=`` and ``?to=`` dates (UTC,
  ``YYYY-MM-DD``, both days included), ``?page=``.
- ``GET /conversations/<id, URL-encoded>``: one conversation, masked (``clinic/transcripts.py``).
- ``POST /conversations/<id>``: "Reveal contact details": the same page with the text as stored,
  for this response only (never cached, never kept), and a line in the audit log naming who
  revealed which conversation (by its reference, a digest of its id, shown on the page). Nothing
  a visitor typed goes to the log or the audit.

Other pages link here with the ``conversation_path`` filter (``console/app.py``).
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Optional, Tuple
from urllib.parse import unquote, urlencode

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from clinic.transcripts import Transcripts, reference, search_words

if TYPE_CHECKING:
    from console.app import Pages

PER_PAGE = 20
MAX_PAGE = 10_000


class BadQuery(ValueError):
    """A search the page cannot run; the message says why."""


def day_of(text: str, what: str) -> Optional[date]:
    """A ``YYYY-MM-DD`` date from the search form (empty: none).

    Raises:
        BadQuery: anything else.
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadQuery(f"The {what} date must be a date like 2026-11-23.") from None


def window(request: Request, oldest: datetime, now: datetime) -> Tuple[datetime, datetime]:
    """The moments a search covers: its dates within what the store keeps.

    Raises:
        BadQuery: a malformed date, or one after the other.
    """
    first = day_of(request.args.get("from") or "", "from")
    last = day_of(request.args.get("to") or "", "to")
    if first and last and first > last:
        raise BadQuery("The from date is after the to date.")
    since = max(oldest, datetime.combine(first, time(0), timezone.utc)) if first else oldest
    until = datetime.combine(last + timedelta(days=1), time(0), timezone.utc) if last else now + timedelta(minutes=1)
    return since, until


def add_routes(app: Sanic, pages: "Pages") -> None:
    """The conversations' pages."""

    transcripts = Transcripts(pages.conversations) if pages.conversations is not None else None

    def oldest() -> datetime:
        """The start of the retention period (clinic.yml's ``retention_days``)."""
        profile = pages.profile()
        if profile is None:
            return datetime.fromtimestamp(0, timezone.utc)
        return pages.now() - timedelta(days=profile.retention_days)

    @app.get("/conversations")
    async def list_conversations(request: Request) -> HTTPResponse:
        query = {key: (request.args.get(key) or "").strip() for key in ("q", "from", "to")}
        page_text = request.args.get("page") or "1"
        values = dict(
            section="conversations",
            query=query,
            conversations=[],
            total=0,
            page=1,
            pages=1,
            store=transcripts is not None,
            days=(pages.profile().retention_days if pages.profile() else None),
            error=None,
        )
        try:
            if not page_text.isdigit() or not 1 <= int(page_text) <= MAX_PAGE:
                raise BadQuery("The page number must be a whole number from 1.")
            since, until = window(request, oldest(), pages.now())
        except BadQuery as error:
            values["error"] = str(error)
            return pages.page(request, "conversations.html", status=400, **values)
        number = int(page_text)
        if transcripts is not None:
            found, total = await asyncio.to_thread(
                transcripts.find, since, until, search_words(query["q"]), (number - 1) * PER_PAGE, PER_PAGE
            )
            values.update(conversations=found, total=total, page=number, pages=max(1, -(-total // PER_PAGE)))

        def link(to: int) -> str:
            return "/conversations?" + urlencode({**{k: v for k, v in query.items() if v}, "page": to})

        return pages.page(request, "conversations.html", link=link, **values)

    async def conversation_page(request: Request, conversation: str, reveal: bool) -> HTTPResponse:
        lines = await asyncio.to_thread(transcripts.transcript, conversation, oldest()) if transcripts else []
        if not lines:
            return pages.page(
                request,
                "not_found.html",
                status=404,
                section="conversations",
                what="There is no such conversation: it may have been deleted (the retention period, an "
                "erasure, or the visitor's own “Delete this conversation”).",
                typed={},
                back=("/conversations", "Back to the conversations"),
            )
        return pages.page(
            request,
            "conversation.html",
            section="conversations",
            conversation=conversation,
            reference=reference(conversation),
            lines=lines,
            reveal=reveal,
            hidden=any(line.in_form for line in lines),
        )

    # The id arrives as the browser sent it, URL-encoded (Sanic matches the raw path).
    @app.get("/conversations/<conversation:path>")
    async def show_conversation(request: Request, conversation: str) -> HTTPResponse:
        return await conversation_page(request, unquote(conversation), reveal=False)

    @app.post("/conversations/<conversation:path>")
    async def reveal_contacts(request: Request, conversation: str) -> HTTPResponse:
        conversation = unquote(conversation)
        if request.form.get("reveal") != "yes":
            return pages.page(
                request,
                "refused.html",
                status=400,
                section="conversations",
                reason="This form only reveals a conversation's contact details; press “Reveal contact details”.",
            )
        page = await conversation_page(request, conversation, reveal=True)
        if page.status == 200:
            await pages.audit(request, "reveal-contacts", f"conversation {reference(conversation)}")
        return page
