"""What "deleted" and "private" mean for a SQLite database file, in one place.

The booking store, the conversation store's purge and erasure, and the Rasa server's own
conversation store all keep visitors' details in SQLite files. Each connection that deletes
turns on ``secure_delete`` (freed pages are overwritten, not left readable); after deleting,
``truncate_log`` checkpoints the write-ahead log into the file and empties it, so the old
pages are not left there either; ``owner_only`` makes a file made before the server set its
umask (or copied in) readable by its owner alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def owner_only(database: Path) -> None:
    """Makes a SQLite database and its journal files readable by their owner alone."""
    for path in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        try:
            path.chmod(0o600)
        except FileNotFoundError:
            pass


def truncate_log(engine: Any) -> None:
    """On SQLite: the write-ahead log checkpointed into the database file and emptied."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
