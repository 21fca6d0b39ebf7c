"""Makes the fingerprints of the clinic's source articles, which prove answers are in our own words.

The articles themselves are not part of this repository (they are other sites' pages). What is
kept is a hash of every run of ``RUN_LENGTH`` words in them, in ``clinic/seed_shingles.txt``,
which the topic checker (``clinic/topic_files.py``) reads; an answer sharing one of those runs
copies the source. Regenerate after the articles change:

    PYTHONPATH=. .venv/bin/python -m tests.seed_fingerprints ../shared/seeds
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable, Set

from clinic.topic_files import FINGERPRINT_FILE, shingle_hashes


def fingerprint_files(paths: Iterable[Path]) -> Set[str]:
    """The union of the shingle hashes of the given files."""
    hashes: Set[str] = set()
    for path in paths:
        hashes |= shingle_hashes(path.read_text(encoding="utf-8"))
    return hashes


if __name__ == "__main__":
    seeds = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/seeds")
    hashes = fingerprint_files(sorted(seeds.glob("*.txt")))
    FINGERPRINT_FILE.write_text("\n".join(sorted(hashes)) + "\n")
    print(f"{len(hashes)} fingerprints of {seeds} written to {FINGERPRINT_FILE}")
