"""``clinic.yml`` as staff change it from the console's Clinic page: the fields the page shows,
the checks a save passes, and the file changed line by line.

A save is checked by the profile's own rules (``clinic.profile.profile_problems``, what the
action server applies at start), so the page refuses exactly what the servers would; each
problem names the field as the page labels it. The file stays the source of truth, kept by hand
too: only the lines of the values that changed are replaced, the rest (comments, order, quoting,
wrapping) is left as it was, and the new text is read back and compared with the document
asked for before it is written. Loading and dumping the YAML again would drop every comment.

Like the topic files, a save takes a lock on the file's folder, refuses a stale version (the
form carries a digest of the text it was opened on: a console save or a hand edit since then
changes it) and replaces the file in one step. The running servers notice the new file and load
it (``clinic.profile.ProfileFile``).
"""

from __future__ import annotations

import copy
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from clinic.files import file_diff, locked, replace_file, version_of
from clinic.profile import WEEKDAYS, profile_problems
from clinic.text import has_unprintable
from clinic.topic_files import yaml_scalar

SHOWN_NAME = "clinic.yml"
WRAP_AT = 100  # the file's folded texts are wrapped near 100 columns
MAX_TEXT_CHARS = 2000
BLANK_PRICE_ROWS = 2  # empty rows under the price list, to add a price without JavaScript
MAX_BUTTONS = 6  # as WebsiteOptions allows


@dataclass(frozen=True)
class Field:
    """One text value of the file the page edits: its dotted path, label, and whether it is a
    paragraph (a text area) rather than a line."""

    path: str
    label: str
    long: bool = False
    hint: str = ""


TEXT_FIELDS = (
    Field("name", "Clinic name"),
    Field("phone", "Phone", hint="As visitors should dial it, with the country code, e.g. +1 202 555 0100."),
    Field("email", "Email"),
    Field("address", "Address"),
    Field("directions", "Directions", long=True, hint="Parking, entrance, floor. Optional."),
    Field("insurance", "Insurance", long=True),
    Field("privacy_notice", "Privacy notice", long=True, hint="Shown before a visitor agrees to send a booking."),
    Field(
        "referral",
        "Do visitors need a referral?",
        long=True,
        hint="Optional: left empty, the assistant gives the clinic's contact instead.",
    ),
    Field("what_to_wear", "What to wear", long=True, hint="Optional, as above."),
    Field("children", "Children", long=True, hint="Optional, as above."),
    Field("website.title", "Widget title"),
    Field("website.greeting", "Widget greeting", long=True, hint="The first message of the chat widget."),
)
HOURS = tuple(Field(f"opening_hours.{day}", day.capitalize()) for day in WEEKDAYS)
LABELS = {item.path: item.label for item in TEXT_FIELDS + HOURS}
LABELS.update({"opening_hours": "Opening hours", "prices": "Prices", "website.quick_replies": "Widget buttons"})


Problem = Tuple[str, str]  # the field's path on the page ("" for the whole file), and the sentence


