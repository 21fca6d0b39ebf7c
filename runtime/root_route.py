"""Rasa's root route, ``GET /``, without Rasa's version.

Rasa answers ``GET /`` with "Hello from Rasa: 3.6.21", which tells anyone scanning the
server which release's published weaknesses to try. The route stays (load balancers and
scripts use it to see the server is up) and answers ``{"status": "ok"}``.
"""

from __future__ import annotations

from typing import Any

# What this relies on in Rasa (runtime/internals.py checks it before the server starts): both
# ways Rasa builds its app add the root route through ``rasa.server.add_root_route``.
RELIES_ON = {
    "rasa.server:add_root_route": "acc5f7c278af32f8",
    "rasa.core.run:_create_app_without_api": "b20b15ec0c9a106d",
}


def add_root_route(app: Any) -> None:
    """``GET /``: the server is up; nothing about what it runs."""
    from sanic import response

    @app.get("/")
    async def hello(_request: Any) -> Any:
        return response.json({"status": "ok"})


def install() -> None:
    """Makes Rasa add this root route instead of its own (``runtime.serve``)."""
    import rasa.server

    if installed():
        return
    add_root_route.__rasa_original__ = rasa.server.add_root_route  # type: ignore[attr-defined]
    rasa.server.add_root_route = add_root_route


def installed() -> bool:
    """Whether Rasa will add this root route."""
    import rasa.server

    return rasa.server.add_root_route is add_root_route
