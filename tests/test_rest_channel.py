"""The REST channel (website/rest.py) over the running servers: Rasa's path and answers, with
every request checked first; and its request checks and address keys on their own."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from clinic.settings import is_loopback
from website.ratelimit import address_key
from website.requests import BadRequest, canonical_sender, parse_rest_request, parse_widget_request

SECRET_WORDS = "Zelda Quux on +1 202 555 0147"  # typed into bad requests: must reach no log
REST = "/webhooks/rest/webhook"
JSON = {"Content-Type": "application/json"}


@pytest.mark.unit
@pytest.mark.parametrize(
    "document, reason",
    [
        ({"message": "hi"}, "'sender' is required"),
        ({"sender": None, "message": "hi"}, "'sender' is required"),
        ({"sender": "", "message": "hi"}, "'sender' is empty"),
        ({"sender": 7, "message": "hi"}, "'sender' must be a string"),
        ({"sender": "s" * 129, "message": "hi"}, "longer than 128 characters"),
        ({"sender": "a\u202eb", "message": "hi"}, "control or formatting characters"),
        ({"sender": "a\x1bc", "message": "hi"}, "control or formatting characters"),
        ({"sender": "a"}, "'message' is required"),
        ({"sender": "a", "message": "x" * 2001}, "longer than 2000 characters"),
        ({"sender": "a", "message": "hi", "metadata": "x"}, "'metadata' must be a JSON object"),
    ],
)
def test_bad_rest_requests_are_refused_with_a_reason(document, reason):
    with pytest.raises(BadRequest, match=reason):
        parse_rest_request(json.dumps(document).encode())


@pytest.mark.unit
def test_a_rest_sender_is_any_printable_id_up_to_128_characters():
    assert parse_rest_request(b'{"sender": "crm-4711", "message": "hi"}').sender == "crm-4711"
    assert parse_rest_request(json.dumps({"sender": "s" * 128, "message": "hi"}).encode()).sender == "s" * 128


@pytest.mark.unit
def test_rest_conversations_are_kept_apart_from_the_widgets():
    widget = str(uuid.uuid4())
    from_widget = parse_widget_request(json.dumps({"sender": widget, "message": "hi"}).encode())
    from_rest = parse_rest_request(json.dumps({"sender": widget, "message": "hi"}).encode())
    assert from_widget.conversation == widget
    assert (from_rest.sender, from_rest.conversation) == (widget, "rest:" + widget)
    assert parse_rest_request(b'{"sender": "crm-4711", "message": "hi"}').conversation == "rest:crm-4711"
    # The widget's ids are UUIDs in their usual form: none is in the REST namespace, and a widget
    # request cannot name a REST client's conversation.
    for value in (widget, widget.upper(), " " + widget + " "):
        assert ":" not in canonical_sender(value)
    for value in ("rest:" + widget, "rest:crm-4711", "urn:uuid:" + widget):
        with pytest.raises(BadRequest):
            parse_widget_request(json.dumps({"sender": value, "message": "hi"}).encode())


@pytest.mark.unit
def test_json_nested_thousands_deep_is_a_bad_request_not_a_crash():
    deep = b"[" * 30000 + b"]" * 30000
    with pytest.raises(BadRequest, match="nested too deeply"):
        parse_rest_request(deep)
    with pytest.raises(BadRequest, match="nested too deeply"):
        parse_rest_request(b'{"sender": "a", "message": "hi", "metadata": {"x": ' + deep + b"}}")


@pytest.mark.unit
def test_ipv6_clients_are_counted_by_their_64_and_loopback_is_recognised():
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:ffff:eeee:dddd:cccc") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("203.0.113.7") == "203.0.113.7"
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert address_key("unknown") == "unknown"
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("127.8.9.10")
    assert not is_loopback("203.0.113.7") and not is_loopback("2001:db8::1") and not is_loopback("unknown")


def post(assistant, document, headers=JSON):
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    began = time.monotonic()
    status, answer = assistant.request("POST", REST, body, headers)
    return status, answer, time.monotonic() - began


@pytest.mark.servers
def test_a_million_characters_are_refused_at_once_while_another_visitor_is_answered(website, answers):
    assistant = website.assistant
    huge = {}

    def send_huge():
        huge["result"] = post(assistant, {"sender": str(uuid.uuid4()), "message": SECRET_WORDS + "a" * 1_000_000})

    thread = threading.Thread(target=send_huge)
    began = time.monotonic()
    thread.start()
    replies = assistant.say(str(uuid.uuid4()), "does dry needling hurt?")
    answered_in = time.monotonic() - began
    thread.join(timeout=30)
    status, answer, seconds = huge["result"]
    assert 400 <= status < 500 and seconds < 1.0, (status, answer, seconds)
    assert answers["does_it_hurt"] in [reply.get("text") for reply in replies]
    assert answered_in < 2.0, answered_in


@pytest.mark.servers
def test_rest_refuses_what_it_cannot_read_with_a_reason(website):
    assistant = website.assistant
    cases = [
        ({"message": SECRET_WORDS}, 400, "'sender' is required"),
        ({"sender": "s" * 200, "message": SECRET_WORDS}, 400, "longer than 128 characters"),
        ({"sender": "a", "message": SECRET_WORDS + "x" * 3000}, 400, "longer than 2000 characters"),
        ({"sender": "a", "message": SECRET_WORDS * 2500}, 400, "larger than 64 KB"),
        (b'{"sender": "a", "message": "hi", "metadata": ' + b"[" * 30000 + b"]" * 30000 + b"}", 400, "nested"),
        (b"sender=a&message=" + SECRET_WORDS.encode(), 400, "JSON object"),
    ]
    for document, expected, reason in cases:
        status, answer, _ = post(assistant, document)
        assert status == expected and reason in answer["error"], (
            document if isinstance(document, dict) else "",
            answer,
        )
    status, answer, _ = post(assistant, {"sender": "a", "message": "x" * 200_000})
    assert status == 413, answer  # the whole server's cap, before the body is read
    # The same sender as the widget would use works, and answers come back as Rasa's REST channel sends them.
    status, replies, _ = post(assistant, {"sender": "crm-contact-4711", "message": "hi"})
    assert status == 200 and all(reply["recipient_id"] == "crm-contact-4711" for reply in replies)
    assert "Zelda" not in assistant.log_text() and "555 0147" not in assistant.log_text()


@pytest.mark.servers
def test_a_rest_client_sending_a_widgets_id_reaches_a_conversation_of_its_own(website):
    """The review's finding: REST accepted the widget's conversation ids, so a REST client that
    learned one read and wrote that visitor's conversation. Now the same id names two conversations."""
    assistant = website.assistant
    widget = str(uuid.uuid4())

    def widget_says(text: str, sender: str = widget):
        body = json.dumps({"sender": sender, "message": text}).encode()
        return assistant.request("POST", "/webhooks/website/webhook", body, JSON)

    def texts(replies) -> str:
        return "\n".join(reply.get("text") or "" for reply in replies)

    status, replies = widget_says("I'd like to book an appointment")
    assert status == 200 and "What name" in texts(replies), replies
    status, replies = widget_says("Perpetua Lindqvist")
    assert status == 200 and "phone number or email" in texts(replies), replies
    # The REST client sends the widget's id and a phone number: had it reached the widget's
    # conversation, the booking form would take the number and ask for the day and time.
    status, replies, _ = post(assistant, {"sender": widget, "message": "(202) 555-0177"})
    assert status == 200 and "Which day and time" not in texts(replies), replies
    assert replies and all(reply["recipient_id"] == widget for reply in replies)  # the sender as sent
    # The widget's conversation is where its visitor left it: the form still waits for the contact.
    status, replies = widget_says("(202) 555-0166")
    assert status == 200 and "Which day and time" in texts(replies), replies

    engine = sa.create_engine(assistant.env["TRACKER_DB_URL"])
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT sender_id, data FROM events WHERE sender_id IN (:w, :r) AND type_name = 'user' ORDER BY id"
                ),
                {"w": widget, "r": "rest:" + widget},
            ).all()
    finally:
        engine.dispose()
    said = {}
    for sender_id, data in rows:
        said.setdefault(sender_id, []).append(json.loads(data)["text"])
    assert said == {
        widget: ["I'd like to book an appointment", "Perpetua Lindqvist", "(202) 555-0166"],
        "rest:" + widget: ["(202) 555-0177"],
    }
    # Nor can the widget's "Delete this conversation" name the REST client's conversation.
    status, answer = assistant.request(
        "POST", "/webhooks/website/forget", json.dumps({"sender": "rest:" + widget}).encode(), JSON
    )
    assert status == 400 and "UUID" in answer["error"], answer
