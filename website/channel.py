"""The ``website`` input channel: the chat widget's webhook, its files and a demo page.

Registered in ``credentials.yml`` as ``website.channel.WebsiteInput``; Rasa mounts it
under ``/webhooks/website/``:

- ``POST /webhook``: ``{"sender": <UUID>, "message": <text>, "metadata": {...}}`` in,
  the bot's messages out (a JSON list like the REST channel's). Bad requests get a
  400 (415 for a wrong content type, 403 for a site not allowed) with ``{"error": ...}``.
  An answer (``clinic/feedback.py`` says which messages are) carries ``"answer": <id>``, what
  the widget sends back with a vote.
- ``POST /feedback``: ``{"sender": <UUID>, "answer": <id>, "helpful": true|false}``, a visitor's
  "Helpful?" vote on an answer of their own conversation, kept once (404 for an answer the
  conversation does not hold, 409 for a second vote).
- ``POST /forget``: ``{"sender": <UUID>}``, the widget's "Delete this conversation".
- ``GET /config``: the widget's defaults from clinic.yml (title, greeting, quick replies).
- ``GET /widget.js``, ``/widget.css``, ``/demo``, ``/demo.css``: the widget and a sample page.

Settings come from clinic.yml (``website:``) and ``WEBSITE_*`` variables. The variables are read
when Rasa starts; clinic.yml's part is built again whenever the profile changes
(``clinic.profile.current_profile`` reloads the file), so a new greeting or new buttons reach the
next widget without a restart. The visitor's text is never logged, not even when handling fails.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from clinic import clock, settings
from clinic.conversations import message_key
from clinic.feedback import AlreadyVoted, FeedbackStore, UnknownAnswer, answer_topic
from clinic.profile import ClinicProfile, ClinicProfileError, current_profile
from website.assets import DEMO_CSP, Asset, load_assets
from website.origins import OriginPolicy
from website.ratelimit import Limit, RateLimiter, address_key
from website.requests import (
    BadRequest,
    WidgetMessage,
    button_payload_or_text,
    canonical_sender,
    parse_vote_request,
    parse_widget_request,
)

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
ACCEPTED_CONTENT_TYPES = ("application/json", "text/plain")
ASSET_MAX_AGE_SECONDS = 300
# The widget's settings change when the clinic edits clinic.yml: a browser asks again each time
# (a 304 when nothing changed), so a new greeting shows on the next page.
CONFIG_CACHE = "public, max-age=0, must-revalidate"


@dataclass(frozen=True)
class WebsiteConfig:
    """What the channel needs, read once at Rasa start."""

    title: str
    greeting: str
    quick_replies: List[Dict[str, str]]
    policy: OriginPolicy
    max_message_length: int
    clinic_name: str
    clinic_phone: str
    clinic_address: str
    per_sender: Optional[Limit] = None
    per_address: Optional[Limit] = None

    def public(self) -> Dict[str, Any]:
        """The part the widget fetches (``GET /config``): nothing secret, nothing per visitor."""
        return {
            "title": self.title,
            "greeting": self.greeting,
            "quick_replies": self.quick_replies,
            "max_message_length": self.max_message_length,
        }


def load_config(profile: Optional[ClinicProfile] = None) -> WebsiteConfig:
    """The channel's settings: clinic.yml's ``website:`` section (of ``profile``, else the current
    one), then ``WEBSITE_*`` overrides.

    Raises:
        ClinicProfileError, SettingsError, ValueError: naming the bad field or variable.
    """
    profile = profile or current_profile()
    options = profile.website
    per_sender, per_address = settings.website_rate_limits()
    origins = settings.website_allowed_origins()
    try:
        policy = OriginPolicy.of(options.allowed_origins if origins is None else origins)
    except ValueError as error:
        raise settings.SettingsError(f"WEBSITE_ALLOWED_ORIGINS: {error}") from None
    return WebsiteConfig(
        title=options.title,
        greeting=options.greeting,
        quick_replies=[{"title": reply.title, "payload": reply.payload} for reply in options.quick_replies],
        policy=policy,
        max_message_length=settings.website_max_message_length() or options.max_message_length,
        clinic_name=profile.name,
        clinic_phone=profile.phone,
        clinic_address=profile.address,
        per_sender=per_sender,
        per_address=per_address,
    )


class AnswerCollector(CollectingOutputChannel):
    """Rasa's collecting output channel that also marks the answers: the last message an answer
    became gets ``"answer"``, the key of its bot event in the conversation store
    (``clinic.conversations.message_key``), which a vote names."""

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        before = len(self.messages)
        await super().send_response(recipient_id, dict(message))  # Rasa's pops what it sends
        if len(self.messages) > before and answer_topic(message) and message.get("timestamp") is not None:
            self.messages[-1]["answer"] = message_key(recipient_id, message["timestamp"])


def widget_messages(messages: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The bot's messages as the widget reads them: text, buttons (title, payload) and an
    answer's id only."""
    replies = []
    for message in messages:
        reply: Dict[str, Any] = {"recipient_id": message.get("recipient_id")}
        if isinstance(message.get("text"), str) and message["text"]:
            reply["text"] = message["text"]
            if isinstance(message.get("answer"), str):
                reply["answer"] = message["answer"]
        listed = message.get("buttons")
        buttons = [
            {"title": str(button["title"]), "payload": str(button["payload"])}
            for button in (listed if isinstance(listed, list) else [])
            if isinstance(button, dict) and button.get("title") and button.get("payload")
        ]
        if buttons:
            reply["buttons"] = buttons
        if len(reply) > 1:
            replies.append(reply)
    return replies


