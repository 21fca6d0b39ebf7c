"""The inbox: what visitors asked that the assistant could not answer, to teach it.

- ``GET /inbox``: the open groups of similar wordings, newest first, each with its messages
  (masked), the conversation around the newest one, and three ways out: teach it to a topic,
  make a new topic of it, dismiss it.
- ``POST /inbox/teach``: adds the ticked wordings to a topic's examples (``TopicFiles.teach``)
  and closes the group; refused, with the reason, when a wording belongs to another topic or intent.
- ``POST /inbox/dismiss``: closes the group without teaching anything.

Questions are read from the conversation store as ``make report`` reads them
(``clinic/visitor_questions.py``). A form names the messages it was shown by their keys, so a
message that arrives while the page is open is never closed unseen; the closed ones are kept in
the clinic's database (``clinic/console_records.py``).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlencode

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from clinic.topic_files import TopicEditError
from clinic.visitor_questions import RECENT_DAYS, Group, Question, group_similar, recent_questions

if TYPE_CHECKING:
    from console.app import Pages

SHOWN_GROUPS = 50  # the newest; the rest wait until these are handled
# Grouping compares each message with each group (clinic.visitor_questions.group_similar): 300
# messages all different take about 0.6 s here, so a page groups the newest open ones only.
GROUPED_MESSAGES = 300
MESSAGES_PER_FORM = 200
KEY = re.compile(r"[0-9a-f]{32}")


@dataclass
class Option:
    """A topic in a group's "Teach to" list."""

    name: str
    label: str
    best_guess: bool = False


def posted_keys(request: Request, field: str) -> List[str]:
    """The message keys a form sent under ``field`` (anything else dropped), each once."""
    keys: List[str] = []
    for value in (request.form.getlist(field) or [])[:MESSAGES_PER_FORM]:
        if KEY.fullmatch(value) and value not in keys:
            keys.append(value)
    return keys


def topic_options(guesses: Sequence[str], labels: Dict[str, str]) -> List[Option]:
    """Every topic, the response selector's best guess for the message first, the rest by label."""
    ranked = [name for name in guesses if name in labels]
    options = [Option(name, labels[name], best_guess=index == 0) for index, name in enumerate(ranked[:3])]
    chosen = {option.name for option in options}
    rest = sorted((name for name in labels if name not in chosen), key=lambda name: labels[name].lower())
    return options + [Option(name, labels[name]) for name in rest]


