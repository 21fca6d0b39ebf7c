"""Staff command line for booking requests and console accounts: ``python -m actions.staff COMMAND``.

The databases are ``BOOKINGS_DB_URL`` (default ``var/bookings.db``) or ``--db URL``, and the
conversation store (``TRACKER_DB_URL``, else endpoints.yml's) or ``--tracker-db URL``.

    python -m actions.staff list [--state pending|delivered|failed] [--no-contact]
        A table, newest first: reference, created (clinic time), kind, state,
        requested time, the visitor's contact details (hidden by --no-contact)
        and each channel's status, attempts and last error.

    python -m actions.staff export [--state STATE] [--output FILE]
        Every field as CSV (UTF-8, ISO 8601 times), to stdout or FILE. Free-text
        cells starting with = + - @ get a leading ' so spreadsheets do not run them.

    python -m actions.staff retry REFERENCE
    python -m actions.staff retry --all-failed
        Puts failed deliveries back in the queue; the running action server sends
        them within DELIVERY_POLL_SECONDS.

    python -m actions.staff purge [--older-than-days N] [--dry-run]
        Deletes requests and conversation events older than N days (default: the
        clinic profile's retention_days) and prints how many. No confirmation;
        --dry-run only counts.

    python -m actions.staff erase (--reference DN-XXXXX | --email ADDRESS | --phone NUMBER)
        Erases one visitor: their booking and callback requests (every one with the
        same email or phone as the reference's), the deliveries, and every
        conversation that mentions the reference, the email or the phone. Prints
        what it removed. No confirmation.

    python -m actions.staff add-user NAME [--role staff|admin] [--password-stdin]
        Adds a staff console user, "staff" unless --role admin. The password is asked
        twice at the terminal (not shown), or read as one line from standard input with
        --password-stdin. Names: letters, digits and . _ @ -, at most 40; passwords: at
        least 10 characters. Creates the database when it does not exist yet.

    python -m actions.staff set-role NAME staff|admin
        Changes a console user's role, at once. Admins also manage users, erase
        visitors and change the clinic's details in the console. The last admin
        stays one.

    python -m actions.staff remove-user NAME
        Removes a console user and ends their sessions at once (not the last admin).

    python -m actions.staff list-users
        The console's users, with their role and when each was added.

Exit status: 0 done, 1 an error (unknown reference, database unusable, ...),
2 a usage error.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Dict, Iterable, List, Optional, Sequence, TextIO

from clinic import clock, settings
from clinic.booking_store import (
    CHANNELS,
    STATES,
    BookingStore,
    BookingStoreError,
    StoredBooking,
    UnknownReferenceError,
    local_time,
    sqlite_file,
)
from clinic.conversations import ConversationStore
from clinic.postgres_files import RewriteError
from clinic.staff_accounts import ROLES, STAFF, AccountError, StaffAccounts
from clinic.text import printable

CSV_FIELDS = (
    "reference",
    "kind",
    "state",
    "created_at",
    "name",
    "phone",
    "email",
    "requested_time",
    "requested_time_text",
    "timezone",
    "consent_at",
) + tuple(
    f"{channel}_{part}"
    for channel in CHANNELS
    for part in ("state", "attempts", "next_attempt_at", "last_error", "delivered_at")
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class StaffError(Exception):
    """A problem to report to staff in one line, exiting with status 1."""


# -- formatting ------------------------------------------------------------


def _clock(moment: Optional[datetime], zone: str) -> str:
    return "-" if moment is None else f"{local_time(moment, zone):%Y-%m-%d %H:%M}"


def _requested(booking: StoredBooking, contact: bool) -> str:
    if booking.requested_time is not None:
        return _clock(booking.requested_time, booking.timezone)
    if contact and booking.requested_time_text:
        return f'"{booking.requested_time_text}"'
    return "-"


def _channels(booking: StoredBooking) -> str:
    if not booking.deliveries:
        return "none configured"
    parts = []
    for status in booking.deliveries:
        part = f"{status.channel}: {status.state} ({status.attempts})"
        if status.state != "delivered" and status.last_error:
            part += f" {status.last_error}"
        parts.append(part)
    return "; ".join(parts)


def table_rows(bookings: Iterable[StoredBooking], contact: bool = True) -> List[List[str]]:
    """The ``list`` table, header first."""
    header = ["REFERENCE", "CREATED", "KIND", "STATE", "REQUESTED"]
    if contact:
        header += ["NAME", "PHONE", "EMAIL"]
    rows = [header + ["DELIVERY (attempts) last error"]]
    for booking in bookings:
        row = [
            booking.reference,
            _clock(booking.created_at, booking.timezone),
            booking.kind,
            booking.state,
            _requested(booking, contact),
        ]
        if contact:
            row += [booking.name, booking.phone or "-", booking.email or "-"]
        rows.append(row + [_channels(booking)])
    return rows


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart; the last column is not padded. Control and format
    characters in stored text are shown escaped, never sent to the terminal."""
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _iso(moment: Optional[datetime]) -> str:
    return "" if moment is None else moment.isoformat(timespec="seconds")