def no_reply_text(clinic_phone: str) -> str:
    """What the widget shows when the assistant produced no reply at all."""
    return (
        f"Sorry, I couldn't answer that just now. Please try again in a moment, or call the clinic on {clinic_phone}."
    )


def refused_origin() -> HTTPResponse:
    """The answer to a web page on a site the clinic did not list (no CORS headers)."""
    return error(403, "this site is not among the clinic's allowed origins")


def media_type(request: Request) -> Optional[str]:
    """The request's content type without parameters, lower-case; ``None`` when absent."""
    raw = request.headers.get("content-type")
    return raw.split(";", 1)[0].strip().lower() if raw else None


def own_origin(request: Request) -> Optional[str]:
    """The assistant's own origin as this request reached it (for same-origin pages)."""
    host = request.headers.get("host")
    return f"{request.scheme}://{host}" if host else None


def client_address(request: Request) -> str:
    """The visitor's address: from the proxy headers Sanic is told to trust (SANIC_PROXIES_COUNT,
    SANIC_REAL_IP_HEADER), else the connection's peer."""
    return request.remote_addr or request.ip or "unknown"


def error(status: int, reason: str, headers: Optional[Dict[str, str]] = None) -> HTTPResponse:
    """A JSON error body a developer can act on."""
    return response.json({"error": reason}, status=status, headers={"Cache-Control": "no-store", **(headers or {})})


async def answer(
    request: Request,
    parse: Callable[[bytes, int], WidgetMessage],
    max_length: int,
    senders: Optional[RateLimiter],
    on_new_message: Callable[[UserMessage], Awaitable[Any]],
    channel: str,
    headers: Dict[str, str],
    collector: Optional[CollectingOutputChannel] = None,
) -> Tuple[Optional[WidgetMessage], List[Dict[str, Any]], Optional[HTTPResponse]]:
    """What the website and REST channels do with a message once the request is admitted: the
    body's size and shape checked by ``parse``, a "/" payload Rasa would misread passed on as
    text, the per-sender limit, then Rasa's answer in the message's conversation (the channel's
    namespace and the sender: ``WidgetMessage.conversation``). Returns the message and the bot's
    messages (gathered by ``collector``, Rasa's collecting channel unless given), or the refusal
    to send. The visitor's text never reaches the log, not even when answering fails.
    """
    if len(request.body or b"") > MAX_BODY_BYTES:
        return None, [], error(400, f"the request body is larger than {MAX_BODY_BYTES // 1024} KB", headers)
    try:
        message = parse(request.body or b"", max_length)
    except BadRequest as problem:
        return None, [], error(400, str(problem), headers)
    agent = getattr(request.app.ctx, "agent", None)
    if agent is None or agent.domain is None:
        return None, [], error(503, "the assistant is starting; please try again in a moment", headers)
    text = button_payload_or_text(message.text, agent.domain.intents, agent.domain.entities)
    if not text:
        return None, [], error(400, "'message' has no text after the leading '/'", headers)
    if senders is not None:
        wait = senders.hit(message.conversation)
        if wait is not None:
            return None, [], too_many(wait, headers)
    collector = collector or CollectingOutputChannel()
    try:
        await on_new_message(
            UserMessage(text, collector, message.conversation, input_channel=channel, metadata=message.metadata)
        )
    except asyncio.CancelledError:
        logger.error("%s channel: answering a message timed out", channel)
        return None, [], error(503, "the assistant took too long to answer; please try again", headers)
    except Exception as failure:  # noqa: BLE001 - answered with a 500; the visitor's text stays out of the log
        logger.error(
            "%s channel: answering a message failed (%s)\n%s",
            channel,
            type(failure).__name__,
            "".join(traceback.format_tb(failure.__traceback__)),
        )
        return None, [], error(500, "the assistant could not answer just now; please try again", headers)
    return message, collector.messages, None


