"""What visitors asked that the assistant could not answer, for staff to turn into examples.

``make report`` (``python -m tools.visitor_report``) reads the conversation store (the
``tracker_store`` in endpoints.yml, SQLite ``var/tracker.db`` by default) and prints:

- the questions that ended in "Did you mean...?", "outside what I can help with" or a
  low-confidence guess, grouped by similar wording, counted, newest first;
- the most asked FAQ topics;
- red flags and booking/callback requests per week.

It never shows contact details: messages typed while a form was asking for details are
left out entirely, and email addresses, phone numbers and long digit runs are masked in
the rest. What counts as not answered, the masking and the grouping are
``clinic/visitor_questions.py``'s, which the staff console's inbox reads too.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import sqlalchemy as sa

from clinic.visitor_questions import RECENT_DAYS, Question, group_similar, recent_questions

ROOT = Path(__file__).resolve().parent.parent


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


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.visitor_report", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", help="conversation store URL (default: TRACKER_DB_URL, else endpoints.yml's tracker_store)"
    )
    parser.add_argument("--bookings-db", help="booking store URL (default: BOOKINGS_DB_URL or var/bookings.db)")
    parser.add_argument("--days", type=int, default=RECENT_DAYS, help=f"how far back to look (default {RECENT_DAYS})")
    args = parser.parse_args(argv)
    from clinic import settings

    since = datetime.now(timezone.utc) - timedelta(days=args.days)
    url = args.db or settings.tracker_db_url()
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        print(f"No conversations yet ({url[len('sqlite:///') :]} does not exist).")
        return 0
    questions = recent_questions(url, since)
    bookings = booking_weeks(args.bookings_db or settings.bookings_db_url(), since)
    print(render(questions, bookings, args.days))
    return 0


if __name__ == "__main__":
    sys.exit(main())
