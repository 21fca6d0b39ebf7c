"""How the assistant is doing (clinic/insights.py), counted once for `make report` and the console's
/insights: the counts on event rows and stores, the report printing them, and the page drawing the
same numbers as charts with their tables (console/insights.py, in this process)."""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from clinic.booking_store import BookingStore, booking_requests
from clinic.conversations import message_key
from clinic.feedback import FeedbackStore, Vote
from clinic.insights import (
    collect,
    conversations_per_day,
    forms_started,
    request_counts,
    summarise,
    topic_votes,
    week_of,
)
from console.charts import columns, rows
from tests.conftest import ROOT
from tests.console_asgi import T0, make_console, stop_console
from tests.conversation_events import action, bot, loop, user, write_store
from tools.visitor_report import render

pytestmark = pytest.mark.unit

DAY = 86400.0
AT = (T0 - timedelta(days=2)).timestamp()


def store_rows():
    """Three conversations over two days: answers, a decline, an unsure one, a red flag, a form."""
    return [
        user("a", "does it hurt", "faq", topic="faq/does_it_hurt", at=AT),
        action("a", "utter_faq", AT + 0.1),
        bot("a", "A brief cramp.", AT + 0.1, utter_action="utter_faq/does_it_hurt"),
        user("a", "do you do cupping", "out_of_scope", at=AT + 10),
        action("a", "utter_out_of_scope", AT + 10.1),
        user("a", "can I book", "book_appointment", at=AT + 20),
        loop("a", "booking_form", AT + 20.1),
        user("a", "Dana", "inform", 0.4, at=AT + 30),
        loop("a", "booking_form", AT + 30.1),  # Rasa writes the form again while it runs
        loop("a", None, AT + 40),
        user("b", "is it sore after", "faq", 0.9, topic="faq/does_it_hurt", at=AT + DAY),
        action("b", "utter_faq", AT + DAY + 0.1),
        bot("b", "Some soreness.", AT + DAY + 0.1, utter_action="utter_faq/does_it_hurt"),
        user("b", "about the needles and sessions", "faq", 0.95, topic="faq/needles", at=AT + DAY + 10),
        action("b", "action_clarify_topic", AT + DAY + 10.1),
        user("c", "chest pain since my session", "red_flag", at=AT + DAY + 20),
        action("c", "action_red_flag", AT + DAY + 20.1),
        user("c", "when are you open", "ask_hours", at=AT + DAY + 30),
        action("c", "action_tell_hours", AT + DAY + 30.1),
        bot("c", "Monday to Friday.", AT + DAY + 30.1, answer_topic="ask_hours"),
        user("c", "book me in", "book_appointment", at=AT + DAY + 40),
        loop("c", "booking_form", AT + DAY + 40.1),
    ]


def moment(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, timezone.utc)


def test_each_count_from_event_rows_and_votes():
    since, until = T0 - timedelta(days=7), T0
    per_day = dict(conversations_per_day(store_rows(), since, until))
    assert len(per_day) == 8 and sum(per_day.values()) == 3
    assert per_day[moment(AT).date()] == 1 and per_day[moment(AT + DAY).date()] == 2
    assert forms_started(store_rows()) == 2
    cast = [
        Vote("a", message_key("a", AT + 0.1), "does_it_hurt", False, moment(AT + 1)),
        Vote("b", message_key("b", AT + DAY + 0.1), "does_it_hurt", True, moment(AT + DAY + 1)),
        Vote("c", message_key("c", AT + DAY + 30.1), "ask_hours", True, moment(AT + DAY + 31)),
    ]
    [hurt, hours] = topic_votes(cast)
    assert (hurt.topic, hurt.helpful, hurt.not_helpful, hurt.rate) == ("does_it_hurt", 1, 1, 0.5)
    assert (hours.topic, hours.rate) == ("ask_hours", 1.0)
    week = week_of(moment(AT))
    insights = summarise(store_rows(), cast, {(week, "booking"): 1}, None, since, until, 7)
    assert insights.conversations == 3
    # "Dana" was typed in the form: no message of it is counted.
    assert insights.outcomes == {"answered": 6, "declined": 1, "unsure": 1}
    assert insights.most_asked == [("faq/does_it_hurt", 2)]
    assert (insights.funnel.started, insights.funnel.sent, insights.funnel.handled) == (2, 1, None)
    assert insights.helpful_rate == pytest.approx(2 / 3)
    assert sum(week.red_flags for week in insights.weeks) == 1
    # The thumbs down puts "does it hurt" in the inbox's list, and in the report's.
    assert [q.text for q in insights.questions if q.unanswered] == [
        "does it hurt",
        "do you do cupping",
        "about the needles and sessions",
    ]


def test_the_booking_stores_requests_and_handled_ones_when_it_records_them(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'bookings.db'}")
    assert request_counts(engine, T0 - timedelta(days=7)) == ({}, None)
    booking_requests.create(engine)  # a store made before staff could mark requests handled
    values = dict(name="x", timezone="UTC", consent_at=T0.replace(tzinfo=None))
    with engine.begin() as connection:
        for number, (kind, days) in enumerate((("booking", 1), ("callback", 2), ("booking", 40))):
            created = (T0 - timedelta(days=days)).replace(tzinfo=None)
            connection.execute(
                booking_requests.insert().values(reference=f"DN-{number}", kind=kind, created_at=created, **values)
            )
    counts, handled = request_counts(engine, T0 - timedelta(days=7))
    assert sum(counts.values()) == 2 and handled is None
    store = BookingStore(f"sqlite:///{tmp_path / 'bookings.db'}").open()
    assert request_counts(engine, T0 - timedelta(days=7))[1] == 0
    store.mark_handled("DN-0", "anna", T0)
    store.mark_handled("DN-2", "anna", T0)  # asked 40 days ago: outside the week
    assert request_counts(engine, T0 - timedelta(days=7))[1] == 1
    store.close()
    engine.dispose()


