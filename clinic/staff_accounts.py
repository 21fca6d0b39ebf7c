"""Staff accounts for the staff console: users, sessions, failed-login waits and the audit log.

Kept in the clinic's database, beside the booking requests (``BOOKINGS_DB_URL``: SQLite by
default, PostgreSQL for a clinic group), so every console process and the staff command line
see the same users and sessions. ``StaffAccounts`` works on an open engine, the booking
store's; nothing happens at import. Every method blocks: call them through
``asyncio.to_thread`` from async code.

- **Passwords** are kept as Argon2id hashes (argon2-cffi) with RFC 9106's low-memory
  parameters (64 MiB, 3 passes, 4 lanes): about 0.15 s per check on a two-core machine.
- **Sessions** are random tokens; the database keeps only each token's SHA-256, so a copy of
  the database cannot be replayed as a cookie. Each session has its own CSRF token, an idle
  timeout and an absolute lifetime, both checked on every request.
- **Failed logins** are counted per user name and per client address (both stored as SHA-256
  digests, never as typed: a password typed into the name field stays out of the database).
  From the 5th failure in a row a wait begins, 30 s and doubling with each further failure up
  to 15 minutes; a failure more than an hour after the last one starts the count again.
- **Roles**: each user is "staff" (the inbox, topics and requests) or "admin" (also users,
  erasures and the clinic's details). A database made before roles existed gets the column on the
  next start, every user in it "staff": nobody gains a power they did not have, and whoever runs
  the server makes the first admin with ``python -m actions.staff set-role NAME admin``. Once a
  user is an admin, the last admin can be neither removed nor made staff.
- **The audit log** says who did what, when, from where: logins, failed and refused logins,
  logouts, users added and removed, roles changed.

Every moment is given by the caller (``now``), as the booking store takes it, so the tests can
walk a lockout through time; the console and the command line pass ``clinic.clock.now()``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, List, Optional, Sequence

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from clinic.booking_store import create_tables_once, from_db, to_db
from clinic.text import has_unprintable

MAX_NAME_LENGTH = 40
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # a longer one is not a password but a way to make the server hash megabytes
# A letter or digit, then letters, digits and . _ @ - (any script: "zoë", "ayşe.k").
NAME_PATTERN = re.compile(r"[^\W_][\w.@-]*")

FAILURES_BEFORE_WAIT = 5
FIRST_WAIT = timedelta(seconds=30)
LONGEST_WAIT = timedelta(minutes=15)
FORGET_FAILURES_AFTER = timedelta(hours=1)

# RFC 9106's second recommended option (the first needs 2 GiB per check): Argon2id, 64 MiB,
# t=3, p=4. Measured on the project's two-core machine: 0.14 s to hash, 0.16 s to verify.
PASSWORD_PARAMETERS = profiles.RFC_9106_LOW_MEMORY

STAFF, ADMIN = "staff", "admin"
ROLES = (STAFF, ADMIN)

tables = MetaData()

staff_users = Table(
    "staff_users",
    tables,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(MAX_NAME_LENGTH * 4), nullable=False),
    # The name as compared (NFKC, case-folded): "Anna" and "anna" are one user.
    Column("name_key", String(MAX_NAME_LENGTH * 4), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("password_changed_at", DateTime(), nullable=False),
    # Added to databases made before roles by StaffAccounts.create_tables (add_role_column).
    Column("role", String(10), nullable=False, server_default=STAFF),
)

staff_sessions = Table(
    "staff_sessions",
    tables,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("last_seen_at", DateTime(), nullable=False),
)

staff_login_failures = Table(
    "staff_login_failures",
    tables,
    Column("key", String(80), primary_key=True),  # "user:<sha256>" or "address:<sha256>"
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", DateTime(), nullable=False),
    Column("blocked_until", DateTime()),
)

staff_audit = Table(
    "staff_audit",
    tables,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(), nullable=False, index=True),
    Column("actor", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("address", String(64)),
    Column("detail", String(300)),
)


class AccountError(ValueError):
    """A name or password that cannot be used, or a user that exists or does not; the message says why."""


@dataclass(frozen=True)
class StaffUser:
    """One staff account (never with its password hash)."""

    id: int
    name: str
    created_at: datetime
    password_changed_at: datetime
    role: str = STAFF

    @property
    def is_admin(self) -> bool:
        """Whether the user may manage users, erase visitors and change the clinic's details."""
        return self.role == ADMIN


