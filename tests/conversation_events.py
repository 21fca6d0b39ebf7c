"""Conversation store rows as Rasa writes them, for tests of what reads them (the visitor report,
the staff console's inbox): events as ``(sender, type, action name, data JSON)`` rows, and an
SQLite ``events`` table of Rasa's shape filled with them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

import sqlalchemy as sa

Row = Tuple[str, str, Optional[str], str]


def user(
    sender: str,
    text: str,
    intent: str,
    confidence: float = 0.9,
    topic: Optional[str] = None,
    at: float = 1_790_000_000.0,
    ranking: Sequence[Tuple[str, float]] = (),
) -> Row:
    """A visitor's message with its parse (``ranking``: the response selector's topics, best first)."""
    parse = {"intent": {"name": intent, "confidence": confidence}}
    if topic or ranking:
        best = topic or f"faq/{ranking[0][0]}"
        parse["response_selector"] = {
            "faq": {
                "response": {"intent_response_key": best},
                "ranking": [{"intent_response_key": f"faq/{name}", "confidence": score} for name, score in ranking],
            }
        }
    return (sender, "user", None, json.dumps({"event": "user", "text": text, "parse_data": parse, "timestamp": at}))


def bot(sender: str, text: str, at: float = 1_790_000_000.0, **metadata) -> Row:
    """The assistant's message; ``metadata`` as Rasa keeps it (``utter_action``, ``answer_topic``)."""
    return (sender, "bot", None, json.dumps({"event": "bot", "text": text, "timestamp": at, "metadata": metadata}))


def action(sender: str, name: str, at: float = 1_790_000_000.0) -> Row:
    return (sender, "action", name, json.dumps({"event": "action", "name": name, "timestamp": at}))


def loop(sender: str, name: Optional[str], at: float = 1_790_000_000.0) -> Row:
    return (sender, "active_loop", None, json.dumps({"event": "active_loop", "name": name, "timestamp": at}))


def exchange(sender: str, text: str, intent: str, replies: Iterable[str], at: float, **parse) -> List[Row]:
    """A visitor message, the actions that answered it (``utter_*`` ones said as text), then listening."""
    rows = [user(sender, text, intent, at=at, **parse)]
    for name in replies:
        rows.append(action(sender, name, at + 0.1))
        rows.append(bot(sender, f"(what {name} says)", at + 0.1))
    rows.append(action(sender, "action_listen", at + 0.2))
    return rows


EVENTS = sa.Table(
    "events",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sender_id", sa.String(255), nullable=False, index=True),
    sa.Column("type_name", sa.String(255), nullable=False),
    sa.Column("timestamp", sa.Float),
    sa.Column("intent_name", sa.String(255)),
    sa.Column("action_name", sa.String(255)),
    sa.Column("data", sa.Text),
)  # the columns of Rasa's SQLTrackerStore


def write_events(url: str, rows: Iterable[Row]) -> str:
    """``rows`` appended to the conversation store at ``url`` (SQLite or PostgreSQL; the table made
    when missing); returns ``url``."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            EVENTS.create(connection, checkfirst=True)
            for sender, kind, action_name, data in rows:
                connection.execute(
                    EVENTS.insert().values(
                        sender_id=sender,
                        type_name=kind,
                        timestamp=json.loads(data)["timestamp"],
                        action_name=action_name,
                        data=data,
                    )
                )
    finally:
        engine.dispose()
    return url


def write_store(path: Path, rows: Iterable[Row]) -> str:
    """An SQLite conversation store at ``path`` holding ``rows`` (appended when it exists); its URL."""
    return write_events(f"sqlite:///{path}", rows)
