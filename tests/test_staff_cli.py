"""The staff command line, run as staff run it: `python -m actions.staff ...` in a subprocess."""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import yaml

from clinic.booking_store import BookingStore, NewBooking
from clinic.clock import now as utc_now
from clinic.staff import StaffError, default_retention_days
from clinic.staff_accounts import StaffAccounts
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

LONDON = ZoneInfo("Europe/London")


def visitor(name: str, **changes) -> NewBooking:
    fields = dict(
        kind="booking",
        name=name,
        phone="+447700900123",
        email=f"{name.split()[0].lower()}@example.org",
        requested_time=datetime(2026, 6, 24, 17, 30, tzinfo=LONDON),
        requested_time_text="next Tuesday after work",
        timezone="Europe/London",
        consent_at=utc_now(),
    )
    fields.update(changes)
    return NewBooking(**fields)


@pytest.fixture
def seeded(tmp_path):
    """A database with one delivered, one failed, one pending and one old request."""
    url = f"sqlite:///{tmp_path / 'bookings.db'}"
    now = utc_now()
    with BookingStore(url) as store:
        old = store.save(visitor("Olga Old"), ["webhook"], now - timedelta(days=400))
        delivered = store.save(visitor("Dora Delivered"), ["webhook", "email"], now - timedelta(minutes=3))
        failed = store.save(visitor("Fred Failed", email=None), ["webhook"], now - timedelta(minutes=2))
        pending = store.save(visitor("=Pat Pending", requested_time=None), ["webhook"], now - timedelta(minutes=1))
        for claim in store.claim_due(now - timedelta(minutes=1), 60, 10):
            if claim.booking.reference == delivered.reference:
                store.mark_delivered(claim.delivery_id, now)
            elif claim.booking.reference == failed.reference:
                store.mark_attempt_failed(claim.delivery_id, "HTTP 500", None, give_up=True)
            else:
                store.release([claim.delivery_id])
    return SimpleNamespace(url=url, old=old, delivered=delivered, failed=failed, pending=pending)


def staff(url: str, *args: str, extra_env=None, stdin: str = "") -> subprocess.CompletedProcess:
    # The conversation store beside the test's booking store, never the project's var/tracker.db.
    tracker = url.rsplit("/", 1)[0] + "/tracker.db"
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        BOOKINGS_DB_URL=url,
        TRACKER_DB_URL=tracker,
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
    )
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "actions.staff", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_list_shows_every_request_newest_first(seeded):
    result = staff(seeded.url, "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["REFERENCE", "CREATED", "KIND", "STATE", "REQUESTED"]
    order = [line.split()[0] for line in lines[1:]]
    assert order == [
        seeded.pending.reference,
        seeded.failed.reference,
        seeded.delivered.reference,
        seeded.old.reference,
    ]
    failed_line = lines[2]
    assert "failed" in failed_line and "Fred Failed" in failed_line and "+447700900123" in failed_line
    assert "webhook: failed (1) HTTP 500" in failed_line
    assert "2026-06-24 17:30" in lines[3]  # requested time in the clinic's zone
    assert '"next Tuesday after work"' in lines[1]  # no parsed time: the visitor's words


def test_list_by_state_and_without_contact_details(seeded):
    result = staff(seeded.url, "list", "--state", "failed", "--no-contact")
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()[1:]] == [seeded.failed.reference]
    assert "Fred" not in result.stdout and "+4477" not in result.stdout and "NAME" not in result.stdout
    by_flag = staff("sqlite:////nonexistent/bookings.db", "--db", seeded.url, "list", "--state", "delivered")
    assert by_flag.returncode == 0, by_flag.stderr
    assert [line.split()[0] for line in by_flag.stdout.splitlines()[1:]] == [seeded.delivered.reference]
    assert staff(seeded.url, "list", "--state", "delivered", "--no-contact").stdout.count("\n") == 2


