"""Scores the assistant on messages in real visitors' voice, judged by the replies it gives.

The sets (tests/realvoice/*.yml) were written by people who never saw the training data, from
reading public clinic FAQ pages and patient forums: heading-style questions, stories with the
question last, phone-typed chat, two questions in one message, questions no answer covers, red
flags told as stories (``dev.yml`` and ``dev2.yml`` are read and worked on; ``sealed.yml`` is scored
once and never read). Each message names what should answer it (``expect``): an answer's label
(``faq/<topic>``, ``ask_cost``...), ``decline``, ``red_flag``, or two labels in the order asked.

Each reply is mapped back to the answer it is (its text, as a visitor sees it), so the figures
mean what a visitor gets:

- covered questions: right (the first answer is the expected one), *confidently wrong* (another
  answer, the failure that costs most), or unsure ("did you mean", "please rephrase", "can't
  answer");
- uncovered questions: declined (the honest "can't answer"), unsure, or answered with something
  unrelated;
- two questions: both answers in the order asked;
- red flags: caught (the safety message) or missed; false alarms over every other message.

``python -m tools.real_voice [--model M] [--quiet] SET.yml...`` starts the two servers on
loopback (tools/servers.py) and talks to the REST channel, as an outside evaluation does;
``--parse`` reads the parse in this process instead (no action server: quicker, for tuning;
the same judging). ``--quiet`` prints the figures only (the sealed set: never read its misses).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import yaml

from actions.also_asked import CLINIC_INTENTS
from clinic.topic_files import normalise
from clinic_nlu.question_focus import REQUESTS

ROOT = Path(__file__).resolve().parent.parent

# What a reply can be, besides an answer's label.
DECLINE, UNSURE, RED_FLAG, OTHER = "decline", "unsure", "red_flag", "other"
IGNORED = "ignored"  # the disclaimer and "anything else?": said around answers, not answers
NOT_ANSWERS = {DECLINE, UNSURE, OTHER, IGNORED}

Expect = Union[str, List[str]]


@dataclass
class Case:
    text: str
    expect: Expect
    kind: str = ""

    @property
    def labels(self) -> List[str]:
        return list(self.expect) if isinstance(self.expect, list) else [self.expect]


def load_cases(path: Path) -> List[Case]:
    """The messages of one set file (``messages: [{text, expect, kind}]``)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [Case(str(m["text"]), m["expect"], str(m.get("kind") or "")) for m in document.get("messages") or []]


# ---------------------------------------------------------------- judging


@dataclass
class Report:
    """The figures of one set, with every miss (expected, got, text)."""

    name: str
    covered: int = 0
    right: int = 0
    wrong: int = 0
    unsure: int = 0
    uncovered: int = 0
    declined: int = 0
    uncovered_unsure: int = 0
    uncovered_answered: int = 0
    two: int = 0
    both: int = 0
    two_first_only: int = 0
    red_flags: int = 0
    caught: int = 0
    ordinary: int = 0
    false_alarms: int = 0
    misses: List[Tuple[str, str, str]] = field(default_factory=list)
    by_kind: Dict[str, List[int]] = field(default_factory=dict)  # kind -> [right, total]

    def lines(self) -> List[str]:
        def pct(part: int, whole: int) -> str:
            return f"{part / whole:.1%} ({part}/{whole})" if whole else "n/a"

        return [
            f"{self.name}: covered questions right {pct(self.right, self.covered)}, "
            f"confidently wrong {pct(self.wrong, self.covered)}, unsure {pct(self.unsure, self.covered)}",
            f"{self.name}: uncovered questions declined {pct(self.declined, self.uncovered)}, "
            f"unsure {pct(self.uncovered_unsure, self.uncovered)}, "
            f"answered with another answer {pct(self.uncovered_answered, self.uncovered)}",
            f"{self.name}: two questions both answered {pct(self.both, self.two)} (first only {self.two_first_only})",
            f"{self.name}: red flags caught {pct(self.caught, self.red_flags)}, "
            f"false alarms {pct(self.false_alarms, self.ordinary)} of other messages",
        ]


# The order for two questions: as asked, except that a red flag or a request (booking,
# callback) comes first; asking for a person is answered last, with its callback offer.
FIRST = {RED_FLAG, "book_appointment", "request_callback"}
LAST = {"human_handoff"}


