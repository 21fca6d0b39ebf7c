"""How the assistant is doing, counted once for ``make report`` and the staff console's /insights.

Both print or draw an ``Insights`` made here by ``collect``, so their numbers are the same:

- conversations per day: the conversations in which a visitor wrote that day (UTC days);
- the visitor messages typed outside forms (``clinic.visitor_questions``), answered, declined or
  unsure (asked which topic, unsure, or answered with low confidence);
- the helpful rate per topic: the visitors' votes on answers (``clinic.feedback``);
- the most asked topics: the FAQ topics of the answered messages;
- the booking funnel: booking forms started (the form activated in a conversation), requests
  sent (booking and callback requests saved in the booking store), and handled (requests staff
  marked handled, when the booking store records it; ``None`` where it does not);
- red flags, booking requests and callback requests per ISO week.

Everything is read, never written: the conversation store's events and votes, and the booking
store's requests. Weeks and days are UTC, like the events' timestamps.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Dict, Iterable, List, Optional, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clinic.feedback import Vote, votes
from clinic.visitor_questions import Question, Row, load_rows, read_questions, sqlite_file_missing

BOOKING_FORM = "booking_form"
OUTCOMES = ("answered", "declined", "unsure")
MOST_ASKED = 10
HANDLED_TABLE = "booking_handled"  # one row per request staff marked handled (clinic/booking_store.py)


def week_of(moment: datetime) -> str:
    """The ISO week of a moment, as ``2026-W07``."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class TopicVotes:
    """The votes on one topic's answers."""

    topic: str
    helpful: int
    not_helpful: int

    @property
    def votes(self) -> int:
        return self.helpful + self.not_helpful

    @property
    def rate(self) -> float:
        """The share of votes that said helpful, 0 to 1."""
        return self.helpful / self.votes if self.votes else 0.0


@dataclass(frozen=True)
class Week:
    """One ISO week's red flags and requests."""

    week: str
    red_flags: int
    bookings: int
    callbacks: int


@dataclass(frozen=True)
class Funnel:
    """From a booking form started to a request handled; ``handled`` is None where the booking
    store does not record it."""

    started: int
    sent: int
    handled: Optional[int]


@dataclass
class Insights:
    """Everything ``make report`` prints and /insights draws, for the ``days`` before ``until``."""

    days: int
    until: datetime
    conversations: int = 0  # in which a visitor wrote
    questions: List[Question] = field(default_factory=list)
    conversations_per_day: List[Tuple[date, int]] = field(default_factory=list)
    outcomes: Dict[str, int] = field(default_factory=dict)
    helpful: List[TopicVotes] = field(default_factory=list)
    most_asked: List[Tuple[str, int]] = field(default_factory=list)
    funnel: Funnel = Funnel(0, 0, None)
    weeks: List[Week] = field(default_factory=list)

    @property
    def busiest_day(self) -> str:
        """The day with the most conversations and how many, as ``2026-02-11 (14)``; "-" if none."""
        if not any(count for _, count in self.conversations_per_day):
            return "-"
        day, count = max(self.conversations_per_day, key=lambda pair: (pair[1], pair[0]))
        return f"{day:%Y-%m-%d} ({count})"

    @property
    def votes(self) -> int:
        return sum(topic.votes for topic in self.helpful)

    @property
    def helpful_rate(self) -> Optional[float]:
        """The share of all votes that said helpful; None without votes."""
        total = self.votes
        return sum(topic.helpful for topic in self.helpful) / total if total else None


def conversations_per_day(rows: Iterable[Row], since: datetime, until: datetime) -> List[Tuple[date, int]]:
    """Every UTC day from ``since`` to ``until`` with the number of conversations a visitor wrote in."""
    senders: Dict[date, set] = {}
    for sender, kind, _, raw in rows:
        if kind != "user":
            continue
        timestamp = json.loads(raw or "{}").get("timestamp")
        if timestamp is None:
            continue
        senders.setdefault(datetime.fromtimestamp(float(timestamp), timezone.utc).date(), set()).add(sender)
    first, last = since.astimezone(timezone.utc).date(), until.astimezone(timezone.utc).date()
    return [
        (first + timedelta(days=n), len(senders.get(first + timedelta(days=n), ())))
        for n in range((last - first).days + 1)
    ]


def forms_started(rows: Iterable[Row]) -> int:
    """How many times the booking form was started (activated where it was not already active)."""
    active: Dict[str, Optional[str]] = {}
    started = 0
    for sender, kind, _, raw in rows:
        if kind != "active_loop":
            continue
        name = json.loads(raw or "{}").get("name")
        if name == BOOKING_FORM and active.get(sender) != BOOKING_FORM:
            started += 1
        active[sender] = name
    return started


