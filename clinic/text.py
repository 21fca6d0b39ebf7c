"""Characters that must not reach a terminal, a log or a spreadsheet as they were typed.

Control characters (ESC starts terminal commands: ESC c resets a staff member's terminal) and
Unicode format characters (U+202E turns the rest of a line around, zero-width characters hide
text) have no place in a name, a sender id or a time typed in words. The readers refuse them;
whatever prints stored text escapes them.
"""

from __future__ import annotations

import re

UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def has_unprintable(text: str) -> bool:
    """Whether ``text`` holds a control or format character."""
    return bool(UNPRINTABLE.search(text))


def printable(text: str) -> str:
    """``text`` with each control or format character shown as its escape (``\\x1b``, ``\\u202e``)."""
    return UNPRINTABLE.sub(lambda match: match.group(0).encode("unicode_escape").decode("ascii"), text)