@dataclass(frozen=True)
class StaffSession:
    """A signed-in staff member, as one request sees them."""

    user: StaffUser
    csrf_token: str = field(repr=False)
    created_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class NewSession:
    """A session just started: ``token`` goes in the cookie and nowhere else."""

    token: str = field(repr=False)
    session: StaffSession


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lasts: ``idle`` since its last request, ``lifetime`` since login."""

    idle: timedelta
    lifetime: timedelta


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log."""

    at: datetime
    actor: str
    action: str
    address: Optional[str]
    detail: Optional[str]


def name_key(name: str) -> str:
    """The form of a user name that is compared: NFKC, case-folded."""
    return unicodedata.normalize("NFKC", name).casefold()


def check_name(name: str) -> str:
    """The user name to store (NFC).

    Raises:
        AccountError: empty, too long, with control or format characters, or characters other
            than letters, digits and ``. _ @ -`` (and not starting with a letter or digit).
    """
    if not name:
        raise AccountError("a user name is required")
    if has_unprintable(name):
        raise AccountError("a user name cannot contain control or invisible characters")
    name = unicodedata.normalize("NFC", name)
    if len(name) > MAX_NAME_LENGTH:
        raise AccountError(f"a user name has at most {MAX_NAME_LENGTH} characters")
    if not NAME_PATTERN.fullmatch(name):
        raise AccountError(
            "a user name starts with a letter or digit and holds only letters, digits and . _ @ - (no spaces)"
        )
    return name


def check_password(password: str, name: str) -> None:
    """Raises AccountError naming what is wrong with ``password`` for the user ``name``."""
    if not password:
        raise AccountError("a password is required (it cannot be empty)")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    if has_unprintable(password):
        raise AccountError("a password cannot contain control or invisible characters")
    if not password.strip():
        raise AccountError("a password cannot be only spaces")
    if name_key(password) == name_key(name):
        raise AccountError("a password cannot be the user name")


def check_role(role: str) -> str:
    """The role as stored.

    Raises:
        AccountError: not one of ``ROLES``.
    """
    if role not in ROLES:
        raise AccountError(f"a role is {' or '.join(ROLES)}, not {role!r}")
    return role


def add_role_column(engine: Engine) -> None:
    """Gives a ``staff_users`` table made before roles its ``role`` column, every user "staff".

    Two processes starting together may both find it missing: the second's ALTER fails, and
    finding the column there then is success.
    """

    def has_role() -> bool:
        with engine.connect() as connection:
            return "role" in {column["name"] for column in inspect(connection).get_columns("staff_users")}

    if has_role():
        return
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                f"ALTER TABLE staff_users ADD COLUMN role VARCHAR(10) NOT NULL DEFAULT '{STAFF}'"
            )
    except SQLAlchemyError:
        if not has_role():
            raise


def wait_after(failures: int) -> Optional[timedelta]:
    """How long logins wait after ``failures`` failures in a row; None below the threshold."""
    if failures < FAILURES_BEFORE_WAIT:
        return None
    doublings = min(failures - FAILURES_BEFORE_WAIT, 16)
    return min(FIRST_WAIT * (2**doublings), LONGEST_WAIT)


def failure_keys(name: str, address: Optional[str]) -> List[str]:
    """The keys a login attempt's failures count under: the typed name's, and the address's."""
    keys = ["user:" + hashlib.sha256(name_key(name).encode("utf-8")).hexdigest()]
    if address:
        keys.append("address:" + hashlib.sha256(address.encode("utf-8")).hexdigest())
    return keys


