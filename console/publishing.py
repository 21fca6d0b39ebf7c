"""Publish, the history and Undo: the topic files' changes reaching visitors, with no restart.

- ``GET /publish``: what changed since the last publish (in the console or by hand, as a diff),
  the Publish button, and the last publish step by step (the page reloads itself each second
  while one runs: no JavaScript).
- ``POST /publish``: starts one in the background and leads to ``/publish``. One at a time.
- ``GET /history``: every publish, who, when, how it went and what it changed (a diff against
  the publish before it), with the console's own changes in it named.
- ``POST /history/<id>/undo``: puts back the files a publish changed as they were before it,
  then publishes that. Refused, with nothing changed, when one of them was changed since.
- ``GET /models/clinic-assistant.tar.gz``: the published model for the Rasa servers (not for
  staff: no session, the ``MODEL_SERVER_TOKEN`` as a bearer token; Rasa's model server protocol,
  see clinic/published_model.py).

A publish runs in the publisher process (``python -m runtime.publish``, started with the console
and kept warm): what ``make check`` runs, then the new model replaces the served one. Each Rasa
server fetches it within ``wait_time_between_pulls`` seconds and answers with it once loaded
(runtime/model_pulling.py); until then, and if anything fails, visitors get the model before.
"""

from __future__ import annotations

import asyncio
import difflib
import hmac
import json
import logging
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from clinic import published_model
from clinic.console_records import ConsoleRecords, Publish, PublishRunning
from clinic.settings import PROJECT_ROOT
from clinic.topic_files import Change, StaleVersion, TopicEditError, TopicFiles
from console import web

if TYPE_CHECKING:
    from console.app import Pages

logger = logging.getLogger(__name__)

# The first publish of a worker that is still importing Rasa waits for it.
READY_SECONDS = 180
MAX_DIFF_LINES = 400


class PublisherStopped(RuntimeError):
    """The publisher process ended or never became ready."""


