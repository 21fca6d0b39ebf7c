"""The FAQ topic files, ``data/faq/<topic>.yml``: what each holds, the rules it keeps, and the
changes staff make to it.

Each topic file:

* starts with a ``# Sources:`` comment naming the source article file(s);
* holds one retrieval intent, ``faq/<topic>`` (the file's own name), with a button ``label``
  in its metadata and at least ``MIN_EXAMPLES`` examples;
* holds exactly one answer, ``utter_faq/<topic>``, of at most ``MAX_ANSWER_WORDS`` words, in
  the clinic's own words: no run of ``RUN_LENGTH`` words copied from a source article;
* shares no example with another topic.

``make check``'s checker (``tools/faq_conventions.py``) and the staff console both apply these
rules from here: the console may not import ``tools/``, and one copy of the rules means a file
the console saves is one ``make check`` accepts.

Changes are made to the file's lines, never by loading and dumping the YAML again: a file kept
by hand keeps its comments, order and wrapping, and its diff shows only what changed. Each
changed text is read back and compared with the change asked for before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import textwrap
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import ContextManager, Dict, List, Optional, Sequence, Set, Tuple

import yaml

from clinic.files import file_diff, locked, replace_file, version_of
from clinic.text import has_unprintable

MIN_EXAMPLES = 15
MAX_ANSWER_WORDS = 80
MAX_LABEL_CHARS = 40
MAX_EXAMPLE_CHARS = 500
MAX_TOPIC_NAME_CHARS = 40
SOURCE_FILE = re.compile(r"^\d{3}_[0-9a-f]{16}\.txt$")
TOPIC_NAME = re.compile(r"[a-z][a-z0-9_]*")
# Shingles of this many words; a shorter shared run is ordinary English ("the needle goes into the").
RUN_LENGTH = 6
FINGERPRINT_FILE = Path(__file__).resolve().parent / "seed_shingles.txt"
SHOWN_PATH = "data/faq"  # how staff know the folder, whatever folder a test gives
WRAP_AT = 80  # the existing files' answers are wrapped at 80 columns


# -- reading and checking ----------------------------------------------------


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
    """One broken rule, at a place in a file."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def normalise(text: str) -> str:
    """A wording as compared across topics and intents: lowercase words only."""
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def line_of(lines: List[str], needle: str, default: int = 1) -> int:
    """The 1-based number of the first line containing ``needle``."""
    for number, line in enumerate(lines, start=1):
        if needle and needle in line:
            return number
    return default


