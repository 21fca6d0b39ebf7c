"""Reading what a visitor types into the booking form: a name, a phone or email, a day and time.

Plain functions, no Rasa: each returns a ``Parsed`` result holding either the clean
value or a short, friendly sentence saying what was wrong and what would work.
Phones are parsed and normalised with ``phonenumbers`` (the clinic's country for
numbers without a country code); days and times are read with ``dateparser`` in
the clinic's time zone, after the spoken parts dateparser does not know
("after work", "morning", "next Tuesday") are turned into plain times and dates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Optional, Tuple

import dateparser
import phonenumbers

from clinic.profile import WEEKDAYS, ClinicProfile
from clinic.text import has_unprintable

MAX_NAME_LENGTH = 80
MAX_WORDS_IN_NAME = 6
MAX_DAYS_AHEAD = 183
EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


@dataclass(frozen=True)
class Parsed:
    """Either a clean ``value`` or a ``problem`` to tell the visitor (never both)."""

    value: Any = None
    problem: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.problem is None


# --- name -----------------------------------------------------------------------------------

_NAME_LEAD = re.compile(
    r"^(?:(?:hi|hello|hey|sure|ok|okay|yes)[,!.\s]+)*"
    r"(?:(?:my\s+(?:full\s+)?name\s+is|my\s+name'?s|name\s*(?:is|:)|the\s+name'?s|it'?s|it\s+is|"
    r"i'?m|i\s+am|this\s+is|call\s+me|you\s+can\s+call\s+me|they\s+call\s+me)\s+)?",
    re.IGNORECASE,
)
# A first word no name starts with: the visitor answered something else ("hi", "what ...?", "no").
_NOT_A_NAME_START = {
    "what",
    "how",
    "when",
    "where",
    "why",
    "who",
    "can",
    "could",
    "do",
    "does",
    "is",
    "are",
    "i",
    "im",
    "hi",
    "hello",
    "hey",
    "yes",
    "yeah",
    "no",
    "nope",
    "ok",
    "okay",
    "thanks",
    "thank",
    "please",
    "sorry",
    "book",
    "cancel",
    "stop",
    "the",
    "a",
    "my",
    "your",
    "not",
    "dont",
    "don't",
    "idk",
    "bye",
    "goodbye",
    "cheers",
    "ta",
    "thx",
}
_NOT_IN_NAMES = re.compile(r"[0-9@/\\{}<>\[\]_=#$%^*|~?]|https?:|www\.", re.IGNORECASE)


def parse_name(text: str) -> Parsed:
    """The visitor's name, without "my name is" and trailing punctuation.

    A name typed all in lower case is capitalised for the clinic's staff; anything else
    is kept as typed ("de la Cruz", "McKenzie").
    """
    if has_unprintable(text or ""):
        return Parsed(problem="That doesn't look like a name. Could you type just your name, e.g. Sam Lee?")
    cleaned = " ".join((text or "").split())
    cleaned = _NAME_LEAD.sub("", cleaned, count=1).strip(" .,!;:'\"")
    if not cleaned or not any(ch.isalpha() for ch in cleaned):
        return Parsed(problem="I didn't catch a name there. What name should the clinic use?")
    if _NOT_IN_NAMES.search(cleaned):
        return Parsed(problem="That doesn't look like a name. Could you type just your name, e.g. Sam Lee?")
    if cleaned.split()[0].lower().strip(",.!") in _NOT_A_NAME_START:
        return Parsed(problem="I didn't catch a name there. What name should the clinic use?")
    if len(cleaned) > MAX_NAME_LENGTH or len(cleaned.split()) > MAX_WORDS_IN_NAME:
        return Parsed(problem="That's a bit long for a name. Could you type just your first and last name?")
    if cleaned == cleaned.lower():
        cleaned = " ".join(part[:1].upper() + part[1:] for part in cleaned.split())
    return Parsed(value=cleaned)


# --- phone or email -------------------------------------------------------------------------


def parse_email(text: str) -> Optional[str]:
    """The first address-shaped email in ``text``, lower-cased domain; None when there is none."""
    match = EMAIL.search(text or "")
    if not match:
        return None
    address = match.group(0).strip(".'")
    local, _, domain = address.rpartition("@")
    if not local or len(local) > 64 or len(address) > 254 or ".." in address or local.startswith("."):
        return None
    return f"{local}@{domain.lower()}"


def parse_phone(text: str, country: str) -> Parsed:
    """The first valid phone number in ``text``, as E.164 (``+12025550123``).

    Numbers without a country code are read as ``country``'s. A number that is
    almost right (possible but not valid) gets a hint to check it.
    """
    for match in phonenumbers.PhoneNumberMatcher(text or "", country, leniency=phonenumbers.Leniency.VALID):
        return Parsed(value=phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164))
    digits = re.sub(r"[^\d+]", "", text or "")
    if sum(ch.isdigit() for ch in digits) >= 5:
        return Parsed(
            problem=(
                "That number doesn't look complete. Could you check it? If it isn't a "
                f"{country} number, start it with + and the country code."
            )
        )
    return Parsed()  # no number at all


def parse_contact(text: str, country: str) -> Parsed:
    """A phone number, an email address, or both, from one message.

    Returns:
        ``Parsed(value={"phone": e164 or None, "email": address or None})``, or a problem.
    """
    email = parse_email(text)
    rest = EMAIL.sub(" ", text or "")
    phone = parse_phone(rest, country)
    if email or phone.value:
        return Parsed(value={"phone": phone.value, "email": email})
    if "@" in (text or ""):
        return Parsed(problem="That email address doesn't look complete. Could you check it (like name@example.com)?")
    if phone.problem:
        return Parsed(problem=phone.problem)
    return Parsed(
        problem=(
            "I need a phone number or an email address so the team can reach you, "
            "for example 202 555 0143 or sam@example.com."
        )
    )


# --- preferred day and time ----------------------------------------------------------------

_ASAP = re.compile(
    r"\b(asap|as soon as (?:possible|you can)|earliest|soonest|first available|next available|"
    r"any ?time|whenever|anything (?:free|available))\b",
    re.IGNORECASE,
)
_PART_OF_DAY = [
    (re.compile(r"\bfirst thing\b", re.I), "opening"),
    (re.compile(r"\b(noon|midday|lunch ?time|lunch)\b", re.I), time(12, 0)),
    (re.compile(r"\b(after work|after school|evening|tonight|after hours)\b", re.I), time(17, 30)),
    (re.compile(r"\b(afternoon|arvo)\b", re.I), time(14, 0)),
    (re.compile(r"\bmorning\b", re.I), time(9, 0)),
]
_CLOCK = re.compile(
    r"\b(?P<prep>at|after|around|about|by|from|before|@)?\s*"
    r"(?P<hour>[01]?\d|2[0-3])(?:(?::|\.)(?P<minute>[0-5]\d))?\s*"
    r"(?P<ampm>a\.?m\.?|p\.?m\.?|o'?clock)?(?![\d/\-.]|\s*(?:st|nd|rd|th)\b)",
    re.IGNORECASE,
)
_FILLER = re.compile(
    r"\b(i'?d like|i would like|i want|i can do|i can come|can i come|could i come|how about|what about|"
    r"would be (?:good|great|best|fine|ideal)|works? (?:for me|best)|is (?:good|fine|best)|suits me|"
    r"preferably|ideally|maybe|perhaps|please|pls|sometime|some time|if possible|on|at|around|about|"
    r"for|an?|appointment|session|booking|book|me|in|ok|okay|yes|sure|coming|this)\b",
    re.IGNORECASE,
)
_ORDINAL_DAY = re.compile(r"^(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)?$", re.IGNORECASE)
_RELATIVE_DAYS = {"today": 0, "tonight": 0, "tomorrow": 1, "tmrw": 1, "tmr": 1, "day after tomorrow": 2}
_WEEKDAY_ALIASES = {day[:3]: index for index, day in enumerate(WEEKDAYS)}
_WEEKDAY_ALIASES.update({"tues": 1, "weds": 2, "thur": 3, "thurs": 3})
_WEEKDAY = re.compile(
    r"^(?:next\s+)?(" + "|".join(sorted(list(WEEKDAYS) + list(_WEEKDAY_ALIASES), key=len, reverse=True)) + r")s?$",
    re.IGNORECASE,
)


def _clock_time(match: "re.Match[str]") -> Optional[time]:
    """A time from a clock match, reading a bare hour as clinic hours (2 is 2 pm, 9 is 9 am)."""
    hour, minute = int(match.group("hour")), int(match.group("minute") or 0)
    ampm = (match.group("ampm") or "").lower().replace(".", "")
    prep = (match.group("prep") or "").lower()
    if not ampm and not prep and match.group("minute") is None:
        return None  # a bare number ("5") is a day of the month or nothing, not a time
    if ampm == "pm" and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    elif ampm in ("", "oclock", "o'clock") and 1 <= hour <= 7:
        hour += 12
    if prep == "before":
        hour = max(hour - 1, 0)
    return time(hour, minute)


def split_time(text: str) -> Tuple[Optional[Any], str]:
    """Finds a time of day in ``text``; returns it (a ``time`` or ``"opening"``) and the rest."""
    for pattern, value in _PART_OF_DAY:
        if pattern.search(text):
            rest = pattern.sub(" ", text)
            clock = next((m for m in _CLOCK.finditer(rest) if _clock_time(m)), None)
            if clock:  # "tomorrow morning at 10" - the clock time wins
                return _clock_time(clock), rest[: clock.start()] + " " + rest[clock.end() :]
            return value, rest
    for match in _CLOCK.finditer(text):
        found = _clock_time(match)
        if found is not None:
            return found, text[: match.start()] + " " + text[match.end() :]
    return None, text


def _next_weekday(today: date, weekday: int) -> date:
    """The next ``weekday`` after ``today`` (today itself counts only when it is that day... never)."""
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def read_day(text: str, today: date, date_order: str) -> Tuple[Optional[date], bool]:
    """The calendar day named in ``text``; returns ``(day, something_was_said)``.

    ``something_was_said`` is False when no words about a day were left to read,
    so the caller can tell "no day given" from "a day I could not read".
    """
    cleaned = _FILLER.sub(" ", text.lower())
    cleaned = re.sub(r"[^\w/\-.' ]", " ", cleaned)
    cleaned = " ".join(cleaned.replace(" the ", " ").split()).strip(" .-")
    if cleaned.startswith("the "):
        cleaned = cleaned[4:]
    if not cleaned:
        return None, False
    if cleaned in _RELATIVE_DAYS:
        return today + timedelta(days=_RELATIVE_DAYS[cleaned]), True
    weekday = _WEEKDAY.match(cleaned)
    if weekday:
        name = weekday.group(1).lower()
        index = WEEKDAYS.index(name) if name in WEEKDAYS else _WEEKDAY_ALIASES[name]
        return _next_weekday(today, index), True
    ordinal = _ORDINAL_DAY.match(cleaned)
    if ordinal:
        day_of_month = int(ordinal.group(1))
        for months_ahead in range(0, 3):
            year, month = divmod(today.month - 1 + months_ahead, 12)
            try:
                candidate = date(today.year + year, month + 1, day_of_month)
            except ValueError:
                continue
            if candidate >= today:
                return candidate, True
        return None, True
    parsed = dateparser.parse(
        cleaned,
        languages=["en"],
        settings={
            "PREFER_DATES_FROM": "future",
            "RELATIVE_BASE": datetime.combine(today, time(0, 0)),
            "DATE_ORDER": date_order,
            "REQUIRE_PARTS": ["day"],
        },
    )
    return (parsed.date() if parsed else None), True


def _clock(moment: datetime) -> str:
    """``5:30 pm``, or ``9 am`` on the hour."""
    return moment.strftime("%I:%M %p").lstrip("0").replace(":00 ", " ").lower()


def describe_moment(moment: datetime) -> str:
    """``Tuesday 24 November at 5:30 pm`` in the moment's own zone."""
    return f"{describe_day(moment.date())} at {_clock(moment)}"