class Publisher:
    """The ``python -m runtime.publish`` process: started once, sent one publish at a time."""

    def __init__(self, command: Optional[List[str]] = None, cwd: Path = PROJECT_ROOT) -> None:
        self.command = command or [sys.executable, "-m", "runtime.publish"]
        self.cwd = cwd
        self.process: Optional[asyncio.subprocess.Process] = None
        self.lock = asyncio.Lock()

    async def start(self) -> None:
        """Starts the process unless it runs; waits until it has imported Rasa."""
        async with self.lock:
            await self._start()

    async def _start(self) -> None:
        # Under the lock: one reader of the process's answers at a time.
        if self.process is not None and self.process.returncode is None:
            return
        self.process = await asyncio.create_subprocess_exec(
            *self.command,
            cwd=str(self.cwd),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        first = await self._read(READY_SECONDS)
        if not first.get("ready"):
            raise PublisherStopped(first.get("detail") or "the publisher did not start")

    async def _read(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        except asyncio.TimeoutError:
            raise PublisherStopped("the publisher did not answer in time") from None
        if not line:
            raise PublisherStopped("the publisher stopped (see the console's log)")
        return json.loads(line)

    async def run(self, job: Dict[str, Any], progress: Callable[[Dict[str, Any]], Any]) -> Dict[str, Any]:
        """Sends ``job``; calls ``progress`` with each step's news; returns the result."""
        async with self.lock:
            await self._start()
            assert self.process is not None and self.process.stdin is not None
            self.process.stdin.write((json.dumps(job) + "\n").encode())
            await self.process.stdin.drain()
            while True:
                message = await self._read()
                if "result" in message:
                    return message
                await progress(message)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except asyncio.TimeoutError:
                self.process.kill()


@dataclass(frozen=True)
class FileDiff:
    """One file's change between two publishes, for the page."""

    path: str
    lines: List[str]
    by_hand: bool

    @property
    def state(self) -> str:
        return "added" if self.lines and self.lines[0].startswith("--- /dev/null") else "changed"


def file_diffs(before: Dict[str, str], after: Dict[str, str], console_paths: set) -> List[FileDiff]:
    """Each file that differs, as a unified diff; ``by_hand`` when no console change touched it."""
    diffs = []
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if old == new:
            continue
        lines = list(
            difflib.unified_diff(
                (old or "").splitlines(),
                (new or "").splitlines(),
                fromfile=f"data/{path}" if old is not None else "/dev/null",
                tofile=f"data/{path}" if new is not None else "/dev/null",
                n=2,
                lineterm="",
            )
        )
        if len(lines) > MAX_DIFF_LINES:
            lines = lines[:MAX_DIFF_LINES] + [f"... {len(lines) - MAX_DIFF_LINES} more lines"]
        diffs.append(FileDiff(path, lines, by_hand=path not in console_paths))
    return diffs


def record_baseline(records: ConsoleRecords, files: TopicFiles, now: datetime) -> Publish:
    """The last publish that reached visitors. When there is none yet, the files as they are now
    are recorded first (the console starts by doing so: what visitors get is what it found), so
    the first publish shows what it changes and can be undone."""
    live = records.live_before()
    if live is None:
        records.start_publish(now, "(files as found)", files.snapshot(), None, "baseline")
        live = records.live_before()
    assert live is not None
    return live


def topic_path(topic: str) -> str:
    return f"faq/{topic}.yml"


def in_files(made: List[Any], diffs: List[FileDiff]) -> List[Any]:
    """The console's changes to files a publish carries (the history also keeps clinic.yml's
    saves, which reach visitors without one)."""
    paths = {diff.path for diff in diffs}
    return [change for change in made if topic_path(change.topic) in paths]


def add_routes(app: Sanic, pages: "Pages", publisher: Publisher) -> None:
    """The publish, history and model pages."""
    records = pages.records
    files = pages.files

    async def snapshot_texts(publish: Optional[Publish]) -> Dict[str, str]:
        return await asyncio.to_thread(records.texts, publish.files) if publish else {}

    async def baseline() -> Optional[Publish]:
        return await asyncio.to_thread(record_baseline, records, files, pages.now())

    async def changes_of(publish: Publish, before: Optional[Publish]) -> Dict[str, Any]:
        after_texts = await snapshot_texts(publish)
        before_texts = await snapshot_texts(before)
        since = before.started if before else publish.started
        made = await asyncio.to_thread(records.changes_between, since, publish.started)
        diffs = file_diffs(before_texts, after_texts, {topic_path(change.topic) for change in made})
        return {"diffs": diffs, "made": in_files(made, diffs)}

    async def run_publish(publish_id: int, actor: str) -> None:
        steps: List[Dict[str, Any]] = []

        async def progress(message: Dict[str, Any]) -> None:
            entry = {key: message.get(key) for key in ("step", "title", "state", "detail")}
            for index, known in enumerate(steps):
                if known["step"] == entry["step"]:
                    steps[index] = entry
                    break
            else:
                steps.append(entry)
            await asyncio.to_thread(records.publish_steps, publish_id, steps)

        job = {"id": publish_id, "data": str(files.data_dir), "model": str(pages.config.model_path)}
        try:
            result = await publisher.run(job, progress)
        except (PublisherStopped, OSError, ValueError) as error:
            logger.error("publish %s: %s", publish_id, error)
            await publisher.stop()
            result = {"result": "failed", "detail": f"The publisher could not run: {error}."}
        state = "published" if result.get("result") == "published" else "failed"
        await asyncio.to_thread(
            records.finish_publish,
            publish_id,
            pages.now(),
            state,
            result.get("detail") or "",
            result.get("fingerprint"),
            result.get("seconds"),
        )
        await asyncio.to_thread(
            pages.accounts.audit, pages.now(), actor, f"publish-{state}", None, f"publish {publish_id}"
        )

    async def start_publish(request: Request, undo_of: Optional[int] = None) -> HTTPResponse:
        await baseline()
        found = await asyncio.to_thread(files.snapshot)
        try:
            publish_id = await asyncio.to_thread(
                records.start_publish, pages.now(), pages.actor(request), found, undo_of
            )
        except PublishRunning as running:
            return web.redirect(f"/publish?running={running.id}")
        await pages.audit(request, "publish", f"publish {publish_id}" + (f", undoing {undo_of}" if undo_of else ""))
        app.add_task(run_publish(publish_id, pages.actor(request)))
        return web.redirect("/publish")

    # -- pages -------------------------------------------------------------------

    @app.get("/publish")
    async def publish_page(request: Request) -> HTTPResponse:
        live = await baseline()
        now_files = await asyncio.to_thread(files.snapshot)
        live_files = await snapshot_texts(live)
        made = await asyncio.to_thread(records.changes_between, live.started, pages.now()) if live else []
        waiting = file_diffs(live_files, now_files, {topic_path(change.topic) for change in made})
        made = in_files(made, waiting)
        latest = (await asyncio.to_thread(records.publishes, 1) or [None])[0]
        if latest is not None and latest.state == "baseline":
            latest = None
        return pages.page(
            request,
            "publish.html",
            section="publish",
            waiting=waiting,
            made=made,
            latest=latest,
            live=live,
            refresh=latest is not None and latest.state == "running",
        )

    @app.post("/publish")
    async def publish(request: Request) -> HTTPResponse:
        return await start_publish(request)

    @app.get("/history")
    async def history(request: Request) -> HTTPResponse:
        await baseline()
        entries = []
        for publish in await asyncio.to_thread(records.publishes, 30):
            if publish.state == "baseline":
                entries.append({"publish": publish, "diffs": [], "made": [], "undoable": False})
                continue
            before = await asyncio.to_thread(records.live_before, publish.id)
            entries.append(
                {
                    "publish": publish,
                    **(await changes_of(publish, before)),
                    "undoable": publish.state == "published" and before is not None,
                }
            )
        return pages.page(request, "history.html", section="history", entries=entries, notice=None, error=None)

    @app.post("/history/<publish_id:int>/undo")
    async def undo(request: Request, publish_id: int) -> HTTPResponse:
        publish = await asyncio.to_thread(records.publish, publish_id)
        before = await asyncio.to_thread(records.live_before, publish_id) if publish else None
        if publish is None or publish.state != "published" or before is None:
            return pages.render("not_found.html", status=404, what="That publish cannot be undone.")
        after_texts = await snapshot_texts(publish)
        before_texts = await snapshot_texts(before)
        changed = sorted(
            path for path in set(after_texts) | set(before_texts) if after_texts.get(path) != before_texts.get(path)
        )
        if not changed:
            return web.redirect("/history")
        try:
            await asyncio.to_thread(
                files.restore,
                {path: before_texts.get(path) for path in changed},
                {path: after_texts.get(path) for path in changed},
            )
        except (StaleVersion, TopicEditError) as error:
            await pages.audit(request, "undo-refused", f"publish {publish_id}: {error}")
            return pages.page(
                request, "history.html", status=409, section="history", entries=[], notice=None, error=str(error)
            )
        for path in changed:
            if path.startswith("faq/") and path.endswith(".yml"):
                topic = path[len("faq/") : -len(".yml")]
                summary = f"undo of publish {publish_id}"
                await pages.record(
                    request, Change(topic, "undo", summary, after_texts.get(path, ""), before_texts.get(path, ""))
                )
        await pages.audit(request, "undo", f"publish {publish_id}: {', '.join(changed)}")
        return await start_publish(request, undo_of=publish_id)

    # -- the model, for the Rasa servers --------------------------------------------

    @app.get(published_model.URL_PATH)
    async def model(request: Request) -> HTTPResponse:
        token = pages.config.model_server_token
        sent = request.headers.get("authorization", "")
        if not token or not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return response.text("The model is served to the assistant's servers only.", status=401)
        path = pages.config.model_path
        if not path.exists():
            return response.text("No model has been trained yet.", status=404)
        fingerprint = await asyncio.to_thread(published_model.fingerprint, path)
        headers = {"ETag": fingerprint, "filename": published_model.FILENAME}
        if request.headers.get("if-none-match") == fingerprint:
            return response.empty(status=304, headers=headers)
        return await response.file(str(path), headers=headers, mime_type="application/gzip")