def acceptable_orders(labels: List[str]) -> List[List[str]]:
    """The orders in which two answers count as both answered."""
    orders = [list(labels)]
    if labels[1] in FIRST or labels[0] in LAST:
        orders.append([labels[1], labels[0]])
    return orders


def judge(report: Report, case: Case, got: Sequence[str]) -> None:
    """Adds one message's outcome to ``report``; ``got`` is the replies' labels, in order."""
    answers = [label for label in got if label != IGNORED]
    first = answers[0] if answers else OTHER
    shown = " + ".join(answers) or "(nothing)"
    labels = case.labels
    kind = report.by_kind.setdefault(case.kind or "?", [0, 0])
    kind[1] += 1
    if labels != [RED_FLAG]:
        report.ordinary += 1
        if RED_FLAG in answers:
            report.false_alarms += 1
    if labels == [RED_FLAG]:
        report.red_flags += 1
        if RED_FLAG in answers:
            report.caught += 1
            kind[0] += 1
        else:
            report.misses.append((RED_FLAG, shown, case.text))
        return
    if labels == [DECLINE]:
        report.uncovered += 1
        if first == DECLINE:
            report.declined += 1
            kind[0] += 1
        elif first in NOT_ANSWERS:
            report.uncovered_unsure += 1
            report.misses.append((DECLINE, shown, case.text))
        else:
            report.uncovered_answered += 1
            report.misses.append((DECLINE, shown, case.text))
        return
    report.covered += 1
    firsts = {order[0] for order in acceptable_orders(labels)} if len(labels) == 2 else {labels[0]}
    if first in firsts:
        report.right += 1
    elif first in NOT_ANSWERS:
        report.unsure += 1
    else:
        report.wrong += 1
    if len(labels) == 2:
        report.two += 1
        in_order = [label for label in answers if label in labels]
        if in_order[:2] in acceptable_orders(labels):
            report.both += 1
            kind[0] += 1
            return
        if first in firsts:
            report.two_first_only += 1
        report.misses.append((" + ".join(labels), shown, case.text))
        return
    if first == labels[0]:
        kind[0] += 1
    else:
        report.misses.append((labels[0], shown, case.text))


def print_report(report: Report, quiet: bool) -> None:
    if not quiet:
        for (expected, got), count in Counter((e, g) for e, g, _ in report.misses).most_common():
            print(f"  miss x{count}: {expected} -> {got}")
        for expected, got, text in report.misses:
            print(f"    {expected} -> {got}: {text!r}")
        for kind, (right, total) in sorted(report.by_kind.items()):
            print(f"  {kind:16} {right}/{total}")
    for line in report.lines():
        print(line)


# ---------------------------------------------------------------- replies -> labels


def _opening(text: str, length: int = 48) -> str:
    """The start of a reply's text, up to the first template placeholder, whitespace folded."""
    return re.sub(r"\s+", " ", text.split("{", 1)[0]).strip()[:length]


class ReplyKey:
    """Maps a reply's text to the answer it is, from the domain's responses and the clinic's
    answers (actions/clinic_info.py, from clinic.yml)."""

    def __init__(self, root: Path = ROOT) -> None:
        from actions.clinic_info import FACT_FIELDS, contact_answer, cost_answer, fact_answer, location_answer
        from clinic.profile import load_profile

        responses: Dict[str, str] = {}
        for path in [root / "domain.yml", *sorted((root / "data").rglob("*.yml"))]:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for name, variants in (document.get("responses") or {}).items():
                for variant in variants or []:
                    if variant.get("text"):
                        responses.setdefault(name, variant["text"])
        profile = load_profile(root / "clinic.yml")
        self.openings: List[Tuple[str, str]] = []
        for name, text in responses.items():
            self.openings.append((_opening(text), self._response_label(name)))
        self.openings += [
            (_opening(cost_answer(profile)), "ask_cost"),
            (_opening(location_answer(profile)), "ask_location"),
            (_opening(contact_answer(profile)), "ask_contact"),
            (_opening(f"{profile.name} is open (times are"), "ask_hours"),
        ]
        self.openings += [(_opening(fact_answer(profile, intent)), intent) for intent in FACT_FIELDS]
        # Longest first, so a specific opening wins over a shorter one it starts with.
        self.openings.sort(key=lambda pair: -len(pair[0]))

    @staticmethod
    def _response_label(name: str) -> str:
        if name.startswith("utter_faq/"):
            return name[len("utter_") :]
        return {
            "utter_red_flag": RED_FLAG,
            "utter_out_of_scope": DECLINE,
            # It says it can't answer, then offers the closest topics.
            "utter_did_you_mean": DECLINE,
            "utter_ask_rephrase": UNSURE,
            "utter_contact_clinic": UNSURE,
            "utter_disclaimer": IGNORED,
            "utter_anything_else": IGNORED,
            "utter_booking_intro": "book_appointment",
            "utter_callback_intro": "request_callback",
            "utter_handoff_open": "human_handoff",
            "utter_handoff_closed": "human_handoff",
            "utter_greet": "greet",
        }.get(name, name)

    def label(self, text: str) -> str:
        folded = re.sub(r"\s+", " ", text or "").strip()
        for opening, label in self.openings:
            if opening and folded.startswith(opening):
                return label
        return OTHER


