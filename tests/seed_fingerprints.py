"""Fingerprints of the clinic's source articles, to prove answers are in our own words.

The articles themselves are not part of this repository (they are other sites'
pages). What is kept is a hash of every run of ``RUN_LENGTH`` words in them, in
``tests/data/seed_shingles.txt``; an answer sharing one of those runs copies the
source. Regenerate after the articles change:

    .venv/bin/python tests/seed_fingerprints.py ../shared/seeds
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path
from typing import Iterable, Set

RUN_LENGTH = 6
FINGERPRINT_FILE = Path(__file__).parent / "data" / "seed_shingles.txt"


def words(text: str) -> list:
    """Lowercase words with punctuation and curly quotes dropped."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text)


def shingle_hashes(text: str, n: int = RUN_LENGTH) -> Set[str]:
    """Hashes of every run of ``n`` consecutive words in ``text``."""
    tokens = words(text)
    return {hashlib.sha1(" ".join(tokens[i : i + n]).encode()).hexdigest()[:16] for i in range(len(tokens) - n + 1)}


def fingerprint_files(paths: Iterable[Path]) -> Set[str]:
    """The union of the shingle hashes of the given files."""
    hashes: Set[str] = set()
    for path in paths:
        hashes |= shingle_hashes(path.read_text(encoding="utf-8"))
    return hashes


def load_fingerprints() -> Set[str]:
    """The committed fingerprints of the source articles."""
    return set(FINGERPRINT_FILE.read_text().split())


if __name__ == "__main__":
    seeds = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/seeds")
    hashes = fingerprint_files(sorted(seeds.glob("*.txt")))
    FINGERPRINT_FILE.parent.mkdir(parents=True, exist_ok=True)
    FINGERPRINT_FILE.write_text("\n".join(sorted(hashes)) + "\n")
    print(f"{len(hashes)} fingerprints of {seeds} written to {FINGERPRINT_FILE}")