def _safe_cell(value: Optional[str]) -> str:
    if not value:
        return ""
    if value.startswith(_FORMULA_START) and not (value[0] == "+" and value[1:].isdigit()):
        return "'" + value
    return value


def csv_record(booking: StoredBooking) -> Dict[str, Any]:
    """One CSV row: every field, times in ISO 8601 with offset."""
    requested = booking.requested_time
    record: Dict[str, Any] = {
        "reference": booking.reference,
        "kind": booking.kind,
        "state": booking.state,
        "created_at": _iso(booking.created_at),
        "name": _safe_cell(booking.name),
        "phone": _safe_cell(booking.phone),
        "email": _safe_cell(booking.email),
        "requested_time": _iso(local_time(requested, booking.timezone)) if requested else "",
        "requested_time_text": _safe_cell(booking.requested_time_text),
        "timezone": booking.timezone,
        "consent_at": _iso(booking.consent_at),
    }
    for channel in CHANNELS:
        status = booking.delivery(channel)
        record[f"{channel}_state"] = status.state if status else ""
        record[f"{channel}_attempts"] = status.attempts if status else ""
        record[f"{channel}_next_attempt_at"] = _iso(status.next_attempt_at) if status else ""
        record[f"{channel}_last_error"] = _safe_cell(status.last_error) if status else ""
        record[f"{channel}_delivered_at"] = _iso(status.delivered_at) if status else ""
    return record


def write_csv(bookings: Iterable[StoredBooking], out: TextIO) -> int:
    """Writes the CSV export; returns how many requests were written."""
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
    writer.writeheader()
    count = 0
    for booking in bookings:
        writer.writerow(csv_record(booking))
        count += 1
    return count


def default_retention_days(profile: Any) -> int:
    """The profile's ``retention_days``.

    Raises:
        StaffError: the profile has no usable ``retention_days``.
    """
    days = getattr(profile, "retention_days", None)
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise StaffError("the clinic profile has no retention_days; pass --older-than-days N")
    return days


# -- commands --------------------------------------------------------------


def open_store(url: str, create: bool = False) -> BookingStore:
    """Opens the store, refusing to create a new SQLite file (a mistyped URL would look empty)
    unless ``create`` (adding the first console user comes before the servers ever ran).

    Raises:
        StaffError: no database there, or it cannot be opened.
    """
    path = sqlite_file(url)
    if path is not None and not path.exists() and not create:
        raise StaffError(f"no bookings database at {path} (check BOOKINGS_DB_URL or --db)")
    try:
        return BookingStore(url).open()
    except BookingStoreError as error:
        raise StaffError(str(error)) from None


def cmd_list(store: BookingStore, args: argparse.Namespace, out: TextIO) -> None:
    bookings = store.list(args.state)
    if not bookings:
        out.write(f"No {args.state + ' ' if args.state else ''}booking requests.\n")
        return
    out.write(format_table(table_rows(bookings, contact=not args.no_contact)) + "\n")


def cmd_export(store: BookingStore, args: argparse.Namespace, out: TextIO) -> None:
    bookings = store.list(args.state)
    if args.output is None:
        write_csv(bookings, out)
        return
    try:
        with open(args.output, "w", newline="", encoding="utf-8") as handle:
            count = write_csv(bookings, handle)
    except OSError as error:
        raise StaffError(f"cannot write {args.output}: {error.strerror}") from None
    out.write(f"Exported {count} booking request(s) to {args.output}.\n")


def cmd_retry(store: BookingStore, args: argparse.Namespace, out: TextIO) -> None:
    if args.all_failed:
        count = store.retry(None, clock.now())
        out.write(f"Queued {count} failed deliver{'y' if count == 1 else 'ies'} again.\n")
        return
    reference = args.reference.strip().upper()
    count = store.retry(reference, clock.now())  # UnknownReferenceError: reported by main()
    if count:
        out.write(f"Queued {count} failed deliver{'y' if count == 1 else 'ies'} of {reference} again.\n")
    else:
        out.write(f"{reference} has no failed deliveries; nothing to retry.\n")