def rest_replies(model: Path, texts: Iterable[str]) -> List[List[str]]:
    """Each message's reply texts, from the running servers' REST channel (one new visitor each)."""
    from tools.servers import start_assistant

    results: List[List[str]] = []
    with tempfile.TemporaryDirectory(prefix="real-voice-") as workdir:
        assistant = start_assistant(model, Path(workdir))
        try:
            for text in texts:
                replies = assistant.say(f"rv-{uuid.uuid4().hex}", text)
                results.append([reply.get("text") or "" for reply in replies])
        finally:
            assistant.stop()
    return results


# ---------------------------------------------------------------- parse-level (tuning)


def parse_labels(parse: Dict[str, Any]) -> List[str]:
    """What the assistant would answer for a parse, as reply labels (outside a booking)."""
    intent = (parse.get("intent") or {}).get("name") or ""
    if intent == "faq":
        selector = (parse.get("response_selector") or {}).get("faq") or {}
        first = (selector.get("response") or {}).get("intent_response_key") or OTHER
    elif intent == "out_of_scope":
        first = DECLINE
    elif intent == "nlu_fallback":
        first = UNSURE
    elif intent == RED_FLAG or intent in CLINIC_INTENTS | REQUESTS:
        first = intent
    else:
        first = OTHER
    labels = [first]
    for entity in parse.get("entities") or []:
        if entity.get("entity") == "also_asked":
            labels.append(str(entity.get("value")))
    return labels


def parse_all(model: Path, texts: Iterable[str]) -> List[List[str]]:
    """Each message's labels from the model's parse, in this process."""
    from tools.evaluation import agent_parser

    parse = agent_parser(model)

    async def run() -> List[List[str]]:
        return [parse_labels(await parse(text)) for text in texts]

    return asyncio.run(run())


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.real_voice", description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", type=Path)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "clinic-assistant.tar.gz")
    parser.add_argument("--parse", action="store_true", help="judge the parse in this process (no servers)")
    parser.add_argument("--quiet", action="store_true", help="figures only, no messages")
    args = parser.parse_args(argv)
    cases = {path: load_cases(path) for path in args.sets}
    everything = [case.text for path in args.sets for case in cases[path]]
    if args.parse:
        labelled = parse_all(args.model, everything)
    else:
        key = ReplyKey()
        labelled = [[key.label(text) for text in replies] for replies in rest_replies(args.model, everything)]
    trained = training_examples()
    position = 0
    print(
        f"Real-voice sets, judged by the replies ({'parse' if args.parse else 'REST channel'}), {datetime.now():%Y-%m-%d}:"
    )
    for path in args.sets:
        report = Report(path.stem)
        for case in cases[path]:
            judge(report, case, labelled[position])
            position += 1
        print_report(report, args.quiet)
        seen = sum(1 for case in cases[path] if normalise(case.text) in trained)
        print(f"{report.name}: {seen} of {len(cases[path])} messages are also training examples, word for word")
    return 0


def training_examples(root: Path = ROOT) -> set:
    """Every training example under data/, normalised (to count the sets' overlap with it)."""
    found = set()
    for path in sorted((root / "data").rglob("*.yml")):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            for line in str(block.get("examples") or "").splitlines():
                if line.strip().startswith("- "):
                    found.add(normalise(line.strip()[2:]))
    return found


if __name__ == "__main__":
    sys.exit(main())
