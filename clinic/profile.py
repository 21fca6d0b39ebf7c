"""The clinic profile (``clinic.yml``): loaded and validated, with errors that name the field.

The action server validates the profile at start (``actions.server``) and refuses
to start on a bad field. After that every server reads it through ``current_profile``, which
loads the file again when it changes (a save from the staff console's Clinic page, or an edit
by hand): no restart, no retraining. A changed file that fails validation is not taken: the
profile loaded before stays, and the log names the field. Opening hours are kept as plain
``HH:MM-HH:MM`` ranges per weekday in the clinic's own time zone.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import yaml
from pydantic import BaseModel, Extra, ValidationError, conint, constr, validator

from clinic import settings

logger = logging.getLogger(__name__)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RANGE = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-4]):([0-5]\d)\s*$")

OpeningRange = Tuple[time, time]


def normalise_origin(value: str) -> str:
    """``"https://WWW.Clinic.example/"`` into ``"https://www.clinic.example"``.

    Raises:
        ValueError: for anything that is not ``http(s)://host[:port]`` (a path, a
            query, a wildcard, a missing scheme).
    """
    text = str(value).strip()
    if "*" in text:
        raise ValueError(f"{text!r}: wildcards are not allowed; list each site, e.g. https://www.myclinic.com")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text!r}: an origin is http(s)://host[:port], e.g. https://www.myclinic.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{text!r}: an origin has no path, query or user, e.g. https://www.myclinic.com")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r}: the port is not a number") from None
    default_port = {"http": 80, "https": 443}[parts.scheme.lower()]
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    suffix = f":{port}" if port and port != default_port else ""
    return f"{parts.scheme.lower()}://{host}{suffix}"


class ClinicProfileError(ValueError):
    """The clinic profile is missing, unreadable or has a bad field."""


class Price(BaseModel):
    """One line of the price list."""

    item: constr(strip_whitespace=True, min_length=1)
    price: constr(strip_whitespace=True, min_length=1)

    class Config:
        extra = Extra.forbid


class QuickReply(BaseModel):
    """A button under the widget's welcome message: the title shown, the payload sent."""

    title: constr(strip_whitespace=True, min_length=1, max_length=40)
    payload: constr(strip_whitespace=True, min_length=1, max_length=200)

    class Config:
        extra = Extra.forbid


class WebsiteOptions(BaseModel):
    """The website widget's defaults and which sites may embed it (``website:`` in clinic.yml)."""

    title: constr(strip_whitespace=True, min_length=1, max_length=60) = "Questions? Ask us"
    greeting: constr(strip_whitespace=True, min_length=1, max_length=400) = (
        "Hi! Ask me anything about dry needling, or ask to book an appointment."
    )
    quick_replies: List[QuickReply] = []
    allowed_origins: List[str] = []
    max_message_length: conint(ge=20, le=10000) = 2000

    class Config:
        extra = Extra.forbid

    @validator("quick_replies")
    def few_quick_replies(cls, value: List[QuickReply]) -> List[QuickReply]:  # noqa: N805
        """A welcome message with more than six buttons is a wall, not a shortcut."""
        if len(value) > 6:
            raise ValueError("at most 6 quick replies")
        return value

    @validator("allowed_origins", each_item=True)
    def an_origin(cls, value: str) -> str:  # noqa: N805
        """Each entry is a site's origin, ``https://host[:port]``; never a wildcard."""
        return normalise_origin(value)


def parse_ranges(text: str) -> List[OpeningRange]:
    """``"08:00-12:00, 13:00-18:00"`` into ranges; ``"closed"`` or empty into none.

    Raises:
        ValueError: on a malformed range, or one that ends before it starts.
    """
    text = (text or "").strip().lower()
    if text in ("", "closed"):
        return []
    ranges: List[OpeningRange] = []
    for part in text.split(","):
        match = _RANGE.match(part)
        if not match:
            raise ValueError(f"expected HH:MM-HH:MM (or 'closed'), got {part.strip()!r}")
        h1, m1, h2, m2 = (int(group) for group in match.groups())
        start = time(h1, m1)
        end = time(23, 59) if h2 == 24 else time(h2, m2)
        if end <= start:
            raise ValueError(f"{part.strip()!r} ends before it starts")
        if ranges and start < ranges[-1][1]:
            raise ValueError(f"{part.strip()!r} overlaps the range before it")
        ranges.append((start, end))
    return ranges


