"""The action server: rasa-sdk's Sanic app, plus what the clinic assistant opens at start.

Run it with ``python -m actions.server`` (``make run`` does). Before listening it checks
the clinic profile and the hand-off settings and refuses to start, naming the bad
field or variable; in Sanic's ``before_server_start`` it opens the booking store and
starts the delivery worker, which resumes any request left pending by a previous run.

Options: ``--port`` (default ``ACTION_SERVER_PORT`` or 5055) and ``--host`` (default
``ACTION_SERVER_HOST`` or 127.0.0.1: Rasa reaches it on the same machine).
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import os
import sys
from typing import List, Optional

from rasa_sdk.endpoint import create_app
from sanic.response import json as json_response

from actions import services
from clinic import settings
from clinic.conversations import ConversationStore
from clinic.profile import ClinicProfileError, current_profile, forget_loaded_profiles
from clinic.retention import keep_retention

logger = logging.getLogger("actions.server")

# Loggers that could print a visitor's words or details at DEBUG are kept at INFO or above.
QUIET_LOGGERS = ("rasa_sdk", "sanic.access", "aiohttp", "urllib3", "asyncio")


def configure_logging() -> None:
    """INFO to stderr; never DEBUG, whose records can include what visitors typed."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING if name == "sanic.access" else logging.INFO)


def check_configuration() -> None:
    """Loads the clinic profile and the hand-off settings; raises with the bad field named."""
    forget_loaded_profiles()
    current_profile()
    settings.delivery_settings()
    pretended = settings.clinic_now()
    if pretended is not None:
        logger.warning("CLINIC_NOW is set: the assistant pretends it is %s (tests and demos only)", pretended)


def build_app():
    """rasa-sdk's app with the booking store and delivery worker tied to its start and stop."""
    from clinic.booking_store import BookingStore
    from clinic.delivery import DeliveryWorker

    app = create_app("actions", cors_origins=None)
    token = settings.action_server_token()

    # Where the action server is reachable over a network, only Rasa (which sends the shared
    # token from endpoints.yml) may call it; /health stays open for load balancers.
    @app.middleware("request")
    async def require_token(request):
        if token is None or request.path == "/health":
            return None
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return json_response({"error": "missing or wrong action server token"}, status=401)
        return None

    # rasa-sdk's own handler answers a failed action with the whole request (the tracker, with
    # whatever the visitor typed) in the body, which Rasa may then log: answer without it, and
    # log only where it failed.
    @app.exception(Exception)
    async def failed_action(request, exception):
        body = request.json if isinstance(request.json, dict) else {}
        logger.error("action %s failed: %s", body.get("next_action", "?"), type(exception).__name__)
        return json_response({"error": "the action failed"}, status=500)

    @app.listener("before_server_start")
    async def open_services(app, loop):  # Sanic passes both
        profile = current_profile()
        delivery = settings.delivery_settings()
        store = BookingStore(settings.bookings_db_url())
        store.open()
        worker = DeliveryWorker(store, delivery, clinic_name=profile.name, clinic_email=profile.email)
        await worker.start()
        try:
            conversations = ConversationStore(settings.tracker_db_url())
        except settings.SettingsError as error:  # no SQL conversation store: nothing of ours to purge
            logger.warning("retention: conversations not purged (%s)", error)
            conversations = None
        services.install(
            services.Services(
                profile=profile, delivery=delivery, store=store, worker=worker, conversations=conversations
            )
        )
        app.ctx.conversations = conversations
        app.ctx.retention = asyncio.create_task(
            keep_retention(store, profile.retention_days, conversations=conversations)
        )
        channels = ", ".join(delivery.channels) or "none (requests wait in the store for staff)"
        logger.info("booking store open; delivery channels: %s", channels)

    @app.listener("after_server_stop")
    async def close_services(app, loop):
        retention = getattr(app.ctx, "retention", None)
        if retention is not None:
            retention.cancel()
        conversations = getattr(app.ctx, "conversations", None)
        if conversations is not None:
            conversations.close()
        running = services.current()
        services.install(None)
        if running is not None:
            await running.worker.stop()
            running.store.close()

    return app


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actions.server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--host", default=None)
    args = parser.parse_args(argv)
    # The booking store and anything else this server writes: readable by its user alone.
    os.umask(0o077)
    configure_logging()
    try:
        check_configuration()
        port = args.port or settings.action_server_port()
        host = args.host or settings.action_server_host()
        settings.check_action_server_exposure(host, settings.action_server_token())
    except (ClinicProfileError, settings.SettingsError) as error:
        print(f"The action server cannot start: {error}", file=sys.stderr)
        return 2
    app = build_app()
    logger.info("action server listening on http://%s:%s", host, port)
    app.run(host=host, port=port, workers=1, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
