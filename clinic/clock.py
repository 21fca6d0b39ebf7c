"""The assistant's one clock: the moment every part of it takes as "now".

The opening-hours answers, the booking form's reading of "tomorrow at 5", the hand-off's
"we're open", the booking store's timestamps, the delivery worker's retries, the retention
purge and the staff command line all ask this clock.

It is the real time, unless ``CLINIC_NOW`` (tests and demos) gives a starting moment: then
the clock starts there the first time it is asked and runs on at real speed, so a retry
scheduled five seconds ahead still comes due five seconds later.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Dict, Tuple

from clinic import settings

_started: Dict[datetime, Tuple[datetime, float]] = {}  # CLINIC_NOW -> (that moment, monotonic time then)


def now() -> datetime:
    """The current moment, timezone-aware UTC.

    Raises:
        settings.SettingsError: when ``CLINIC_NOW`` is set but malformed.
    """
    pretended = settings.clinic_now()
    if pretended is None:
        return datetime.now(timezone.utc)
    if pretended not in _started:
        _started[pretended] = (pretended, time.monotonic())
    moment, began = _started[pretended]
    return (moment + timedelta(seconds=time.monotonic() - began)).astimezone(timezone.utc)
