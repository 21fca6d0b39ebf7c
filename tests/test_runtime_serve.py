"""The one way Rasa is started (runtime/serve.py): it refuses a Rasa whose internals changed,
installs every replacement and the privacy filter, and a REST-only server started through
it is extended and filtered like the full one."""

from __future__ import annotations

import uuid
import warnings

import pytest
import rasa.core.processor
from rasa.core.actions.action import RemoteAction
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.domain import Domain
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader

from runtime import graph_runner, internals, privacy, serve, train
from tests.conftest import MODEL_PATH
from tools.servers import start_assistant

FORGED = '/book_appointment{"full_name": "Zelda Quux", "phone": "+1 202 555 0147"'  # broken JSON


@pytest.mark.unit
def test_every_internal_relied_on_is_the_installed_rasas():
    """The digests in each module's RELIES_ON are those of the pinned Rasa's source."""
    assert internals.problems([*serve.CHECKED, *train.CHECKED]) == []
    assert internals.check(serve.CHECKED) == sum(len(module.RELIES_ON) for module in serve.CHECKED)


@pytest.mark.unit
def test_a_changed_internal_stops_the_server_before_anything_is_installed(monkeypatch, capsys):
    def changed(self, result):  # what an upgrade could make of it
        return True

    monkeypatch.setattr(RemoteAction, "_validate_action_result", changed)
    monkeypatch.setattr(rasa.core.processor, "DaskGraphRunner", DaskGraphRunner)

    assert serve.main(["run", "--port", "1"]) == 2
    printed = capsys.readouterr().err
    assert "The Rasa server cannot start" in printed
    assert "rasa.core.actions.action:RemoteAction._validate_action_result has changed" in printed
    assert "re-check runtime.action_results" in printed
    assert rasa.core.processor.DaskGraphRunner is DaskGraphRunner  # nothing was installed
    assert RemoteAction._validate_action_result is changed


@pytest.mark.unit
def test_a_missing_internal_is_named(monkeypatch):
    monkeypatch.delattr(RemoteAction, "action_response_format_spec")
    found = internals.problems(serve.CHECKED)
    assert found == [
        "rasa.core.actions.action:RemoteAction.action_response_format_spec is gone (AttributeError); "
        "runtime.action_results relies on it"
    ]


@pytest.mark.unit
def test_the_graph_runner_refuses_a_processor_that_no_longer_names_it(monkeypatch):
    monkeypatch.delattr(rasa.core.processor, "DaskGraphRunner")
    with pytest.raises(RuntimeError, match="no longer loads models with DaskGraphRunner"):
        graph_runner.install()
    assert not graph_runner.installed()


@pytest.mark.unit
def test_the_rasa_command_and_its_options():
    assert serve.rasa_arguments([]) == ("run", [])
    assert serve.rasa_arguments(["shell", "-m", "model.tar.gz"]) == ("shell", ["-m", "model.tar.gz"])
    assert serve.rasa_arguments(["--port", "5005"]) == ("run", ["--port", "5005"])


@pytest.mark.unit
def test_rasas_payload_warning_carries_the_visitors_words_unless_filtered():
    """Rasa warns with the whole message; the filter, installed after Rasa's own ("once"), drops it."""
    domain = Domain.from_dict({"intents": ["book_appointment"]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.filterwarnings("once", category=UserWarning)  # what Rasa's CLI sets up
        YAMLStoryReader.unpack_regex_message(_message(FORGED), domain)
    assert any("Zelda Quux" in str(warning.message) for warning in caught)  # the danger is real
    assert not privacy.installed()

    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.filterwarnings("once", category=UserWarning)
        privacy.install()
        assert privacy.installed()
        YAMLStoryReader.unpack_regex_message(_message(FORGED), domain)
    assert [str(warning.message) for warning in caught] == []


@pytest.mark.unit
def test_the_structured_log_hides_what_visitors_typed():
    event = {"event": "message.parsing.failed", "user_text": FORGED, "parse_data_entities": [{"value": "Zelda"}]}
    assert privacy.hide_visitor_words(None, "warning", dict(event)) == {
        "event": "message.parsing.failed",
        "user_text": "[hidden]",
        "parse_data_entities": "[hidden]",
    }


def _message(text: str):
    from rasa.shared.nlu.training_data.message import Message

    return Message(data={"text": text})


@pytest.mark.servers
def test_a_rest_only_server_started_the_documented_way_is_extended_and_filtered(tmp_path, answers):
    if not MODEL_PATH.exists():
        pytest.fail("no trained model: run `make train` (make test does)")
    credentials = tmp_path / "credentials.yml"
    credentials.write_text("rest:\n")
    assistant = start_assistant(MODEL_PATH, tmp_path, credentials=credentials)
    try:
        sender = str(uuid.uuid4())
        assert assistant.say(sender, FORGED) is not None  # answered, whatever it made of it
        # No payload at all: Rasa's structured log names the text ("message.parsing.failed").
        assert assistant.say(sender, "/ my name is Zelda Quux, call +1 202 555 0147") is not None
        replies = assistant.say(sender, "does dry needling hurt?")
        assert answers["does_it_hurt"] in [reply.get("text") for reply in replies], replies
        status, _ = assistant.request("POST", "/webhooks/website/webhook", b"{}", {"Content-Type": "application/json"})
        assert assistant.request("GET", "/") == (200, {"status": "ok"})  # up, and no version named
        assert status == 404  # only the REST channel is served
        logs = assistant.log_text()
    finally:
        assistant.stop()
    extended = [line for line in logs.splitlines() if "runtime.serve" in line and "extended" in line]
    assert len(extended) == 1, logs[-3000:]
    for words in (
        "the model's graph run in a fixed order",
        "action answers checked by a validator built once",
        "kept-alive action server connections",
        "visitors' words kept out of Rasa's warnings",
        "a root route that names no version",
    ):
        assert words in extended[0]
    assert "no model is loaded" not in extended[0]
    assert "Zelda" not in logs and "555 0147" not in logs
