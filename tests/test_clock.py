"""The one clock (clinic/clock.py): real time, or CLINIC_NOW running on from its moment, and every
part that tells the time asks it (the opening-hours answer, the booking store, the staff retry)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.clinic_info import ActionTellHours
from clinic import clock, settings
from clinic.booking_store import BookingStore, NewBooking

pytestmark = pytest.mark.unit

MONDAY_10AM = "2026-11-23T10:00:00-05:00"  # the example clinic (New York) is open
SUNDAY_10AM = "2026-11-22T10:00:00-05:00"  # closed on Sundays


def test_without_clinic_now_it_is_the_real_time(monkeypatch):
    monkeypatch.delenv("CLINIC_NOW", raising=False)
    before = datetime.now(timezone.utc)
    now = clock.now()
    assert before <= now <= datetime.now(timezone.utc)
    assert now.utcoffset() == timedelta(0)


def test_clinic_now_starts_the_clock_and_it_runs_on(monkeypatch):
    ticks = iter([1000.0, 1000.0, 1007.5])
    monkeypatch.setattr(clock.time, "monotonic", lambda: next(ticks))
    monkeypatch.setattr(clock, "_started", {})
    monkeypatch.setenv("CLINIC_NOW", MONDAY_10AM)
    assert clock.now() == datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
    assert clock.now() == datetime(2026, 11, 23, 15, 0, 7, 500000, tzinfo=timezone.utc)


def test_a_malformed_clinic_now_is_named(monkeypatch):
    monkeypatch.setenv("CLINIC_NOW", "monday morning")
    with pytest.raises(settings.SettingsError, match="CLINIC_NOW"):
        clock.now()


def hours_answer() -> str:
    dispatcher = CollectingDispatcher()
    tracker = Tracker("s", {}, {}, [], False, None, {}, "action_listen")
    asyncio.run(ActionTellHours().run(dispatcher, tracker, {}))
    return dispatcher.messages[0]["text"]


def test_the_open_right_now_line_follows_clinic_now(monkeypatch):
    monkeypatch.setattr(clock, "_started", {})
    monkeypatch.setenv("CLINIC_NOW", MONDAY_10AM)
    assert "We're open right now." in hours_answer()
    monkeypatch.setenv("CLINIC_NOW", SUNDAY_10AM)
    assert "We're closed right now" in hours_answer()


def test_the_booking_store_schedules_a_retry_by_the_clock(monkeypatch, tmp_path):
    monkeypatch.setattr(clock, "_started", {})
    monkeypatch.setenv("CLINIC_NOW", "2030-01-07T09:00:00+00:00")
    with BookingStore(f"sqlite:///{tmp_path / 'bookings.db'}") as store:
        saved = store.save(
            NewBooking(
                kind="callback",
                name="Ada Lovelace",
                phone="+12025550143",
                email=None,
                requested_time=None,
                requested_time_text=None,
                timezone="America/New_York",
                consent_at=clock.now(),
            ),
            ["webhook"],
            clock.now(),
        )
        (claim,) = store.claim_due(clock.now(), 60, 10)
        store.mark_attempt_failed(claim.delivery_id, "HTTP 500", None, give_up=True)
        assert store.retry(saved.reference) == 1  # due "now": by the clock, in 2030
        assert store.claim_due(clock.now() - timedelta(seconds=5), 60, 10) == []
        assert [c.booking.reference for c in store.claim_due(clock.now() + timedelta(seconds=5), 60, 10)] == [
            saved.reference
        ]
