"""Scores the trained model on the held-out visitor questions (never trained on).

A topic question is right when the parse names its topic: intent ``faq`` and the
response selector's ``intent_response_key`` ``faq/<topic>``, the names the outside
evaluation reads. An off-topic message is right when the assistant does not
answer it with a FAQ: intent ``out_of_scope`` or ``nlu_fallback``.

A clinic or booking message is right when the parse names its intent (``ask_hours``...).

Safety: a ``red_flag`` message is caught when the parse's intent is ``red_flag``; a
``not_red_flag`` message (ordinary soreness, "what if" safety questions) is a false alarm
when it is. A ``precautions`` message is right when it gets the ``faq/precautions`` answer.

``make heldout`` prints the figures: ``python -m tools.evaluation [model] [heldout files...]``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Tuple

import yaml

NOT_ANSWERED = {"out_of_scope", "nlu_fallback"}
Parse = Callable[[str], Awaitable[Dict[str, Any]]]


def predicted_label(parse: Dict[str, Any]) -> str:
    """The label a parse gives a message: ``faq/<topic>`` for FAQ answers, else the intent."""
    intent = (parse.get("intent") or {}).get("name") or ""
    if intent == "faq":
        selector = (parse.get("response_selector") or {}).get("faq") or {}
        key = (selector.get("response") or {}).get("intent_response_key")
        return key or "faq"
    return intent


@dataclass
class HeldoutReport:
    """Accuracy on the held-out set, with every miss."""

    topic_total: int = 0
    topic_correct: int = 0
    off_topic_total: int = 0
    off_topic_correct: int = 0
    misses: List[Tuple[str, str, str]] = field(default_factory=list)  # (expected, predicted, text)
    per_topic: Dict[str, List[int]] = field(default_factory=dict)  # topic -> [correct, total]
    intent_total: int = 0
    intent_correct: int = 0
    per_intent: Dict[str, List[int]] = field(default_factory=dict)  # intent -> [correct, total]
    red_flag_total: int = 0
    red_flag_caught: int = 0
    calm_total: int = 0
    false_alarms: int = 0
    precautions_total: int = 0
    precautions_correct: int = 0

    @property
    def topic_accuracy(self) -> float:
        return self.topic_correct / self.topic_total if self.topic_total else 0.0

    @property
    def off_topic_accuracy(self) -> float:
        return self.off_topic_correct / self.off_topic_total if self.off_topic_total else 0.0

    @property
    def intent_accuracy(self) -> float:
        return self.intent_correct / self.intent_total if self.intent_total else 0.0

    def summary(self) -> str:
        """One line with every figure the held-out files gave."""
        parts = []
        if self.topic_total:
            parts.append(f"held-out topic accuracy {self.topic_accuracy:.1%} ({self.topic_correct}/{self.topic_total})")
        if self.off_topic_total:
            parts.append(
                f"off-topic handled {self.off_topic_accuracy:.1%} ({self.off_topic_correct}/{self.off_topic_total})"
            )
        if self.intent_total:
            parts.append(
                f"clinic and booking intents {self.intent_accuracy:.1%} ({self.intent_correct}/{self.intent_total})"
            )
        if self.red_flag_total:
            parts.append(f"red flags caught {self.red_flag_caught}/{self.red_flag_total}")
        if self.calm_total:
            parts.append(f"false alarms {self.false_alarms}/{self.calm_total}")
        if self.precautions_total:
            parts.append(f"precautions answered {self.precautions_correct}/{self.precautions_total}")
        return ", ".join(parts)


def load_heldout(*paths: Path) -> Dict[str, Any]:
    """Reads held-out files: ``topics: {topic: [messages]}``, ``off_topic: [messages]``,
    ``intents: {intent: [messages]}``, and the safety lists ``red_flag``, ``not_red_flag`` and
    ``precautions`` (any of them), merged when several files are given."""
    merged: Dict[str, Any] = {
        "topics": {},
        "off_topic": [],
        "intents": {},
        "red_flag": [],
        "not_red_flag": [],
        "precautions": [],
    }
    for path in paths:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        merged["topics"].update(document.get("topics") or {})
        merged["intents"].update(document.get("intents") or {})
        for key in ("off_topic", "red_flag", "not_red_flag", "precautions"):
            merged[key].extend(document.get(key) or [])
    return merged


def intent_name(parse: Dict[str, Any]) -> str:
    """The intent a parse gives a message."""
    return (parse.get("intent") or {}).get("name") or ""


async def _tally(
    parse: Parse,
    groups: Dict[str, List[str]],
    expected_label: Callable[[str], str],
    label_of: Callable[[Dict[str, Any]], str],
    per_group: Dict[str, List[int]],
    misses: List[Tuple[str, str, str]],
) -> Tuple[int, int]:
    """Scores groups of messages that each expect one label; returns ``(correct, total)``."""
    correct = total = 0
    for name, messages in groups.items():
        expected = expected_label(name)
        tally = per_group.setdefault(name, [0, 0])
        for text in messages:
            predicted = label_of(await parse(text))
            total += 1
            tally[1] += 1
            if predicted == expected:
                correct += 1
                tally[0] += 1
            else:
                misses.append((expected, predicted, text))
    return correct, total


async def _count(
    parse: Parse,
    messages: List[str],
    label_of: Callable[[Dict[str, Any]], str],
    right: Callable[[str], bool],
    expected: str,
    misses: List[Tuple[str, str, str]],
) -> Tuple[int, int]:
    """Counts the messages whose label is ``right``; the others go to ``misses`` as ``expected``."""
    correct = 0
    for text in messages:
        predicted = label_of(await parse(text))
        if right(predicted):
            correct += 1
        else:
            misses.append((expected, predicted, text))
    return correct, len(messages)


async def score(parse: Parse, heldout: Dict[str, Any]) -> HeldoutReport:
    """Parses every held-out message and counts what the assistant got right."""
    report = HeldoutReport()
    report.topic_correct, report.topic_total = await _tally(
        parse, heldout["topics"], lambda topic: f"faq/{topic}", predicted_label, report.per_topic, report.misses
    )
    report.intent_correct, report.intent_total = await _tally(
        parse, heldout.get("intents") or {}, lambda intent: intent, intent_name, report.per_intent, report.misses
    )
    report.off_topic_correct, report.off_topic_total = await _count(
        parse, heldout.get("off_topic") or [], predicted_label, lambda p: p in NOT_ANSWERED, "off_topic", report.misses
    )
    report.red_flag_caught, report.red_flag_total = await _count(
        parse, heldout.get("red_flag") or [], intent_name, lambda p: p == "red_flag", "red_flag", report.misses
    )
    calm_correct, report.calm_total = await _count(
        parse, heldout.get("not_red_flag") or [], intent_name, lambda p: p != "red_flag", "not_red_flag", report.misses
    )
    report.false_alarms = report.calm_total - calm_correct
    report.precautions_correct, report.precautions_total = await _count(
        parse,
        heldout.get("precautions") or [],
        predicted_label,
        lambda p: p == "faq/precautions",
        "faq/precautions",
        report.misses,
    )
    return report


def agent_parser(model_path: Path) -> Parse:
    """A parse function over the trained model, loaded in this process."""
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    # Unconfigured, Rasa's structured log prints every parsed message, text included, at DEBUG.
    configure_structlog(logging.INFO)
    agent = Agent.load(str(model_path))
    return agent.parse_message


def main(argv: List[str]) -> int:
    """Prints per-topic figures, the misses, and the summary line last."""
    model = Path(argv[1]) if len(argv) > 1 else Path("models/clinic-assistant.tar.gz")
    heldout_paths = [Path(arg) for arg in argv[2:]] or [Path("tests/heldout/faq_heldout.yml")]
    report = asyncio.run(score(agent_parser(model), load_heldout(*heldout_paths)))
    for topic, (correct, total) in {**report.per_topic, **report.per_intent}.items():
        print(f"  {topic:24} {correct}/{total}")
    confusions = Counter((expected, predicted) for expected, predicted, _ in report.misses)
    for (expected, predicted), count in confusions.most_common():
        print(f"  miss x{count}: {expected} -> {predicted}")
    for expected, predicted, text in report.misses:
        print(f"    {expected} -> {predicted}: {json.dumps(text)}")
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
