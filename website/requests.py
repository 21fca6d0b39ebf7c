"""Checking what the widget and REST clients send, before Rasa sees any of it.

A request is a JSON object ``{"sender": <id>, "message": <text>, "metadata": {...}}``: the
widget's sender is the UUID it makes, a REST client's any id of at most 128 characters.
Anything else is refused with a reason for a 400 answer: never a default sender (which
would put strangers in one conversation), never a 500.

The two channels' conversations live in one conversation store but never in one namespace: a
widget's conversation is kept under its bare UUID, a REST client's under ``rest:`` and its sender.
No UUID in its usual form contains a colon, so no REST sender can name a widget's conversation
(a REST client that sends a widget's id gets a conversation of its own) and no widget request can
name a REST client's.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Dict

from clinic.text import has_unprintable

DEFAULT_MAX_MESSAGE_LENGTH = 2000
MAX_VOTE_BYTES = 1024  # a vote is three short fields
VOTE_FIELDS = ("sender", "answer", "helpful")
ANSWER_ID = re.compile(r"[0-9a-f]{32}")
MAX_METADATA_BYTES = 4096
MAX_REST_SENDER_LENGTH = 128
REST_CONVERSATIONS = "rest:"  # the prefix a REST sender's conversation is kept under

# A button's payload: "/intent" or "/intent{...entities as a JSON object...}".
BUTTON_PAYLOAD = re.compile(r"/(?P<intent>[A-Za-z0-9_/.-]+)(?P<entities>\{.*\})?", re.DOTALL)


class BadRequest(ValueError):
    """What is wrong with a request, in words fit for the JSON error body."""


@dataclass(frozen=True)
class WidgetMessage:
    """A checked message from the widget or a REST client."""

    sender: str  # as the client sent it, and answered back to it as ``recipient_id``
    text: str
    metadata: Dict[str, Any] = field(default_factory=dict)
    namespace: str = ""  # the channel's prefix in the conversation store ("" for the widget)

    @property
    def conversation(self) -> str:
        """The conversation store's id for this sender: the channel's prefix, then the sender."""
        return self.namespace + self.sender


@dataclass(frozen=True)
class VoteRequest:
    """A checked vote from the widget's "Helpful?" buttons."""

    sender: str
    answer: str  # the answer's id, as the channel gave it with the answer
    helpful: bool


def canonical_sender(value: Any) -> str:
    """The sender id as a lower-case UUID string (hex digits and dashes only, so never in the REST
    channel's ``rest:`` namespace).

    Raises:
        BadRequest: when it is missing or not a UUID like the widget makes.
    """
    if value is None:
        raise BadRequest("'sender' is required: the widget's random conversation id (a UUID)")
    if not isinstance(value, str):
        raise BadRequest("'sender' must be a string (a UUID)")
    try:
        parsed = uuid.UUID(value.strip())
    except ValueError:
        raise BadRequest("'sender' must be a UUID, like the widget makes") from None
    if str(parsed) != value.strip().lower():  # no braces, urn: prefixes or missing dashes
        raise BadRequest("'sender' must be a UUID in its usual form (8-4-4-4-12 hex digits)")
    return str(parsed)