def token_hash(token: str) -> str:
    """What the database keeps of a session token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _user(row) -> StaffUser:
    return StaffUser(
        id=row.id,
        name=row.name,
        created_at=from_db(row.created_at),
        password_changed_at=from_db(row.password_changed_at),
        role=row.role,
    )


class StaffAccounts:
    """Staff users, sessions, failed-login counts and the audit log, on an open engine.

    Args:
        engine: The clinic database's engine (``BookingStore(url).open().engine``).
        hasher: Tests pass a cheaper one; everything else takes ``PASSWORD_PARAMETERS``.
    """

    def __init__(self, engine: Engine, hasher: Optional[PasswordHasher] = None) -> None:
        self.engine = engine
        self.hasher = hasher or PasswordHasher.from_parameters(PASSWORD_PARAMETERS)
        self._dummy_hash: Optional[str] = None

    def create_tables(self) -> "StaffAccounts":
        """Creates the four tables if missing, and the role column a table made before roles
        lacks; returns the accounts."""
        create_tables_once(self.engine, tables)
        add_role_column(self.engine)
        return self

    # -- users -------------------------------------------------------------

    def add_user(self, name: str, password: str, now: datetime, role: str = STAFF) -> StaffUser:
        """Adds a user with an Argon2id hash of ``password``, as ``role``.

        Raises:
            AccountError: the name, password or role cannot be used, or the user exists.
        """
        name = check_name(name)
        check_password(password, name)
        role = check_role(role)
        hashed = self.hasher.hash(password)
        try:
            with self.engine.begin() as connection:
                result = connection.execute(
                    insert(staff_users).values(
                        name=name,
                        name_key=name_key(name),
                        password_hash=hashed,
                        created_at=to_db(now),
                        password_changed_at=to_db(now),
                        role=role,
                    )
                )
                user_id = result.inserted_primary_key[0]
        except IntegrityError:
            raise AccountError(f"a user named {name!r} exists already") from None
        return StaffUser(id=user_id, name=name, created_at=now, password_changed_at=now, role=role)

    def remove_user(self, name: str) -> StaffUser:
        """Removes a user and ends their sessions.

        Raises:
            AccountError: no such user, or the last admin.
        """
        user = self.find_user(name)
        if user is None:
            raise AccountError(f"no user named {name!r}")
        with self.engine.begin() as connection:
            admins = self._lock_admins(connection)
            connection.execute(delete(staff_sessions).where(staff_sessions.c.user_id == user.id))
            connection.execute(delete(staff_users).where(staff_users.c.id == user.id))
            self._keep_an_admin(connection, admins, f"{user.name} is the last admin and cannot be removed")
        return user

    def set_role(self, name: str, role: str) -> StaffUser:
        """Makes ``name`` a ``role`` (at once: every request reads the role again).

        Raises:
            AccountError: no such user, an unknown role, or the last admin made staff.
        """
        role = check_role(role)
        user = self.find_user(name)
        if user is None:
            raise AccountError(f"no user named {name!r}")
        with self.engine.begin() as connection:
            admins = self._lock_admins(connection)
            connection.execute(update(staff_users).where(staff_users.c.id == user.id).values(role=role))
            self._keep_an_admin(connection, admins, f"{user.name} is the last admin and must stay one")
        return StaffUser(user.id, user.name, user.created_at, user.password_changed_at, role)

    def count_admins(self) -> int:
        """How many users are admins."""
        with self.engine.connect() as connection:
            return connection.execute(
                select(func.count()).select_from(staff_users).where(staff_users.c.role == ADMIN)
            ).scalar_one()

    @staticmethod
    def _lock_admins(connection: Connection) -> int:
        # On PostgreSQL the admins' rows stay locked until the change commits, so two admins
        # demoting each other at once cannot both see the other still an admin. SQLite takes its
        # one write lock at the change itself, which orders the two just as well.
        rows = connection.execute(select(staff_users.c.id).where(staff_users.c.role == ADMIN).with_for_update())
        return len(rows.all())

    @staticmethod
    def _keep_an_admin(connection: Connection, admins_before: int, refusal: str) -> None:
        """Raises AccountError (the transaction rolls back) when a change left no admin where
        there was one."""
        if admins_before == 0:
            return  # a database from before roles: nobody to lock out yet
        left = connection.execute(
            select(func.count()).select_from(staff_users).where(staff_users.c.role == ADMIN)
        ).scalar_one()
        if left == 0:
            raise AccountError(f"{refusal}: make another user an admin first")

    def find_user(self, name: str) -> Optional[StaffUser]:
        """The user called ``name`` (compared as ``name_key``), or None."""
        with self.engine.connect() as connection:
            row = connection.execute(select(staff_users).where(staff_users.c.name_key == name_key(name))).first()
        return _user(row) if row else None

    def list_users(self) -> List[StaffUser]:
        """Every user, by name."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(staff_users).order_by(staff_users.c.name_key)).all()
        return [_user(row) for row in rows]

    def verify(self, name: str, password: str) -> Optional[StaffUser]:
        """The user when ``password`` is theirs, else None.

        An unknown name costs a check against a throw-away hash, so the time taken does not
        tell whether a user exists. A hash made with older parameters is replaced.
        """
        if len(password) > MAX_PASSWORD_LENGTH:
            return None
        with self.engine.connect() as connection:
            row = connection.execute(select(staff_users).where(staff_users.c.name_key == name_key(name))).first()
        if row is None:
            try:
                self.hasher.verify(self._throwaway_hash(), password)
            except VerificationError:
                pass
            return None
        try:
            self.hasher.verify(row.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if self.hasher.check_needs_rehash(row.password_hash):
            with self.engine.begin() as connection:
                connection.execute(
                    update(staff_users)
                    .where(staff_users.c.id == row.id)
                    .values(password_hash=self.hasher.hash(password))
                )
        return _user(row)

    def _throwaway_hash(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    # -- sessions ----------------------------------------------------------

    def start_session(self, user: StaffUser, now: datetime) -> NewSession:
        """A new session for ``user`` with a fresh token and CSRF token."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        with self.engine.begin() as connection:
            connection.execute(
                insert(staff_sessions).values(
                    token_hash=token_hash(token),
                    user_id=user.id,
                    csrf_token=csrf,
                    created_at=to_db(now),
                    last_seen_at=to_db(now),
                )
            )
        return NewSession(token=token, session=StaffSession(user, csrf, now, now))

    def session(self, token: str, now: datetime, policy: SessionPolicy) -> Optional[StaffSession]:
        """The session of ``token`` when it is alive, its last request moved to ``now``.

        A session idle longer than ``policy.idle`` or older than ``policy.lifetime`` is deleted
        and None returned, as for an unknown token.
        """
        if not token or len(token) > 128:
            return None
        key = token_hash(token)
        query = (
            select(
                staff_users,
                staff_sessions.c.csrf_token,
                staff_sessions.c.created_at.label("session_created_at"),
                staff_sessions.c.last_seen_at,
            )
            .join(staff_users, staff_users.c.id == staff_sessions.c.user_id)
            .where(staff_sessions.c.token_hash == key)
        )
        with self.engine.begin() as connection:
            row = connection.execute(query).first()
            if row is None:
                return None
            created, seen = from_db(row.session_created_at), from_db(row.last_seen_at)
            if now - seen > policy.idle or now - created > policy.lifetime:
                connection.execute(delete(staff_sessions).where(staff_sessions.c.token_hash == key))
                return None
            connection.execute(
                update(staff_sessions).where(staff_sessions.c.token_hash == key).values(last_seen_at=to_db(now))
            )
        return StaffSession(_user(row), row.csrf_token, created, now)

    def end_session(self, token: str) -> None:
        """Deletes the session of ``token`` (nothing when there is none)."""
        with self.engine.begin() as connection:
            connection.execute(delete(staff_sessions).where(staff_sessions.c.token_hash == token_hash(token)))

    def purge_sessions(self, now: datetime, policy: SessionPolicy) -> int:
        """Deletes every expired session; returns how many."""
        with self.engine.begin() as connection:
            result = connection.execute(
                delete(staff_sessions).where(
                    (staff_sessions.c.last_seen_at < to_db(now - policy.idle))
                    | (staff_sessions.c.created_at < to_db(now - policy.lifetime))
                )
            )
        return result.rowcount or 0

    def count_sessions(self, name: str) -> int:
        """How many sessions ``name`` has open (expired ones included until purged)."""
        query = (
            select(func.count())
            .select_from(staff_sessions.join(staff_users))
            .where(staff_users.c.name_key == name_key(name))
        )
        with self.engine.connect() as connection:
            return connection.execute(query).scalar_one()

    # -- failed logins -----------------------------------------------------

    def blocked_until(self, keys: Sequence[str], now: datetime) -> Optional[datetime]:
        """The end of the longest wait still running for any of ``keys``, or None."""
        with self.engine.connect() as connection:
            ends = connection.execute(
                select(staff_login_failures.c.blocked_until).where(
                    staff_login_failures.c.key.in_(list(keys)),
                    staff_login_failures.c.blocked_until > to_db(now),
                )
            ).scalars()
            latest = max(ends, default=None)
        return from_db(latest)

    def record_failure(self, keys: Iterable[str], now: datetime) -> Optional[datetime]:
        """Counts one failed login under each key; returns when the wait it started ends, if any."""
        until: Optional[datetime] = None
        for key in keys:
            for _ in range(3):  # another process may insert the same key between our read and write
                try:
                    ends = self._count_failure(key, now)
                    break
                except IntegrityError:
                    continue
            else:
                ends = None
            if ends is not None and (until is None or ends > until):
                until = ends
        return until

    def _count_failure(self, key: str, now: datetime) -> Optional[datetime]:
        with self.engine.begin() as connection:
            row = connection.execute(
                select(staff_login_failures).where(staff_login_failures.c.key == key).with_for_update()
            ).first()
            failures = 1
            if row is not None and now - from_db(row.last_failure_at) <= FORGET_FAILURES_AFTER:
                failures = row.failures + 1
            wait = wait_after(failures)
            ends = now + wait if wait else None
            values = dict(failures=failures, last_failure_at=to_db(now), blocked_until=to_db(ends))
            if row is None:
                connection.execute(insert(staff_login_failures).values(key=key, **values))
            else:
                connection.execute(
                    update(staff_login_failures).where(staff_login_failures.c.key == key).values(**values)
                )
        return ends

    def clear_failures(self, keys: Iterable[str]) -> None:
        """Forgets the failures counted under ``keys`` (a successful login clears its user's)."""
        with self.engine.begin() as connection:
            connection.execute(delete(staff_login_failures).where(staff_login_failures.c.key.in_(list(keys))))

    # -- the audit log -----------------------------------------------------

    def audit(
        self, now: datetime, actor: str, action: str, address: Optional[str] = None, detail: Optional[str] = None
    ) -> None:
        """Adds one line to the audit log."""
        with self.engine.begin() as connection:
            connection.execute(
                insert(staff_audit).values(
                    at=to_db(now),
                    actor=actor[:200],
                    action=action[:40],
                    address=address[:64] if address else None,
                    detail=detail[:300] if detail else None,
                )
            )

    def audit_log(self, limit: int = 100) -> List[AuditEntry]:
        """The newest ``limit`` lines of the audit log, newest first."""
        query = select(staff_audit).order_by(staff_audit.c.at.desc(), staff_audit.c.id.desc()).limit(limit)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [AuditEntry(from_db(row.at), row.actor, row.action, row.address, row.detail) for row in rows]
