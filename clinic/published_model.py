"""The model the staff console publishes and the Rasa servers fetch: where it is served and how
each version is named.

Rasa's model server protocol (``models:`` in the endpoints file): a server asks for the model
with ``If-None-Match: <the fingerprint it runs>``; the answer is 304 while that is still the
published one, else the file with its fingerprint as ``ETag``. The console serves the file
(console/publishing.py), the Rasa servers fetch it (runtime/model_pulling.py); both name a
version by ``fingerprint`` so a server started from the same file never fetches it again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, Tuple

URL_PATH = "/models/clinic-assistant.tar.gz"
FILENAME = "clinic-assistant.tar.gz"

_known: Dict[str, Tuple[int, int, str]] = {}


def fingerprint(path: Path) -> str:
    """The SHA-256 of the model file's bytes (hex), read again only when its size or time changed."""
    stat = os.stat(path)
    key = str(Path(path).resolve())
    seen = _known.get(key)
    if seen and seen[:2] == (stat.st_size, stat.st_mtime_ns):
        return seen[2]
    digest = hashlib.sha256()
    with open(path, "rb") as model:
        for block in iter(lambda: model.read(1 << 20), b""):
            digest.update(block)
    _known[key] = (stat.st_size, stat.st_mtime_ns, digest.hexdigest())
    return digest.hexdigest()