def rest_sender(value: Any) -> str:
    """A REST client's sender id, chosen by the client (its conversation is kept under
    ``rest:`` and this id).

    Raises:
        BadRequest: when it is missing, empty, longer than 128 characters or unprintable.
    """
    if value is None:
        raise BadRequest("'sender' is required: an id for the conversation, the same for each of its messages")
    if not isinstance(value, str):
        raise BadRequest("'sender' must be a string")
    if not value.strip():
        raise BadRequest("'sender' is empty")
    if len(value) > MAX_REST_SENDER_LENGTH:
        raise BadRequest(f"'sender' is longer than {MAX_REST_SENDER_LENGTH} characters")
    if has_unprintable(value):
        raise BadRequest("'sender' must not contain control or formatting characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("'sender' must be valid Unicode text") from None
    return value


def parse_widget_request(body: bytes, max_length: int = DEFAULT_MAX_MESSAGE_LENGTH) -> WidgetMessage:
    """Checks a raw request body from the widget (its sender a UUID).

    Raises:
        BadRequest: naming the first problem (not JSON, not an object, bad sender,
            missing, empty or too long message, bad metadata).
    """
    return parse_request(body, max_length, canonical_sender)


def parse_rest_request(body: bytes, max_length: int = DEFAULT_MAX_MESSAGE_LENGTH) -> WidgetMessage:
    """Checks a raw request body from a REST client (its sender any id of up to 128 characters,
    its conversation kept in the REST namespace).

    Raises:
        BadRequest: naming the first problem.
    """
    return parse_request(body, max_length, rest_sender, REST_CONVERSATIONS)


def json_object(body: bytes) -> Dict[str, Any]:
    """A request body decoded as the JSON object it must be.

    Raises:
        BadRequest: not UTF-8, not JSON, nested too deeply or not an object.
    """
    try:
        document = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("the body must be UTF-8 text") from None
    except RecursionError:  # JSON nested thousands deep
        raise BadRequest("the body is nested too deeply") from None
    except ValueError:
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(document, dict):
        raise BadRequest("the body must be a JSON object, not " + type(document).__name__)
    return document


def parse_vote_request(body: bytes) -> VoteRequest:
    """Checks a raw vote from the widget: ``{"sender": <UUID>, "answer": <id>, "helpful": true|false}``
    and nothing else (a vote carries no text).

    Raises:
        BadRequest: naming the first problem.
    """
    if len(body) > MAX_VOTE_BYTES:
        raise BadRequest(f"the body is larger than {MAX_VOTE_BYTES} bytes")
    document = json_object(body)
    unexpected = sorted(str(name) for name in document if name not in VOTE_FIELDS)
    if unexpected:
        raise BadRequest(f"unexpected field '{unexpected[0][:40]}': a vote has only 'sender', 'answer' and 'helpful'")
    sender = canonical_sender(document.get("sender"))
    answer = document.get("answer")
    if answer is None:
        raise BadRequest("'answer' is required: the id the widget got with the answer")
    if not isinstance(answer, str) or not ANSWER_ID.fullmatch(answer):
        raise BadRequest("'answer' must be the id the widget got with the answer (32 hex digits)")
    helpful = document.get("helpful")
    if not isinstance(helpful, bool):
        raise BadRequest("'helpful' must be true or false")
    return VoteRequest(sender=sender, answer=answer, helpful=helpful)


def parse_request(
    body: bytes, max_length: int, sender_rule: Callable[[Any], str], namespace: str = ""
) -> WidgetMessage:
    """Checks a raw request body, the sender by ``sender_rule``; the conversation is kept under
    ``namespace`` and the sender.

    Raises:
        BadRequest: naming the first problem.
    """
    document = json_object(body)
    sender = sender_rule(document.get("sender"))
    text = document.get("message")
    if text is None:
        raise BadRequest("'message' is required")
    if not isinstance(text, str):
        raise BadRequest("'message' must be a string")
    if "\x00" in text:
        raise BadRequest("'message' must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate such as "\ud800", which JSON escapes can carry
        raise BadRequest("'message' must be valid Unicode text") from None
    if not text.strip():
        raise BadRequest("'message' is empty")
    if len(text) > max_length:
        raise BadRequest(f"'message' is longer than {max_length} characters")
    metadata = document.get("metadata", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise BadRequest("'metadata' must be a JSON object")
    try:
        size = len(json.dumps(metadata))
    except RecursionError:
        raise BadRequest("'metadata' is nested too deeply") from None
    if size > MAX_METADATA_BYTES:
        raise BadRequest(f"'metadata' is larger than {MAX_METADATA_BYTES} bytes")
    return WidgetMessage(sender=sender, text=text, metadata=metadata, namespace=namespace)


def button_payload_or_text(text: str, intents: Collection[str], entities: Collection[str]) -> str:
    """The message as Rasa should get it, where it starts with "/".

    Rasa reads a message starting with "/" as a button payload, ``/intent{"entity": "value"}``,
    and when the intent, an entity or the JSON is not one it knows, it writes the whole
    message into its log as a warning (a visitor's forged name and phone number included:
    found by the soak). So a payload passes unchanged only when it names a known intent and
    known entities in a JSON object, with no confidence (``@0.9``) part; anything else is
    the visitor's typing and goes on as text without the leading slashes ("/help" -> "help").
    An empty result is for the caller to refuse.
    """
    stripped = text.strip()  # as Rasa's UserMessage does before looking for the "/"
    if not stripped.startswith("/"):
        return text
    payload = BUTTON_PAYLOAD.fullmatch(stripped)
    if payload and payload["intent"] in intents:
        if payload["entities"] is None:
            return stripped
        try:
            values = json.loads(payload["entities"])
        except ValueError:
            values = None
        if isinstance(values, dict) and set(values) <= set(entities):
            return stripped
    return stripped.lstrip("/").strip()
