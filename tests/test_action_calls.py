"""runtime/action_calls.py: Rasa's requests to an endpoint, through Rasa's own
EndpointConfig.request, reuse one connection while calls follow each other, open a new one
after the keep-alive, carry Rasa's headers and auth, and report errors as before. Against a
real local HTTP server that counts the connections it accepts."""

from __future__ import annotations

import asyncio
import base64

import pytest
from aiohttp import web
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

from runtime import action_calls

pytestmark = pytest.mark.unit


@pytest.fixture
def installed(monkeypatch):
    monkeypatch.setattr(action_calls, "_ORIGINAL", {})
    monkeypatch.setattr(action_calls, "KEEPALIVE_SECONDS", 0.3)
    original = EndpointConfig.session
    action_calls.install()
    yield
    EndpointConfig.session = original


async def serve(seen):
    async def webhook(request):
        peer = request.transport.get_extra_info("peername")
        seen.append({"peer": peer, "headers": dict(request.headers), "body": await request.json()})
        if (await request.json()).get("fail"):
            return web.json_response({"error": "no"}, status=500)
        return web.json_response({"events": [], "responses": []})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}/webhook"


def test_calls_share_a_connection_and_carry_rasas_settings(installed):
    seen = []

    async def scenario():
        runner, url = await serve(seen)
        endpoint = EndpointConfig(url, headers={"Authorization": "Bearer s3cret"})
        try:
            for number in range(3):
                assert await endpoint.request(json={"n": number}, method="post") == {"events": [], "responses": []}
            await asyncio.sleep(0.6)  # past the keep-alive: the connection is let go
            await endpoint.request(json={"n": 3}, method="post")
            with pytest.raises(ClientResponseError):
                await endpoint.request(json={"fail": True}, method="post")
        finally:
            await action_calls.close_sessions()
            await runner.cleanup()

    asyncio.run(scenario())
    peers = [request["peer"] for request in seen]
    assert peers[0] == peers[1] == peers[2]  # one connection for calls in a row
    assert peers[3] != peers[0]  # a new one after the keep-alive
    assert [request["body"].get("n") for request in seen[:4]] == [0, 1, 2, 3]
    for request in seen:
        assert request["headers"]["Authorization"] == "Bearer s3cret"  # the action server's token
        assert request["headers"]["Content-Type"] == "application/json"
    assert not action_calls._sessions  # closed when the server stops


def test_basic_auth_is_sent_as_rasa_sends_it(installed):
    seen = []

    async def scenario():
        runner, url = await serve(seen)
        try:
            await EndpointConfig(url, basic_auth={"username": "u", "password": "p"}).request(json={}, method="post")
        finally:
            await action_calls.close_sessions()
            await runner.cleanup()

    asyncio.run(scenario())
    assert seen[0]["headers"]["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
