"""Keeps what the privacy notice promises: booking requests are deleted after the profile's
``retention_days``, by the running action server, without staff remembering to purge."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from clinic import clock

logger = logging.getLogger(__name__)

RETENTION_CHECK_SECONDS = 6 * 3600


async def keep_retention(store, retention_days: int, every_seconds: float = RETENTION_CHECK_SECONDS) -> None:
    """Deletes booking requests older than the profile's ``retention_days``, now and every few hours,
    so what the privacy notice promises happens without staff remembering to purge."""
    while True:
        cutoff = clock.now() - timedelta(days=retention_days)
        try:
            removed = await asyncio.to_thread(store.purge, cutoff)
            if removed:
                logger.info("retention: removed %d booking requests older than %d days", removed, retention_days)
        except Exception as error:  # noqa: BLE001 - a failed purge is retried at the next check
            logger.error("retention: purge failed (%s)", type(error).__name__)
        await asyncio.sleep(every_seconds)