def outcome_counts(questions: Iterable[Question]) -> Dict[str, int]:
    """How many messages were answered, declined and unsure."""
    counts = Counter(question.outcome for question in questions)
    return {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}


def topic_votes(cast: Iterable[Vote]) -> List[TopicVotes]:
    """The votes per topic, the most voted first."""
    up: Counter = Counter()
    down: Counter = Counter()
    for vote in cast:
        (up if vote.helpful else down)[vote.topic] += 1
    topics = sorted(set(up) | set(down), key=lambda topic: (-(up[topic] + down[topic]), topic))
    return [TopicVotes(topic, up[topic], down[topic]) for topic in topics]


def most_asked(questions: Iterable[Question], limit: int = MOST_ASKED) -> List[Tuple[str, int]]:
    """The FAQ topics answered most often, with how often."""
    return Counter(q.topic for q in questions if q.topic and q.outcome == "answered").most_common(limit)


def weekly(questions: Iterable[Question], requests: Dict[Tuple[str, str], int]) -> List[Week]:
    """Red flags (from the messages) and requests (per week and kind) per ISO week, newest first."""
    red_flags = Counter(week_of(q.when) for q in questions if q.intent == "red_flag")
    weeks = sorted(set(red_flags) | {week for week, _ in requests}, reverse=True)
    return [
        Week(week, red_flags.get(week, 0), requests.get((week, "booking"), 0), requests.get((week, "callback"), 0))
        for week in weeks
    ]


def request_counts(engine: Engine, since: datetime) -> Tuple[Dict[Tuple[str, str], int], Optional[int]]:
    """The booking store's requests since ``since`` per (ISO week, kind), and how many of them
    staff marked handled in the console (``booking_handled``; None for a store made before it)."""
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        if not inspector.has_table("booking_requests"):
            return {}, None
        recorded = inspector.has_table(HANDLED_TABLE)
        handled_column = ", h.handled_at" if recorded else ""
        joined = f" LEFT JOIN {HANDLED_TABLE} h ON h.booking_id = r.id" if recorded else ""
        rows = connection.execute(
            sa.text(
                f"SELECT r.kind, r.created_at{handled_column} FROM booking_requests r{joined} WHERE r.created_at >= :since"
            ),
            {"since": since.astimezone(timezone.utc).replace(tzinfo=None)},
        ).all()
    counts: Counter = Counter()
    handled = 0
    for row in rows:
        created = row[1] if isinstance(row[1], datetime) else datetime.fromisoformat(str(row[1]))
        counts[(week_of(created), row[0])] += 1
        handled += 1 if recorded and row[2] is not None else 0
    return dict(counts), handled if recorded else None


def summarise(
    rows: List[Row],
    cast: List[Vote],
    requests: Dict[Tuple[str, str], int],
    handled: Optional[int],
    since: datetime,
    until: datetime,
    days: int,
) -> Insights:
    """The insights from what was read: event rows, votes and the booking store's counts."""
    questions = read_questions(rows, {vote.answer for vote in cast if not vote.helpful})
    return Insights(
        days=days,
        until=until,
        conversations=len({sender for sender, kind, _, _ in rows if kind == "user"}),
        questions=questions,
        conversations_per_day=conversations_per_day(rows, since, until),
        outcomes=outcome_counts(questions),
        helpful=topic_votes(cast),
        most_asked=most_asked(questions),
        funnel=Funnel(forms_started(rows), sum(requests.values()), handled),
        weeks=weekly(questions, requests),
    )


def collect(
    conversations: Optional[Engine],
    bookings: Optional[Engine],
    days: int,
    until: datetime,
) -> Insights:
    """The insights of the ``days`` before ``until`` from the conversation store and the booking
    store (either may be None, or not made yet: nothing counted from it)."""
    since = until - timedelta(days=days)
    rows: List[Row] = []
    cast: List[Vote] = []
    if conversations is not None:
        rows, cast = load_rows(conversations, since), votes(conversations, since)
    requests, handled = request_counts(bookings, since) if bookings is not None else ({}, None)
    return summarise(rows, cast, requests, handled, since, until, days)


def collect_from(tracker_url: str, bookings_url: str, days: int, until: datetime) -> Insights:
    """``collect`` from the stores at these URLs, each opened for the call (an SQLite file that
    does not exist is not made)."""
    engines = {url: None if sqlite_file_missing(url) else sa.create_engine(url) for url in {tracker_url, bookings_url}}
    try:
        return collect(engines[tracker_url], engines[bookings_url], days, until)
    finally:
        for engine in engines.values():
            if engine is not None:
                engine.dispose()
