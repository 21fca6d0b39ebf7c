"""The topics: every FAQ topic, and the forms that change its file in ``data/faq/``.

- ``GET /topics``: every topic with its button label, answer, sources and examples.
- ``GET /topics/<name>``: one topic's forms. ``POST /topics/<name>/answer`` (label, answer,
  sources), ``/examples/add``, ``/examples/remove``, ``/remove``.
- ``GET /topics/new`` (``?from=<message keys>`` prefills the examples from the inbox) and
  ``POST /topics/new``.

Every form carries the file's version (a digest of its text). A save is refused, with nothing
lost, when the version is stale (someone changed the file since the form was opened) or when
the changed file breaks a rule of ``make check``'s checker; the page comes back with what was
typed still in the form and the reason. What is saved is written to the topic file (the source
of truth, as when edited by hand), kept in the history with a diff, and written to the audit log.
Visitors get it after Publish.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from clinic.topic_files import (
    MAX_ANSWER_WORDS,
    MAX_LABEL_CHARS,
    MIN_EXAMPLES,
    RUN_LENGTH,
    TOPIC_NAME,
    Change,
    StaleVersion,
    TopicEditError,
    normalise,
)
from clinic.visitor_questions import RECENT_DAYS, recent_questions
from console.inbox import KEY, MESSAGES_PER_FORM

if TYPE_CHECKING:
    from console.app import Pages

RULES = {
    "words": MAX_ANSWER_WORDS,
    "run": RUN_LENGTH,
    "label": MAX_LABEL_CHARS,
    "examples": MIN_EXAMPLES,
}


def typed_lines(text: str) -> List[str]:
    return [line for line in (text or "").splitlines() if line.strip()]


def add_routes(app: Sanic, pages: "Pages") -> None:
    """The topics' pages and forms."""

    async def keep(request: Request, change: Change) -> None:
        """A saved change: into the history with its diff, and the audit log."""
        await pages.record(request, change)
        await pages.audit(request, change.action, change.summary)

    async def refused(request: Request, action: str, name: str, error: TopicEditError) -> None:
        await pages.audit(request, f"{action}-refused", f"{name}: {error}")

    # -- every topic ---------------------------------------------------------------

    @app.get("/topics")
    async def list_topics(request: Request) -> HTTPResponse:
        views = await asyncio.to_thread(pages.files.views)
        removed = request.args.get("removed") or ""
        notice = (
            f"The topic {removed} was removed. Visitors stop getting it after the next Publish." if removed else None
        )
        if removed and (not TOPIC_NAME.fullmatch(removed) or pages.files.exists(removed)):
            notice = None
        return pages.page(request, "topics.html", section="topics", topics=views, rules=RULES, notice=notice)

    # -- one topic -----------------------------------------------------------------

    async def topic_page(
        request: Request,
        name: str,
        status: int = 200,
        error: Optional[str] = None,
        form: Optional[str] = None,
        typed: Optional[Dict[str, Any]] = None,
        notice: Optional[str] = None,
    ) -> HTTPResponse:
        """One topic's page; after a refusal, ``form`` names the form whose ``typed`` values are shown again."""
        if not pages.files.exists(name):
            return pages.page(
                request,
                "not_found.html",
                status=404,
                section="topics",
                what=f"There is no topic named “{name}”.",
                typed=typed or {},
            )
        view = await asyncio.to_thread(pages.files.view, name, True)
        sources = sorted(set(await asyncio.to_thread(pages.files.known_sources)) | set(view.sources))
        typed = typed or {}
        values = {
            "label": typed.get("label", view.label) if form == "answer" else view.label,
            "answer": typed.get("answer", view.answer) if form == "answer" else view.answer,
            "sources": typed.get("sources", view.sources) if form == "answer" else view.sources,
            "add": typed.get("add", "") if form == "add" else "",
            "remove": typed.get("remove", []) if form == "remove" else [],
        }
        return pages.page(
            request,
            "topic.html",
            status=status,
            section="topics",
            topic=view,
            known_sources=sources,
            values=values,
            error=error,
            form=form,
            notice=notice,
            rules=RULES,
            words=len(view.answer.split()),
        )

    @app.get("/topics/<name:str>")
    async def show_topic(request: Request, name: str) -> HTTPResponse:
        done = request.args.get("done")
        notices = {
            "answer": "Saved.",
            "added": "Examples added.",
            "removed": "Examples removed.",
            "new": "The topic was added.",
        }
        notice = notices.get(done or "")
        if notice:
            notice += " Visitors get it after the next Publish."
        return await topic_page(request, name, notice=notice)

    async def save(request: Request, name: str, form: str, typed: Dict[str, Any], action: str, call) -> HTTPResponse:
        """Runs one change; the topic's page again with the reason when it is refused."""
        if not pages.files.exists(name):
            return await topic_page(request, name)
        try:
            change = await asyncio.to_thread(call)
        except StaleVersion as error:
            await refused(request, action, name, error)
            if not error.current:
                return pages.page(request, "not_found.html", status=409, section="topics", what=str(error), typed=typed)
            return await topic_page(request, name, 409, str(error), form, typed)
        except TopicEditError as error:
            await refused(request, action, name, error)
            return await topic_page(request, name, 422, f"Not saved: {error}", form, typed)
        await keep(request, change)
        done = {"edit-answer": "answer", "add-examples": "added", "remove-examples": "removed"}[change.action]
        return response.redirect(f"/topics/{name}?done={done}#{form}-form", status=303)

    @app.post("/topics/<name:str>/answer")
    async def edit_answer(request: Request, name: str) -> HTTPResponse:
        typed = {
            "label": request.form.get("label") or "",
            "answer": request.form.get("answer") or "",
            "sources": request.form.getlist("sources") or [],
        }
        version = request.form.get("version") or ""
        return await save(
            request,
            name,
            "answer",
            typed,
            "edit-answer",
            lambda: pages.files.edit(name, version, typed["label"], typed["answer"], typed["sources"]),
        )

    @app.post("/topics/<name:str>/examples/add")
    async def add_examples(request: Request, name: str) -> HTTPResponse:
        typed = {"add": request.form.get("examples") or ""}
        version = request.form.get("version") or ""
        return await save(
            request,
            name,
            "add",
            typed,
            "add-examples",
            lambda: pages.files.add_examples(name, version, typed_lines(typed["add"])),
        )

    @app.post("/topics/<name:str>/examples/remove")
    async def remove_examples(request: Request, name: str) -> HTTPResponse:
        typed = {"remove": request.form.getlist("remove") or []}
        version = request.form.get("version") or ""
        return await save(
            request,
            name,
            "remove",
            typed,
            "remove-examples",
            lambda: pages.files.remove_examples(name, version, typed["remove"]),
        )

    @app.post("/topics/<name:str>/remove")
    async def remove_topic(request: Request, name: str) -> HTTPResponse:
        version = request.form.get("version") or ""
        if not pages.files.exists(name):
            return await topic_page(request, name)
        if request.form.get("confirm") != "yes":
            await pages.audit(request, "remove-topic-refused", f"{name}: not confirmed")
            return await topic_page(request, name, 400, "Tick “Yes, remove this topic” to remove it.", "delete", {})
        try:
            change = await asyncio.to_thread(pages.files.remove, name, version)
        except StaleVersion as error:
            await refused(request, "remove-topic", name, error)
            return await topic_page(request, name, 409, str(error), "delete", {})
        await keep(request, change)
        return response.redirect(f"/topics?removed={name}", status=303)

    # -- a new topic ---------------------------------------------------------------

    def wordings_of(keys: List[str]) -> List[str]:
        """The masked wordings of inbox messages, one per wording, newest first."""
        if not keys or pages.conversations is None or pages.config.tracker_db_url is None:
            return []
        since = pages.now() - timedelta(days=RECENT_DAYS)
        wanted = set(keys)
        found: Dict[str, str] = {}
        questions = recent_questions(pages.config.tracker_db_url, since, pages.conversations)
        for question in sorted(questions, key=lambda q: q.when, reverse=True):
            if question.key in wanted and not question.button:
                found.setdefault(normalise(question.text), question.text)
        return list(found.values())

    async def new_topic_page(request: Request, status: int = 200, error: Optional[str] = None, **typed: Any):
        sources = await asyncio.to_thread(pages.files.known_sources)
        values = {"name": "", "label": "", "examples": "", "answer": "", "sources": [], "from": ""}
        values.update(typed)
        return pages.page(
            request,
            "topic_new.html",
            status=status,
            section="topics",
            values=values,
            known_sources=sources,
            error=error,
            rules=RULES,
        )

    def inbox_keys(text: str) -> List[str]:
        return [key for key in (text or "").split(",") if KEY.fullmatch(key)][:MESSAGES_PER_FORM]

    @app.get("/topics/new")
    async def new_topic_form(request: Request) -> HTTPResponse:
        keys = inbox_keys(request.args.get("from") or "")
        wordings = await asyncio.to_thread(wordings_of, keys)
        return await new_topic_page(request, examples="\n".join(wordings), **{"from": ",".join(keys)})

    @app.post("/topics/new")
    async def add_topic(request: Request) -> HTTPResponse:
        typed = {
            "name": (request.form.get("name") or "").strip(),
            "label": request.form.get("label") or "",
            "examples": request.form.get("examples") or "",
            "answer": request.form.get("answer") or "",
            "sources": request.form.getlist("sources") or [],
            "from": request.form.get("from") or "",
        }
        try:
            change = await asyncio.to_thread(
                pages.files.create,
                typed["name"],
                typed["label"],
                typed_lines(typed["examples"]),
                typed["answer"],
                typed["sources"],
            )
        except TopicEditError as error:
            await refused(request, "add-topic", typed["name"] or "(no name)", error)
            return await new_topic_page(request, 422, f"Not added: {error}", **typed)
        await keep(request, change)
        keys = inbox_keys(typed["from"])
        if keys:
            closed = await asyncio.to_thread(
                pages.records.mark_handled, keys, "new-topic", pages.actor(request), pages.now(), change.topic
            )
            await pages.audit(request, "new-topic-from-inbox", f"{change.topic}: {closed} messages closed")
            return response.redirect(f"/inbox?done=new-topic&topic={change.topic}&count={closed}", status=303)
        return response.redirect(f"/topics/{change.topic}?done=new", status=303)
