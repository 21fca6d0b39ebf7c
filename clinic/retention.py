"""Keeps what the privacy notice promises: booking requests and conversations are deleted after
the profile's ``retention_days``, by the running action server, without staff remembering to purge."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any, Optional

from clinic import clock
from clinic.booking_store import BookingStoreError
from clinic.conversations import ConversationStore
from clinic.postgres_files import RewriteError

logger = logging.getLogger(__name__)

RETENTION_CHECK_SECONDS = 6 * 3600


async def keep_retention(
    store: Any,
    retention_days: int,
    every_seconds: float = RETENTION_CHECK_SECONDS,
    conversations: Optional[ConversationStore] = None,
) -> None:
    """Deletes booking requests (and, given the conversation store, conversation events) older
    than ``retention_days``, now and every few hours."""
    while True:
        cutoff = clock.now() - timedelta(days=retention_days)
        for what, purge in (
            ("booking requests", store.purge),
            ("conversation events", getattr(conversations, "purge", None)),
        ):
            if purge is None:
                continue
            try:
                removed = await asyncio.to_thread(purge, cutoff)
                if removed:
                    logger.info("retention: removed %d %s older than %d days", removed, what, retention_days)
            except (RewriteError, BookingStoreError) as error:  # their messages name tables, never a visitor
                logger.error("retention: purging %s failed: %s", what, error)
            except Exception as error:  # noqa: BLE001 - a failed purge is retried at the next check
                logger.error("retention: purging %s failed (%s)", what, type(error).__name__)
        await asyncio.sleep(every_seconds)
