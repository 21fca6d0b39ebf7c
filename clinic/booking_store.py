"""The durable store of booking requests and of their delivery to the clinic.

A visitor's request is written, together with one delivery row per configured
channel ("webhook", "email"), in a single transaction; only after it commits is
the visitor told the request was received. The delivery worker
(``clinic.delivery``) then claims due rows, delivers them and records the outcome.

Works on SQLite (the default, a file under ``var/``) and PostgreSQL, through
SQLAlchemy Core with portable types. Every timestamp is stored as naive UTC and
handed back timezone-aware; ``requested_time`` is kept as ISO 8601 text with the
offset the visitor's time was given in.

Nothing happens at import: ``BookingStore(url)`` only remembers the URL and
``open()`` connects. All methods block; call them through ``asyncio.to_thread``
from async code. One store is safe to share between threads.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from clinic import clock
from clinic.postgres_files import RewriteError, rewrite_tables
from clinic.sqlite_files import owner_only, truncate_log

CHANNELS = ("webhook", "email")
STATES = ("pending", "delivered", "failed")
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read out over the phone
REFERENCE_PREFIX = "DN-"
REFERENCE_LENGTH = 5
MAX_ERROR_LENGTH = 300
_REFERENCE_TRIES = 8
_CLAIM_ROUNDS = 3
_IN_CHUNK = 500  # keeps IN (...) lists under SQLite's bound-parameter limit

metadata = MetaData()

booking_requests = Table(
    "booking_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reference", String(16), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("created_at", DateTime(), nullable=False, index=True),
    Column("name", Text(), nullable=False),
    Column("phone", String(32)),
    Column("email", String(320)),
    Column("requested_time", String(40)),
    Column("requested_time_text", Text()),
    Column("timezone", String(64), nullable=False),
    Column("consent_at", DateTime(), nullable=False),
)

booking_deliveries = Table(
    "booking_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "booking_id",
        Integer,
        ForeignKey("booking_requests.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("channel", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime()),
    Column("last_error", String(MAX_ERROR_LENGTH)),
    Column("delivered_at", DateTime()),
    Column("lease_until", DateTime()),
    UniqueConstraint("booking_id", "channel", name="uq_booking_deliveries_booking_channel"),
    Index("ix_booking_deliveries_due", "state", "next_attempt_at"),
)

# Who on the staff marked a request handled, and when (the staff console's "Mark handled"). Staff
# names only, nothing of the visitor's: deleted with its request by purge and erase.
booking_handled = Table(
    "booking_handled",
    metadata,
    Column("booking_id", Integer, ForeignKey("booking_requests.id", ondelete="CASCADE"), primary_key=True),
    Column("handled_by", String(200), nullable=False),
    Column("handled_at", DateTime(), nullable=False),
)


# The columns that hold what the visitor typed, or the reference they were given: PostgreSQL keeps
# no statistics of them, and rewrites its files after deleting (clinic.postgres_files).
PRIVATE_COLUMNS = {
    "booking_requests": ("reference", "name", "phone", "email", "requested_time_text"),
    "booking_deliveries": ("last_error",),
}

# How long a save waits for a locked SQLite file before it fails. Short enough that the visitor
# hears "could not save, please call" before the widget gives up waiting (30 s).
SQLITE_BUSY_SECONDS = 10


class BookingStoreError(RuntimeError):
    """The store could not do what was asked (database unreachable, read-only, ...).

    The message is short and never contains the visitor's details.
    """


class UnknownReferenceError(BookingStoreError):
    """No booking request has this reference."""


@dataclass(frozen=True)
class NewBooking:
    """A visitor's request, as the booking form collected it."""

    kind: str
    name: str = field(repr=False)
    phone: Optional[str] = field(repr=False)
    email: Optional[str] = field(repr=False)
    requested_time: Optional[datetime]
    requested_time_text: Optional[str] = field(repr=False)
    timezone: str
    consent_at: datetime


@dataclass(frozen=True)
class DeliveryStatus:
    """Where the hand-off of one request through one channel stands."""

    channel: str
    state: str
    attempts: int
    next_attempt_at: Optional[datetime]
    last_error: Optional[str]
    delivered_at: Optional[datetime]