def test_export_is_csv_with_every_field(seeded, tmp_path):
    result = staff(seeded.url, "export")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["reference"] for row in rows][:2] == [seeded.pending.reference, seeded.failed.reference]
    by_ref = {row["reference"]: row for row in rows}
    delivered = by_ref[seeded.delivered.reference]
    assert delivered["name"] == "Dora Delivered" and delivered["phone"] == "+447700900123"
    assert delivered["requested_time"] == "2026-06-24T17:30:00+01:00"
    assert datetime.fromisoformat(delivered["created_at"]).tzinfo is not None
    assert (delivered["webhook_state"], delivered["email_state"], delivered["email_attempts"]) == (
        "delivered",
        "delivered",
        "1",
    )
    failed = by_ref[seeded.failed.reference]
    assert (failed["state"], failed["webhook_last_error"], failed["email_state"], failed["email"]) == (
        "failed",
        "HTTP 500",
        "",
        "",
    )
    assert by_ref[seeded.pending.reference]["name"] == "'=Pat Pending"  # not a spreadsheet formula

    out = tmp_path / "failed.csv"
    result = staff(seeded.url, "export", "--state", "failed", "--output", str(out))
    assert result.returncode == 0 and "Exported 1" in result.stdout
    with out.open(newline="", encoding="utf-8") as handle:
        assert [row["reference"] for row in csv.DictReader(handle)] == [seeded.failed.reference]


def test_retry_queues_failed_deliveries_again(seeded):
    result = staff(seeded.url, "retry", seeded.failed.reference.lower())
    assert result.returncode == 0, result.stderr
    assert f"Queued 1 failed delivery of {seeded.failed.reference}" in result.stdout
    with BookingStore(seeded.url) as store:
        status = store.get(seeded.failed.reference).delivery("webhook")
        assert (status.state, status.attempts) == ("pending", 0)

    again = staff(seeded.url, "retry", seeded.failed.reference)
    assert again.returncode == 0 and "nothing to retry" in again.stdout
    assert staff(seeded.url, "retry", "--all-failed").stdout.startswith("Queued 0 failed deliveries")


def test_unknown_reference_and_usage_errors(seeded, tmp_path):
    result = staff(seeded.url, "retry", "DN-ZZZZZ")
    assert result.returncode == 1
    assert "no booking request with reference 'DN-ZZZZZ'" in result.stderr
    assert staff(seeded.url, "retry").returncode == 2
    assert staff(seeded.url, "list", "--state", "lost").returncode == 2
    missing = staff(f"sqlite:///{tmp_path / 'nope' / 'bookings.db'}", "list")
    assert missing.returncode == 1 and "no bookings database" in missing.stderr
    assert not (tmp_path / "nope").exists()


def test_purge_older_than_days(seeded):
    dry = staff(seeded.url, "purge", "--older-than-days", "365", "--dry-run")
    assert dry.returncode == 0 and "Would remove 1 " in dry.stdout
    result = staff(seeded.url, "purge", "--older-than-days", "365")
    assert result.returncode == 0, result.stderr
    assert "Removed 1 booking request(s) and 0 conversation event(s) older than 365 days" in result.stdout
    with BookingStore(seeded.url) as store:
        assert store.get(seeded.old.reference) is None
        assert len(store.list()) == 3
    assert staff(seeded.url, "purge", "--older-than-days", "-1").returncode == 2
    everything = staff(seeded.url, "purge", "--older-than-days", "0")  # e.g. before handing a machine on
    assert everything.returncode == 0 and "Removed 3 booking request(s)" in everything.stdout


def profile_with(tmp_path, **changes):
    """The shipped clinic profile with some fields changed (None removes one)."""
    raw = yaml.safe_load((ROOT / "clinic.yml").read_text(encoding="utf-8"))
    for field, value in changes.items():
        if value is None:
            raw.pop(field, None)
        else:
            raw[field] = value
    path = tmp_path / "clinic.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return {"CLINIC_PROFILE": str(path)}


def test_purge_defaults_to_the_profiles_retention_days(seeded, tmp_path):
    result = staff(seeded.url, "purge", extra_env=profile_with(tmp_path, retention_days=30))
    assert result.returncode == 0, result.stderr
    assert "Removed 1 booking request(s) and 0 conversation event(s) older than 30 days" in result.stdout


def test_purge_without_retention_days_is_an_error(seeded, tmp_path):
    result = staff(seeded.url, "purge", extra_env=profile_with(tmp_path, retention_days=None))
    assert result.returncode == 1
    assert "retention_days" in result.stderr and "--older-than-days" in result.stderr
    with BookingStore(seeded.url) as store:
        assert len(store.list()) == 4


def test_default_retention_days():
    assert default_retention_days(SimpleNamespace(retention_days=30)) == 30
    for profile in (SimpleNamespace(), SimpleNamespace(retention_days=0), SimpleNamespace(retention_days="30")):
        with pytest.raises(StaffError, match="retention_days"):
            default_retention_days(profile)