def cmd_purge(store: BookingStore, args: argparse.Namespace, out: TextIO) -> None:
    days = args.older_than_days
    if days is None:
        from clinic.profile import ClinicProfileError, current_profile

        try:
            days = default_retention_days(current_profile())
        except ClinicProfileError as error:
            raise StaffError(f"{error} (or pass --older-than-days N)") from None
    cutoff = clock.now() - timedelta(days=days)
    if args.dry_run:
        count = store.count_created_before(cutoff)
        out.write(f"Would remove {count} booking request(s) older than {days} days (dry run).\n")
        return
    count = store.purge(cutoff)
    with conversation_store(args) as conversations:
        events = conversations.purge(cutoff)
    out.write(f"Removed {count} booking request(s) and {events} conversation event(s) older than {days} days.\n")


def conversation_store(args: argparse.Namespace) -> ConversationStore:
    try:
        return ConversationStore(args.tracker_db or settings.tracker_db_url())
    except settings.SettingsError as error:
        raise StaffError(f"{error} (or pass --tracker-db URL)") from None


def e164(phone: str) -> str:
    """A typed phone number as the booking form stored it (E.164), read by the same reader in the
    clinic's country (a number with its country code when the profile cannot be read)."""
    from clinic.booking_validation import parse_phone
    from clinic.profile import ClinicProfileError, current_profile

    try:
        country = current_profile().country
    except ClinicProfileError:
        country = "ZZ"  # phonenumbers' unknown region
    found = parse_phone(phone, country)
    if found.value is None:
        raise StaffError(f"{phone!r} is not a phone number")
    return found.value


@dataclass(frozen=True)
class Erased:
    """What erasing one visitor removed."""

    requests: List[StoredBooking]
    conversations: List[str]  # their senders
    events: int

    @property
    def nothing(self) -> bool:
        return not self.requests and not self.conversations


def erase_visitor(
    store: BookingStore,
    conversations: ConversationStore,
    reference: Optional[str] = None,
    email: Optional[str] = None,
    phone: Optional[str] = None,
) -> Erased:
    """Erases one visitor, as ``erase`` and the staff console's "Erase this visitor" do: their
    requests (the one with ``reference`` and every one sharing its email or phone, or those with
    ``email`` or ``phone``), the deliveries, and every conversation mentioning any of them.

    Raises:
        BookingStoreError: the booking store failed.
        RewriteError: PostgreSQL's conversation table could not be rewritten (the rows are deleted).
    """
    try:
        erased = store.erase(reference, email, phone)
    except UnknownReferenceError:  # the reference may still be in a conversation
        erased = []
    words = {reference, email, phone}
    for booking in erased:
        words |= {booking.reference, booking.email, booking.phone}
    senders = conversations.senders_mentioning(sorted(word for word in words if word))
    events = conversations.erase(senders)
    return Erased(erased, senders, events)


def cmd_erase(store: BookingStore, args: argparse.Namespace, out: TextIO) -> None:
    phone = e164(args.phone) if args.phone else None
    with conversation_store(args) as conversations:
        erased = erase_visitor(store, conversations, args.reference, args.email, phone)
    if erased.nothing:
        raise StaffError(
            "nothing found to erase for " + ", ".join(sorted(w for w in (args.reference, args.email, phone) if w))
        )
    for booking in erased.requests:
        out.write(
            f"Removed {booking.kind} request {booking.reference} (created {_clock(booking.created_at, booking.timezone)}) and its deliveries.\n"
        )
    out.write(
        f"Removed {len(erased.requests)} request(s) and {len(erased.conversations)} conversation(s) ({erased.events} events).\n"
    )


def accounts_of(store: BookingStore) -> StaffAccounts:
    """The console's accounts, in the booking store's database."""
    return StaffAccounts(store.engine).create_tables()


def command_line_actor() -> str:
    """Who the audit log says ran a command: the login name on this machine."""
    try:
        return f"{getpass.getuser()} (command line)"
    except (KeyError, OSError):  # no name for this user id (a bare container)
        return "command line"


def read_password(args: argparse.Namespace) -> str:
    """The new user's password: one line of standard input with --password-stdin, else asked twice."""
    if args.password_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    try:
        first = getpass.getpass(f"Password for {args.name}: ")
        second = getpass.getpass("The same password again: ")
    except EOFError:
        raise StaffError("no password given (use --password-stdin to pipe one in)") from None
    if first != second:
        raise StaffError("the two passwords differ; nothing was changed")
    return first


def cmd_add_user(store: BookingStore, args: argparse.Namespace, out: TextIO) -> None:
    accounts = accounts_of(store)
    try:
        user = accounts.add_user(args.name, read_password(args), clock.now(), args.role)
    except AccountError as error:
        raise StaffError(str(error)) from None
    accounts.audit(clock.now(), command_line_actor(), "add-user", detail=f"added {user.name} ({user.role})")
    out.write(f"Added {user.name} ({user.role}); they can log in to the staff console now.\n")


