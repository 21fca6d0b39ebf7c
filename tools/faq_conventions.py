"""Checks the topic files of ``data/faq/``, naming the file and line to fix (``make check``'s first step).

The rules are in ``clinic/topic_files.py``, where the staff console applies them too: a
``# Sources:`` line, one intent ``faq/<topic>`` with a button label and at least 15 examples,
one answer of at most 80 words in the clinic's own words, no example in two topics.

Run it with ``python -m tools.faq_conventions [data/faq]``; it prints one line per problem and
exits non-zero when there is any.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List

from clinic.topic_files import check_faq_dir


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
