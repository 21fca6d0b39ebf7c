"""Rasa's calls to the action server over connections kept open between calls.

For every custom action Rasa's ``EndpointConfig.request`` opens a new aiohttp session: a
new TCP connection to the action server, then the session closed again. Under load each of
those steps hands the event loop to the other conversations, and a message that calls the
action server (a conversation's first message, the opening hours, every booking turn) went
to the back of the queue several times: at 20 conversations they made the slowest 5% of
answers (docs/benchmarks.md: p95 174 -> 140 ms in the profiling run).

``install()`` (at server start) makes ``EndpointConfig.session`` hand out one long-lived
session per event loop and configuration, configured exactly as Rasa configures its own
(headers, basic auth, timeout), whose idle connections are closed after
``KEEPALIVE_SECONDS``: well before the action server's own keep-alive timeout (Sanic's
default, 5 s), so a connection is never reused after the server has let it go. The request
itself (URL, body, headers, errors) is Rasa's, unchanged. ``close_sessions()`` closes them
when the server stops.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, Tuple

import aiohttp

KEEPALIVE_SECONDS = 1.0

# What this relies on in Rasa (runtime/internals.py checks it before the server starts): the
# request goes through ``self.session()``, whose settings ``rasa_session_settings`` copies.
RELIES_ON = {
    "rasa.utils.endpoints:EndpointConfig.session": "e55aa13d9d4fb4bc",
    "rasa.utils.endpoints:EndpointConfig.request": "ccdb778aed8208e2",
}

_sessions: Dict[Tuple[Any, ...], aiohttp.ClientSession] = {}


class _Borrowed:
    """What Rasa's ``async with self.session() as session`` gets: the shared session, not closed on exit."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self._session

    async def __aexit__(self, *exc_info: Any) -> bool:
        return False


def rasa_session_settings(endpoint: Any) -> Dict[str, Any]:
    """The settings Rasa's ``EndpointConfig.session()`` gives its session."""
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT

    auth = None
    if endpoint.basic_auth:
        auth = aiohttp.BasicAuth(endpoint.basic_auth["username"], endpoint.basic_auth["password"])
    return {"headers": endpoint.headers, "auth": auth, "timeout": aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT)}


def shared_session(endpoint: Any) -> Any:
    """A replacement for ``EndpointConfig.session``: the shared session of this loop and settings."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not inside the server's loop: Rasa's own session
        return _ORIGINAL["session"](endpoint)
    key = (
        id(loop),
        tuple(sorted((endpoint.headers or {}).items())),
        tuple(sorted((endpoint.basic_auth or {}).items())),
    )
    session = _sessions.get(key)
    if session is None or session.closed:
        connector = aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS)
        session = aiohttp.ClientSession(connector=connector, **rasa_session_settings(endpoint))
        _sessions[key] = session
    return _Borrowed(session)


_ORIGINAL: Dict[str, Any] = {}


def install() -> None:
    """Makes Rasa's endpoints use the shared sessions (``runtime.serve``)."""
    from rasa.utils.endpoints import EndpointConfig

    if "session" not in _ORIGINAL:
        _ORIGINAL["session"] = EndpointConfig.session
        shared_session.__rasa_original__ = EndpointConfig.session  # type: ignore[attr-defined]
        EndpointConfig.session = shared_session  # type: ignore[assignment]


def installed() -> bool:
    """Whether Rasa's endpoints use the shared sessions."""
    from rasa.utils.endpoints import EndpointConfig

    return EndpointConfig.session is shared_session


async def close_sessions() -> None:
    """Closes the shared sessions of the running loop (when the server stops)."""
    loop = asyncio.get_running_loop()
    for key in [key for key in _sessions if key[0] == id(loop)]:
        await _sessions.pop(key).close()
