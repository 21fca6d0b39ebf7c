"""Publish, history and Undo through the real processes: the console (with its publisher), and the
action server and Rasa server following the console's model (``models:`` in their endpoints).

The console's topic files and model are copies, so the project's own are never touched. While a
publish is swapped in, a visitor load runs through the REST channel and every request must get
its answer; no server is restarted.
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
import urllib.request
from typing import Iterator

import pytest

from tests.conftest import MODEL_PATH as MODEL
from tests.conftest import ROOT
from tools.console_http import PASSWORD, Client
from tools.publish_timing import Visitors
from tools.servers import free_port, model_server_section, start_assistant, start_console, wait_until

pytestmark = pytest.mark.servers

QUESTION = "what needles do you use"
ADDED = "Ask the team which needle size suits you best."


class Setup:
    def __init__(self, work, console, assistant, token) -> None:
        self.work, self.console, self.assistant, self.token = work, console, assistant, token
        self.data = work / "data"
        self.model = work / "models" / "clinic-assistant.tar.gz"


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Iterator[Setup]:
    work = tmp_path_factory.mktemp("console-publish")
    shutil.copytree(ROOT / "data", work / "data")
    (work / "models").mkdir()
    shutil.copyfile(MODEL, work / "models" / "clinic-assistant.tar.gz")
    (work / "assistant").mkdir()
    token = secrets.token_hex(16)
    port = free_port()
    console = start_console(
        work,
        port=port,
        env={
            "CONSOLE_DATA_DIR": str(work / "data"),
            "CONSOLE_MODEL": str(work / "models" / "clinic-assistant.tar.gz"),
            "MODEL_SERVER_TOKEN": token,
            "TRACKER_DB_URL": f"sqlite:///{work / 'assistant' / 'tracker.db'}",
        },
    )
    assistant = None
    try:
        added = console.staff("add-user", "anna", "--password-stdin", stdin=PASSWORD + "\n")
        assert added.returncode == 0, added.stderr
        assistant = start_assistant(
            work / "models" / "clinic-assistant.tar.gz",
            work / "assistant",
            model_server=model_server_section(port, token),
        )
        yield Setup(work, console, assistant, token)
    finally:
        if assistant is not None:
            assistant.stop()
        console.stop()


def signed_in(setup: Setup) -> Client:
    client = Client(setup.console.port)
    status, headers, _ = client.log_in("anna")
    assert (status, headers["location"]) == (303, "/inbox")
    return client


def answer_text(setup: Setup, sender: str) -> str:
    return " ".join(reply.get("text", "") for reply in setup.assistant.say(sender, QUESTION))


def publish_and_wait(client: Client) -> str:
    """Presses Publish; returns the /publish page once the publish has ended."""
    status, headers, _ = client.press("/publish")
    assert (status, headers["location"]) == (303, "/publish")
    page = client.publish_ended()
    assert "Publishing now" not in page
    return page


def test_the_model_is_served_to_the_servers_token_only(setup):
    url = setup.console.base_url + "/models/clinic-assistant.tar.gz"
    try:
        urllib.request.urlopen(url, timeout=10)
        raise AssertionError("served without the token")
    except urllib.error.HTTPError as error:
        assert error.code == 401
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {setup.token}"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        etag = reply.headers["ETag"]
        assert reply.read() == setup.model.read_bytes()
    again = urllib.request.Request(url, headers={"Authorization": f"Bearer {setup.token}", "If-None-Match": etag})
    try:
        urllib.request.urlopen(again, timeout=10)
        raise AssertionError("the same model was sent again")
    except urllib.error.HTTPError as error:
        assert error.code == 304
    # Started from the same file, the Rasa server never fetched it.
    assert "Now answering with the published model" not in setup.assistant.log_text()


def test_an_edited_answer_published_reaches_visitors_without_a_restart_or_a_failed_request(setup):
    client = signed_in(setup)
    before = answer_text(setup, "before-edit")
    assert ADDED not in before
    status, _, page = client.edit_answer("needles", lambda answer: f"{answer} {ADDED}")
    assert status == 303, page
    _, _, waiting = client.request("GET", "/publish")
    assert "data/faq/needles.yml" in waiting and ADDED in waiting
    rasa_pid = setup.assistant.processes[1].pid

    load = Visitors(setup.assistant.base_url + "/webhooks/rest/webhook")
    load.start()
    try:
        page = publish_and_wait(client)
        assert "Published." in page, page
        for step in ("Topic files", "Rasa&#39;s data checks", "Training", "Conversation tests"):
            assert f"<strong>{step}</strong>: passed" in page
        assert wait_until(lambda: ADDED in answer_text(setup, f"after-{time.monotonic()}"), timeout=60)
        time.sleep(1)
    finally:
        load.stopping.set()
        load.join(timeout=60)
    assert load.sent >= 10
    assert load.failed == 0
    assert setup.assistant.processes[1].pid == rasa_pid and setup.assistant.processes[1].poll() is None
    assert "Now answering with the published model" in setup.assistant.log_text()
    _, _, waiting = client.request("GET", "/publish")
    assert "None: visitors get the topic files as they are now." in waiting


def test_the_history_shows_who_published_what_and_undo_brings_the_answer_back(setup):
    client = signed_in(setup)
    _, _, page = client.request("GET", "/history")
    first = re.search(r'<h2 id="p-(\d+)">Publish \1: published</h2>', page)
    assert first, page
    assert "by anna" in page and "data/faq/needles.yml" in page
    assert "<ins>+" in page and ADDED in page
    publish_id = first.group(1)
    status, headers, _ = client.request("POST", f"/history/{publish_id}/undo", {"csrf_token": client.token("/history")})
    assert (status, headers["location"]) == (303, "/publish")
    assert ADDED not in (setup.data / "faq" / "needles.yml").read_text()

    def ended() -> bool:
        _, _, now = client.request("GET", "/publish")
        return "Publishing now" not in now

    assert wait_until(ended, timeout=240)
    assert wait_until(lambda: ADDED not in answer_text(setup, f"undo-{time.monotonic()}"), timeout=60)
    _, _, page = client.request("GET", "/history")
    assert f"undoing publish {publish_id}" in page


def test_a_failed_publish_names_the_file_and_changes_nothing_for_visitors(setup):
    client = signed_in(setup)
    path = setup.data / "faq" / "needles.yml"
    kept = path.read_text()
    served = setup.model.read_bytes()
    try:
        # A hand edit that breaks the topic: its answer is gone.
        path.write_text(re.sub(r"responses:.*", "responses: {}\n", kept, flags=re.S))
        _, _, waiting = client.request("GET", "/publish")
        assert "outside the console" in waiting and "data/faq/needles.yml" in waiting
        page = publish_and_wait(client)
        assert "The last publish failed" in page
        assert "<strong>Topic files</strong>: failed" in page
        assert re.search(r"needles\.yml:\d+", page), page
        assert setup.model.read_bytes() == served
        assert "needle" in answer_text(setup, "after-failure").lower()
    finally:
        path.write_text(kept)
