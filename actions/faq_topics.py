"""The FAQ topics as the action server sees them: names and plain-language labels.

Each ``data/faq/<topic>.yml`` gives its topic a short label in the intent's
``metadata`` (shown on "Did you mean...?" buttons), so staff edit a topic's
examples, answer and label in one file.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

from clinic import settings

RETRIEVAL_INTENT = "faq"
CHOOSE_TOPIC_INTENT = "choose_faq_topic"
TOPIC_ENTITY = "faq_topic"


def read_topic_labels(faq_dir: Path) -> Dict[str, str]:
    """Maps each topic (``does_it_hurt``) to its button label, read from the topic files.

    A topic without a label gets one made from its name.
    """
    labels: Dict[str, str] = {}
    for path in sorted(faq_dir.glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in document.get("nlu") or []:
            intent = str(block.get("intent", ""))
            if not intent.startswith(RETRIEVAL_INTENT + "/"):
                continue
            topic = intent.split("/", 1)[1]
            label = (block.get("metadata") or {}).get("label")
            labels[topic] = str(label) if label else topic.replace("_", " ").capitalize()
    return labels


@lru_cache(maxsize=1)
def topic_labels() -> Dict[str, str]:
    """The labels of the project's topics, read once per process."""
    return read_topic_labels(settings.faq_dir())


def choose_topic_payload(topic: str) -> str:
    """The message a button sends to ask for one topic's answer."""
    return "/" + CHOOSE_TOPIC_INTENT + json.dumps({TOPIC_ENTITY: topic})


def closest_topics(
    parse_data: Dict[str, Any],
    known_topics: Dict[str, str],
    limit: int = 3,
    min_confidence: float = 0.1,
) -> List[str]:
    """The response selector's best topics for a message, most likely first.

    Args:
        parse_data: The message's NLU parse (``tracker.latest_message``).
        known_topics: Topics that may be suggested; others are skipped.
        limit: At most this many topics.
        min_confidence: Topics below this confidence are too unlikely to suggest.
    """
    selector = (parse_data.get("response_selector") or {}).get(RETRIEVAL_INTENT) or {}
    topics: List[str] = []
    for entry in selector.get("ranking") or []:
        key = str(entry.get("intent_response_key", ""))
        topic = key.split("/", 1)[1] if key.startswith(RETRIEVAL_INTENT + "/") else ""
        if topic in known_topics and topic not in topics and entry.get("confidence", 0.0) >= min_confidence:
            topics.append(topic)
        if len(topics) == limit:
            break
    return topics


def chosen_topic(entities: List[Dict[str, Any]], known_topics: Dict[str, str]) -> Optional[str]:
    """The topic a button asked for, if it is one of ours (the client is not trusted)."""
    for entity in entities or []:
        if entity.get("entity") == TOPIC_ENTITY and entity.get("value") in known_topics:
            return str(entity["value"])
    return None


ORDINALS = {
    0: ("first", "1st", "1", "top"),
    1: ("second", "2nd", "two", "2", "middle"),
    2: ("third", "3rd", "three", "3"),
}


def ordinal_choice(text: str) -> Optional[int]:
    """Which suggestion "the first one", "option 2" or "the last one" points at (0-based; -1 is last)."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    if "last" in words:
        return -1
    for index, names in ORDINALS.items():
        if any(name in words for name in names):
            return index
    # "one" alone means the first; in "the second one" it is just the noun.
    return 0 if "one" in words else None


def suggested_topics(events: List[Dict[str, Any]]) -> List[str]:
    """The topics on the most recent bot message that offered topic buttons."""
    prefix = "/" + CHOOSE_TOPIC_INTENT
    for event in reversed(events):
        if event.get("event") != "bot":
            continue
        buttons = (event.get("data") or {}).get("buttons") or []
        topics = []
        for button in buttons:
            payload = str(button.get("payload", ""))
            if payload.startswith(prefix):
                try:
                    topics.append(str(json.loads(payload[len(prefix) :])[TOPIC_ENTITY]))
                except (ValueError, KeyError, TypeError):
                    continue
        if topics:
            return topics
    return []


def topic_picked_by_words(text: str, events: List[Dict[str, Any]], known_topics: Dict[str, str]) -> Optional[str]:
    """The suggested topic a typed "the second one" refers to, if any."""
    index = ordinal_choice(text)
    topics = suggested_topics(events)
    if index is None or not topics or index >= len(topics):
        return None
    topic = topics[index]
    return topic if topic in known_topics else None
