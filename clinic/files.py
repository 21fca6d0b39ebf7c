"""Files the staff console changes in place (the topic files, clinic.yml): one change at a time,
each written whole or not at all, and shown as a diff.

- ``locked(folder)``: an exclusive ``flock`` on the folder, shared by every process on this
  machine (the console's and the command line's), with no lock file left in it.
- ``replace_file(target, text)``: the new text written to a hidden file beside the target,
  ``fsync``'d and renamed over it, so a reader (a server reloading clinic.yml, ``make train``)
  never sees half a file. It keeps the target's permissions: the console runs with umask 077,
  which would otherwise leave a saved file readable by its user alone.
- ``file_diff``: a unified diff, as the console's history keeps it.
- ``version_of``: a text's version as forms carry it, so a stale form is refused.
"""

from __future__ import annotations

import difflib
import fcntl
import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Holds an exclusive lock on ``folder`` while the block runs."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        os.close(handle)


def replace_file(target: Path, text: str, mode_from: Optional[Path] = None) -> None:
    """Writes ``text`` as ``target`` in one step, with the permissions of ``target`` (or of
    ``mode_from`` for a new file; 0644 without either)."""
    mode_from = target if target.exists() else mode_from
    handle, temporary = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if mode_from is not None:
            shutil.copymode(mode_from, temporary)
        else:
            os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def file_diff(shown: str, before: str, after: str) -> str:
    """A unified diff of one file, named ``shown`` ("" before: a new file; "" after: removed)."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=shown if before else "/dev/null",
            tofile=shown if after else "/dev/null",
            n=2,
        )
    )


def version_of(text: str) -> str:
    """A file's version as forms carry it: a digest of its text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]
