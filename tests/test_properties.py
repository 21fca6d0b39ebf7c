"""Property-based tests (hypothesis): whatever arrives, the request checks, the booking readers
and the safety net answer with a result or a reason, never an exception, and what they accept
is what the rest of the assistant relies on."""

from __future__ import annotations

import json
import string
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic.booking_validation import (
    parse_contact,
    parse_email,
    parse_name,
    parse_phone,
    parse_preferred_time,
)
from clinic.profile import current_profile
from clinic_nlu.red_flags import PATTERNS, urgent_symptom
from tests.conftest import generated_examples
from website.channel import widget_messages
from website.requests import BadRequest, WidgetMessage, button_payload_or_text, parse_widget_request

pytestmark = pytest.mark.unit

FAST = settings(max_examples=generated_examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
VISITOR_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)


def checked(body: bytes):
    """Either a checked message or a BadRequest with a non-empty reason; anything else fails the test."""
    try:
        return parse_widget_request(body)
    except BadRequest as problem:
        assert str(problem)
        return problem


@FAST
@given(st.binary(max_size=400))
def test_any_bytes_get_a_message_or_a_reason(body):
    checked(body)


@FAST
@given(JSON_VALUES)
def test_any_json_document_gets_a_message_or_a_reason(document):
    result = checked(json.dumps(document).encode())
    if isinstance(result, WidgetMessage):
        assert isinstance(document, dict) and result.sender == str(uuid.UUID(document["sender"]))


@FAST
@given(
    st.uuids(),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=2000
    ).filter(lambda text: text.strip()),
    st.dictionaries(st.text(string.ascii_letters, max_size=10), st.text(max_size=20), max_size=5),
)
def test_every_well_formed_request_is_accepted_as_sent(sender, text, metadata):
    body = json.dumps({"sender": str(sender), "message": text, "metadata": metadata}).encode()
    message = parse_widget_request(body)
    assert message == WidgetMessage(sender=str(sender), text=text, metadata=metadata)


@FAST
@given(st.uuids(), st.text(alphabet=string.printable.replace("\x00", ""), max_size=40), st.integers(2001, 4000))
def test_too_long_is_refused(sender, start, length):
    text = (start + "x" * length)[:length]
    result = checked(json.dumps({"sender": str(sender), "message": text}).encode())
    assert isinstance(result, BadRequest) and "longer than 2000" in str(result)


SLASHY_TEXT = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda a, b: "/" + a + b,
        st.sampled_from(["greet", "deny", "choose_faq_topic", "nope", ""]),
        st.one_of(st.text(max_size=40), JSON_VALUES.map(json.dumps)),
    ),
)


@FAST
@given(SLASHY_TEXT)
def test_only_a_payload_rasa_reads_without_complaint_reaches_it_with_a_slash(text):
    """What reaches Rasa starting with "/" names a known intent and only known entities
    (so Rasa never warns with the visitor's words); everything else keeps its words."""
    intents, entities = ["greet", "deny", "choose_faq_topic"], ["faq_topic"]
    sent = button_payload_or_text(text, intents, entities)
    if sent.strip().startswith("/"):
        intent, _, rest = sent.strip()[1:].partition("{")
        assert intent in intents
        assert not rest or set(json.loads("{" + rest)) <= set(entities)
    else:
        assert sent == text or sent in text


@FAST
@given(VISITOR_TEXT)
def test_the_readers_never_raise_and_say_why_when_they_refuse(text):
    profile = current_profile()
    for parsed in (parse_name(text), parse_phone(text, profile.country), parse_contact(text, profile.country)):
        assert parsed.ok or (isinstance(parsed.problem, str) and parsed.problem)
    email = parse_email(text)
    assert email is None or "@" in email
    name = parse_name(text)
    if name.ok and name.value:
        assert name.value.strip() == name.value and len(name.value) <= 200
    phone = parse_phone(text, profile.country)
    if phone.ok and phone.value:
        assert phone.value.startswith("+") and phone.value[1:].isdigit()


NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


@FAST
@given(VISITOR_TEXT)
def test_an_accepted_time_is_in_the_future_open_and_within_six_months(text):
    profile = current_profile()
    parsed = parse_preferred_time(text, profile, NOW)
    assert parsed.ok or parsed.problem
    if parsed.ok and parsed.value and "when" in parsed.value and not parsed.value.get("asap"):
        when = parsed.value["when"]
        assert when.tzinfo is not None and when > NOW and when <= NOW + timedelta(days=184)
        assert profile.is_open_at(when)


@FAST
@given(VISITOR_TEXT)
def test_the_safety_net_never_raises(text):
    assert urgent_symptom(text) in (None, *PATTERNS)


@FAST
@given(st.lists(st.dictionaries(st.sampled_from(["recipient_id", "text", "buttons", "image", "custom"]), JSON_VALUES)))
def test_only_text_and_well_formed_buttons_reach_the_widget(collected):
    for reply in widget_messages(collected):
        assert set(reply) <= {"recipient_id", "text", "buttons"}
        assert isinstance(reply.get("text", ""), str)
        for button in reply.get("buttons", []):
            assert set(button) == {"title", "payload"} and all(isinstance(v, str) for v in button.values())