def words(text: str) -> List[str]:
    """Lowercase words with punctuation and curly quotes dropped, as the articles' runs were counted."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text)


def run_hash(run: Sequence[str]) -> str:
    return hashlib.sha1(" ".join(run).encode()).hexdigest()[:16]


def shingle_hashes(text: str, n: int = RUN_LENGTH) -> Set[str]:
    """Hashes of every run of ``n`` consecutive words in ``text``."""
    tokens = words(text)
    return {run_hash(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


@lru_cache(maxsize=1)
def load_fingerprints() -> frozenset:
    """The hashes of every run of ``RUN_LENGTH`` words in the source articles (the articles are
    other sites' pages and are not kept here; ``tests/seed_fingerprints.py`` makes the file)."""
    return frozenset(FINGERPRINT_FILE.read_text().split())


def copied_run(answer: str) -> Optional[str]:
    """The first run of ``RUN_LENGTH`` words of ``answer`` found in a source article, or None."""
    fingerprints = load_fingerprints()
    tokens = words(answer)
    for i in range(len(tokens) - RUN_LENGTH + 1):
        if run_hash(tokens[i : i + RUN_LENGTH]) in fingerprints:
            return " ".join(tokens[i : i + RUN_LENGTH])
    return None


def examples_of(block: dict) -> List[str]:
    """The examples of one intent block as loaded from YAML."""
    raw = block.get("examples") or ""
    return [line.strip()[2:].strip() for line in str(raw).splitlines() if line.strip().startswith("- ")]


def read_topic_text(path: Path, text: str) -> Tuple[Optional[Topic], List[Problem]]:
    """Reads a topic file's ``text`` (named ``path``); returns ``(topic or None, problems)``."""
    lines = text.splitlines()
    problems: List[Problem] = []
    name = path.stem
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        return None, [Problem(path, mark.line + 1 if mark else 1, f"not valid YAML: {error}")]
    if not isinstance(document, dict):
        return None, [Problem(path, 1, "not a topic file (expected 'nlu:' and 'responses:')")]

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
        examples = examples_of(block)
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
    if not isinstance(responses, dict) or list(responses) != [f"utter_faq/{name}"]:
        found = ", ".join(responses) if isinstance(responses, dict) else ""
        problems.append(
            Problem(
                path,
                line_of(lines, "responses:"),
                f"must hold exactly one answer, utter_faq/{name} (found: {found or 'none'})",
            )
        )
        responses = responses if isinstance(responses, dict) else {}
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
        run = copied_run(answer)
        if run:
            problems.append(
                Problem(
                    path,
                    line_of(lines, "- text:"),
                    f"the answer copies {RUN_LENGTH} words in a row from a source article ('{run}'); "
                    "say it in the clinic's own words",
                )
            )
    return Topic(path, name, label, sources, examples, answers), problems


def read_topic(path: Path) -> Tuple[Optional[Topic], List[Problem]]:
    """Reads a topic file; returns ``(topic or None, problems)``."""
    return read_topic_text(path, path.read_text(encoding="utf-8"))


def check_faq_dir(faq_dir: Path) -> Tuple[List[Topic], List[Problem]]:
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


# -- what staff type -----------------------------------------------------------


class TopicEditError(ValueError):
    """A change that cannot be made; the message says why, in words for staff."""


class StaleVersion(TopicEditError):
    """The file changed since the form was opened; ``current`` is its text now ("" once removed)."""

    def __init__(self, message: str, current: str) -> None:
        super().__init__(message)
        self.current = current


_ENTITY_SYNTAX = re.compile(r"\]\s*(?=[({\[])")


def clean_line(text: str, what: str, limit: int) -> str:
    """One line of text as it may go into a topic file: spaces collapsed, no control characters.

    Raises:
        TopicEditError: empty, too long, or with control or invisible characters.
    """
    text = " ".join(text.split())
    if has_unprintable(text):
        raise TopicEditError(f"the {what} holds a control or invisible character; type it again")
    if not text:
        raise TopicEditError(f"the {what} is empty")
    if len(text) > limit:
        raise TopicEditError(f"the {what} has {len(text)} characters; keep it to {limit}")
    return text


def clean_example(text: str) -> str:
    """A visitor's wording as an example line: one line, no list dash of its own, and no
    ``[words](entity)`` syntax, which Rasa would read as a marked entity ("[name](x)" after masking).

    Raises:
        TopicEditError: the wording cannot be used (the message says why).
    """
    text = " ".join(text.split())
    while text.startswith("- ") or text == "-":
        text = text[2:].strip()
    text = _ENTITY_SYNTAX.sub("] ", text)
    text = clean_line(text, "example", MAX_EXAMPLE_CHARS)
    if not normalise(text):
        raise TopicEditError(f"the example '{text}' has no words")
    return text


def clean_examples(lines: Sequence[str]) -> List[str]:
    """Examples typed one per line, blank lines skipped, each cleaned; repeats (as compared) once."""
    cleaned: List[str] = []
    seen: Set[str] = set()
    for line in lines:
        if not line.strip():
            continue
        example = clean_example(line)
        if normalise(example) not in seen:
            seen.add(normalise(example))
            cleaned.append(example)
    return cleaned


def clean_answer(text: str) -> str:
    """An answer as one paragraph (every answer is shown as one chat message).

    Raises:
        TopicEditError: empty or with control or invisible characters.
    """
    return clean_line(text, "answer", 4000)


def clean_label(text: str) -> str:
    return clean_line(text, "button label", MAX_LABEL_CHARS)


def clean_sources(sources: Sequence[str]) -> List[str]:
    """Source article file names, each as the checker wants it, in the order given, once each.

    Raises:
        TopicEditError: none, or a name that is not an article file's.
    """
    chosen: List[str] = []
    for source in sources:
        source = source.strip()
        if not source or source in chosen:
            continue
        if not SOURCE_FILE.match(source):
            raise TopicEditError(f"'{source}' is not a source article file name")
        chosen.append(source)
    if not chosen:
        raise TopicEditError("name at least one source article: the facts in an answer come from one")
    return chosen


def check_topic_name(name: str) -> str:
    """A new topic's name: lower-case words joined by underscores.

    Raises:
        TopicEditError: any other name.
    """
    name = name.strip()
    if not TOPIC_NAME.fullmatch(name) or len(name) > MAX_TOPIC_NAME_CHARS or name == "new":
        raise TopicEditError(
            "a topic's name is lower-case letters, digits and underscores, starting with a letter "
            f"(at most {MAX_TOPIC_NAME_CHARS} characters), for example gift_vouchers"
        )
    return name


# -- changes to a file's lines -------------------------------------------------


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block_end(lines: List[str], start: int) -> int:
    """The index after the last non-blank line indented deeper than ``lines[start]``."""
    base = _indent(lines[start])
    end = start + 1
    last = start + 1
    while end < len(lines):
        if lines[end].strip():
            if _indent(lines[end]) <= base:
                break
            last = end + 1
        end += 1
    return last


def _find(lines: List[str], pattern: str, start: int = 0) -> Optional[int]:
    wanted = re.compile(pattern)
    for index in range(start, len(lines)):
        if wanted.match(lines[index]):
            return index
    return None


def _examples_block(lines: List[str], name: str) -> Tuple[int, int]:
    """``(first, end)`` line indices of the example lines of ``faq/<name>``."""
    intent = _find(lines, rf"^\s*-\s+intent:\s*['\"]?faq/{re.escape(name)}['\"]?\s*$")
    start = _find(lines, r"^\s*examples:\s*\|", intent + 1) if intent is not None else None
    if start is None:
        raise TopicEditError(f"{SHOWN_PATH}/{name}.yml has no 'examples: |' block for faq/{name}; fix the file by hand")
    return start + 1, _block_end(lines, start)


def _joined(lines: List[str], text: str) -> str:
    return "\n".join(lines) + ("\n" if text.endswith("\n") or not text else "")


def add_examples(text: str, name: str, examples: Sequence[str]) -> str:
    """``text`` with ``examples`` as new lines at the end of the topic's examples."""
    lines = text.splitlines()
    first, end = _examples_block(lines, name)
    listed = [i for i in range(first, end) if lines[i].strip().startswith("- ")]
    indent = " " * (_indent(lines[listed[-1]]) if listed else _indent(lines[first - 1]) + 2)
    lines[end:end] = [f"{indent}- {example}" for example in examples]
    return _joined(lines, text)


def remove_examples(text: str, name: str, examples: Sequence[str]) -> str:
    """``text`` without the lines of ``examples`` (each as the file has it).

    Raises:
        TopicEditError: one of them is not in the file.
    """
    lines = text.splitlines()
    first, end = _examples_block(lines, name)
    gone: Set[int] = set()
    for example in examples:
        found = next(
            (
                i
                for i in range(first, end)
                if i not in gone and lines[i].strip().startswith("- ") and lines[i].strip()[2:].strip() == example
            ),
            None,
        )
        if found is None:
            raise TopicEditError(f"'{example}' is not an example of {name} any more")
        gone.add(found)
    return _joined([line for i, line in enumerate(lines) if i not in gone], text)


def _wrapped_answer(answer: str, indent: str) -> List[str]:
    return textwrap.wrap(
        answer,
        width=WRAP_AT,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def replace_answer(text: str, name: str, answer: str) -> str:
    """``text`` with the topic's answer replaced, written as the files write it (``- text: >-``,
    wrapped at 80 columns), whatever form it had."""
    lines = text.splitlines()
    key = _find(lines, rf"^\s*['\"]?utter_faq/{re.escape(name)}['\"]?:\s*$")
    at = _find(lines, r"^\s*-\s+text:", key + 1) if key is not None else None
    if at is None:
        raise TopicEditError(f"{SHOWN_PATH}/{name}.yml has no answer under utter_faq/{name}; fix the file by hand")
    dash = _indent(lines[at])
    lines[at : _block_end(lines, at)] = [" " * dash + "- text: >-", *_wrapped_answer(answer, " " * (dash + 4))]
    return _joined(lines, text)


def replace_label(text: str, name: str, label: str) -> str:
    """``text`` with the topic's button label replaced."""
    lines = text.splitlines()
    intent = _find(lines, rf"^\s*-\s+intent:\s*['\"]?faq/{re.escape(name)}['\"]?\s*$")
    at = _find(lines, r"^\s*label:", intent + 1) if intent is not None else None
    if at is None:
        raise TopicEditError(f"{SHOWN_PATH}/{name}.yml has no label for faq/{name}; fix the file by hand")
    lines[at] = " " * _indent(lines[at]) + "label: " + yaml_scalar(label)
    return _joined(lines, text)


def replace_sources(text: str, sources: Sequence[str]) -> str:
    """``text`` with its first line naming ``sources`` (added when the file has no Sources line)."""
    lines = text.splitlines()
    line = "# Sources: " + ", ".join(sources)
    if lines and lines[0].startswith("# Sources:"):
        lines[0] = line
    else:
        lines.insert(0, line)
    return _joined(lines, text)


def yaml_scalar(value: str) -> str:
    """``value`` as YAML reads it back: plain when that is safe, else double-quoted."""
    try:
        if yaml.safe_load(f"key: {value}") == {"key": value}:
            return value
    except yaml.YAMLError:
        pass
    return json.dumps(value, ensure_ascii=False)


def new_topic_text(name: str, label: str, examples: Sequence[str], answer: str, sources: Sequence[str]) -> str:
    """A new topic file, laid out as the others."""
    lines = [
        "# Sources: " + ", ".join(sources),
        'version: "3.1"',
        "nlu:",
        f"- intent: faq/{name}",
        "  metadata:",
        f"    label: {yaml_scalar(label)}",
        "  examples: |",
        *(f"    - {example}" for example in examples),
        "responses:",
        f"  utter_faq/{name}:",
        "  - text: >-",
        *_wrapped_answer(answer, "      "),
    ]
    return "\n".join(lines) + "\n"


def readable_diff(name: str, before: str, after: str) -> str:
    """A unified diff of one topic file, as the history keeps it."""
    return file_diff(f"{SHOWN_PATH}/{name}.yml", before, after)


# -- the files ----------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One topic file changed: its text before and after ("" when it did not or no longer exists)."""

    topic: str
    action: str
    summary: str
    before: str
    after: str

    @property
    def diff(self) -> str:
        return readable_diff(self.topic, self.before, self.after)


@dataclass
class Taught:
    """What teaching wordings to a topic did."""

    change: Optional[Change]
    added: List[str] = field(default_factory=list)
    already: List[str] = field(default_factory=list)  # examples of this topic already


@dataclass(frozen=True)
class TopicView:
    """A topic as the console shows it, with the version its forms carry."""

    name: str
    label: str
    answer: str
    sources: List[str]
    examples: List[str]
    version: str
    problems: List[str]


class TopicFiles:
    """The topic files of one data folder (``data/`` of the project, or a copy): reading them,
    and changing them one at a time.

    Every change takes a lock on the topic folder (``flock``, shared by every process on this
    machine), reads the file again, refuses a stale version, checks the result as
    ``make check`` would on a copy of the folder, and replaces the file in one step (written
    beside it, then renamed), so a reader never sees half a file.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.faq_dir = self.data_dir / "faq"
        self.nlu_dir = self.data_dir / "nlu"
        # Each page reads every topic; a file is parsed and checked again only once it changed.
        self._views: Dict[str, Tuple[Tuple[int, int], TopicView]] = {}

    # -- reading --------------------------------------------------------------

    def path(self, name: str) -> Path:
        return self.faq_dir / f"{name}.yml"

    def names(self) -> List[str]:
        return sorted(path.stem for path in self.faq_dir.glob("*.yml"))

    def exists(self, name: str) -> bool:
        return bool(TOPIC_NAME.fullmatch(name)) and self.path(name).is_file()

    def text(self, name: str) -> str:
        return self.path(name).read_text(encoding="utf-8")

    def view(self, name: str, fresh: bool = False) -> TopicView:
        """One topic as shown (whatever shape its file is in: its problems are listed); ``fresh``
        reads it again even when its time and size say it did not change (a form's version)."""
        stat = self.path(name).stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._views.get(name)
        if cached is not None and cached[0] == stamp and not fresh:
            return cached[1]
        text = self.text(name)
        topic, problems = read_topic_text(self.path(name), text)
        view = TopicView(
            name=name,
            label=str(topic.label or "") if topic else "",
            answer=topic.answers[0] if topic and topic.answers else "",
            sources=topic.sources if topic else [],
            examples=topic.examples if topic else [],
            version=version_of(text),
            problems=[shown(problem) for problem in problems],
        )
        self._views[name] = (stamp, view)
        return view

    def views(self) -> List[TopicView]:
        return [self.view(name) for name in self.names()]

    def known_sources(self) -> List[str]:
        """Every article file a topic names: the ones a new answer can name."""
        found: Set[str] = set()
        for name in self.names():
            lines = self.text(name).splitlines()
            if lines and lines[0].startswith("# Sources:"):
                found |= {s.strip() for s in lines[0][len("# Sources:") :].split(",") if SOURCE_FILE.match(s.strip())}
        return sorted(found)

    def wording_owners(self) -> Dict[str, Tuple[str, str]]:
        """Every example's normalised wording -> ``(what it belongs to, its file)``: topics by name
        ("topic needles"), the other intents by theirs ("intent out_of_scope")."""
        owners: Dict[str, Tuple[str, str]] = {}
        for folder in (self.faq_dir, self.nlu_dir):
            for path in sorted(folder.glob("*.yml")):
                try:
                    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
                except yaml.YAMLError:
                    continue
                blocks = document.get("nlu") if isinstance(document, dict) else None
                for block in blocks or []:
                    if not isinstance(block, dict) or "intent" not in block:
                        continue
                    intent = str(block["intent"])
                    owner = f"topic {intent[4:]}" if intent.startswith("faq/") else f"intent {intent}"
                    for example in examples_of(block):
                        owners.setdefault(
                            normalise(_without_entities(example)), (owner, f"data/{folder.name}/{path.name}")
                        )
        return owners

    # -- changing ---------------------------------------------------------------

    def _locked(self) -> ContextManager[None]:
        return locked(self.faq_dir)

    def _current(self, name: str, version: Optional[str]) -> str:
        """The file's text now, when ``version`` (if given) is still its version.

        Raises:
            StaleVersion: the file changed, or is gone.
            TopicEditError: no such topic.
        """
        if not self.exists(name):
            if version is not None:
                raise StaleVersion(
                    f"The topic {name} was removed since you opened this page (by someone else, or by hand). "
                    "Nothing was saved.",
                    "",
                )
            raise TopicEditError(f"there is no topic named {name}")
        text = self.text(name)
        if version is not None and version != version_of(text):
            raise StaleVersion(
                f"Someone else changed the topic {name} since you opened this page (in the console or in "
                f"its file). Nothing was saved: what you typed is still in the form, and the page now shows "
                f"the topic as it is. Check it, then save again.",
                text,
            )
        return text

    def _refuse_owned_elsewhere(self, name: str, examples: Sequence[str]) -> None:
        owners = self.wording_owners()
        for example in examples:
            owner = owners.get(normalise(example))
            if owner is not None and owner[0] != f"topic {name}":
                raise TopicEditError(
                    f"'{example}' is already an example of the {owner[0]} ({owner[1]}): a wording can teach "
                    "only one thing. Leave it out, or remove it there first."
                )

    def _check(self, name: str, text: str) -> None:
        """Runs the checker on a copy of the topic folder with ``text`` as ``name``'s file.

        Raises:
            TopicEditError: the checker's first problem with this file, as it words it.
        """
        with tempfile.TemporaryDirectory(prefix="topic-check-") as folder:
            copy = Path(folder)
            for path in self.faq_dir.glob("*.yml"):
                if path.name != f"{name}.yml":
                    shutil.copyfile(path, copy / path.name)
            (copy / f"{name}.yml").write_text(text, encoding="utf-8")
            _, problems = check_faq_dir(copy)
        mine = [p for p in problems if p.path.name == f"{name}.yml" or f"{name}.yml;" in p.message]
        if mine:
            raise TopicEditError("; ".join(shown(problem) for problem in mine[:3]))

    def _write(self, name: str, text: str) -> None:
        target = self.path(name)
        siblings = [p for p in self.faq_dir.glob("*.yml") if p != target]
        replace_file(target, text, siblings[0] if siblings else None)

    # -- the whole folder, for publishing and undoing ---------------------------

    def snapshot(self) -> Dict[str, str]:
        """Every YAML file of the data folder as it is now: its path in the folder, then its text."""
        with self._locked():
            return {
                path.relative_to(self.data_dir).as_posix(): path.read_text(encoding="utf-8")
                for path in sorted(self.data_dir.rglob("*.yml"))
                if not path.name.startswith(".")
            }

    def _inside(self, relative: str) -> Path:
        target = (self.data_dir / relative).resolve()
        if self.data_dir.resolve() not in target.parents or target.suffix != ".yml":
            raise TopicEditError(f"{relative} is not a file of the data folder")
        return target

    def restore(self, wanted: Dict[str, Optional[str]], expected: Dict[str, Optional[str]]) -> None:
        """Gives each file its ``wanted`` text (None: removes it), all or none: only when each
        still has its ``expected`` text (None: absent).

        Raises:
            StaleVersion: naming a file changed since (in the console or by hand); nothing written.
        """
        with self._locked():
            for relative, text in sorted(expected.items()):
                target = self._inside(relative)
                now = target.read_text(encoding="utf-8") if target.exists() else None
                if now != text:
                    raise StaleVersion(
                        f"data/{relative} was changed after that publish (in the console or by hand), so "
                        "undoing it would throw that change away. Nothing was changed: edit the file's "
                        "topic instead.",
                        now or "",
                    )
            for relative, text in sorted(wanted.items()):
                target = self._inside(relative)
                if text is None:
                    target.unlink(missing_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    replace_file(target, text, next(iter(sorted(target.parent.glob("*.yml"))), None))
            self._views.clear()

    def _save(self, name: str, before: str, after: str, action: str, summary: str) -> Change:
        self._check(name, after)
        self._write(name, after)
        return Change(name, action, summary, before, after)

    def teach(self, name: str, wordings: Sequence[str]) -> Taught:
        """Adds visitors' wordings to a topic's examples (the ones it has already skipped).

        Raises:
            TopicEditError: a wording is another topic's or intent's example, or the result
                breaks a rule (the message says which).
        """
        cleaned = clean_examples(wordings)
        with self._locked():
            before = self._current(name, None)
            topic, _ = read_topic_text(self.path(name), before)
            have = {normalise(example) for example in (topic.examples if topic else [])}
            self._refuse_owned_elsewhere(name, cleaned)
            taught = Taught(None)
            for wording in cleaned:
                (taught.already if normalise(wording) in have else taught.added).append(wording)
            if taught.added:
                after = self._verified(name, before, add_examples(before, name, taught.added), examples=taught.added)
                summary = f"taught {len(taught.added)} wording(s) to {name}: " + "; ".join(taught.added)
                taught.change = self._save(name, before, after, "teach", summary)
            return taught

    def add_examples(self, name: str, version: str, typed: Sequence[str]) -> Change:
        """Adds examples typed by staff (one per line).

        Raises:
            StaleVersion: the file changed since ``version``.
            TopicEditError: nothing to add, an example already there or elsewhere, or a broken rule.
        """
        examples = clean_examples(typed)
        if not examples:
            raise TopicEditError("type at least one example, one per line")
        with self._locked():
            before = self._current(name, version)
            topic, _ = read_topic_text(self.path(name), before)
            have = {normalise(example) for example in (topic.examples if topic else [])}
            here = [example for example in examples if normalise(example) in have]
            if here:
                raise TopicEditError(f"'{here[0]}' is already an example of this topic")
            self._refuse_owned_elsewhere(name, examples)
            after = self._verified(name, before, add_examples(before, name, examples), examples=examples)
            return self._save(name, before, after, "add-examples", f"{name}: +{len(examples)}: " + "; ".join(examples))

    def remove_examples(self, name: str, version: str, examples: Sequence[str]) -> Change:
        """Removes examples (as the file writes them).

        Raises:
            StaleVersion, TopicEditError: as for ``add_examples``; fewer than the minimum left too.
        """
        if not examples:
            raise TopicEditError("tick the examples to remove")
        with self._locked():
            before = self._current(name, version)
            after = remove_examples(before, name, examples)
            topic, _ = read_topic_text(self.path(name), after)
            old, _ = read_topic_text(self.path(name), before)
            expected = list(old.examples if old else [])
            for example in examples:
                expected.remove(example)
            if topic is None or topic.examples != expected:
                raise TopicEditError(f"the examples could not be removed safely from {name}; edit the file by hand")
            return self._save(
                name, before, after, "remove-examples", f"{name}: -{len(examples)}: " + "; ".join(examples)
            )

    def edit(self, name: str, version: str, label: str, answer: str, sources: Sequence[str]) -> Change:
        """Replaces the topic's button label, answer and sources.

        Raises:
            StaleVersion, TopicEditError: as for ``add_examples``.
        """
        label, answer, sources = clean_label(label), clean_answer(answer), clean_sources(sources)
        with self._locked():
            before = self._current(name, version)
            after = replace_sources(replace_answer(replace_label(before, name, label), name, answer), sources)
            topic, _ = read_topic_text(self.path(name), after)
            old, _ = read_topic_text(self.path(name), before)
            if (
                topic is None
                or old is None
                or topic.answers != [answer]
                or str(topic.label) != label
                or topic.sources != sources
                or topic.examples != old.examples
            ):
                raise TopicEditError(f"the answer could not be written safely into {name}; edit the file by hand")
            if after == before:
                raise TopicEditError("nothing changed: the label, answer and sources are as saved")
            changed = [
                what
                for what, was, now in (
                    ("label", old.label, label),
                    ("answer", old.answers, [answer]),
                    ("sources", old.sources, sources),
                )
                if was != now
            ]
            return self._save(name, before, after, "edit-answer", f"{name}: " + ", ".join(changed) + " changed")

    def create(
        self, name: str, label: str, typed_examples: Sequence[str], answer: str, sources: Sequence[str]
    ) -> Change:
        """Adds a topic file.

        Raises:
            TopicEditError: the name is taken or malformed, an example is elsewhere, a rule is broken.
        """
        name = check_topic_name(name)
        label, answer, sources = clean_label(label), clean_answer(answer), clean_sources(sources)
        examples = clean_examples(typed_examples)
        if len(examples) < MIN_EXAMPLES:
            raise TopicEditError(
                f"{len(examples)} different examples; a topic needs at least {MIN_EXAMPLES} ways visitors ask it"
            )
        with self._locked():
            if self.path(name).exists():
                raise TopicEditError(f"a topic named {name} exists already; choose another name")
            self._refuse_owned_elsewhere(name, examples)
            after = new_topic_text(name, label, examples, answer, sources)
            topic, _ = read_topic_text(self.path(name), after)
            if topic is None or topic.examples != examples or topic.answers != [answer] or str(topic.label) != label:
                raise TopicEditError("the new topic could not be written safely; ask whoever keeps the files")
            return self._save(name, "", after, "add-topic", f"{name}: new topic '{label}', {len(examples)} examples")

    def remove(self, name: str, version: str) -> Change:
        """Deletes a topic's file.

        Raises:
            StaleVersion: the file changed since ``version``.
        """
        with self._locked():
            before = self._current(name, version)
            self.path(name).unlink()
            return Change(name, "remove-topic", f"{name}: topic removed", before, "")

    def _verified(self, name: str, before: str, after: str, examples: Sequence[str]) -> str:
        old, _ = read_topic_text(self.path(name), before)
        new, _ = read_topic_text(self.path(name), after)
        if old is None or new is None or new.examples != old.examples + list(examples) or new.answers != old.answers:
            raise TopicEditError(f"the examples could not be added safely to {name}; edit the file by hand")
        return after


def _without_entities(example: str) -> str:
    """An NLU example without Rasa's entity marks: "[Tuesday](day)" reads "Tuesday"."""
    return re.sub(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})", r"\1", example)


def shown(problem: Problem) -> str:
    """A problem as staff see it: the file as they know it, the line, the checker's words."""
    return f"{SHOWN_PATH}/{problem.path.name}:{problem.line}: {problem.message}"