@dataclass(frozen=True)
class StoredBooking(NewBooking):
    """A saved request: the visitor's request, with its reference and delivery status."""

    reference: str
    created_at: datetime
    state: str
    deliveries: Tuple[DeliveryStatus, ...] = ()
    handled_by: Optional[str] = None  # the staff member who marked it handled
    handled_at: Optional[datetime] = None

    def delivery(self, channel: str) -> Optional[DeliveryStatus]:
        """The status of ``channel``, or None when that channel was not configured."""
        return next((status for status in self.deliveries if status.channel == channel), None)


class Claim(NamedTuple):
    """One delivery taken by a worker: ``(delivery_id, channel, booking)``."""

    delivery_id: int
    channel: str
    booking: StoredBooking

    @property
    def attempts(self) -> int:
        """Attempts made before this one."""
        status = self.booking.delivery(self.channel)
        return status.attempts if status else 0


def new_reference() -> str:
    """A fresh reference such as ``DN-7K3Q9``, drawn with ``secrets``."""
    return REFERENCE_PREFIX + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def booking_state(deliveries: Iterable[DeliveryStatus]) -> str:
    """A request's state from its deliveries.

    "failed" when any delivery gave up, "delivered" when there are deliveries and
    all are delivered, else "pending" (including no channel configured: staff must act).
    """
    states = [status.state for status in deliveries]
    if "failed" in states:
        return "failed"
    if states and all(state == "delivered" for state in states):
        return "delivered"
    return "pending"


def sqlite_file(url: str) -> Optional[Path]:
    """The database file of an SQLite URL, or None (another database, or in memory)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database.startswith("file:"):
        database = database[len("file:") :]
    if database in ("", ":memory:"):
        return None
    return Path(database)


def local_time(moment: datetime, zone_name: str) -> datetime:
    """``moment`` in the IANA zone ``zone_name`` (unchanged if the zone is unknown)."""
    try:
        return moment.astimezone(ZoneInfo(zone_name))
    except (ZoneInfoNotFoundError, ValueError):
        return moment


def to_db(value: Optional[datetime]) -> Optional[datetime]:
    """A timezone-aware moment as the clinic's database keeps it: naive UTC."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetimes given to the booking store must be timezone-aware")
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def from_db(value: Optional[datetime]) -> Optional[datetime]:
    """A moment read from the clinic's database (naive UTC), timezone-aware again."""
    return None if value is None else value.replace(tzinfo=timezone.utc)


def _store_error(what: str, error: BaseException) -> BookingStoreError:
    # The DBAPI message's first line only: SQLAlchemy's own text lists the bound
    # parameters, and PostgreSQL's DETAIL line can quote a whole row.
    orig = getattr(error, "orig", None) or error
    first_line = (str(orig).strip().splitlines() or [""])[0][:160]
    detail = f"{type(orig).__name__}: {first_line}" if first_line else type(orig).__name__
    return BookingStoreError(f"{what} failed ({detail})")


def _scrub(text: str, secrets_to_hide: Iterable[Optional[str]]) -> str:
    for value in secrets_to_hide:
        if value and len(value) >= 3:
            text = text.replace(value, "[redacted]")
    return text[:MAX_ERROR_LENGTH]


# Any fixed number: the PostgreSQL advisory lock action servers take while creating the tables.
_CREATE_TABLES_LOCK = 0x636C696E6963  # "clinic"


def create_tables_once(engine: Engine, tables: MetaData = metadata) -> None:
    """Creates the tables of ``tables`` (default: the booking store's) if missing, one server at a time.

    Several action servers (and staff consoles) of a clinic group start together against one
    PostgreSQL database; without the lock two of them may both find a table missing and the
    second CREATE fails (found by the multi-server test). Other databases: no lock.
    """
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CREATE_TABLES_LOCK})
        tables.create_all(connection)


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted means gone from the file: freed pages are overwritten, not left readable.
        cursor.execute("PRAGMA secure_delete=ON")
    finally:
        cursor.close()


