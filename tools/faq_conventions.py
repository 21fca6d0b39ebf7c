"""Checks the one-file-per-topic conventions of ``data/faq/``, naming the file and line to fix.

Each ``data/faq/<topic>.yml``:

* starts with a ``# Sources:`` comment naming the source article file(s);
* holds one retrieval intent, ``faq/<topic>`` (the file's own name), with a
  button ``label`` in its metadata and at least ``MIN_EXAMPLES`` examples;
* holds exactly one answer, ``utter_faq/<topic>``, of at most ``MAX_ANSWER_WORDS`` words;
* shares no example with another topic.

Run it with ``python -m tools.faq_conventions [data/faq]``; it prints one
line per problem and exits non-zero when there is any.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import yaml

MIN_EXAMPLES = 15
MAX_ANSWER_WORDS = 80
MAX_LABEL_CHARS = 40
SOURCE_FILE = re.compile(r"^\d{3}_[0-9a-f]{16}\.txt$")


@dataclass
class Topic:
    """One topic file, as read."""

    path: Path
    name: str
    label: Optional[str]
    sources: List[str]
    examples: List[str]
    answers: List[str]


@dataclass
class Problem:
    """One broken convention, at a place in a file."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def normalise(text: str) -> str:
    """An example's text as compared across topics: lowercase words only."""
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def line_of(lines: List[str], needle: str, default: int = 1) -> int:
    """The 1-based number of the first line containing ``needle``."""
    for number, line in enumerate(lines, start=1):
        if needle and needle in line:
            return number
    return default


def _examples(block: dict) -> List[str]:
    raw = block.get("examples") or ""
    return [line.strip()[2:].strip() for line in str(raw).splitlines() if line.strip().startswith("- ")]


def read_topic(path: Path) -> tuple:
    """Reads a topic file; returns ``(topic or None, problems)``."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    problems: List[Problem] = []
    name = path.stem
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        return None, [Problem(path, mark.line + 1 if mark else 1, f"not valid YAML: {error}")]

    sources: List[str] = []
    first = lines[0] if lines else ""
    if not first.startswith("# Sources:"):
        problems.append(Problem(path, 1, "first line must be '# Sources: <article file>, ...'"))
    else:
        sources = [s.strip() for s in first[len("# Sources:") :].split(",") if s.strip()]
        if not sources:
            problems.append(Problem(path, 1, "the Sources line names no article"))
        for source in sources:
            if not SOURCE_FILE.match(source):
                problems.append(Problem(path, 1, f"'{source}' is not a source article file name"))

    blocks = [b for b in document.get("nlu") or [] if isinstance(b, dict) and "intent" in b]
    label: Optional[str] = None
    examples: List[str] = []
    if len(blocks) != 1 or blocks[0].get("intent") != f"faq/{name}":
        found = ", ".join(str(b.get("intent")) for b in blocks) or "none"
        problems.append(
            Problem(path, line_of(lines, "intent:"), f"must hold exactly one intent, faq/{name} (found: {found})")
        )
    if blocks:
        block = blocks[0]
        label = (block.get("metadata") or {}).get("label")
        if not label:
            problems.append(Problem(path, line_of(lines, "intent:"), "add 'metadata: {label: ...}', the button text"))
        elif len(str(label)) > MAX_LABEL_CHARS:
            problems.append(Problem(path, line_of(lines, "label:"), f"label longer than {MAX_LABEL_CHARS} characters"))
        examples = _examples(block)
        if len(examples) < MIN_EXAMPLES:
            problems.append(
                Problem(
                    path,
                    line_of(lines, "examples:"),
                    f"{len(examples)} examples; a topic needs at least {MIN_EXAMPLES}",
                )
            )
        seen: Dict[str, str] = {}
        for example in examples:
            key = normalise(example)
            if key in seen:
                problems.append(Problem(path, line_of(lines, f"- {example}"), f"example repeated: '{example}'"))
            seen[key] = example

    responses = document.get("responses") or {}
    answers: List[str] = []
    if list(responses) != [f"utter_faq/{name}"]:
        problems.append(
            Problem(
                path,
                line_of(lines, "responses:"),
                f"must hold exactly one answer, utter_faq/{name} (found: {', '.join(responses) or 'none'})",
            )
        )
    for variations in responses.values():
        answers.extend(str(v.get("text", "")) for v in variations or [] if isinstance(v, dict))
    if responses and len(answers) != 1:
        problems.append(Problem(path, line_of(lines, "- text:"), f"{len(answers)} answer texts; keep exactly one"))
    for answer in answers:
        count = len(answer.split())
        if count > MAX_ANSWER_WORDS:
            problems.append(
                Problem(path, line_of(lines, "- text:"), f"answer has {count} words; keep it to {MAX_ANSWER_WORDS}")
            )
    return Topic(path, name, label, sources, examples, answers), problems


def check_faq_dir(faq_dir: Path) -> tuple:
    """Checks every topic file; returns ``(topics, problems)``."""
    topics: List[Topic] = []
    problems: List[Problem] = []
    for path in sorted(faq_dir.glob("*.yml")):
        topic, found = read_topic(path)
        problems.extend(found)
        if topic is not None:
            topics.append(topic)

    owner: Dict[str, Topic] = {}
    for topic in topics:
        for example in topic.examples:
            key = normalise(example)
            other = owner.get(key)
            if other is not None and other is not topic:
                lines = topic.path.read_text(encoding="utf-8").splitlines()
                problems.append(
                    Problem(
                        topic.path,
                        line_of(lines, f"- {example}"),
                        f"example '{example}' is also in {other.path.name}; keep it in one topic",
                    )
                )
            owner.setdefault(key, topic)
    return topics, problems


def main(argv: List[str]) -> int:
    """Prints every problem found; exit status 1 when there is any."""
    faq_dir = Path(argv[1]) if len(argv) > 1 else Path("data/faq")
    topics, problems = check_faq_dir(faq_dir)
    for problem in problems:
        print(problem)
    print(f"{len(topics)} topics checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
