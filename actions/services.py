"""What the action server opens at start and the actions share.

``actions.server`` fills this in a Sanic ``before_server_start`` listener (never at
import): the validated clinic profile, the delivery settings, the booking store and
the background delivery worker. An action that needs them and finds nothing
(the actions served some other way) tells the visitor plainly rather than
pretending a booking was saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from clinic.profile import ClinicProfile
from clinic.settings import DeliverySettings


@dataclass
class Services:
    """Started once per action-server process."""

    profile: ClinicProfile
    delivery: DeliverySettings
    store: Any  # clinic.booking_store.BookingStore
    worker: Any  # clinic.delivery.DeliveryWorker
    conversations: Any = None  # clinic.conversations.ConversationStore, when the store is SQL


_services: Optional[Services] = None


def install(services: Optional[Services]) -> None:
    """Called by the server at start (and with None at stop)."""
    global _services
    _services = services


def current() -> Optional[Services]:
    """The running server's services, or None when the server did not start them."""
    return _services
