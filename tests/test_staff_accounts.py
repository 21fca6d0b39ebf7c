"""Staff accounts (clinic/staff_accounts.py) on a real SQLite file: names and passwords, Argon2id
hashes, sessions with their idle timeout and lifetime, the wait after failed logins, the audit log.

Moments are passed in, as the console passes the clinic's clock, so a lockout is walked through
time without sleeping.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from argon2 import PasswordHasher

from clinic.booking_store import BookingStore
from clinic.staff_accounts import (
    FAILURES_BEFORE_WAIT,
    MIN_PASSWORD_LENGTH,
    AccountError,
    SessionPolicy,
    StaffAccounts,
    check_name,
    check_password,
    failure_keys,
    token_hash,
    wait_after,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
PASSWORD = "correct horse battery"
POLICY = SessionPolicy(idle=timedelta(minutes=30), lifetime=timedelta(hours=12))
# Argon2id at its smallest: the tests check behaviour, one test checks the real parameters.
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def database(tmp_path):
    return tmp_path / "bookings.db"


@pytest.fixture
def accounts(database):
    store = BookingStore(f"sqlite:///{database}").open()
    yield StaffAccounts(store.engine, hasher=CHEAP).create_tables()
    store.close()


@pytest.mark.parametrize("name", ["anna", "Anna.K", "zoë", "r.ward@clinic", "a", "x" * 40, "dr-o_neill2"])
def test_usable_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name, why",
    [
        ("", "required"),
        ("x" * 41, "at most 40"),
        ("anna\x1b[2J", "control"),
        ("an\u202ena", "control or invisible"),
        ("anna smith", "no spaces"),
        (" anna", "no spaces"),
        (".anna", "starts with a letter or digit"),
        ("<script>", "letters, digits"),
    ],
)
def test_names_refused_with_the_reason(name, why):
    with pytest.raises(AccountError, match=why):
        check_name(name)


@pytest.mark.parametrize(
    "password, why",
    [
        ("", "cannot be empty"),
        ("a" * (MIN_PASSWORD_LENGTH - 1), f"at least {MIN_PASSWORD_LENGTH}"),
        (" " * 12, "only spaces"),
        ("Anna.Kowalski", "cannot be the user name"),
        ("tab\there is bad", "control"),
        ("x" * 1025, "at most 1024"),
    ],
)
def test_passwords_refused_with_the_reason(password, why):
    with pytest.raises(AccountError, match=why):
        check_password(password, "anna.kowalski")


def test_a_password_of_the_minimum_length_is_taken():
    check_password("a" * MIN_PASSWORD_LENGTH, "anna")


def test_the_stored_hash_is_argon2id_with_rfc_9106s_low_memory_parameters(database, tmp_path):
    store = BookingStore(f"sqlite:///{database}").open()
    accounts = StaffAccounts(store.engine).create_tables()  # the real parameters
    accounts.add_user("anna", PASSWORD, T0)
    store.close()
    with sqlite3.connect(database) as connection:
        (stored,) = connection.execute("SELECT password_hash FROM staff_users").fetchone()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in stored
    assert PASSWORD.encode() not in database.read_bytes()


def test_verify_takes_the_right_password_only(accounts):
    accounts.add_user("Anna", PASSWORD, T0)
    assert accounts.verify("Anna", PASSWORD).name == "Anna"
    assert accounts.verify("anna", PASSWORD).name == "Anna"  # names are compared case-folded
    assert accounts.verify("Anna", PASSWORD.upper()) is None
    assert accounts.verify("Anna", "") is None
    assert accounts.verify("nobody", PASSWORD) is None
    assert accounts.verify("Anna", "x" * 5000) is None


def test_a_hash_made_with_older_parameters_is_replaced_at_the_next_login(accounts, database):
    accounts.add_user("anna", PASSWORD, T0)
    stronger = StaffAccounts(accounts.engine, hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    assert stronger.verify("anna", PASSWORD) is not None
    with sqlite3.connect(database) as connection:
        (stored,) = connection.execute("SELECT password_hash FROM staff_users").fetchone()
    assert "m=16,t=2,p=1" in stored
    assert accounts.verify("anna", PASSWORD) is not None  # still the same password


def test_two_users_cannot_share_a_name_whatever_its_case(accounts):
    accounts.add_user("anna", PASSWORD, T0)
    with pytest.raises(AccountError, match="exists already"):
        accounts.add_user("ANNA", PASSWORD, T0)
    assert [user.name for user in accounts.list_users()] == ["anna"]


def test_remove_user_ends_their_sessions(accounts):
    user = accounts.add_user("anna", PASSWORD, T0)
    started = accounts.start_session(user, T0)
    assert accounts.remove_user("Anna").name == "anna"
    assert accounts.session(started.token, T0, POLICY) is None
    assert accounts.count_sessions("anna") == 0
    with pytest.raises(AccountError, match="no user named"):
        accounts.remove_user("anna")


def test_a_session_is_found_by_its_token_which_the_database_keeps_only_hashed(accounts, database):
    user = accounts.add_user("anna", PASSWORD, T0)
    started = accounts.start_session(user, T0)
    found = accounts.session(started.token, T0 + timedelta(minutes=1), POLICY)
    assert found.user.name == "anna" and found.csrf_token == started.session.csrf_token
    assert len(started.token) >= 43 and len(found.csrf_token) >= 43
    with sqlite3.connect(database) as connection:
        (kept,) = connection.execute("SELECT token_hash FROM staff_sessions").fetchone()
    assert kept == token_hash(started.token) and started.token.encode() not in database.read_bytes()
    assert accounts.session("not-a-token", T0, POLICY) is None
    assert accounts.session("", T0, POLICY) is None


def test_each_login_gets_its_own_session_and_csrf_token(accounts):
    user = accounts.add_user("anna", PASSWORD, T0)
    first, second = accounts.start_session(user, T0), accounts.start_session(user, T0)
    assert first.token != second.token and first.session.csrf_token != second.session.csrf_token
    accounts.end_session(first.token)
    assert accounts.session(first.token, T0, POLICY) is None
    assert accounts.session(second.token, T0, POLICY) is not None


def test_a_session_ends_after_the_idle_timeout_and_each_request_moves_it_on(accounts):
    user = accounts.add_user("anna", PASSWORD, T0)
    token = accounts.start_session(user, T0).token
    moment = T0
    for _ in range(4):  # a request every 29 minutes keeps it alive
        moment += timedelta(minutes=29)
        assert accounts.session(token, moment, POLICY) is not None
    assert accounts.session(token, moment + timedelta(minutes=30, seconds=1), POLICY) is None
    assert accounts.count_sessions("anna") == 0  # the expired session was deleted
    assert accounts.session(token, moment, POLICY) is None


def test_a_session_ends_at_its_lifetime_even_when_in_use(accounts):
    user = accounts.add_user("anna", PASSWORD, T0)
    token = accounts.start_session(user, T0).token
    moment = T0
    while moment + timedelta(minutes=20) <= T0 + POLICY.lifetime:
        moment += timedelta(minutes=20)
        assert accounts.session(token, moment, POLICY) is not None
    assert accounts.session(token, T0 + POLICY.lifetime + timedelta(seconds=1), POLICY) is None


def test_purge_sessions_deletes_only_the_expired(accounts):
    user = accounts.add_user("anna", PASSWORD, T0)
    accounts.start_session(user, T0)
    fresh = accounts.start_session(user, T0 + timedelta(hours=1))
    assert accounts.purge_sessions(T0 + timedelta(hours=1, minutes=1), POLICY) == 1
    assert accounts.session(fresh.token, T0 + timedelta(hours=1, minutes=1), POLICY) is not None


def test_the_wait_starts_at_the_fifth_failure_and_doubles_up_to_fifteen_minutes():
    assert [wait_after(n) for n in range(1, FAILURES_BEFORE_WAIT)] == [None] * 4
    waits = [wait_after(n).total_seconds() for n in range(5, 12)]
    assert waits == [30, 60, 120, 240, 480, 900, 900]
    assert wait_after(10_000) == timedelta(minutes=15)


def test_five_failures_for_a_user_block_them_for_thirty_seconds_then_longer(accounts):
    keys = failure_keys("anna", "203.0.113.7")
    moment = T0
    for _ in range(4):
        assert accounts.record_failure(keys, moment) is None
        assert accounts.blocked_until(keys, moment) is None
        moment += timedelta(seconds=2)
    until = accounts.record_failure(keys, moment)  # the fifth
    assert until == moment + timedelta(seconds=30)
    assert accounts.blocked_until(keys, moment + timedelta(seconds=29)) == until
    assert accounts.blocked_until(keys, moment + timedelta(seconds=30)) is None
    sixth = accounts.record_failure(keys, moment + timedelta(seconds=31))
    assert sixth == moment + timedelta(seconds=31 + 60)


def test_failures_count_per_user_name_from_any_address(accounts):
    for number in range(5):
        accounts.record_failure(failure_keys("Anna", f"198.51.100.{number}"), T0)
    assert accounts.blocked_until(failure_keys("anna", "192.0.2.99"), T0) is not None
    assert accounts.blocked_until(failure_keys("bob", "192.0.2.99"), T0) is None


def test_failures_count_per_address_whatever_the_name(accounts):
    for number in range(5):
        accounts.record_failure(failure_keys(f"user{number}", "203.0.113.7"), T0)
    assert accounts.blocked_until(failure_keys("someone", "203.0.113.7"), T0) is not None
    assert accounts.blocked_until(failure_keys("someone", "203.0.113.8"), T0) is None


def test_failures_an_hour_apart_start_the_count_again(accounts):
    keys = failure_keys("anna", "203.0.113.7")
    moment = T0
    for _ in range(4):
        accounts.record_failure(keys, moment)
    moment += timedelta(hours=1, seconds=1)
    assert accounts.record_failure(keys, moment) is None  # the first of a new count


def test_clearing_a_users_failures_leaves_the_addresss(accounts):
    keys = failure_keys("anna", "203.0.113.7")
    for _ in range(4):
        accounts.record_failure(keys, T0)
    accounts.clear_failures(keys[:1])
    assert accounts.record_failure(failure_keys("anna", "192.0.2.1"), T0) is None
    assert accounts.record_failure(failure_keys("bob", "203.0.113.7"), T0) is not None  # the address's fifth


def test_failed_logins_keep_no_typed_name_or_address_in_the_database(accounts, database):
    accounts.record_failure(failure_keys("MySecretPassw0rd", "203.0.113.7"), T0)
    data = database.read_bytes() + b"".join(path.read_bytes() for path in database.parent.glob("bookings.db-*"))
    assert b"MySecretPassw0rd" not in data and b"203.0.113.7" not in data


def test_the_audit_log_lists_the_newest_first(accounts):
    accounts.audit(T0, "anna", "login", "203.0.113.7")
    accounts.audit(T0 + timedelta(seconds=5), "anna", "logout", "203.0.113.7")
    accounts.audit(T0 + timedelta(seconds=9), "root (command line)", "add-user", detail="added bob")
    entries = accounts.audit_log()
    assert [(entry.actor, entry.action, entry.detail) for entry in entries] == [
        ("root (command line)", "add-user", "added bob"),
        ("anna", "logout", None),
        ("anna", "login", None),
    ]
    assert entries[1].at == T0 + timedelta(seconds=5) and entries[1].address == "203.0.113.7"
