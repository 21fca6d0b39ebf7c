"""speedups/: each speed-up does exactly what the Rasa code it stands in for does."""

from __future__ import annotations

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from speedups.action_results import fast_result_check

SCHEMA = RemoteAction.action_response_format_spec()
GOOD = [
    {},
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "full_name", "value": "Ann Lee", "timestamp": None},
                {"event": "active_loop", "name": None}], "responses": [{"text": "hi", "buttons": []}]},
    {"events": [{"event": "bot", "text": "hello"}], "responses": [{"response": "utter_greet"}]},
]
BAD = [
    [],
    {"events": "not a list"},
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"event": "slot", "value": 1}]},  # a slot event without its name
    {"responses": ["text"]},
    {"responses": {"text": "hi"}},
]


@pytest.mark.parametrize("result", GOOD)
def test_what_rasa_accepts_is_accepted(result):
    jsonschema.validate(result, SCHEMA)  # Rasa's own check
    assert fast_result_check(SCHEMA, "https://rasa.com/docs/rasa")(None, result) is True


@pytest.mark.parametrize("result", BAD)
def test_what_rasa_refuses_is_refused_with_the_same_error(result):
    with pytest.raises(jsonschema.ValidationError) as rasa_way:
        jsonschema.validate(result, SCHEMA)
    with pytest.raises(jsonschema.ValidationError) as ours:
        fast_result_check(SCHEMA, "https://rasa.com/docs/rasa")(None, result)
    assert ours.value.message.startswith(rasa_way.value.message)
    assert "Failed to validate Action server response" in ours.value.message
    assert list(ours.value.path) == list(rasa_way.value.path)
