"""Roles of the console's users on a real SQLite file: stored with the account, "staff" unless told,
added to a database made before roles with every user in it staff, the last admin kept; and the
command line's ``add-user --role``, ``set-role`` and ``list-users`` as staff type them."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from clinic.booking_store import BookingStore
from clinic.staff_accounts import ADMIN, STAFF, AccountError, SessionPolicy, StaffAccounts
from tests.test_staff_accounts import CHEAP, PASSWORD, T0
from tests.test_staff_cli import staff

pytestmark = pytest.mark.unit

# staff_users as the console's first version made it, before roles.
BEFORE_ROLES = """
CREATE TABLE staff_users (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(160) NOT NULL,
    name_key VARCHAR(160) NOT NULL UNIQUE,
    password_hash VARCHAR(255) NOT NULL,
    created_at DATETIME NOT NULL,
    password_changed_at DATETIME NOT NULL
)
"""


@pytest.fixture
def accounts(tmp_path):
    store = BookingStore(f"sqlite:///{tmp_path / 'bookings.db'}").open()
    yield StaffAccounts(store.engine, hasher=CHEAP).create_tables()
    store.close()


def test_a_user_is_staff_unless_added_as_an_admin(accounts):
    assert accounts.add_user("anna", PASSWORD, T0).role == STAFF
    assert accounts.add_user("bob", PASSWORD, T0, role=ADMIN).is_admin
    assert [(user.name, user.role) for user in accounts.list_users()] == [("anna", STAFF), ("bob", ADMIN)]
    assert accounts.verify("bob", PASSWORD).is_admin and not accounts.verify("anna", PASSWORD).is_admin
    with pytest.raises(AccountError, match="a role is staff or admin, not 'root'"):
        accounts.add_user("carl", PASSWORD, T0, role="root")
    assert accounts.find_user("carl") is None


def test_a_role_changed_holds_from_the_next_request_of_an_open_session(accounts):
    policy = SessionPolicy(idle=timedelta(minutes=30), lifetime=timedelta(hours=12))
    accounts.add_user("root", PASSWORD, T0, role=ADMIN)
    anna = accounts.add_user("anna", PASSWORD, T0)
    started = accounts.start_session(anna, T0)
    assert not accounts.session(started.token, T0, policy).user.is_admin
    assert accounts.set_role("Anna", ADMIN).role == ADMIN
    assert accounts.session(started.token, T0, policy).user.is_admin
    with pytest.raises(AccountError, match="no user named 'nobody'"):
        accounts.set_role("nobody", STAFF)


def test_the_last_admin_is_neither_removed_nor_made_staff(accounts):
    accounts.add_user("anna", PASSWORD, T0, role=ADMIN)
    accounts.add_user("bob", PASSWORD, T0)
    with pytest.raises(AccountError, match="anna is the last admin and must stay one: make another user an admin"):
        accounts.set_role("anna", STAFF)
    with pytest.raises(AccountError, match="anna is the last admin and cannot be removed"):
        accounts.remove_user("anna")
    assert accounts.find_user("anna").is_admin and accounts.count_admins() == 1
    accounts.set_role("bob", ADMIN)
    accounts.set_role("anna", STAFF)  # bob is one now
    accounts.remove_user("anna")
    assert [(user.name, user.role) for user in accounts.list_users()] == [("bob", ADMIN)]
    with pytest.raises(AccountError, match="last admin"):
        accounts.remove_user("bob")


def test_a_database_made_before_roles_gets_the_column_every_user_staff(tmp_path):
    database = tmp_path / "bookings.db"
    store = BookingStore(f"sqlite:///{database}").open()
    old = StaffAccounts(store.engine, hasher=CHEAP)
    with store.engine.begin() as connection:
        connection.exec_driver_sql(BEFORE_ROLES)
        hashed = CHEAP.hash(PASSWORD)
        for name in ("anna", "bob"):
            connection.exec_driver_sql(
                "INSERT INTO staff_users (name, name_key, password_hash, created_at, password_changed_at)"
                " VALUES (?, ?, ?, '2026-01-05 09:00:00', '2026-01-05 09:00:00')",
                (name, name, hashed),
            )
    accounts = old.create_tables()
    accounts.create_tables()  # a second start finds the column there
    assert [(user.name, user.role) for user in accounts.list_users()] == [("anna", STAFF), ("bob", STAFF)]
    assert accounts.verify("anna", PASSWORD).name == "anna"  # logging in goes on working
    # Nobody to lock out yet: the first admin is made, then the rule holds.
    accounts.set_role("anna", ADMIN)
    accounts.remove_user("bob")
    with pytest.raises(AccountError, match="last admin"):
        accounts.set_role("anna", STAFF)
    store.close()
    with sqlite3.connect(database) as connection:
        columns = {row[1]: row for row in connection.execute("PRAGMA table_info(staff_users)")}
    assert columns["role"][3] == 1 and columns["role"][4] == "'staff'"  # NOT NULL DEFAULT 'staff'


def test_add_user_with_a_role_set_role_and_list_users_on_the_command_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'bookings.db'}"
    added = staff(url, "add-user", "orla", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert (added.returncode, added.stdout) == (0, "Added orla (admin); they can log in to the staff console now.\n")
    assert staff(url, "add-user", "pat", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    wrong = staff(url, "add-user", "quinn", "--role", "owner", "--password-stdin", stdin=PASSWORD + "\n")
    assert wrong.returncode == 2 and "invalid choice: 'owner'" in wrong.stderr
    listed = staff(url, "list-users").stdout.splitlines()
    assert [line.split()[:2] for line in listed[1:]] == [["orla", "admin"], ["pat", "staff"]]

    refused = staff(url, "set-role", "orla", "staff")
    assert refused.returncode == 1
    assert refused.stderr == "error: orla is the last admin and must stay one: make another user an admin first\n"
    assert staff(url, "remove-user", "orla").returncode == 1
    promoted = staff(url, "set-role", "Pat", "admin")
    assert (promoted.returncode, promoted.stdout) == (0, "pat is now admin.\n")
    assert (staff(url, "set-role", "orla", "staff").stdout) == "orla is now staff.\n"
    listed = staff(url, "list-users").stdout.splitlines()
    assert [line.split()[:2] for line in listed[1:]] == [["orla", "staff"], ["pat", "admin"]]
    with sqlite3.connect(tmp_path / "bookings.db") as connection:
        audit = [row for row in connection.execute("SELECT action, detail FROM staff_audit ORDER BY id")]
    assert audit == [
        ("add-user", "added orla (admin)"),
        ("add-user", "added pat (staff)"),
        ("set-role", "pat is now admin"),
        ("set-role", "orla is now staff"),
    ]
