"""The action-answer check (runtime/action_results.py) does exactly what the Rasa code it stands in for does."""

from __future__ import annotations

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rasa.core.actions.action import RemoteAction

from runtime.action_results import fast_result_check
from tests.conftest import generated_examples

pytestmark = pytest.mark.unit

SCHEMA = RemoteAction.action_response_format_spec()
GOOD = [
    {},
    {"events": [], "responses": []},
    {
        "events": [
            {"event": "slot", "name": "full_name", "value": "Ann Lee", "timestamp": None},
            {"event": "active_loop", "name": None},
        ],
        "responses": [{"text": "hi", "buttons": []}],
    },
    {"events": [{"event": "bot", "text": "hello"}], "responses": [{"response": "utter_greet"}]},
    # what action_session_start answers on a conversation's first message
    {
        "events": [
            {"event": "session_started", "timestamp": None},
            {"event": "slot", "name": "disclaimer_given", "value": True, "timestamp": None},
            {"event": "action", "name": "action_listen", "policy": None, "confidence": None, "timestamp": None},
        ],
        "responses": [
            {
                "text": None,
                "buttons": [],
                "elements": [],
                "custom": {},
                "template": None,
                "response": "utter_disclaimer",
                "image": None,
                "attachment": None,
            }
        ],
    },
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


EVENT_NAMES = [
    "user",
    "bot",
    "slot",
    "action",
    "session_started",
    "active_loop",
    "form",
    "reset_slots",
    "followup",
    "rewind",
    "undo",
    "restart",
    "reminder",
    "cancel_reminder",
    "pause",
    "resume",
    "export",
    "agent",
    "action_execution_rejected",
    "loop_interrupted",
    "entities",
    "no_such_event",
]
KEYS = [
    "name",
    "value",
    "text",
    "timestamp",
    "metadata",
    "parse_data",
    "intent",
    "entities",
    "policy",
    "confidence",
    "data",
    "is_interrupted",
    "action_text",
    "input_channel",
    "message_id",
    "buttons",
    "response",
    "template",
    "image",
    "custom",
    "attachment",
    "elements",
    "quick_replies",
    "events",
    "responses",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "x", "utter_greet", "faq/cost"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=8,
)
events = st.builds(
    lambda kind, rest: {**rest, "event": kind} if kind else rest,
    st.one_of(st.none(), st.sampled_from(EVENT_NAMES)),
    st.dictionaries(st.sampled_from(KEYS), values, max_size=4),
)
answers = st.one_of(
    values,
    st.fixed_dictionaries(
        {},
        optional={
            "events": st.one_of(st.lists(events, max_size=4), values),
            "responses": st.one_of(
                st.lists(st.dictionaries(st.sampled_from(KEYS), values, max_size=3), max_size=3), values
            ),
        },
    ),
)


CHECK = fast_result_check(SCHEMA, "https://rasa.com/docs/rasa")
REFERENCE = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)


@settings(max_examples=generated_examples(400), deadline=None)
@given(answers)
def test_an_answer_is_accepted_exactly_when_jsonschema_accepts_it(result):
    """Also the second time, when a valid answer's digest is remembered: nothing invalid
    is ever let through."""
    refused = not REFERENCE.is_valid(result)  # what jsonschema.validate decides, schema checked once
    for _ in range(2):
        if refused:
            with pytest.raises(jsonschema.ValidationError):
                CHECK(None, result)
        else:
            assert CHECK(None, result) is True


def test_the_remembered_answers_are_bounded():
    from runtime.action_results import REMEMBERED_VALID_ANSWERS

    check = fast_result_check(SCHEMA, "https://rasa.com/docs/rasa")
    for number in range(REMEMBERED_VALID_ANSWERS + 50):
        check(None, {"events": [{"event": "slot", "name": "n", "value": number}]})
    remembered = check.__closure__  # the dict of digests lives in the closure
    sizes = [len(cell.cell_contents) for cell in remembered if isinstance(cell.cell_contents, dict)]
    assert sizes == [REMEMBERED_VALID_ANSWERS]
