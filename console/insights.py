"""The weekly picture: ``GET /insights`` (``?days=7``, ``30`` or ``90``; 30 unless chosen).

Charts drawn on the server (``console/charts.py``) of what ``make report`` prints, from the same
counts (``clinic/insights.py``): conversations per day, messages answered / declined / unsure,
the helpful rate per topic, the most asked topics, the booking funnel, red flags per week. Each
chart has a title and a description, and its numbers are in a table beside it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Dict, Optional

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from clinic.insights import Insights, collect
from clinic.visitor_questions import RECENT_DAYS, sqlite_file_missing
from console.charts import Chart, columns, rows

if TYPE_CHECKING:
    from console.app import Pages

PERIODS = (7, 30, 90)
# The clinic's own questions, answered from clinic.yml: their names for staff.
CLINIC_TOPICS = {
    "ask_hours": "Opening hours",
    "ask_location": "Where the clinic is",
    "ask_contact": "Phone and email",
    "ask_cost": "Prices and insurance",
    "ask_referral": "Referral",
    "ask_what_to_wear": "What to wear",
    "ask_children": "Children",
}
OUTCOME_NAMES = {"answered": "Answered", "declined": "Declined", "unsure": "Unsure"}


def topic_name(topic: str, labels: Dict[str, str]) -> str:
    """A topic as staff know it: its button label, or the clinic question's name."""
    bare = topic.split("/", 1)[1] if topic.startswith("faq/") else topic
    return labels.get(bare) or CLINIC_TOPICS.get(bare) or bare


def percent(rate: Optional[float]) -> str:
    return "no votes" if rate is None else f"{rate:.0%}"


def charts(insights: Insights, labels: Dict[str, str]) -> Dict[str, Chart]:
    """The page's charts, by name."""
    per_day = insights.conversations_per_day
    outcomes = insights.outcomes
    funnel = insights.funnel
    weeks = list(reversed(insights.weeks))  # oldest first, left to right
    busiest = insights.busiest_day
    steps = [("Forms started", funnel.started), ("Requests sent", funnel.sent)]
    if funnel.handled is not None:
        steps.append(("Handled", funnel.handled))
    return {
        "per_day": columns(
            "per-day",
            "Conversations per day",
            f"{insights.conversations} conversations in {insights.days} days; the busiest day: {busiest}.",
            [(f"{day:%m-%d}", count, str(count)) for day, count in per_day],
        ),
        "outcomes": rows(
            "outcomes",
            "Messages answered, declined and unsure",
            ", ".join(f"{count} {name}" for name, count in outcomes.items()) + ".",
            [(OUTCOME_NAMES[name], count, str(count)) for name, count in outcomes.items()],
        ),
        "helpful": rows(
            "helpful",
            "Helpful rate per topic",
            f"{insights.votes} votes, {percent(insights.helpful_rate)} helpful: "
            + "; ".join(f"{topic_name(t.topic, labels)} {t.rate:.0%} of {t.votes}" for t in insights.helpful),
            [
                (topic_name(t.topic, labels), t.rate * 100, f"{t.rate:.0%} ({t.helpful} of {t.votes})")
                for t in insights.helpful
            ],
            most=100,
        ),
        "most_asked": rows(
            "most-asked",
            "Most asked topics",
            "; ".join(f"{topic_name(topic, labels)} {count}" for topic, count in insights.most_asked) or "None yet.",
            [(topic_name(topic, labels), count, str(count)) for topic, count in insights.most_asked],
        ),
        "funnel": rows(
            "funnel",
            "Booking funnel",
            ", ".join(f"{name}: {count}" for name, count in steps)
            + ("" if funnel.handled is not None else "; handled requests are not recorded yet")
            + ".",
            [(name, count, str(count)) for name, count in steps],
        ),
        "red_flags": columns(
            "red-flags",
            "Red flags per week",
            "; ".join(f"{week.week}: {week.red_flags}" for week in weeks) or "None.",
            [(week.week, week.red_flags, str(week.red_flags)) for week in weeks],
            labels=3,
        ),
    }


def add_routes(app: Sanic, pages: "Pages") -> None:
    """The insights page."""

    @app.get("/insights")
    async def show_insights(request: Request) -> HTTPResponse:
        raw = request.args.get("days")
        days = RECENT_DAYS if raw is None else int(raw) if raw.isdigit() else 0
        if days not in PERIODS:
            return pages.page(
                request,
                "insights.html",
                status=400,
                section="insights",
                error=f"Show the last {', '.join(map(str, PERIODS[:-1]))} or {PERIODS[-1]} days (days={PERIODS[1]}).",
                periods=PERIODS,
                days=RECENT_DAYS,
                insights=None,
                charts={},
                labels={},
            )
        url = pages.config.tracker_db_url
        store = None if url is None or sqlite_file_missing(url) else pages.conversations  # never made by reading
        insights = await asyncio.to_thread(collect, store, pages.accounts.engine, days, pages.now())
        labels = {view.name: view.label or view.name for view in pages.files.views()}
        return pages.page(
            request,
            "insights.html",
            section="insights",
            error=None,
            periods=PERIODS,
            days=days,
            insights=insights,
            charts=charts(insights, labels),
            labels=labels,
            topic_name=topic_name,
            percent=percent,
        )