class BookingStore:
    """Booking requests and their deliveries, in an SQL database.

    Args:
        url: An SQLAlchemy URL, e.g. ``sqlite:////srv/clinic/bookings.db`` or
            ``postgresql+psycopg2://user@host/clinic``.
        reference_factory: Makes references; tests pass one that collides on purpose.
    """

    def __init__(self, url: str, reference_factory: Callable[[], str] = new_reference) -> None:
        self.url = url
        self._make_reference = reference_factory
        self._engine: Optional[Engine] = None

    # -- lifecycle -------------------------------------------------------

    def open(self) -> "BookingStore":
        """Connects and creates the tables if missing (and, for SQLite, the folder).

        Returns:
            The store itself, so ``store = BookingStore(url).open()`` reads well.

        Raises:
            BookingStoreError: the URL is malformed or the database cannot be used.
        """
        if self._engine is not None:
            return self
        try:
            url = make_url(self.url)
        except ArgumentError:
            raise BookingStoreError("BOOKINGS_DB_URL is not a valid SQLAlchemy URL") from None
        is_sqlite = url.get_backend_name() == "sqlite"
        path = sqlite_file(self.url)
        if is_sqlite and path is None:
            # Also: each thread would see its own empty in-memory database.
            raise BookingStoreError("an in-memory SQLite database would lose booking requests; use a file")
        if is_sqlite and path is not None and url.query.get("uri") is None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise BookingStoreError(
                    f"cannot create the folder of the bookings database ({error.strerror or type(error).__name__})"
                ) from None
        try:
            engine = self._create_engine(url, is_sqlite)
        except (SQLAlchemyError, ImportError) as error:
            raise _store_error("connecting to the bookings database", error) from None
        try:
            if is_sqlite:
                with engine.connect() as connection:
                    # Lets readers (the staff CLI) work while the worker writes.
                    connection.exec_driver_sql("PRAGMA journal_mode=WAL")
                database = sqlite_file(str(url))
                if database is not None:
                    owner_only(database)
            create_tables_once(engine)
        except SQLAlchemyError as error:
            engine.dispose()
            raise _store_error("opening the bookings database", error) from None
        self._engine = engine
        return self

    @staticmethod
    def _create_engine(url: URL, is_sqlite: bool) -> Engine:
        if is_sqlite:
            engine = create_engine(url, future=True, connect_args={"timeout": SQLITE_BUSY_SECONDS})
            event.listen(engine, "connect", _sqlite_on_connect)
            return engine
        return create_engine(url, future=True, pool_pre_ping=True)

    @classmethod
    def on_engine(cls, engine: Engine) -> "BookingStore":
        """A store over an engine opened already (the staff console's, which its accounts share)."""
        store = cls(engine.url.render_as_string(hide_password=True))
        store._engine = engine
        return store

    def close(self) -> None:
        """Releases the connections. The store can be opened again."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> "BookingStore":
        return self.open()

    def __exit__(self, *_exc) -> None:
        self.close()

    @property
    def engine(self) -> Engine:
        """The open engine.

        Raises:
            BookingStoreError: the store is not open.
        """
        if self._engine is None:
            raise BookingStoreError("the booking store is not open")
        return self._engine

    # -- saving ----------------------------------------------------------

    def save(self, new: NewBooking, channels: Sequence[str], now: datetime) -> StoredBooking:
        """Stores a request and one pending delivery per channel, due at once, in one transaction.

        Args:
            new: The visitor's request.
            channels: The configured delivery channels (may be empty: staff then act).
            now: The creation time (timezone-aware).

        Returns:
            The request as committed, with its new reference.

        Raises:
            BookingStoreError: nothing was stored; tell the visitor plainly.
            ValueError: a naive datetime or an unknown channel (a programming error).
        """
        unknown = [channel for channel in channels if channel not in CHANNELS]
        if unknown:
            raise ValueError(f"unknown delivery channels: {unknown}")
        row = self._request_row(new, now)
        for _ in range(_REFERENCE_TRIES):
            reference = self._make_reference()
            try:
                with self.engine.begin() as connection:
                    self._insert(connection, dict(row, reference=reference), channels, now)
            except IntegrityError as error:
                # Checked after the rollback: PostgreSQL refuses statements in a failed transaction.
                if self._reference_exists(reference):
                    continue
                raise _store_error("saving the booking request", error) from None
            except SQLAlchemyError as error:
                raise _store_error("saving the booking request", error) from None
            # Built, not read back: once committed, a failing read must not make
            # the visitor believe the request was lost.
            return _saved(new, reference, now, channels)
        raise BookingStoreError("saving the booking request failed (no free reference found)")

    @staticmethod
    def _request_row(new: NewBooking, now: datetime) -> Dict[str, object]:
        requested = new.requested_time
        if requested is not None and (requested.tzinfo is None or requested.utcoffset() is None):
            raise ValueError("requested_time must be timezone-aware")
        return {
            "kind": new.kind,
            "created_at": to_db(now),
            "name": new.name,
            "phone": new.phone,
            "email": new.email,
            "requested_time": requested.isoformat() if requested else None,
            "requested_time_text": new.requested_time_text,
            "timezone": new.timezone,
            "consent_at": to_db(new.consent_at),
        }

    @staticmethod
    def _insert(connection: Connection, row: Dict[str, object], channels: Sequence[str], now: datetime) -> None:
        booking_id = connection.execute(insert(booking_requests).values(**row)).inserted_primary_key[0]
        for channel in dict.fromkeys(channels):
            connection.execute(
                insert(booking_deliveries).values(
                    booking_id=booking_id,
                    channel=channel,
                    state="pending",
                    attempts=0,
                    next_attempt_at=to_db(now),
                )
            )

    def _reference_exists(self, reference: str) -> bool:
        r = booking_requests
        try:
            with self.engine.connect() as connection:
                return connection.execute(select(r.c.id).where(r.c.reference == reference)).first() is not None
        except SQLAlchemyError as error:
            raise _store_error("saving the booking request", error) from None

    # -- the worker's side -----------------------------------------------

    def claim_due(
        self,
        now: datetime,
        lease_seconds: float,
        limit: int,
        channels: Optional[Sequence[str]] = None,
    ) -> List[Claim]:
        """Takes up to ``limit`` due, pending, unleased deliveries for this worker.

        Each row is taken by a conditional UPDATE whose row count says whether this
        worker won it, so two workers sharing a database never hold the same row.

        Args:
            now: The current time (timezone-aware).
            lease_seconds: How long the row stays reserved; after that, if not
                marked, another worker may take it (e.g. after a crash).
            limit: The most rows to take.
            channels: Only these channels (the ones this worker can deliver); None = all.

        Returns:
            The claims, oldest due first.
        """
        if limit <= 0 or (channels is not None and not channels):
            return []
        now_db = to_db(now)
        lease_until = to_db(now + timedelta(seconds=lease_seconds))
        d = booking_deliveries
        free = or_(d.c.lease_until.is_(None), d.c.lease_until < now_db)
        due = and_(d.c.state == "pending", d.c.next_attempt_at <= now_db, free)
        if channels is not None:
            due = and_(due, d.c.channel.in_(list(channels)))
        won: List = []
        try:
            for _ in range(_CLAIM_ROUNDS):
                with self.engine.connect() as connection:
                    candidates = connection.execute(
                        select(d.c.id, d.c.booking_id, d.c.channel)
                        .where(due)
                        .order_by(d.c.next_attempt_at, d.c.id)
                        .limit(limit - len(won))
                    ).all()
                taken = self._take(candidates, free, lease_until)
                won.extend(taken)
                # Rows lost to another worker are leased now, so a new look finds others.
                if len(taken) == len(candidates) or len(won) >= limit:
                    break
            bookings = self._bookings_by_id({candidate.booking_id for candidate in won})
        except SQLAlchemyError as error:
            raise _store_error("claiming deliveries", error) from None
        return [
            Claim(candidate.id, candidate.channel, bookings[candidate.booking_id])
            for candidate in won
            if candidate.booking_id in bookings
        ]

    def _take(self, candidates: Sequence, free, lease_until: Optional[datetime]) -> List:
        d = booking_deliveries
        taken = []
        with self.engine.begin() as connection:
            for candidate in candidates:
                result = connection.execute(
                    update(d)
                    .where(d.c.id == candidate.id, d.c.state == "pending", free)
                    .values(lease_until=lease_until)
                )
                if result.rowcount == 1:
                    taken.append(candidate)
        return taken

    def mark_delivered(self, delivery_id: int, now: datetime) -> None:
        """Records a successful delivery and frees the lease."""
        d = booking_deliveries
        self._execute(
            "recording a delivery",
            update(d)
            .where(d.c.id == delivery_id)
            .values(
                state="delivered",
                attempts=d.c.attempts + 1,
                delivered_at=to_db(now),
                next_attempt_at=None,
                lease_until=None,
            ),
        )

    def mark_attempt_failed(
        self,
        delivery_id: int,
        error: str,
        next_attempt_at: Optional[datetime],
        give_up: bool,
    ) -> None:
        """Records a failed attempt and frees the lease.

        Args:
            delivery_id: The claimed delivery.
            error: A short reason (status code or error class). The visitor's
                name, phone and email are removed from it if they slipped in.
            next_attempt_at: When to try again (ignored when giving up).
            give_up: Mark the delivery "failed"; it stays for staff to retry.
        """
        d, r = booking_deliveries, booking_requests
        try:
            with self.engine.begin() as connection:
                contact = connection.execute(
                    select(r.c.name, r.c.phone, r.c.email)
                    .select_from(d.join(r, d.c.booking_id == r.c.id))
                    .where(d.c.id == delivery_id)
                ).first()
                connection.execute(
                    update(d)
                    .where(d.c.id == delivery_id, d.c.state == "pending")
                    .values(
                        state="failed" if give_up else "pending",
                        attempts=d.c.attempts + 1,
                        last_error=_scrub(error, contact or ()),
                        next_attempt_at=None if give_up else to_db(next_attempt_at),
                        lease_until=None,
                    )
                )
        except SQLAlchemyError as db_error:
            raise _store_error("recording a failed delivery", db_error) from None

    def release(self, delivery_ids: Iterable[int]) -> None:
        """Frees the leases of claimed deliveries that were not attempted (worker stopping)."""
        ids = list(delivery_ids)
        if not ids:
            return
        d = booking_deliveries
        self._execute(
            "releasing deliveries",
            update(d).where(d.c.id.in_(ids), d.c.state == "pending").values(lease_until=None),
        )

    # -- staff operations ------------------------------------------------

    def list(self, state: Optional[str] = None) -> List[StoredBooking]:
        """All requests, newest first, optionally only those in ``state``."""
        if state is not None and state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}")
        try:
            bookings = self._load(None)
        except SQLAlchemyError as error:
            raise _store_error("listing booking requests", error) from None
        return [booking for booking in bookings if state is None or booking.state == state]

    def get(self, reference: str) -> Optional[StoredBooking]:
        """The request with this reference (case and spaces ignored), or None."""
        try:
            found = self._load(booking_requests.c.reference == reference.strip().upper())
        except SQLAlchemyError as error:
            raise _store_error("reading a booking request", error) from None
        return found[0] if found else None

    def retry(self, reference: Optional[str] = None, now: Optional[datetime] = None) -> int:
        """Puts failed deliveries back in the queue, due now, with attempts reset to 0.

        Args:
            reference: Only this request's failed deliveries; None = every failed one.
            now: The time they become due (default: now).

        Returns:
            How many deliveries were put back.

        Raises:
            UnknownReferenceError: no request has ``reference``.
        """
        d, r = booking_deliveries, booking_requests
        condition = d.c.state == "failed"
        try:
            with self.engine.begin() as connection:
                if reference is not None:
                    booking_id = connection.execute(
                        select(r.c.id).where(r.c.reference == reference.strip().upper())
                    ).scalar()
                    if booking_id is None:
                        raise UnknownReferenceError(f"no booking request with reference {reference!r}")
                    condition = and_(condition, d.c.booking_id == booking_id)
                result = connection.execute(
                    update(d)
                    .where(condition)
                    .values(
                        state="pending",
                        attempts=0,
                        next_attempt_at=to_db(now or clock.now()),
                        lease_until=None,
                    )
                )
                return result.rowcount
        except SQLAlchemyError as error:
            raise _store_error("retrying deliveries", error) from None

    def mark_handled(self, reference: str, who: str, now: datetime) -> StoredBooking:
        """Records that ``who`` handled the request (called the visitor back, booked them in).
        A request handled already keeps its first record.

        Returns:
            The request, with who handled it and when.

        Raises:
            UnknownReferenceError: no request has ``reference``.
        """
        r = booking_requests
        try:
            with self.engine.begin() as connection:
                booking_id = connection.execute(
                    select(r.c.id).where(r.c.reference == reference.strip().upper())
                ).scalar()
                if booking_id is None:
                    raise UnknownReferenceError(f"no booking request with reference {reference!r}")
                done = connection.execute(
                    select(booking_handled.c.booking_id).where(booking_handled.c.booking_id == booking_id)
                ).first()
                if done is None:
                    connection.execute(
                        insert(booking_handled).values(
                            booking_id=booking_id, handled_by=who[:200], handled_at=to_db(now)
                        )
                    )
        except IntegrityError:  # another console process marked it at the same moment: theirs stands
            pass
        except SQLAlchemyError as error:
            raise _store_error("marking a request handled", error) from None
        found = self.get(reference)
        if found is None:
            raise UnknownReferenceError(f"no booking request with reference {reference!r}")
        return found

    def count_created_before(self, older_than: datetime) -> int:
        """How many requests ``purge(older_than)`` would remove."""
        r = booking_requests
        try:
            with self.engine.connect() as connection:
                return connection.execute(
                    select(func.count()).select_from(r).where(r.c.created_at < to_db(older_than))
                ).scalar_one()
        except SQLAlchemyError as error:
            raise _store_error("counting booking requests", error) from None

    def purge(self, older_than: datetime) -> int:
        """Deletes requests created before ``older_than``, with their deliveries.

        Returns:
            How many requests were deleted.

        Raises:
            BookingStoreError: nothing was deleted, or (on PostgreSQL) the tables could not be
                rewritten afterwards.
        """
        d, r = booking_deliveries, booking_requests
        cutoff = to_db(older_than)
        old_ids = select(r.c.id).where(r.c.created_at < cutoff).scalar_subquery()
        try:
            with self.engine.begin() as connection:
                connection.execute(delete(d).where(d.c.booking_id.in_(old_ids)))
                connection.execute(delete(booking_handled).where(booking_handled.c.booking_id.in_(old_ids)))
                removed = connection.execute(delete(r).where(r.c.created_at < cutoff)).rowcount
            self._forget_deleted("purged")
            return removed
        except SQLAlchemyError as error:
            raise _store_error("purging booking requests", error) from None

    def erase(
        self, reference: Optional[str] = None, email: Optional[str] = None, phone: Optional[str] = None
    ) -> List[StoredBooking]:
        """Deletes one visitor's requests, with their deliveries: the one with ``reference`` and
        every one with the same email or phone, or those with ``email`` or ``phone``.

        Returns:
            The requests deleted, as they were (for the staff member to see what went).
        """
        r, d = booking_requests, booking_deliveries
        try:
            with self.engine.begin() as connection:
                emails, phones = {email.strip().lower()} if email else set(), {phone.strip()} if phone else set()
                if reference:
                    row = connection.execute(
                        select(r.c.email, r.c.phone).where(r.c.reference == reference.strip().upper())
                    ).first()
                    if row is None and not emails and not phones:
                        raise UnknownReferenceError(f"no booking request with reference {reference}")
                    if row is not None:
                        emails |= {row.email.lower()} if row.email else set()
                        phones |= {row.phone} if row.phone else set()
                matches = []
                if reference:
                    matches.append(r.c.reference == reference.strip().upper())
                if emails:
                    matches.append(func.lower(r.c.email).in_(sorted(emails)))
                if phones:
                    matches.append(r.c.phone.in_(sorted(phones)))
                if not matches:
                    return []
                ids = [row.id for row in connection.execute(select(r.c.id).where(or_(*matches)))]
            if not ids:
                return []
            found = list(self._bookings_by_id(ids).values())
            with self.engine.begin() as connection:
                connection.execute(delete(d).where(d.c.booking_id.in_(ids)))
                connection.execute(delete(booking_handled).where(booking_handled.c.booking_id.in_(ids)))
                connection.execute(delete(r).where(r.c.id.in_(ids)))
            self._forget_deleted("erased")
            return found
        except SQLAlchemyError as error:
            raise _store_error("erasing booking requests", error) from None

    def _forget_deleted(self, done: str) -> None:
        """Deleted rows gone from the files: SQLite's log emptied, PostgreSQL's tables rewritten.

        Raises:
            BookingStoreError: PostgreSQL's tables could not be rewritten (the rows are deleted).
        """
        truncate_log(self.engine)
        try:
            rewrite_tables(self.engine, PRIVATE_COLUMNS)
        except RewriteError as error:
            raise BookingStoreError(f"the requests were {done}, but their tables were not rewritten: {error}") from None

    # -- reading ---------------------------------------------------------

    def _execute(self, what: str, statement) -> None:
        try:
            with self.engine.begin() as connection:
                connection.execute(statement)
        except SQLAlchemyError as error:
            raise _store_error(what, error) from None

    def _bookings_by_id(self, ids: Iterable[int]) -> Dict[int, StoredBooking]:
        ids = sorted(ids)
        found: Dict[int, StoredBooking] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            found.update(self._load_with_ids(booking_requests.c.id.in_(chunk)))
        return found

    def _load(self, condition) -> List[StoredBooking]:
        return list(self._load_with_ids(condition).values())

    def _load_with_ids(self, condition) -> Dict[int, StoredBooking]:
        r, d = booking_requests, booking_deliveries
        query = select(r).order_by(r.c.created_at.desc(), r.c.id.desc())
        if condition is not None:
            query = query.where(condition)
        h = booking_handled
        handled: Dict[int, Tuple[str, datetime]] = {}
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
            deliveries: Dict[int, List[DeliveryStatus]] = {row["id"]: [] for row in rows}
            ids = list(deliveries)
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                for status_row in connection.execute(
                    select(d).where(d.c.booking_id.in_(chunk)).order_by(d.c.id)
                ).mappings():
                    deliveries[status_row["booking_id"]].append(_status(status_row))
                for done in connection.execute(select(h).where(h.c.booking_id.in_(chunk))).mappings():
                    handled[done["booking_id"]] = (done["handled_by"], from_db(done["handled_at"]))
        return {row["id"]: _booking(row, deliveries[row["id"]], handled.get(row["id"])) for row in rows}


def _saved(new: NewBooking, reference: str, now: datetime, channels: Sequence[str]) -> StoredBooking:
    created = from_db(to_db(now))
    statuses = [DeliveryStatus(channel, "pending", 0, created, None, None) for channel in dict.fromkeys(channels)]
    requested = new.requested_time
    return _booking_from(
        reference=reference,
        created_at=created,
        deliveries=statuses,
        kind=new.kind,
        name=new.name,
        phone=new.phone,
        email=new.email,
        requested_time=datetime.fromisoformat(requested.isoformat()) if requested else None,
        requested_time_text=new.requested_time_text,
        timezone=new.timezone,
        consent_at=from_db(to_db(new.consent_at)),
    )


def _status(row) -> DeliveryStatus:
    return DeliveryStatus(
        channel=row["channel"],
        state=row["state"],
        attempts=row["attempts"],
        next_attempt_at=from_db(row["next_attempt_at"]),
        last_error=row["last_error"],
        delivered_at=from_db(row["delivered_at"]),
    )


def _booking(
    row, deliveries: Sequence[DeliveryStatus], handled: Optional[Tuple[str, datetime]] = None
) -> StoredBooking:
    requested = row["requested_time"]
    return _booking_from(
        handled_by=handled[0] if handled else None,
        handled_at=handled[1] if handled else None,
        reference=row["reference"],
        created_at=from_db(row["created_at"]),
        deliveries=deliveries,
        kind=row["kind"],
        name=row["name"],
        phone=row["phone"],
        email=row["email"],
        requested_time=datetime.fromisoformat(requested) if requested else None,
        requested_time_text=row["requested_time_text"],
        timezone=row["timezone"],
        consent_at=from_db(row["consent_at"]),
    )


def _booking_from(deliveries: Sequence[DeliveryStatus], **fields) -> StoredBooking:
    ordered = tuple(
        sorted(
            deliveries,
            key=lambda status: CHANNELS.index(status.channel) if status.channel in CHANNELS else len(CHANNELS),
        )
    )
    return StoredBooking(state=booking_state(ordered), deliveries=ordered, **fields)