class ClinicEditError(ValueError):
    """A save that cannot be made; ``problems`` name the fields, in words for staff."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(text for _, text in problems))
        self.problems = list(problems)


class StaleClinicFile(ClinicEditError):
    """clinic.yml changed since the form was opened."""


@dataclass
class Typed:
    """What the Clinic page's form sent (or shows): text by field path, price and button rows."""

    fields: Dict[str, str] = field(default_factory=dict)
    prices: List[Tuple[str, str]] = field(default_factory=list)
    buttons: List[Tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Snapshot:
    """The file as it is now: its text, its version, what the page shows, and what is wrong with it."""

    text: str
    version: str
    typed: Typed
    problems: List[Problem]


@dataclass(frozen=True)
class Saved:
    """One save: the file's text before and after, and the fields that changed. Kept in the
    console's history as a topic change is (``topic`` is the file's name: no topic has a dot)."""

    before: str
    after: str
    changed: List[str]
    topic: str = SHOWN_NAME
    action: str = "edit-clinic"

    @property
    def summary(self) -> str:
        return "changed " + ", ".join(self.changed)

    @property
    def diff(self) -> str:
        return file_diff(SHOWN_NAME, self.before, self.after)


def _get(document: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(document, dict):
            return None
        document = document.get(part)
    return document


def _set(document: Dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        if not isinstance(document.get(part), dict):
            document[part] = {}
        document = document[part]
    document[last] = value


def _text(value: Any) -> str:
    return "" if value is None else " ".join(str(value).split())


def _rows(value: Any, first: str, second: str) -> List[Tuple[str, str]]:
    return [
        (_text(entry.get(first)), _text(entry.get(second)))
        for entry in (value if isinstance(value, list) else [])
        if isinstance(entry, dict)
    ]


def typed_of(document: Any) -> Typed:
    """What the page shows for a loaded document (missing values empty)."""
    return Typed(
        fields={item.path: _text(_get(document, item.path)) for item in TEXT_FIELDS + HOURS},
        prices=_rows(_get(document, "prices"), "item", "price"),
        buttons=_rows(_get(document, "website.quick_replies"), "title", "payload"),
    )


def described(path: str, why: str) -> Problem:
    """A problem as the page shows it: the field it belongs to, and a sentence naming it first
    as the page labels it (``Phone: must contain a phone number's digits``)."""
    parts = path.split(".")
    day = why.split(":", 1)[0]
    if path == "opening_hours" and day in WEEKDAYS:
        path, why = f"opening_hours.{day}", why.split(":", 1)[1].strip()
        label = f"Opening hours, {day.capitalize()}"
    elif parts[0] == "prices" and len(parts) >= 2 and parts[1].isdigit():
        label = f"Prices, line {int(parts[1]) + 1}" + (f", {parts[2]}" if len(parts) > 2 else "")
        path = "prices"
    elif parts[:2] == ["website", "quick_replies"] and len(parts) >= 3 and parts[2].isdigit():
        label = f"Widget buttons, button {int(parts[2]) + 1}" + (f", {parts[3]}" if len(parts) > 3 else "")
        path = "website.quick_replies"
    else:
        label = LABELS.get(path, path or SHOWN_NAME)
    if path == "email" and "regex" in why:
        why = "is not an email address (for example hello@myclinic.com)"
    return path, f"{label}: {why}"


def edited(document: Dict[str, Any], typed: Typed) -> Tuple[Dict[str, Any], List[str]]:
    """The document with what was typed, and the paths that changed (spaces collapsed first: a
    value typed again the same is no change).

    Raises:
        ClinicEditError: a value holds a control or invisible character, or is far too long.
    """
    problems = []
    new = copy.deepcopy(document)
    changed: List[str] = []
    for item in TEXT_FIELDS + HOURS:
        value = _text(typed.fields.get(item.path, ""))
        if has_unprintable(value):
            problems.append(described(item.path, "holds a control or invisible character; type it again"))
        elif len(value) > MAX_TEXT_CHARS:
            problems.append(described(item.path, f"has {len(value)} characters; keep it to {MAX_TEXT_CHARS}"))
        elif value != _text(_get(document, item.path)):
            _set(new, item.path, value)
            changed.append(item.path)
    for path, rows, keys in (
        ("prices", typed.prices, ("item", "price")),
        ("website.quick_replies", typed.buttons, ("title", "payload")),
    ):
        kept = [(_text(a), _text(b)) for a, b in rows if _text(a) or _text(b)]
        if any(has_unprintable(a + b) for a, b in kept):
            problems.append(described(path, "holds a control or invisible character; type it again"))
        elif kept != _rows(_get(document, path), *keys):
            _set(new, path, [dict(zip(keys, row, strict=True)) for row in kept])
            changed.append(path)
    if problems:
        raise ClinicEditError(problems)
    return new, changed


# -- changing the file's lines -------------------------------------------------


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_content(line: str) -> bool:
    return bool(line.strip()) and not line.lstrip().startswith("#")


def _key_line(lines: List[str], key: str, start: int, end: int, indent: int) -> Optional[int]:
    wanted = re.compile(rf"^ {{{indent}}}['\"]?{re.escape(key)}['\"]?\s*:(\s|$)")
    for index in range(start, end):
        if wanted.match(lines[index]):
            return index
    return None


def _node_end(lines: List[str], at: int, end: int) -> int:
    """The index after the last line of the value whose key is on line ``at``: every following
    line indented deeper (a comment at the key's own indentation belongs to the next key)."""
    base = _indent(lines[at])
    last = at + 1
    for index in range(at + 1, end):
        if lines[index].strip():
            if _indent(lines[index]) <= base:
                break
            last = index + 1
    return last


def _child_indent(lines: List[str], at: int, end: int, default: int) -> int:
    return next((_indent(lines[i]) for i in range(at + 1, end) if _is_content(lines[i])), default)


def _written(value: str, old: str) -> str:
    """``value`` as a YAML scalar, in the old value's quotes when it had them."""
    style = old[:1] if old[:1] in ("'", '"') else None
    if style is None:
        return yaml_scalar(value)
    return yaml.safe_dump(value, default_style=style, allow_unicode=True, width=10_000).strip()


def _scalar_lines(key: str, value: str, indent: int, old: str) -> List[str]:
    pad = " " * indent
    line = f"{pad}{key}: {_written(value, old)}"
    if len(line) <= WRAP_AT or not value:
        return [line]
    wrapped = textwrap.wrap(
        value,
        width=WRAP_AT,
        initial_indent=pad + "  ",
        subsequent_indent=pad + "  ",
        break_long_words=False,
        break_on_hyphens=False,
    )
    return [f"{pad}{key}: >-", *wrapped]


def _row_chunks(lines: List[str], start: int, end: int, dash: int) -> List[List[str]]:
    """The lines of each entry of a block list, an entry starting at its dash."""
    chunks: List[List[str]] = []
    for line in lines[start:end]:
        if _indent(line) == dash and line.lstrip().startswith("- "):
            chunks.append([line])
        elif chunks:
            chunks[-1].append(line)
    return chunks


def _row_lines(row: Dict[str, str], dash: int, old: List[str]) -> List[str]:
    olds = {line.strip().lstrip("- ").split(":", 1)[0]: line.split(":", 1)[1].strip() for line in old if ":" in line}
    return [
        " " * dash + ("- " if place == 0 else "  ") + f"{name}: {_written(value, olds.get(name, ''))}"
        for place, (name, value) in enumerate(row.items())
    ]


def _rows_lines(
    lines: List[str], at: Optional[int], end: int, key: str, rows: List[Dict[str, str]], indent: int
) -> List[str]:
    """A block list of mappings; an entry that did not change keeps its lines as they were."""
    if not rows:
        return [" " * indent + f"{key}: []"]
    dash = _child_indent(lines, at, end, indent + 2) if at is not None else indent + 2
    chunks = _row_chunks(lines, at + 1, end, dash) if at is not None else []
    before = yaml.safe_load("\n".join(lines[at:end])) if at is not None else None
    before = before.get(key) if isinstance(before, dict) else None
    same_shape = isinstance(before, list) and len(before) == len(chunks)
    out = [" " * indent + f"{key}:"]
    for index, row in enumerate(rows):
        old = chunks[index] if same_shape and index < len(chunks) else []
        unchanged = old and isinstance(before[index], dict) and {k: str(v) for k, v in before[index].items()} == row
        out.extend(old if unchanged else _row_lines(row, dash, old))
    return out


def _node_lines(lines: List[str], at: Optional[int], end: int, key: str, value: Any, indent: int) -> List[str]:
    if isinstance(value, list):
        return _rows_lines(lines, at, end, key, value, indent)
    old = lines[at].split(":", 1)[1].strip() if at is not None else ""
    return _scalar_lines(key, value, indent, old)


def _replace(lines: List[str], path: str, value: Any) -> None:
    """``lines`` with the value at ``path`` (one or two keys deep) written in place, or added at
    the end of its parent (a new top-level key before ``website:``)."""
    parts = path.split(".")
    start, end, indent = 0, len(lines), 0
    for depth, key in enumerate(parts):
        at = _key_line(lines, key, start, end, indent)
        last = depth == len(parts) - 1
        if at is None:
            if last:
                new = _node_lines(lines, None, end, key, value, indent)
            else:
                new = [" " * indent + f"{key}:", *_node_lines(lines, None, end, parts[-1], value, indent + 2)]
            place = end
            while place > start and not lines[place - 1].strip():
                place -= 1
            if depth == 0:
                website = _key_line(lines, "website", 0, len(lines), 0)
                place = website if website is not None and key != "website" else place
                while place > 0 and lines[place - 1].lstrip().startswith("#"):
                    place -= 1  # above the next key's comment
            lines[place:place] = new
            return
        node_end = _node_end(lines, at, end)
        if last:
            lines[at:node_end] = _node_lines(lines, at, node_end, key, value, indent)
            return
        start, end, indent = at + 1, node_end, _child_indent(lines, at, node_end, indent + 2)


def edited_text(text: str, after: Dict[str, Any], changed: Sequence[str]) -> str:
    """``text`` with the lines of the ``changed`` values rewritten to ``after``'s.

    Raises:
        ClinicEditError: the result does not read back as ``after`` (a layout this editor does not
            know, e.g. a flow mapping): nothing is written, the file is changed by hand instead.
    """
    lines = text.splitlines()
    for path in changed:
        _replace(lines, path, _get(after, path))
    result = "\n".join(lines) + "\n"
    try:
        readable = yaml.safe_load(result) == after
    except yaml.YAMLError:
        readable = False
    if not readable:
        raise ClinicEditError(
            [("", f"{SHOWN_NAME} is laid out in a way the console cannot change safely; change it by hand")]
        )
    return result


class ClinicFile:
    """One clinic.yml (the profile the servers read, or a test's copy): read for the page and
    changed one save at a time."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def snapshot(self) -> Snapshot:
        """The file now, with its problems (a hand edit may have broken it; the servers then keep
        the details they had)."""
        text = self.path.read_text(encoding="utf-8")
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as error:
            return Snapshot(text, version_of(text), Typed(), [("", f"{SHOWN_NAME} is not valid YAML: {error}")])
        problems = [described(path, why) for path, why in profile_problems(document)]
        return Snapshot(text, version_of(text), typed_of(document), problems)

    def save(self, version: str, typed: Typed) -> Saved:
        """Writes what was typed, when the file is still at ``version`` and the result is a valid
        profile.

        Raises:
            StaleClinicFile: the file changed since ``version``.
            ClinicEditError: a value is refused (each problem names its field), or the file cannot
                be changed safely.
        """
        with locked(self.path.parent):
            text = self.path.read_text(encoding="utf-8")
            if version != version_of(text):
                raise StaleClinicFile(
                    [
                        (
                            "",
                            f"Someone changed {SHOWN_NAME} since you opened this page (in the console or by hand). "
                            "Nothing was saved: what you typed is still in the form, and the details saved now "
                            "are shown above it. Check them, then save again.",
                        )
                    ]
                )
            try:
                document = yaml.safe_load(text)
            except yaml.YAMLError as error:
                raise ClinicEditError([("", f"{SHOWN_NAME} is not valid YAML ({error}); fix it by hand")]) from None
            if not isinstance(document, dict):
                raise ClinicEditError([("", f"{SHOWN_NAME} does not hold the clinic's fields; fix it by hand")])
            after, changed = edited(document, typed)
            problems = [described(path, why) for path, why in profile_problems(after)]
            if problems:
                raise ClinicEditError(problems)
            if not changed:
                return Saved(text, text, [])
            new_text = edited_text(text, after, changed)
            replace_file(self.path, new_text)
            return Saved(text, new_text, changed)