def conversation_store(request: Request) -> Any:
    """The Rasa server's conversation store (unwrapped from Rasa's ``FailSafeTrackerStore``)."""
    store = getattr(getattr(request.app.ctx, "agent", None), "tracker_store", None)
    return getattr(store, "_tracker_store", store)


def too_many(wait: int, headers: Dict[str, str]) -> HTTPResponse:
    """A rate limit's refusal, with when to try again."""
    return error(429, f"too many messages; try again in {wait} seconds", {**headers, "Retry-After": str(wait)})


class WebsiteInput(InputChannel):
    """The chat widget's channel."""

    @classmethod
    def name(cls) -> Text:
        return "website"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WebsiteInput":
        if credentials:
            raise ValueError(
                "credentials.yml: website.channel.WebsiteInput takes no options; "
                "set them in clinic.yml (website:) or WEBSITE_* variables"
            )
        return cls(load_config())

    def __init__(self, config: WebsiteConfig) -> None:
        self.config = config
        self.assets: Dict[str, Asset] = {}
        self._profile: Optional[ClinicProfile] = None  # what ``config`` was built from, once checked

    def current_config(self) -> WebsiteConfig:
        """The settings as clinic.yml says now: built again when the profile was reloaded (one
        identity check per request otherwise). Rate limits stay as started: they come from
        variables only. Settings that cannot be built keep the ones before, logged once."""
        try:
            profile = current_profile()
        except ClinicProfileError:  # never loaded here (a channel built by hand): as started
            return self.config
        if profile is self._profile:
            return self.config
        try:
            config = load_config(profile)
        except (settings.SettingsError, ValueError) as problem:
            logger.error("website channel: clinic.yml changed but its settings were not taken: %s", problem)
            self._profile = profile
            return self.config
        demo = (config.clinic_name, config.clinic_phone, config.clinic_address)
        if self.assets and demo != (self.config.clinic_name, self.config.clinic_phone, self.config.clinic_address):
            self.assets = load_assets(*demo)
        if self._profile is not None:
            logger.info("website channel: settings taken from the changed clinic.yml")
        self.config, self._profile = config, profile
        return config

    def serve_asset(self, request: Request, name: str) -> HTTPResponse:
        """One of the widget's files, with an ETag and a short cache lifetime."""
        asset = self.assets[name]
        headers = {
            "ETag": asset.etag,
            "Cache-Control": f"public, max-age={ASSET_MAX_AGE_SECONDS}",
            "X-Content-Type-Options": "nosniff",
        }
        if name == "demo":
            headers.update({"Content-Security-Policy": DEMO_CSP, "Cache-Control": "no-cache"})
        if request.headers.get("if-none-match") == asset.etag:
            return HTTPResponse(status=304, headers=headers)
        return HTTPResponse(body=asset.body, status=200, headers=headers, content_type=asset.content_type)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # The files are read here, when Rasa starts the channel, not at import.
        self.assets = load_assets(self.config.clinic_name, self.config.clinic_phone, self.config.clinic_address)
        started = self.config
        senders = RateLimiter(started.per_sender) if started.per_sender else None
        addresses = RateLimiter(started.per_address) if started.per_address else None
        website = Blueprint("website_channel", __name__)

        # Rasa's CORS extension answers every OPTIONS request itself, before any route runs,
        # with no CORS headers (Rasa runs without --cors). Its empty answer still passes through
        # this blueprint's response middleware, which turns it into the channel's own preflight.
        @website.middleware("response")
        async def preflight(request: Request, answer: HTTPResponse) -> Optional[HTTPResponse]:
            if request.method != "OPTIONS":
                return None
            origin = request.headers.get("origin")
            policy = self.current_config().policy
            if origin is None or not policy.permits(origin, own_origin(request)):
                return refused_origin()
            return HTTPResponse(status=204, headers=policy.headers(origin, preflight=True))

        @website.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        # widget.js, widget.css, demo, demo.css: each file at its own name.
        for name in self.assets:

            async def asset(request: Request, name: str = name) -> HTTPResponse:
                return self.serve_asset(request, name)

            website.add_route(asset, f"/{name}", methods=["GET"], name="asset_" + name.replace(".", "_"))

        @website.route("/config", methods=["GET", "OPTIONS"])
        async def widget_config(request: Request) -> HTTPResponse:
            origin = request.headers.get("origin")
            config = self.current_config()
            if not config.policy.permits(origin, own_origin(request)):
                return refused_origin()
            body = Asset(json.dumps(config.public()).encode("utf-8"), "application/json")
            headers = {**config.policy.headers(origin), "Cache-Control": CONFIG_CACHE, "ETag": body.etag}
            if request.headers.get("if-none-match") == body.etag:
                return HTTPResponse(status=304, headers=headers)
            return HTTPResponse(body=body.body, status=200, headers=headers, content_type=body.content_type)

        def admitted(request: Request) -> Tuple[Dict[str, str], Optional[HTTPResponse]]:
            """What every POST to the channel passes first: an allowed origin, the per-address
            limit (every request counts) and a JSON or text content type. Returns the CORS
            headers for the answer, and the refusal when there is one."""
            origin = request.headers.get("origin")
            policy = self.current_config().policy
            if not policy.permits(origin, own_origin(request)):
                return {}, refused_origin()
            cors = policy.headers(origin)
            if addresses is not None:
                wait = addresses.hit(address_key(client_address(request)))
                if wait is not None:
                    return cors, too_many(wait, cors)
            kind = media_type(request)
            if kind is not None and kind not in ACCEPTED_CONTENT_TYPES:
                return cors, error(415, "send the JSON body as application/json (or text/plain)", cors)
            return cors, None

        @website.route("/forget", methods=["POST", "OPTIONS"])
        async def forget(request: Request) -> HTTPResponse:
            """The widget's "Delete this conversation": ``{"sender": <UUID>}`` in, the conversation
            deleted from the conversation store (and its memory) out. Knowing the random id is
            what lets the visitor's browser delete it, as it is what lets it continue it."""
            cors, refused = admitted(request)
            if refused is not None:
                return refused
            try:
                document = json.loads((request.body or b"{}").decode("utf-8"))
                sender = canonical_sender(document.get("sender") if isinstance(document, dict) else None)
            except BadRequest as problem:  # before ValueError, which it is: its reason is the more exact
                return error(400, str(problem), cors)
            except (ValueError, RecursionError):
                return error(400, "the body must be a JSON object with the conversation's 'sender'", cors)
            erase = getattr(conversation_store(request), "erase", None)
            if erase is None:
                return error(501, "this server's conversation store cannot delete conversations", cors)
            try:
                await asyncio.to_thread(erase, sender)
            except Exception as failure:  # noqa: BLE001 - answered with a 500, nothing about the visitor logged
                logger.error("website channel: deleting a conversation failed (%s)", type(failure).__name__)
                return error(500, "the conversation could not be deleted just now; please try again", cors)
            logger.info("website channel: a visitor deleted their conversation")
            return response.json({"deleted": True}, headers={**cors, "Cache-Control": "no-store"})

        @website.route("/feedback", methods=["POST", "OPTIONS"])
        async def feedback(request: Request) -> HTTPResponse:
            """A visitor's "Helpful?" vote on an answer of their conversation. As with /forget,
            knowing the conversation's random id is what makes it theirs; the answer must be one
            the assistant gave in it, and each answer takes one vote."""
            cors, refused = admitted(request)
            if refused is not None:
                return refused
            try:
                vote = parse_vote_request(request.body or b"")
            except BadRequest as problem:
                return error(400, str(problem), cors)
            engine = getattr(conversation_store(request), "engine", None)
            if engine is None:
                return error(501, "this server's conversation store cannot keep votes", cors)
            votes = FeedbackStore(engine)
            try:
                await asyncio.to_thread(votes.record, vote.sender, vote.answer, vote.helpful, clock.now())
            except UnknownAnswer as problem:
                return error(404, str(problem), cors)
            except AlreadyVoted as problem:
                return error(409, str(problem), cors)
            except Exception as failure:  # noqa: BLE001 - answered with a 500, nothing about the visitor logged
                logger.error("website channel: keeping a vote failed (%s)", type(failure).__name__)
                return error(500, "the vote could not be kept just now; please try again", cors)
            return response.json({"recorded": True}, headers={**cors, "Cache-Control": "no-store"})

        @website.route("/webhook", methods=["POST", "OPTIONS"])
        async def receive(request: Request) -> HTTPResponse:
            cors, refused = admitted(request)
            if refused is not None:
                return refused
            config = self.current_config()
            message, messages, refused = await answer(
                request,
                parse_widget_request,
                config.max_message_length,
                senders,
                on_new_message,
                self.name(),
                cors,
                AnswerCollector(),
            )
            if refused is not None:
                return refused
            replies = widget_messages(messages)
            if not replies:
                # Silence leaves a visitor guessing; it happens when a custom action could not run
                # (the action server is down or failing): say so, and give the clinic's number.
                logger.warning("website channel: the assistant gave no reply (is the action server running?)")
                replies = [{"recipient_id": message.sender, "text": no_reply_text(config.clinic_phone)}]
            return response.json(replies, headers={**cors, "Cache-Control": "no-store"})

        return website