def test_control_characters_in_stored_text_never_reach_the_terminal(tmp_path):
    """A name stored with ESC c (a terminal reset) and U+202E, as a forged request could have
    carried them before the readers refused them, is listed escaped."""
    url = f"sqlite:///{tmp_path / 'bookings.db'}"
    with BookingStore(url) as store:
        store.save(visitor("Eve \x1bc Mallory\u202e"), [], utc_now())
    result = staff(url, "list")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert "Eve \\x1bc Mallory\\u202e" in result.stdout


# -- console users -------------------------------------------------------------

PASSWORD = "correct horse battery"


def test_add_user_reads_the_password_from_stdin_and_stores_only_its_argon2id_hash(tmp_path):
    url = f"sqlite:///{tmp_path / 'bookings.db'}"  # no database yet: adding the first user makes it
    added = staff(url, "add-user", "anna.k", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout == "Added anna.k (staff); they can log in to the staff console now.\n"
    with sqlite3.connect(tmp_path / "bookings.db") as connection:
        (stored,) = connection.execute("SELECT password_hash FROM staff_users WHERE name = 'anna.k'").fetchone()
        audit = connection.execute("SELECT actor, action, detail FROM staff_audit").fetchall()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert len(audit) == 1 and audit[0][1:] == ("add-user", "added anna.k (staff)") and "(command line)" in audit[0][0]
    with BookingStore(url) as store:
        assert StaffAccounts(store.engine).verify("anna.k", PASSWORD).name == "anna.k"


@pytest.mark.parametrize(
    "name, password, reason",
    [
        ("anna", "", "a password is required (it cannot be empty)"),
        ("anna", "short", "a password needs at least 10 characters"),
        ("anna", "anna", "a password needs at least 10 characters"),
        ("anna\x1b[2J", PASSWORD, "a user name cannot contain control or invisible characters"),
        ("x" * 41, PASSWORD, "a user name has at most 40 characters"),
    ],
)
def test_add_user_refuses_a_bad_name_or_password_with_the_reason(tmp_path, name, password, reason):
    url = f"sqlite:///{tmp_path / 'bookings.db'}"
    refused = staff(url, "add-user", name, "--password-stdin", stdin=password + "\n")
    assert (refused.returncode, refused.stdout, refused.stderr) == (1, "", f"error: {reason}\n")
    assert "No console users" in staff(url, "list-users").stdout


def test_add_user_without_a_terminal_or_stdin_password_adds_nobody(tmp_path):
    url = f"sqlite:///{tmp_path / 'bookings.db'}"
    refused = staff(url, "add-user", "anna")  # getpass finds no terminal and reads an empty stdin
    assert refused.returncode == 1 and "no password given" in refused.stderr
    assert "No console users" in staff(url, "list-users").stdout


def test_list_users_and_remove_user(tmp_path):
    url = f"sqlite:///{tmp_path / 'bookings.db'}"
    for name in ("zoë", "Anna"):
        assert staff(url, "add-user", name, "--password-stdin", stdin=PASSWORD).returncode == 0
    again = staff(url, "add-user", "ANNA", "--password-stdin", stdin=PASSWORD)
    assert (again.returncode, again.stderr) == (1, "error: a user named 'ANNA' exists already\n")
    listed = staff(url, "list-users").stdout.splitlines()
    assert listed[0].split() == ["NAME", "ROLE", "ADDED", "(UTC)", "PASSWORD", "SET", "(UTC)"]
    assert [line.split()[:2] for line in listed[1:]] == [["Anna", "staff"], ["zoë", "staff"]]
    removed = staff(url, "remove-user", "anna")
    assert (removed.returncode, removed.stdout) == (0, "Removed Anna and ended their sessions.\n")
    assert [line.split()[0] for line in staff(url, "list-users").stdout.splitlines()[1:]] == ["zoë"]
    missing = staff(url, "remove-user", "anna")
    assert (missing.returncode, missing.stderr) == (1, "error: no user named 'anna'\n")
    with sqlite3.connect(tmp_path / "bookings.db") as connection:
        actions = [row[0] for row in connection.execute("SELECT action FROM staff_audit ORDER BY id")]
    assert actions == ["add-user", "add-user", "remove-user"]


def test_list_users_does_not_create_a_database(tmp_path):
    listed = staff(f"sqlite:///{tmp_path / 'typo.db'}", "list-users")
    assert listed.returncode == 1 and "no bookings database" in listed.stderr
    assert not (tmp_path / "typo.db").exists()
