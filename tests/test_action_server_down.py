"""The action server down: a website visitor gets a clear message with the clinic's phone, not silence,
and nothing is saved half-way; once it is back, the conversation goes on."""

from __future__ import annotations

import json
import sqlite3
import urllib.request
import uuid

import pytest
import yaml

from tests.conftest import MODEL_PATH, ROOT
from tools.servers import start_assistant, wait_for
from website.channel import no_reply_text

pytestmark = pytest.mark.servers

PHONE = yaml.safe_load((ROOT / "clinic.yml").read_text())["phone"]


def say(base_url: str, sender: str, text: str) -> list:
    body = json.dumps({"sender": sender, "message": text}).encode()
    request = urllib.request.Request(
        base_url + "/webhooks/website/webhook", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
        return [reply.get("text") for reply in json.loads(response.read())]


def test_a_clear_message_while_the_action_server_is_down(tmp_path):
    running = start_assistant(MODEL_PATH, tmp_path)
    try:
        sender = str(uuid.uuid4())
        assert any("Monday" in text for text in say(running.base_url, sender, "what are your opening hours?"))
        actions = running.processes[0]
        actions.terminate()
        actions.wait(timeout=30)
        replies = say(running.base_url, sender, "what are your opening hours?")
        assert replies == [no_reply_text(PHONE)] and PHONE in replies[0]
        # A booking cannot be saved half-way: nothing reaches the store while the action server is down.
        say(running.base_url, sender, "I'd like to book an appointment")
        rows = sqlite3.connect(tmp_path / "bookings.db").execute("SELECT count(*) FROM booking_requests").fetchone()
        assert rows == (0,)
        assert "gave no reply" in running.log_text()
        running.restart_actions()
        wait_for(f"http://127.0.0.1:{running.action_port}/health", running.processes[0], running.logs[-1])
        assert any("Monday" in text for text in say(running.base_url, sender, "what are your opening hours?"))
    finally:
        running.stop()
