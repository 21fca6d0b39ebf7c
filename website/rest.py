"""The REST channel, ``/webhooks/rest/``, with the website channel's protections.

Rasa's own REST channel takes any body Sanic accepts, defaults a missing ``sender`` to one
``default`` conversation shared by every such client (a second client was shown the first
one's booking), bounds neither the sender nor the message (one message of a million
characters held every other visitor for nine seconds), counts nothing per client, and logs
the visitor's words when answering fails. This channel keeps its path and its answers (a
JSON list of the bot's messages, as Rasa's REST channel returns them) for integrations,
tools and tests, and checks every request first:

- ``POST /webhook`` with ``{"sender": <id>, "message": <text>, "metadata": {...}}`` (any
  content type, as Rasa's REST channel reads it): ``sender`` required, at most 128 printable characters, never
  defaulted; ``message`` required, at most the configured length (2000 unless set); a
  metadata object of at most 4 KB; a body of at most 64 KB. Anything else: 400 with
  ``{"error": <reason>}``. Rasa's ``stream`` and ``input_channel`` options are not offered.
- Rate limits per sender and per client address (an IPv6 address counted by its /64):
  ``REST_RATE_LIMIT_PER_SENDER``, ``REST_RATE_LIMIT_PER_ADDRESS``; clients on this machine
  are exempt unless ``REST_RATE_LIMIT_LOOPBACK=limited``. Over a limit: 429 and ``Retry-After``.
- ``GET /``: ``{"status": "ok"}``, for health checks.

A REST client's conversation is kept under ``rest:`` and its sender (``website.requests``), apart
from the widget's, whose ids are bare UUIDs: a REST client that sends a widget's conversation id
reads and writes a conversation of its own. The answers name the sender as the client sent it.

Registered in ``credentials.yml`` as ``website.rest.ProtectedRestInput`` (its name is ``rest``,
so the path is Rasa's). The whole server's request size is capped by ``runtime.serve``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from clinic import settings
from clinic.profile import current_profile
from clinic.settings import is_loopback
from website.channel import answer, client_address, too_many
from website.ratelimit import Limit, RateLimiter, address_key
from website.requests import parse_rest_request


@dataclass(frozen=True)
class RestConfig:
    """What the REST channel needs, read once at Rasa start."""

    max_message_length: int
    per_sender: Optional[Limit]
    per_address: Optional[Limit]
    limit_loopback: bool


def load_rest_config() -> RestConfig:
    """The REST channel's settings (``REST_*`` variables; the message length as the widget's).

    Raises:
        ClinicProfileError, SettingsError: naming the bad field or variable.
    """
    per_sender, per_address = settings.rest_rate_limits()
    length = settings.website_max_message_length() or current_profile().website.max_message_length
    return RestConfig(length, per_sender, per_address, settings.rest_limits_loopback())


class ProtectedRestInput(InputChannel):
    """Rasa's REST channel path and answers, with every request checked first."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "ProtectedRestInput":
        if credentials:
            raise ValueError("credentials.yml: website.rest.ProtectedRestInput takes no options; set REST_* variables")
        return cls(load_rest_config())

    def __init__(self, config: RestConfig) -> None:
        self.config = config

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        config = self.config
        senders = RateLimiter(config.per_sender) if config.per_sender else None
        addresses = RateLimiter(config.per_address) if config.per_address else None
        rest = Blueprint("protected_rest", __name__)

        @rest.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @rest.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            address = client_address(request)
            counted = config.limit_loopback or not is_loopback(address)
            if addresses is not None and counted:
                wait = addresses.hit(address_key(address))
                if wait is not None:
                    return too_many(wait, {})
            message, messages, refused = await answer(
                request,
                parse_rest_request,
                config.max_message_length,
                senders if counted else None,
                on_new_message,
                self.name(),
                {},
            )
            if refused is not None:
                return refused
            replies = [{**reply, "recipient_id": message.sender} for reply in messages]
            return response.json(replies, headers={"Cache-Control": "no-store"})

        return rest
