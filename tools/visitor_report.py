"""What visitors asked that the assistant could not answer, for staff to turn into examples, and
how the assistant is doing.

``make report`` (``python -m tools.visitor_report``) reads the conversation store (the
``tracker_store`` in endpoints.yml, SQLite ``var/tracker.db`` by default) and the booking store,
and prints:

- the questions that ended in "Did you mean...?", "outside what I can help with", a
  low-confidence guess or a thumbs down in the widget, grouped by similar wording, counted,
  newest first;
- the messages answered, declined and unsure, and conversations per day;
- the most asked FAQ topics, and the helpful rate per topic from the widget's votes;
- the booking funnel: forms started, requests sent, requests handled;
- red flags and booking/callback requests per week.

It never shows contact details: messages typed while a form was asking for details are
left out entirely, and email addresses, phone numbers and long digit runs are masked in
the rest. What counts as not answered, the masking and the grouping are
``clinic/visitor_questions.py``'s, which the staff console's inbox reads too; every number is
counted by ``clinic/insights.py``, which the console's /insights page draws.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from clinic import clock
from clinic.insights import Insights, collect_from
from clinic.visitor_questions import RECENT_DAYS, group_similar, sqlite_file_missing


def percent(rate: Optional[float]) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def render(insights: Insights, limit: int = 40) -> str:
    """The report as plain text."""
    questions = insights.questions
    lines = [f"Visitor report, last {insights.days} days: {len(questions)} typed questions outside forms.", ""]
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
    outcomes = insights.outcomes
    outcomes = insights.outcomes
    lines.append(
        f"Messages: {outcomes['answered']} answered, {outcomes['declined']} declined, {outcomes['unsure']} unsure. "
        f"Conversations: {insights.conversations}, the busiest day {insights.busiest_day}."
    )
    lines.append("")
    lines.append("Most asked topics:")
    lines.extend(f"  {count:>4}  {topic}" for topic, count in insights.most_asked)
    if not insights.most_asked:
        lines.append("  (none)")
    lines.append("")
    lines.append(f"Helpful? votes: {insights.votes}, {percent(insights.helpful_rate)} helpful.")
    lines.append("  helpful  not helpful  rate  topic")
    lines.extend(
        f"  {topic.helpful:>7}  {topic.not_helpful:>11}  {percent(topic.rate):>4}  {topic.topic}"
        for topic in insights.helpful
    )
    if not insights.helpful:
        lines.append("  (none)")
    lines.append("")
    funnel = insights.funnel
    handled = "not recorded" if funnel.handled is None else str(funnel.handled)
    lines.append(f"Booking funnel: {funnel.started} forms started, {funnel.sent} requests sent, {handled} handled.")
    lines.append("")
    lines.append("Per week:  red flags  bookings  callbacks")
    for week in insights.weeks:
        lines.append(f"  {week.week}  {week.red_flags:>9}  {week.bookings:>8}  {week.callbacks:>9}")
    if not insights.weeks:
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

    url = args.db or settings.tracker_db_url()
    if sqlite_file_missing(url):
        print(f"No conversations yet ({url[len('sqlite:///') :]} does not exist).")
        return 0
    insights = collect_from(url, args.bookings_db or settings.bookings_db_url(), args.days, clock.now())
    print(render(insights))
    return 0


if __name__ == "__main__":
    sys.exit(main())
