"""Rasa servers that start from their model file and then follow the model the console publishes.

Rasa's own model server mechanism (``models:`` in the endpoints file: ``url``,
``wait_time_between_pulls``, and here ``headers`` carrying the console's token) is kept: the
same request with ``If-None-Match``, the same reading of 200/204/304/404, the same ``ETag``
naming the version (Rasa's ``_pull_model_and_fingerprint``, called as it is). Three things differ:

- **Start.** Given ``models:``, Rasa ignores the model file named by ``-m`` and waits for the
  model server, so a server started while the console is down answered nobody. Here the server
  loads its file as without ``models:``, names it by the same fingerprint the console serves
  (``clinic.published_model.fingerprint``), and then follows the console. A server started
  from the published file never fetches it again.
- **Loading.** Rasa loads a fetched model in the event loop: about two seconds in which no
  visitor got an answer. Here the new model's processor is built in a worker thread while the
  old one goes on answering, then put in place between two requests, the agent's fields set as
  ``Agent.load_model`` sets them.
- **Polling.** One task fetching every ``wait_time_between_pulls`` seconds after the last fetch
  ended (Rasa's interval job could start a fetch while the previous load was running). A console
  that refuses the connection is Rasa's business (it logs that at debug level and the running
  model stays); a fetch that raises, such as a timeout, is logged once until one succeeds.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from pathlib import Path
from typing import Any, Optional

logger = logging.getLogger(__name__)

DEFAULT_SECONDS = 2

# What this relies on in Rasa (runtime/internals.py checks it before the server starts).
RELIES_ON = {
    "rasa.core.run:load_agent_on_start": "b23e12447febeb64",
    "rasa.core.agent:load_agent": "abc2a4cb13cbbd2b",
    "rasa.core.agent:_pull_model_and_fingerprint": "373d0bc12bb9a25c",
    "rasa.core.agent:Agent.load_model": "f4c1ab4c5c7af634",
}

_original_load_agent: Optional[Any] = None
_tasks: "set[asyncio.Task]" = set()


def seconds_between_pulls(server: Any) -> float:
    """``wait_time_between_pulls`` of the ``models:`` endpoint (at least 1 s)."""
    value = server.kwargs.get("wait_time_between_pulls", DEFAULT_SECONDS)
    try:
        return max(1.0, float(value))
    except (TypeError, ValueError):
        return float(DEFAULT_SECONDS)


def swap_in(agent: Any, processor: Any, fingerprint: str) -> None:
    """Puts a loaded processor in place: what ``Agent.load_model`` does after building it. No
    await in between, so no request sees half of it."""
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator

    agent.processor = processor
    agent.domain = processor.domain
    agent._set_fingerprint(fingerprint)
    agent.tracker_store.domain = agent.domain
    if isinstance(agent.nlg, TemplatedNaturalLanguageGenerator):
        agent.nlg.responses = agent.domain.responses if agent.domain else {}


def build_processor(agent: Any, model_path: str) -> Any:
    """A processor for ``model_path`` wired as the agent's (in a worker thread)."""
    from rasa.core.processor import MessageProcessor

    return MessageProcessor(
        model_path=model_path,
        tracker_store=agent.tracker_store,
        lock_store=agent.lock_store,
        action_endpoint=agent.action_endpoint,
        generator=agent.nlg,
        http_interpreter=agent.http_interpreter,
    )


async def pull_once(server: Any, agent: Any) -> bool:
    """Fetches the published model when it is not the one running and puts it in place; returns
    whether a new model was loaded. Errors reaching the console raise; a model that does not load
    is logged and the running one kept."""
    from rasa.core.agent import _pull_model_and_fingerprint
    from rasa.utils.common import TempDirectoryPath, get_temp_dir_name

    with TempDirectoryPath(get_temp_dir_name()) as folder:
        fingerprint = await _pull_model_and_fingerprint(server, agent.fingerprint, folder)
        if not fingerprint:
            return False
        started = time.monotonic()
        try:
            processor = await asyncio.to_thread(build_processor, agent, folder)
        except Exception:  # noqa: BLE001 - a bad model must never stop the server that answers with the old one
            logger.exception("The published model %s did not load; the running model stays", fingerprint[:12])
            return False
        swap_in(agent, processor, fingerprint)
        logger.info(
            "Now answering with the published model %s (loaded in %.1f s)", fingerprint[:12], time.monotonic() - started
        )
        return True


async def follow(server: Any, agent: Any) -> None:
    """Fetches the published model every ``wait_time_between_pulls`` seconds, for as long as the server runs."""
    import aiohttp

    wait = seconds_between_pulls(server)
    reachable = True
    while True:
        await asyncio.sleep(wait)
        try:
            await pull_once(server, agent)
            if not reachable:
                logger.info("The model server answers again")
            reachable = True
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            if reachable:
                logger.warning("The model server did not answer (%s); the running model stays", type(error).__name__)
            reachable = False


async def load_agent(
    model_path: Optional[str] = None,
    model_server: Any = None,
    remote_storage: Optional[str] = None,
    endpoints: Any = None,
    loop: Any = None,
) -> Any:
    """Rasa's ``load_agent``, except that with both a model file and ``models:`` the file is
    loaded first and the model server followed after (see the module's docstring)."""
    import rasa.model
    from rasa.exceptions import ModelNotFound

    from clinic.published_model import fingerprint

    server = getattr(endpoints, "model", None) if endpoints is not None else None
    local = None
    if server is not None and model_path:
        try:
            local = rasa.model.get_local_model(model_path)
        except ModelNotFound:
            local = None
    if server is None or local is None:
        return await _original_load_agent(model_path, model_server, remote_storage, endpoints, loop)
    without_server = copy.copy(endpoints)
    without_server.model = None
    agent = await _original_load_agent(local, None, remote_storage, without_server, loop)
    agent.model_server = server
    if agent.processor is not None:
        agent._set_fingerprint(fingerprint(Path(local)))
    task = asyncio.get_running_loop().create_task(follow(server, agent))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return agent


def install() -> None:
    """Makes Rasa's server start use ``load_agent`` above."""
    global _original_load_agent
    import rasa.core.agent

    if installed():
        return
    _original_load_agent = rasa.core.agent.load_agent
    rasa.core.agent.load_agent = load_agent


def installed() -> bool:
    import rasa.core.agent

    return rasa.core.agent.load_agent is load_agent


async def stop_following() -> None:
    """Cancels the fetching tasks (at server stop)."""
    for task in list(_tasks):
        task.cancel()
    for task in list(_tasks):
        try:
            await task
        except asyncio.CancelledError:
            pass