def cmd_set_role(store: BookingStore, args: argparse.Namespace, out: TextIO) -> None:
    accounts = accounts_of(store)
    try:
        user = accounts.set_role(args.name, args.role)
    except AccountError as error:
        raise StaffError(str(error)) from None
    accounts.audit(clock.now(), command_line_actor(), "set-role", detail=f"{user.name} is now {user.role}")
    out.write(f"{user.name} is now {user.role}.\n")


def cmd_remove_user(store: BookingStore, args: argparse.Namespace, out: TextIO) -> None:
    accounts = accounts_of(store)
    try:
        user = accounts.remove_user(args.name)
    except AccountError as error:
        raise StaffError(str(error)) from None
    accounts.audit(clock.now(), command_line_actor(), "remove-user", detail=f"removed {user.name}")
    out.write(f"Removed {user.name} and ended their sessions.\n")


def cmd_list_users(store: BookingStore, args: argparse.Namespace, out: TextIO) -> None:
    users = accounts_of(store).list_users()
    if not users:
        out.write("No console users yet: add one with `python -m actions.staff add-user NAME`.\n")
        return
    rows = [["NAME", "ROLE", "ADDED (UTC)", "PASSWORD SET (UTC)"]]
    rows += [
        [user.name, user.role, f"{user.created_at:%Y-%m-%d %H:%M}", f"{user.password_changed_at:%Y-%m-%d %H:%M}"]
        for user in users
    ]
    out.write(format_table(rows) + "\n")


def _days(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of days, got {raw!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser."""
    parser = argparse.ArgumentParser(
        prog="python -m actions.staff",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", metavar="URL", help="SQLAlchemy URL (default: BOOKINGS_DB_URL)")
    parser.add_argument(
        "--tracker-db", metavar="URL", help="the conversation store (default: TRACKER_DB_URL or endpoints.yml's)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="show booking requests, newest first")
    listing.add_argument("--state", choices=STATES)
    listing.add_argument("--no-contact", action="store_true", help="hide names, phones and emails")
    listing.set_defaults(run=cmd_list)

    export = commands.add_parser("export", help="write booking requests as CSV")
    export.add_argument("--state", choices=STATES)
    export.add_argument("--output", "-o", metavar="FILE", help="default: standard output")
    export.set_defaults(run=cmd_export)

    retry = commands.add_parser("retry", help="queue failed deliveries again")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("reference", nargs="?", help="e.g. DN-7K3Q9")
    which.add_argument("--all-failed", action="store_true", help="every failed delivery")
    retry.set_defaults(run=cmd_retry)

    purge = commands.add_parser("purge", help="delete old booking requests")
    purge.add_argument(
        "--older-than-days", type=_days, metavar="N", help="default: retention_days from the clinic profile"
    )
    purge.add_argument("--dry-run", action="store_true", help="only count")
    purge.set_defaults(run=cmd_purge)

    erase = commands.add_parser("erase", help="erase one visitor's requests and conversations")
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--reference", metavar="DN-XXXXX")
    who.add_argument("--email", metavar="ADDRESS")
    who.add_argument("--phone", metavar="NUMBER")
    erase.set_defaults(run=cmd_erase)

    add_user = commands.add_parser("add-user", help="add a staff console user")
    add_user.add_argument("name", metavar="NAME")
    add_user.add_argument("--role", choices=ROLES, default=STAFF, help="default: staff")
    add_user.add_argument(
        "--password-stdin", action="store_true", help="read the password as one line of standard input"
    )
    add_user.set_defaults(run=cmd_add_user, creates_database=True)

    set_role = commands.add_parser("set-role", help="make a staff console user staff or admin")
    set_role.add_argument("name", metavar="NAME")
    set_role.add_argument("role", choices=ROLES)
    set_role.set_defaults(run=cmd_set_role)

    remove_user = commands.add_parser("remove-user", help="remove a staff console user and end their sessions")
    remove_user.add_argument("name", metavar="NAME")
    remove_user.set_defaults(run=cmd_remove_user)

    list_users = commands.add_parser("list-users", help="list the staff console's users")
    list_users.set_defaults(run=cmd_list_users)
    return parser


def main(argv: Optional[Sequence[str]] = None, out: Optional[TextIO] = None, err: Optional[TextIO] = None) -> int:
    """Runs one command; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        store = open_store(args.db or settings.bookings_db_url(), create=getattr(args, "creates_database", False))
        try:
            args.run(store, args, out)
        finally:
            store.close()
    except (StaffError, BookingStoreError) as error:
        err.write(f"error: {error}\n")
        return 1
    except RewriteError as error:
        err.write(
            f"error: the conversations were deleted, but their table was not rewritten: {error}. "
            "Their text stays in PostgreSQL's files until a purge rewrites it (run "
            "`python -m actions.staff purge` again, or wait for the action server's next retention check).\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