def describe_day(day: date) -> str:
    """``Tuesday 24 November``."""
    return f"{day.strftime('%A')} {day.day} {day.strftime('%B')}"


def describe_hours(profile: ClinicProfile, day: date) -> str:
    """``8 am to 6 pm`` or ``8 am to 12 pm and 1 pm to 7 pm`` on ``day``."""
    return " and ".join(
        f"{_clock(datetime.combine(day, start))} to {_clock(datetime.combine(day, end))}"
        for start, end in profile.hours_on(day)
    )


def date_order_for(country: str) -> str:
    """How numeric dates are read: month first in the US and a few others, day first elsewhere."""
    return "MDY" if country in ("US", "PH", "FM", "MH", "PW", "CA") else "DMY"


def parse_preferred_time(text: str, profile: ClinicProfile, now: datetime, day_hint: Optional[date] = None) -> Parsed:
    """The visitor's preferred day and time, in the clinic's zone, checked against its hours.

    Returns one of:
        ``Parsed(value={"when": aware datetime})`` - a time the clinic is open, in the future;
        ``Parsed(value={"day": date})`` - a day the clinic is open, but no time yet
        (ask for one and pass the day back as ``day_hint``);
        ``Parsed(problem=...)`` - past, closed, too far ahead or unreadable, with a suggestion.
    """
    zone = profile.zone
    local_now = now.astimezone(zone)
    today = local_now.date()
    text = " ".join((text or "").split())

    if _ASAP.search(text):
        earliest = profile.next_opening(local_now + timedelta(hours=1))
        return (
            Parsed(value={"when": earliest, "asap": True})
            if earliest
            else Parsed(problem="I couldn't find an opening time. Please call the clinic.")
        )

    clock, rest = split_time(text)
    day, said_day = read_day(rest, today, date_order_for(profile.country))
    if said_day and day is None:
        return Parsed(
            problem=(
                "Sorry, I couldn't work out the day from that. Could you write it like "
                '"Tuesday at 5 pm", "tomorrow morning" or "24 November at 10 am"?'
            )
        )
    if day is None:
        day = day_hint
    if day is None and clock is None:
        return Parsed(problem='Which day and time would suit you? For example "Tuesday at 5 pm" or "tomorrow morning".')
    if day is None:
        day = today
        if clock != "opening" and datetime.combine(today, clock, zone) <= local_now:
            day = today + timedelta(days=1)

    if day < today:
        return Parsed(problem=f"{describe_day(day)} has already passed. Which day coming up would suit you?")
    if day > today + timedelta(days=MAX_DAYS_AHEAD):
        return Parsed(problem="I can take requests for the next six months. Which day before then would suit you?")
    ranges = profile.hours_on(day)
    if not ranges:
        suggestion = profile.next_opening(datetime.combine(day + timedelta(days=1), time(0, 0), zone)).date()
        return Parsed(
            problem=(
                f"The clinic is closed on {day.strftime('%A')}s. The next open day is "
                f"{describe_day(suggestion)} ({describe_hours(profile, suggestion)}). Would that suit you?"
            )
        )
    if clock is None:
        return Parsed(value={"day": day})
    if clock == "opening":
        clock = ranges[0][0]
    when = datetime.combine(day, clock, zone)
    if when <= local_now:
        soonest = profile.next_opening(local_now + timedelta(hours=1))
        hint = f" The soonest would be {describe_moment(soonest)}." if soonest else ""
        return Parsed(problem=f"That time has already passed.{hint} What day and time would suit you?")
    if not profile.is_open_at(when):
        return Parsed(
            problem=(
                f"On {describe_day(day)} the clinic is open {describe_hours(profile, day)}. "
                "What time within those hours would suit you?"
            )
        )
    return Parsed(value={"when": when})