class ClinicProfile(BaseModel):
    """What the assistant tells visitors about the clinic, and how it takes bookings."""

    name: constr(strip_whitespace=True, min_length=1)
    phone: constr(strip_whitespace=True, min_length=3)
    email: constr(strip_whitespace=True, regex=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    address: constr(strip_whitespace=True, min_length=3)
    directions: constr(strip_whitespace=True) = ""
    # Phone numbers typed without a country code are read as this country's (ISO 3166 code).
    country: constr(strip_whitespace=True, to_upper=True, min_length=2, max_length=2)
    timezone: constr(strip_whitespace=True, min_length=1)
    opening_hours: Dict[str, str]
    emergency_number: constr(strip_whitespace=True, regex=r"^[0-9+ ]{2,16}$")
    booking_reply_time: constr(strip_whitespace=True, min_length=3)
    privacy_notice: constr(strip_whitespace=True, min_length=20)
    retention_days: conint(ge=1, le=3650)
    prices: List[Price]
    insurance: constr(strip_whitespace=True, min_length=3)
    # Answers to what visitors ask about coming in, said as written. Empty: the assistant says it
    # can't answer that one and gives the clinic's contact, rather than guessing a policy.
    referral: constr(strip_whitespace=True) = ""
    what_to_wear: constr(strip_whitespace=True) = ""
    children: constr(strip_whitespace=True) = ""
    website: WebsiteOptions = WebsiteOptions()

    class Config:
        extra = Extra.forbid  # a misspelt field name is an error, not silently ignored

    @validator("phone")
    def phone_has_digits(cls, value: str) -> str:  # noqa: N805 (pydantic validator)
        """A phone number must contain at least a few digits."""
        if sum(ch.isdigit() for ch in value) < 3:
            raise ValueError("must contain a phone number's digits")
        return value

    @validator("country")
    def known_country(cls, value: str) -> str:  # noqa: N805
        """The country must be one phone numbers can be read for."""
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown country code {value!r} (use an ISO 3166 code such as US, GB, AU)")
        return value

    @validator("timezone")
    def known_timezone(cls, value: str) -> str:  # noqa: N805
        """The time zone must be an IANA name such as ``America/New_York``."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/London)") from None
        return value

    @validator("opening_hours")
    def every_weekday(cls, value: Dict[str, str]) -> Dict[str, str]:  # noqa: N805
        """Each weekday is listed once, with ranges or ``closed``; at least one day is open."""
        days = {str(day).strip().lower(): str(hours) for day, hours in value.items()}
        unknown = sorted(set(days) - set(WEEKDAYS))
        if unknown:
            raise ValueError(f"unknown day {unknown[0]!r} (use monday ... sunday)")
        missing = [day for day in WEEKDAYS if day not in days]
        if missing:
            raise ValueError(f"{missing[0]} is missing (write 'closed' for a closed day)")
        open_days = []
        for day in WEEKDAYS:
            try:
                open_days.append(bool(parse_ranges(days[day])))
            except ValueError as error:
                raise ValueError(f"{day}: {error}") from None
        if not any(open_days):
            raise ValueError("the clinic is closed every day")
        return {day: days[day] for day in WEEKDAYS}

    @validator("prices")
    def some_prices(cls, value: List[Price]) -> List[Price]:  # noqa: N805
        """At least one price is listed."""
        if not value:
            raise ValueError("list at least one price")
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The clinic's time zone."""
        return ZoneInfo(self.timezone)

    def hours_on(self, day: date) -> List[OpeningRange]:
        """Opening ranges on a calendar day (local time), empty when closed."""
        return parse_ranges(self.opening_hours[WEEKDAYS[day.weekday()]])

    def is_open_at(self, moment: datetime) -> bool:
        """Whether the clinic is open at an aware ``moment``."""
        local = moment.astimezone(self.zone)
        return any(start <= local.time() < end for start, end in self.hours_on(local.date()))

    def next_opening(self, after: datetime) -> Optional[datetime]:
        """The first local moment at or after ``after`` when the clinic is open."""
        local = after.astimezone(self.zone)
        for offset in range(8):
            day = local.date() + timedelta(days=offset)
            for start, end in self.hours_on(day):
                begin = datetime.combine(day, start, self.zone)
                finish = datetime.combine(day, end, self.zone)
                if finish <= local:
                    continue
                return max(begin, local)
        return None


def profile_problems(raw: Any) -> List[Tuple[str, str]]:
    """What is wrong with an already-loaded profile document, as ``(field, why)`` pairs: the field
    as a dotted path (``opening_hours``, ``website.quick_replies.0.title``); none when it is valid."""
    if not isinstance(raw, dict):
        return [("", f"expected a mapping of fields, got {type(raw).__name__}")]
    try:
        ClinicProfile(**raw)
    except ValidationError as error:
        return [(".".join(str(part) for part in issue["loc"]), issue["msg"]) for issue in error.errors()]
    return []


def parse_profile(raw: Any, source: str = "clinic.yml") -> ClinicProfile:
    """Validates an already-loaded profile document.

    Raises:
        ClinicProfileError: naming the first bad field, e.g. ``clinic.yml: email: ...``.
    """
    problems = profile_problems(raw)
    if problems:
        raise ClinicProfileError(
            f"{source}: " + "; ".join(f"{field}: {why}" if field else why for field, why in problems)
        )
    return ClinicProfile(**raw)


def load_profile(path: Path) -> ClinicProfile:
    """Reads and validates the profile at ``path``."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ClinicProfileError(f"{path}: cannot read the clinic profile ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise ClinicProfileError(f"{path}: not valid YAML ({error})") from None
    return parse_profile(raw, source=str(path))


class ProfileFile:
    """One profile file as a running server reads it: loaded again whenever the file changes.

    Whether it changed is one ``stat`` per call (4 µs a read here; a load is 23 ms): its
    modification time, size and inode. The console saves by renaming a new file over the old, which always gives a new
    inode, and an editor's save changes the time. A changed file that fails validation keeps the
    profile loaded before, logged once with the bad field; with none loaded before, it raises.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: Optional[Tuple[int, int, int]] = None
        self._profile: Optional[ClinicProfile] = None

    def current(self) -> ClinicProfile:
        """The profile as the file says now, or the last good one when the file is now bad.

        Raises:
            ClinicProfileError: the file is missing or bad and no good profile was loaded before.
        """
        try:
            stat = self.path.stat()
            seen: Optional[Tuple[int, int, int]] = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except OSError:
            seen = None  # load_profile says why
        if seen is not None and seen == self._seen and self._profile is not None:
            return self._profile
        with self._lock:
            if seen is not None and seen == self._seen and self._profile is not None:
                return self._profile
            try:
                profile = load_profile(self.path)
            except ClinicProfileError as error:
                if self._profile is None:
                    raise
                if seen != self._seen:
                    logger.error("clinic profile changed but not taken, the one loaded before stays: %s", error)
                    self._seen = seen
                return self._profile
            if self._profile is not None:
                logger.info("clinic profile reloaded from %s", self.path)
            self._profile, self._seen = profile, seen
            return profile


_files: Dict[Path, ProfileFile] = {}
_files_lock = threading.Lock()


def current_profile() -> ClinicProfile:
    """The profile named by the environment (``CLINIC_PROFILE``), as its file says now.

    Raises:
        ClinicProfileError: the file is missing or bad and no good profile was loaded before.
    """
    path = settings.clinic_profile_path()
    watched = _files.get(path)
    if watched is None:
        with _files_lock:
            watched = _files.setdefault(path, ProfileFile(path))
    return watched.current()


def forget_loaded_profiles() -> None:
    """Drops every profile loaded so far: the next ``current_profile`` loads the file strictly,
    raising on a bad field instead of keeping an older profile (the action server's start check)."""
    with _files_lock:
        _files.clear()


def contact_details(profile: ClinicProfile) -> Dict[str, str]:
    """The template variables the ``utter_contact_clinic`` response uses."""
    return {
        "clinic_name": profile.name,
        "clinic_phone": profile.phone,
        "clinic_email": profile.email,
    }
