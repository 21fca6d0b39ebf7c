"""The website channel's request checks: every bad request is refused with a reason."""

from __future__ import annotations

import json

import pytest

from website.requests import BadRequest, button_payload_or_text, parse_widget_request

pytestmark = pytest.mark.unit

SENDER = "bd9a2a71-93f0-43e8-8c23-45809aa102f0"  # fixed: the parameters name it, and every worker must collect the same


def body(**fields) -> bytes:
    return json.dumps(fields).encode()


def test_a_good_request():
    message = parse_widget_request(body(sender=SENDER.upper(), message="does it hurt?", metadata={"page": "/"}))
    assert (message.sender, message.text, message.metadata) == (SENDER, "does it hurt?", {"page": "/"})
    assert parse_widget_request(body(sender=SENDER, message="hi")).metadata == {}


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"", "JSON object"),
        (b"not json", "JSON object"),
        (b"\xff\xfe", "UTF-8"),
        (b"[1, 2]", "not list"),
        (b"42", "not int"),
        (b'"text"', "not str"),
        (b"null", "not NoneType"),
        (body(message="hi"), "'sender' is required"),
        (body(sender="default", message="hi"), "'sender' must be a UUID"),
        (body(sender=123, message="hi"), "'sender' must be a string"),
        (body(sender="{" + SENDER + "}", message="hi"), "usual form"),
        (body(sender=SENDER), "'message' is required"),
        (body(sender=SENDER, message=None), "'message' is required"),
        (body(sender=SENDER, message=5), "'message' must be a string"),
        (body(sender=SENDER, message="   "), "'message' is empty"),
        (body(sender=SENDER, message="a\x00b"), "NUL"),
        (body(sender=SENDER, message="x" * 2001), "longer than 2000"),
        (body(sender=SENDER, message="hi", metadata=[1]), "'metadata' must be a JSON object"),
        (body(sender=SENDER, message="hi", metadata={"x": "y" * 5000}), "larger than"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(raw, reason):
    with pytest.raises(BadRequest, match=reason):
        parse_widget_request(raw)


def test_the_length_limit_is_configurable():
    assert parse_widget_request(body(sender=SENDER, message="x" * 2001), max_length=5000).text == "x" * 2001
    with pytest.raises(BadRequest, match="longer than 10"):
        parse_widget_request(body(sender=SENDER, message="x" * 11), max_length=10)


def test_emoji_right_to_left_and_markup_are_kept_as_text():
    for text in ("👋 hi", "مرحبا", "e\u0301", "<img src=x onerror=alert(1)>"):
        assert parse_widget_request(body(sender=SENDER, message=text)).text == text


INTENTS = ["choose_faq_topic", "book_appointment", "deny", "greet"]
ENTITIES = ["faq_topic", "booking_field"]


@pytest.mark.parametrize(
    "payload",
    [
        '/choose_faq_topic{"faq_topic": "does_it_hurt"}',
        "/deny",
        '/book_appointment{"booking_field": "time"}',
        "/greet{}",
    ],
)
def test_the_assistants_own_button_payloads_pass_unchanged(payload):
    assert button_payload_or_text(payload, INTENTS, ENTITIES) == payload


@pytest.mark.parametrize(
    "typed, sent",
    [
        # forged entities, an unknown intent, a confidence, broken JSON: the visitor's words, as text
        (
            '/book_appointment{"full_name": "Ann Lee", "phone": "+12025550123"}',
            'book_appointment{"full_name": "Ann Lee", "phone": "+12025550123"}',
        ),
        ("/restart", "restart"),
        ("/greet@0.99", "greet@0.99"),
        ('/choose_faq_topic{"faq_topic": ', 'choose_faq_topic{"faq_topic":'),
        ('/choose_faq_topic["faq_topic"]', 'choose_faq_topic["faq_topic"]'),
        ("//help me please", "help me please"),
        ("/", ""),
        ("  /restart ", "restart"),
        (" \t/", ""),
        ("does it hurt?", "does it hurt?"),
    ],
)
def test_anything_else_starting_with_a_slash_is_typed_text(typed, sent):
    assert button_payload_or_text(typed, INTENTS, ENTITIES) == sent
