"""Checking what the website widget sends, before Rasa sees any of it.

A request is a JSON object ``{"sender": <UUID>, "message": <text>, "metadata": {...}}``.
Anything else is refused with a reason for a 400 answer: never a default sender
(which would put strangers in one conversation), never a 500.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Collection, Dict

DEFAULT_MAX_MESSAGE_LENGTH = 2000
MAX_METADATA_BYTES = 4096
# A button's payload: "/intent" or "/intent{...entities as a JSON object...}".
BUTTON_PAYLOAD = re.compile(r"/(?P<intent>[A-Za-z0-9_/.-]+)(?P<entities>\{.*\})?", re.DOTALL)


class BadRequest(ValueError):
    """What is wrong with a request, in words fit for the JSON error body."""


@dataclass(frozen=True)
class WidgetMessage:
    """A checked message from the widget."""

    sender: str
    text: str
    metadata: Dict[str, Any] = field(default_factory=dict)


def canonical_sender(value: Any) -> str:
    """The sender id as a lower-case UUID string.

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


def parse_widget_request(body: bytes, max_length: int = DEFAULT_MAX_MESSAGE_LENGTH) -> WidgetMessage:
    """Checks a raw request body from the widget.

    Raises:
        BadRequest: naming the first problem (not JSON, not an object, bad sender,
            missing, empty or too long message, bad metadata).
    """
    try:
        document = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("the body must be UTF-8 text") from None
    except ValueError:
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(document, dict):
        raise BadRequest("the body must be a JSON object, not " + type(document).__name__)
    sender = canonical_sender(document.get("sender"))
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
    if len(json.dumps(metadata)) > MAX_METADATA_BYTES:
        raise BadRequest(f"'metadata' is larger than {MAX_METADATA_BYTES} bytes")
    return WidgetMessage(sender=sender, text=text, metadata=metadata)


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
