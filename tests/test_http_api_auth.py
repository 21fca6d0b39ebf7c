"""Rasa's HTTP API is off by default (tests/test_e2e_conversation.py). Where a deployment turns it
on, the documented way (docs/configuration.md) (--enable-api with --auth-token) must keep strangers out: without the token
/status, /model and /conversations answer 401 (CVE-2024-49375: an open API could load a model)."""

from __future__ import annotations

import pytest

from tests.conftest import MODEL_PATH
from tools.servers import start_assistant

pytestmark = pytest.mark.servers

TOKEN = "api-token-for-the-test-0123456789"


def test_the_api_turned_on_with_a_token_refuses_strangers(tmp_path):
    running = start_assistant(MODEL_PATH, tmp_path, rasa_args=["--enable-api", "--auth-token", TOKEN])
    try:
        for method, path in [
            ("GET", "/status"),
            ("GET", "/conversations/x/tracker"),
            ("PUT", "/model"),
            ("POST", "/model/parse"),
        ]:
            status, _ = running.request(
                method, path, body=b"{}" if method != "GET" else None, headers={"Content-Type": "application/json"}
            )
            assert status == 401, (method, path, status)
            status, _ = running.request(
                method,
                path + "?token=wrong",
                body=b"{}" if method != "GET" else None,
                headers={"Content-Type": "application/json"},
            )
            assert status == 401, (method, path, "wrong token", status)
        status, answer = running.request("GET", f"/status?token={TOKEN}")
        assert status == 200 and "model_id" in answer
    finally:
        running.stop()
