"""A network-reachable action server needs the shared token that Rasa sends from endpoints.yml."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest

from clinic import settings
from tests.conftest import MODEL_PATH
from tests.test_action_server_start import start
from tools.servers import start_assistant

pytestmark = pytest.mark.servers

TOKEN = "test-action-token-0123456789abcdef"


def test_a_network_host_without_a_token_refuses_to_start(tmp_path):
    code, stderr = start(tmp_path, ACTION_SERVER_HOST="0.0.0.0", ACTION_SERVER_TOKEN="")
    assert code == 2
    assert "ACTION_SERVER_HOST=0.0.0.0" in stderr and "ACTION_SERVER_TOKEN" in stderr


def test_a_short_token_is_refused():
    with pytest.raises(settings.SettingsError, match="ACTION_SERVER_TOKEN"):
        settings.action_server_token({"ACTION_SERVER_TOKEN": "short"})
    assert settings.action_server_token({}) is None
    settings.check_action_server_exposure("127.0.0.1", None)  # loopback needs none


def call_webhook(port: int, authorization: str = None):
    body = json.dumps(
        {
            "next_action": "action_tell_hours",
            "sender_id": "x",
            "tracker": {"sender_id": "x", "slots": {}, "latest_message": {}, "events": [], "active_loop": {}},
            "domain": {},
        }
    ).encode()
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    request = urllib.request.Request(f"http://127.0.0.1:{port}/webhook", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_only_rasa_with_the_token_is_served(tmp_path):
    running = start_assistant(MODEL_PATH, tmp_path, {"ACTION_SERVER_TOKEN": TOKEN})
    try:
        assert call_webhook(running.action_port) == 401
        assert call_webhook(running.action_port, "Bearer wrong-token-wrong-token-00") == 401
        assert call_webhook(running.action_port, f"Bearer {TOKEN}") == 200
        # Rasa sends the token (endpoints.yml headers): custom actions answer through it.
        replies = " ".join(r.get("text", "") for r in running.say(str(uuid.uuid4()), "what are your opening hours?"))
        assert "Monday" in replies
        assert TOKEN not in running.log_text()
    finally:
        running.stop()