def test_the_report_prints_what_was_counted(tmp_path):
    url = write_store(tmp_path / "tracker.db", store_rows())
    engine = sa.create_engine(url)
    FeedbackStore(engine).record("a", message_key("a", AT + 0.1), False, moment(AT + 1))
    FeedbackStore(engine).record("c", message_key("c", AT + DAY + 30.1), True, moment(AT + DAY + 31))
    insights = collect(engine, None, 7, T0)
    engine.dispose()
    report = render(insights)
    assert '"does it hurt"' in report.split("Not answered")[1].split("Messages:")[0]
    assert "Messages: 6 answered, 1 declined, 1 unsure. Conversations: 3" in report
    assert "Helpful? votes: 2, 50% helpful." in report
    assert re.search(r"\n\s+0\s+1\s+0%\s+does_it_hurt\n", report)
    assert re.search(r"\n\s+1\s+0\s+100%\s+ask_hours\n", report)
    assert "Booking funnel: 2 forms started, 0 requests sent, not recorded handled." in report


def test_chart_geometry_scales_to_the_largest_value():
    chart = rows("r", "Title", "Description", [("A", 10, "10"), ("B", 5, "5"), ("C", 0, "0")])
    assert [bar.width for bar in chart.bars] == [260.0, 130.0, 0.0]
    assert chart.height == 3 * 34
    rates = rows("h", "Rates", "", [("A", 50, "50%")], most=100)
    assert rates.bars[0].width == 130.0
    days = columns("d", "Per day", "", [(f"{n:02d}", n, str(n)) for n in range(31)])
    assert max(bar.height for bar in days.bars) == 134.0 and days.bars[0].height == 0.0
    assert days.bars[0].show_label and days.bars[-1].show_label
    assert (days.bars[0].anchor, days.bars[0].label_x) == ("start", 0)  # written inward at the edges
    assert (days.bars[-1].anchor, days.bars[-1].label_x) == ("end", 360)
    one_week = columns("w", "Per week", "", [("2026-W48", 1, "1")])
    assert one_week.bars[0].width == 48 and one_week.bars[0].x == 156.0
    assert 3 <= sum(bar.show_label for bar in days.bars) <= 5
    shown = [bar.label_x for bar in days.bars if bar.show_label]
    assert all(right - left >= 70 for left, right in zip(shown, shown[1:], strict=False))


@pytest.fixture
def console(tmp_path):
    shutil.copytree(ROOT / "data", tmp_path / "data")
    url = write_store(tmp_path / "tracker.db", store_rows())
    engine = sa.create_engine(url)
    FeedbackStore(engine).record("a", message_key("a", AT + 0.1), False, moment(AT + 1))
    FeedbackStore(engine).record("c", message_key("c", AT + DAY + 30.1), True, moment(AT + DAY + 31))
    engine.dispose()
    made = make_console(tmp_path, data_dir=tmp_path / "data", tracker_db_url=url)
    yield made
    stop_console(made)
    made.loop.close()


def test_the_insights_page_draws_the_same_numbers_with_titles_and_tables(console):
    browser = console.browser()
    assert browser.log_in("anna").status == 303
    page = browser.get("/insights?days=7").body
    assert '<a href="/insights" aria-current="page">Insights</a>' in page
    svgs = re.findall(r'<svg class="chart".*?</svg>', page, re.S)
    assert len(svgs) == 6
    for svg in svgs:
        key = re.search(r'aria-labelledby="([\w-]+)-title \1-desc"', svg).group(1)
        assert f'<title id="{key}-title">' in svg and f'<desc id="{key}-desc">' in svg
    helpful = re.search(r'aria-labelledby="helpful-h".*?</section>', page, re.S).group(0)
    assert "<td>Does it hurt?</td><td>0</td><td>1</td><td>0%</td>" in helpful
    assert "<td>Opening hours</td><td>1</td><td>0</td><td>100%</td>" in helpful
    assert "2 votes, 50% helpful" in helpful
    assert "<td>Answered</td><td>6</td>" in page and "<td>Declined</td><td>1</td>" in page
    assert "<td>Forms started</td><td>2</td>" in page and "<td>Handled</td><td>0</td>" in page
    assert "<script" not in page and "style=" not in page
    inbox = browser.get("/inbox").body
    assert "does it hurt" in inbox and "marked not helpful" in inbox


def test_a_period_that_is_not_offered_is_refused_with_the_reason(console):
    browser = console.browser()
    browser.log_in("anna")
    for days in ("abc", "365", "-7", "0"):
        refused = browser.get(f"/insights?days={days}")
        assert refused.status == 400 and "Show the last 7, 30 or 90 days" in refused.body
    assert browser.get("/insights").status == 200
    assert console.browser().get("/insights").status == 303  # signed out: to the login page