def add_routes(app: Sanic, pages: "Pages") -> None:
    """The inbox's page and forms."""

    def open_questions() -> List[Question]:
        """The unanswered questions of the last ``RECENT_DAYS`` days that no one has handled."""
        if pages.conversations is None or pages.config.tracker_db_url is None:
            return []
        since = pages.now() - timedelta(days=RECENT_DAYS)
        questions = [
            question
            for question in recent_questions(pages.config.tracker_db_url, since, pages.conversations)
            if question.unanswered
        ]
        handled = pages.records.handled(question.key for question in questions)
        return [question for question in questions if question.key not in handled]

    def newest(questions: List[Question]) -> List[Question]:
        return sorted(questions, key=lambda question: question.when, reverse=True)[:GROUPED_MESSAGES]

    def open_groups() -> Tuple[List[Group], Dict[str, str], int]:
        labels = {view.name: view.label or view.name for view in pages.files.views()}
        questions = open_questions()
        return group_similar(newest(questions)), labels, len(questions)

    def chosen(keys: Sequence[str]) -> List[Question]:
        wanted = set(keys)
        return [question for question in open_questions() if question.key in wanted]

    async def inbox_page(
        request: Request,
        status: int = 200,
        error: Optional[str] = None,
        error_group: Optional[str] = None,
    ) -> HTTPResponse:
        groups, labels, waiting = await asyncio.to_thread(open_groups)
        notice = notice_from(request, labels) if request.method == "GET" else None
        shown = groups[:SHOWN_GROUPS]
        return pages.page(
            request,
            "inbox.html",
            status=status,
            section="inbox",
            groups=shown,
            more=len(groups) - len(shown),
            messages=waiting,
            grouped=sum(len(group.wordings) for group in groups),
            options={group.key: topic_options(group.wordings[0].guesses, labels) for group in shown},
            days=RECENT_DAYS,
            error=error,
            error_group=error_group,
            notice=notice,
            store=pages.config.tracker_db_url is not None,
        )

    def notice_from(request: Request, labels: Dict[str, str]) -> Optional[str]:
        """The sentence a form's redirect asks for (only ever from known words and numbers)."""
        done = request.args.get("done")
        count = int(request.args.get("count") or 0) if (request.args.get("count") or "").isdigit() else 0
        topic = request.args.get("topic") or ""
        label = labels.get(topic)
        messages = f"{count} message{'s' if count != 1 else ''}"
        if done == "dismissed":
            return f"Dismissed: {messages} left the inbox."
        if done == "taught" and label:
            added = int(request.args.get("added") or 0) if (request.args.get("added") or "").isdigit() else 0
            return (
                f"Taught {added} new wording{'s' if added != 1 else ''} to “{label}” ({messages} closed). "
                "Visitors get the answer for it after the next Publish."
            )
        if done == "new-topic" and label:
            return f"The new topic “{label}” was added ({messages} closed). Visitors get it after the next Publish."
        return None

    @app.get("/inbox")
    async def show_inbox(request: Request) -> HTTPResponse:
        return await inbox_page(request)

    @app.post("/inbox/teach")
    async def teach(request: Request) -> HTTPResponse:
        keys = posted_keys(request, "message")
        teach_keys = set(posted_keys(request, "teach"))
        topic = (request.form.get("topic") or "").strip()
        group = keys[0] if keys else None
        questions = await asyncio.to_thread(chosen, keys)
        if not questions:
            return await inbox_page(
                request, 409, "These messages have left the inbox already (handled by someone else)."
            )
        if not pages.files.exists(topic):
            return await inbox_page(request, 400, "Choose the topic to teach these wordings to.", group)
        wordings = [question.text for question in questions if question.key in teach_keys and not question.button]
        if not wordings:
            return await inbox_page(request, 400, "Tick at least one wording to teach.", group)
        try:
            taught = await asyncio.to_thread(pages.files.teach, topic, wordings)
        except TopicEditError as error:
            await pages.audit(request, "teach-refused", f"{topic}: {error}")
            return await inbox_page(request, 409, f"Not taught to {topic}: {error}", group)
        if taught.change is not None:
            await pages.record(request, taught.change)
        closed = [question.key for question in questions]
        await asyncio.to_thread(pages.records.mark_handled, closed, "taught", pages.actor(request), pages.now(), topic)
        detail = (
            f"{topic}: {len(taught.added)} added, {len(taught.already)} already there, {len(closed)} messages closed"
        )
        if taught.added:
            detail += ": " + "; ".join(taught.added)
        await pages.audit(request, "teach", detail)
        query = {"done": "taught", "topic": topic, "added": len(taught.added), "count": len(closed)}
        return response.redirect("/inbox?" + urlencode(query), status=303)

    @app.post("/inbox/dismiss")
    async def dismiss(request: Request) -> HTTPResponse:
        keys = posted_keys(request, "message")
        questions = await asyncio.to_thread(chosen, keys)
        if not questions:
            return await inbox_page(
                request, 409, "These messages have left the inbox already (handled by someone else)."
            )
        closed = [question.key for question in questions]
        await asyncio.to_thread(pages.records.mark_handled, closed, "dismissed", pages.actor(request), pages.now())
        # The count and the group's key only: a dismissed wording is copied nowhere.
        await pages.audit(request, "dismiss", f"{len(closed)} messages (group {closed[0][:8]})")
        return response.redirect("/inbox?" + urlencode({"done": "dismissed", "count": len(closed)}), status=303)
