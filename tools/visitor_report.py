"""What visitors asked that the assistant could not answer, for staff to turn into examples.

``make report`` (``python -m tools.visitor_report``) reads the conversation store (the
``tracker_store`` in endpoints.yml, SQLite ``var/tracker.db`` by default) and prints:

- the questions that ended in "Did you mean...?", "outside what I can help with" or a
  low-confidence guess, grouped by similar wording, counted, newest first;
- the most asked FAQ topics;
- red flags and booking/callback requests per week.

It never shows contact details: messages typed while a form was asking for details are
left out entirely, and email addresses, phone numbers and long digit runs are masked in
the rest.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import sqlalchemy as sa

from tools.faq_conventions import normalise

ROOT = Path(__file__).resolve().parent.parent
LOW_CONFIDENCE = 0.6
NOT_ANSWERED_INTENTS = {"nlu_fallback", "out_of_scope"}
NOT_ANSWERED_ACTIONS = {"action_clarify_topic", "action_decline", "utter_out_of_scope", "action_default_fallback"}
SIMILAR = 0.75

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# An address written out to dodge spam filters: "jo dot smith at mail dot com", "jo(at)mail.com".
_AT, _DOT = r"(?:\s*[(\[]\s*at\s*[)\]]\s*|\s+at\s+)", r"(?:\s*[(\[]\s*dot\s*[)\]]\s*|\s+dot\s+|\.)"
_SPELLED_EMAIL = re.compile(
    rf"\b[\w+-]+(?:{_DOT}[\w+-]+)*{_AT}[\w-]+(?:{_DOT}[\w-]+)*{_DOT}(?:com|org|net|edu|gov|io|co|uk|au|ca|us|de|nz|ie|info|me)\b",
    re.IGNORECASE,
)
# Phone-like numbers however they are split: spaces, dots, dashes, slashes, brackets.
_DIGITS = re.compile(r"\+?\d[\d\s()./-]{4,}\d")
# A name introduced: "my name is Dana Whitfield", "i'm dana", "this is Dana", "call me Dana".
_NAMED = re.compile(
    r"\b(my name is|my name's|name is|i am|i'm|im|this is|it's|call me|ask for)\s+"
    r"(?!(?:a|an|the|not|so|very|really|in|on|at|from|with|having|getting|going|looking|pregnant|scared|afraid|"
    r"worried|nervous|sore|diabetic|interested|wondering|trying|new|over|under|\d)\b)"
    r"([A-Za-z][\w'-]*(?-i:\s+[A-Z][\w'-]*){0,2})",  # more words only when capitalised
    re.IGNORECASE,
)


def mask(text: str) -> str:
    """The text with email addresses (written out too), phone-like numbers and introduced names replaced."""
    text = _SPELLED_EMAIL.sub("[email]", _EMAIL.sub("[email]", text))
    text = _DIGITS.sub("[number]", text)
    return _NAMED.sub(lambda match: f"{match.group(1)} [name]", text)


@dataclass
class Question:
    """One visitor message the report counts."""

    when: datetime
    text: str
    intent: str
    confidence: float
    topic: Optional[str]
    unanswered: bool = False


@dataclass
class Group:
    """Similar unanswered questions."""

    wordings: List[Question] = field(default_factory=list)

    @property
    def latest(self) -> datetime:
        return max(q.when for q in self.wordings)


def read_questions(rows: Iterable[Tuple[str, str, Optional[str], str]]) -> List[Question]:
    """Turns event rows ``(sender, type, action name, data JSON)``, oldest first, into questions.

    Messages typed while a form was active are skipped: they are names, numbers and addresses.
    """
    questions: List[Question] = []
    loop: Dict[str, Optional[str]] = defaultdict(lambda: None)
    pending: Dict[str, Question] = {}
    for sender, kind, action, raw in rows:
        data = json.loads(raw or "{}")
        if kind == "active_loop":
            loop[sender] = data.get("name")
        elif kind == "action" and sender in pending:
            if action == "action_listen":
                continue
            question = pending.pop(sender)
            question.unanswered = question.unanswered or action in NOT_ANSWERED_ACTIONS
        elif kind == "user":
            pending.pop(sender, None)
            if loop[sender]:
                continue
            parse = data.get("parse_data") or {}
            intent = parse.get("intent") or {}
            name = intent.get("name") or ""
            confidence = float(intent.get("confidence") or 0.0)
            selector = ((parse.get("response_selector") or {}).get("faq") or {}).get("response") or {}
            question = Question(
                when=datetime.fromtimestamp(float(data.get("timestamp") or 0), timezone.utc),
                text=mask(str(data.get("text") or "")),
                intent=name,
                confidence=confidence,
                topic=selector.get("intent_response_key") if name == "faq" else None,
                unanswered=name in NOT_ANSWERED_INTENTS or confidence < LOW_CONFIDENCE,
            )
            if question.text.startswith("/"):  # a button, not typed words
                question.unanswered = False
            questions.append(question)
            pending[sender] = question
    return questions


def group_similar(questions: List[Question]) -> List[Group]:
    """Unanswered questions grouped by similar wording, the most recent group first."""
    groups: List[Tuple[str, Group]] = []
    for question in sorted((q for q in questions if q.unanswered), key=lambda q: q.when, reverse=True):
        key = normalise(question.text)
        for existing, group in groups:
            if difflib.SequenceMatcher(None, key, existing).ratio() >= SIMILAR:
                group.wordings.append(question)
                break
        else:
            groups.append((key, Group([question])))
    return sorted((group for _, group in groups), key=lambda g: (g.latest, len(g.wordings)), reverse=True)


def week_of(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def booking_weeks(url: str, since: datetime) -> Dict[Tuple[str, str], int]:
    """Booking and callback requests per ISO week from the booking store (``{}`` if there is none)."""
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        return {}
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("booking_requests"):
                return {}
            rows = connection.execute(
                sa.text("SELECT kind, created_at FROM booking_requests WHERE created_at >= :since"),
                {"since": since.replace(tzinfo=None)},
            )
            counts: Counter = Counter()
            for kind, created in rows:
                moment = created if isinstance(created, datetime) else datetime.fromisoformat(str(created))
                counts[(week_of(moment), kind)] += 1
            return dict(counts)
    finally:
        engine.dispose()


def render(questions: List[Question], bookings: Dict[Tuple[str, str], int], days: int, limit: int = 40) -> str:
    """The report as plain text."""
    lines = [f"Visitor report, last {days} days: {len(questions)} typed questions outside forms.", ""]
    groups = group_similar(questions)
    lines.append(f"Not answered ({sum(len(g.wordings) for g in groups)} messages, {len(groups)} groups; newest first).")
    lines.append("Add good ones as examples to the right data/faq/<topic>.yml, then run `make check`:")
    for group in groups[:limit]:
        first = group.wordings[0]
        lines.append(f'  {len(group.wordings):>3}x  last {group.latest:%Y-%m-%d}  "{first.text}"')
        for other in group.wordings[1:3]:
            lines.append(f'              also "{other.text}"')
    if not groups:
        lines.append("  (none)")
    lines.append("")
    topics = Counter(q.topic for q in questions if q.topic and not q.unanswered)
    lines.append("Most asked topics:")
    lines.extend(f"  {count:>4}  {topic}" for topic, count in topics.most_common(10))
    if not topics:
        lines.append("  (none)")
    lines.append("")
    red_flags = Counter(week_of(q.when) for q in questions if q.intent == "red_flag")
    weeks = sorted(set(red_flags) | {week for week, _ in bookings}, reverse=True)
    lines.append("Per week:  red flags  bookings  callbacks")
    for week in weeks:
        lines.append(
            f"  {week}  {red_flags.get(week, 0):>9}  {bookings.get((week, 'booking'), 0):>8}"
            f"  {bookings.get((week, 'callback'), 0):>9}"
        )
    if not weeks:
        lines.append("  (none)")
    return "\n".join(lines)


def load_rows(url: str, since: datetime) -> List[Tuple[str, str, Optional[str], str]]:
    """The conversation store's events since ``since``, oldest first."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("events"):
                return []
            result = connection.execute(
                sa.text(
                    "SELECT sender_id, type_name, action_name, data FROM events WHERE timestamp >= :since ORDER BY id"
                ),
                {"since": since.timestamp()},
            )
            return [tuple(row) for row in result]
    finally:
        engine.dispose()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.visitor_report", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", help="conversation store URL (default: TRACKER_DB_URL, else endpoints.yml's tracker_store)"
    )
    parser.add_argument("--bookings-db", help="booking store URL (default: BOOKINGS_DB_URL or var/bookings.db)")
    parser.add_argument("--days", type=int, default=30, help="how far back to look (default 30)")
    args = parser.parse_args(argv)
    from clinic import settings

    since = datetime.now(timezone.utc) - timedelta(days=args.days)
    url = args.db or settings.tracker_db_url()
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        print(f"No conversations yet ({url[len('sqlite:///') :]} does not exist).")
        return 0
    questions = read_questions(load_rows(url, since))
    bookings = booking_weeks(args.bookings_db or settings.bookings_db_url(), since)
    print(render(questions, bookings, args.days))
    return 0


if __name__ == "__main__":
    sys.exit(main())
