"""The booking store on real SQLite files: saving, states, claiming, staff operations, failures."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, select, text

from clinic.booking_store import (
    BookingStore,
    BookingStoreError,
    NewBooking,
    UnknownReferenceError,
    booking_deliveries,
    booking_requests,
    metadata,
    new_reference,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
LONDON = ZoneInfo("Europe/London")
REFERENCE = re.compile(r"^DN-[2-9A-HJKMNP-Z]{5}$")


def visitor(**changes) -> NewBooking:
    fields = dict(
        kind="booking",
        name="Zoë Testperson",
        phone="+447700900123",
        email="zoe.testperson@example.org",
        requested_time=datetime(2026, 6, 24, 17, 30, tzinfo=LONDON),
        requested_time_text="next Tuesday after work",
        timezone="Europe/London",
        consent_at=NOW - timedelta(minutes=1),
    )
    fields.update(changes)
    return NewBooking(**fields)


# Set to an empty PostgreSQL database's URL to run the portable tests there too (tables are dropped).
POSTGRES_URL = os.environ.get("BOOKINGS_TEST_POSTGRES_URL")


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'var' / 'bookings.db'}"


@pytest.fixture(params=["sqlite"] + (["postgresql"] if POSTGRES_URL else []))
def db_url(request, sqlite_url) -> str:
    if request.param == "sqlite":
        return sqlite_url
    engine = create_engine(POSTGRES_URL)
    metadata.drop_all(engine)
    engine.dispose()
    return POSTGRES_URL


@pytest.fixture
def store(db_url):
    with BookingStore(db_url) as opened:
        yield opened


def count_rows(store, table) -> int:
    with store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_save_and_get_round_trip(store):
    new = visitor()
    saved = store.save(new, ["webhook", "email"], NOW)
    assert REFERENCE.match(saved.reference)
    got = store.get(saved.reference)
    assert got == saved
    for field in ("kind", "name", "phone", "email", "requested_time_text", "timezone", "consent_at"):
        assert getattr(got, field) == getattr(new, field), field
    assert got.requested_time == new.requested_time
    assert got.requested_time.utcoffset() == timedelta(hours=1)  # the offset it was given in
    assert got.created_at == NOW and got.created_at.tzinfo is not None
    assert got.state == "pending"
    assert [(d.channel, d.state, d.attempts, d.next_attempt_at) for d in got.deliveries] == [
        ("webhook", "pending", 0, NOW),
        ("email", "pending", 0, NOW),
    ]
    assert store.get(saved.reference.lower() + " ") == saved
    assert store.get("DN-ZZZZZ") is None


def test_optional_fields_and_repr_hides_contact_details(store):
    saved = store.save(visitor(phone=None, requested_time=None, requested_time_text=None), ["email"], NOW)
    got = store.get(saved.reference)
    assert got.phone is None and got.requested_time is None and got.requested_time_text is None
    assert "Zoë" not in repr(got) and "example.org" not in repr(got)
    assert "Zoë" not in repr(visitor())


def test_open_has_no_side_effects_until_called(tmp_path):
    path = tmp_path / "later" / "bookings.db"
    store = BookingStore(f"sqlite:///{path}")
    assert not path.parent.exists()
    with pytest.raises(BookingStoreError, match="not open"):
        store.list()
    store.open()
    try:
        assert path.exists()
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        store.close()


def test_reference_format():
    references = {new_reference() for _ in range(500)}
    assert all(REFERENCE.match(reference) for reference in references)
    assert len(references) > 490
    assert not set("".join(references)) & set("01ILO")


def test_reference_collision_takes_a_new_reference(db_url):
    planned = iter(["DN-AAAAA", "DN-AAAAA", "DN-AAAAA", "DN-BBBBB"])
    with BookingStore(db_url, reference_factory=lambda: next(planned)) as store:
        first = store.save(visitor(), ["webhook"], NOW)
        second = store.save(visitor(name="Someone Else"), ["webhook"], NOW)
        assert (first.reference, second.reference) == ("DN-AAAAA", "DN-BBBBB")
        assert store.get("DN-AAAAA").name == "Zoë Testperson"
        assert len(store.list()) == 2


def test_reference_space_exhausted_is_an_error(db_url):
    with BookingStore(db_url, reference_factory=lambda: "DN-AAAAA") as store:
        store.save(visitor(), ["webhook"], NOW)
        with pytest.raises(BookingStoreError, match="no free reference"):
            store.save(visitor(), ["webhook"], NOW)
        assert len(store.list()) == 1


def test_naive_datetimes_and_unknown_channels_are_refused(store):
    with pytest.raises(ValueError):
        store.save(visitor(), ["webhook"], NOW.replace(tzinfo=None))
    with pytest.raises(ValueError):
        store.save(visitor(requested_time=datetime(2026, 6, 24, 17, 30)), ["webhook"], NOW)
    with pytest.raises(ValueError):
        store.save(visitor(), ["pigeon"], NOW)
    assert store.list() == []


def deliver_all(store, channel_results, now=NOW):
    """Claims everything due and marks each channel as told: "ok", "retry" or "give up"."""
    for claim in store.claim_due(now, 60, 100):
        result = channel_results[claim.channel]
        if result == "ok":
            store.mark_delivered(claim.delivery_id, now)
        else:
            store.mark_attempt_failed(
                claim.delivery_id, "HTTP 500", now + timedelta(seconds=5), give_up=result == "give up"
            )


def test_state_rules(store):
    nothing = store.save(visitor(), [], NOW)
    assert nothing.state == "pending" and nothing.deliveries == ()

    both = store.save(visitor(), ["webhook", "email"], NOW + timedelta(seconds=1))
    deliver_all(store, {"webhook": "ok", "email": "retry"})
    assert store.get(both.reference).state == "pending"  # one delivered, one still trying

    deliver_all(store, {"webhook": "ok", "email": "ok"}, NOW + timedelta(seconds=10))
    assert store.get(both.reference).state == "delivered"

    failed = store.save(visitor(), ["webhook", "email"], NOW + timedelta(seconds=20))
    deliver_all(store, {"webhook": "ok", "email": "give up"}, NOW + timedelta(seconds=20))
    assert store.get(failed.reference).state == "failed"

    assert [b.reference for b in store.list()] == [failed.reference, both.reference, nothing.reference]
    assert [b.reference for b in store.list("pending")] == [nothing.reference]
    assert [b.reference for b in store.list("delivered")] == [both.reference]
    assert [b.reference for b in store.list("failed")] == [failed.reference]
    with pytest.raises(ValueError):
        store.list("lost")


def test_claim_takes_due_rows_once_until_the_lease_expires(store):
    saved = store.save(visitor(), ["webhook", "email"], NOW)
    assert store.claim_due(NOW - timedelta(seconds=1), 60, 10) == []  # not due yet

    claims = store.claim_due(NOW, 60, 10)
    assert [(c.channel, c.booking.reference, c.attempts) for c in claims] == [
        ("webhook", saved.reference, 0),
        ("email", saved.reference, 0),
    ]
    assert store.claim_due(NOW + timedelta(seconds=59), 60, 10) == []  # leased
    again = store.claim_due(NOW + timedelta(seconds=61), 60, 10)  # the holder crashed
    assert sorted(c.delivery_id for c in again) == sorted(c.delivery_id for c in claims)


def test_claim_respects_limit_channels_and_release(store):
    store.save(visitor(), ["webhook", "email"], NOW)
    store.save(visitor(), ["webhook", "email"], NOW)
    assert [c.channel for c in store.claim_due(NOW, 60, 10, channels=["email"])] == ["email", "email"]
    assert store.claim_due(NOW, 60, 10, channels=[]) == []
    one = store.claim_due(NOW, 60, 1)
    assert len(one) == 1
    store.release([one[0].delivery_id])
    assert [c.delivery_id for c in store.claim_due(NOW, 60, 10)] == [one[0].delivery_id, one[0].delivery_id + 2]


def test_mark_results(store):
    saved = store.save(visitor(), ["webhook"], NOW)
    [claim] = store.claim_due(NOW, 60, 10)
    later = NOW + timedelta(seconds=30)
    store.mark_attempt_failed(claim.delivery_id, "HTTP 503", later, give_up=False)
    status = store.get(saved.reference).delivery("webhook")
    assert (status.state, status.attempts, status.next_attempt_at, status.last_error) == (
        "pending",
        1,
        later,
        "HTTP 503",
    )
    assert store.claim_due(NOW + timedelta(seconds=29), 60, 10) == []

    [claim] = store.claim_due(later, 60, 10)
    assert claim.attempts == 1
    store.mark_delivered(claim.delivery_id, later)
    status = store.get(saved.reference).delivery("webhook")
    assert (status.state, status.attempts, status.delivered_at) == ("delivered", 2, later)
    assert store.claim_due(later + timedelta(hours=1), 60, 10) == []


def test_error_text_never_keeps_contact_details(store):
    saved = store.save(visitor(), ["webhook"], NOW)
    [claim] = store.claim_due(NOW, 60, 10)
    store.mark_attempt_failed(
        claim.delivery_id, "rejected +447700900123 zoe.testperson@example.org " + "x" * 400, None, give_up=True
    )
    status = store.get(saved.reference).delivery("webhook")
    assert status.state == "failed"
    assert "+447700900123" not in status.last_error and "example.org" not in status.last_error
    assert len(status.last_error) <= 300


def test_retry_one_or_all(store):
    first = store.save(visitor(), ["webhook", "email"], NOW)
    second = store.save(visitor(), ["webhook"], NOW)
    deliver_all(store, {"webhook": "give up", "email": "ok"})
    assert {b.state for b in store.list()} == {"failed"}

    later = NOW + timedelta(hours=1)
    assert store.retry(first.reference.lower(), later) == 1
    status = store.get(first.reference).delivery("webhook")
    assert (status.state, status.attempts, status.next_attempt_at) == ("pending", 0, later)
    assert store.get(first.reference).delivery("email").state == "delivered"
    assert store.get(second.reference).state == "failed"

    assert store.retry(None, later) == 1
    assert store.retry(None, later) == 0
    assert {b.state for b in store.list()} == {"pending"}
    with pytest.raises(UnknownReferenceError, match="DN-ZZZZZ"):
        store.retry("DN-ZZZZZ", later)


def test_purge_removes_old_requests_and_their_deliveries(store):
    old = store.save(visitor(), ["webhook", "email"], NOW - timedelta(days=400))
    recent = store.save(visitor(), ["webhook"], NOW - timedelta(days=10))
    cutoff = NOW - timedelta(days=365)
    assert store.count_created_before(cutoff) == 1
    assert store.purge(cutoff) == 1
    assert store.get(old.reference) is None
    assert store.get(recent.reference) is not None
    assert count_rows(store, booking_deliveries) == 1
    assert store.purge(cutoff) == 0


def test_unusable_location_raises_store_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(BookingStoreError, match="folder"):
        BookingStore(f"sqlite:///{blocker / 'bookings.db'}").open()
    with pytest.raises(BookingStoreError, match="not a valid"):
        BookingStore("not a url").open()
    with pytest.raises(BookingStoreError, match="in-memory"):
        BookingStore("sqlite://").open()


def test_read_only_database_raises_store_error_and_stores_nothing(sqlite_url):
    path = sqlite_url[len("sqlite:///") :]
    BookingStore(sqlite_url).open().close()
    with BookingStore(f"sqlite:///file:{path}?mode=ro&uri=true") as read_only:
        with pytest.raises(BookingStoreError, match="readonly") as caught:
            read_only.save(visitor(), ["webhook"], NOW)
        assert "Zoë" not in str(caught.value) and "+4477" not in str(caught.value)
        assert read_only.list() == []


def test_failed_transaction_leaves_no_half_written_request(store):
    with store.engine.begin() as connection:
        connection.execute(text("DROP TABLE booking_deliveries"))
    with pytest.raises(BookingStoreError) as caught:
        store.save(visitor(), ["webhook"], NOW)
    assert "Zoë" not in str(caught.value) and caught.value.__cause__ is None
    assert count_rows(store, booking_requests) == 0


def test_concurrent_claims_from_two_stores_never_overlap(db_url):
    with BookingStore(db_url) as first, BookingStore(db_url) as second:
        for _ in range(30):
            first.save(visitor(), ["webhook"], NOW)
        taken = []
        lock = threading.Lock()

        def claim_all(store):
            while True:
                claims = store.claim_due(NOW, 60, 3)
                if not claims:
                    return
                with lock:
                    taken.extend(c.delivery_id for c in claims)

        threads = [threading.Thread(target=claim_all, args=(s,)) for s in (first, second, first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(taken) == sorted(set(taken)) and len(taken) == 30
