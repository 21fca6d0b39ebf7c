"""What "deleted" means for a PostgreSQL table's files, in one place.

PostgreSQL's DELETE and UPDATE leave the old row versions in the table's files: VACUUM (and
autovacuum) only marks their space free, and the bytes stay until new rows happen to overwrite
them. ANALYZE (and autovacuum's) also copies sample values of each column (most common values,
histogram bounds) into the ``pg_statistic`` catalogue, and keeps them when a table is emptied.
After the booking store and the conversation store delete, ``rewrite_tables``:

- stops ANALYZE sampling the columns that hold visitors' words (``SET STATISTICS 0``) and drops
  the samples already taken (changing a column to its own type removes its statistics, as
  PostgreSQL's ALTER TABLE documents), then rewrites ``pg_statistic`` without them;
- rewrites each table, with its TOAST table and indexes, into new files that hold the live rows
  alone (``VACUUM FULL``); PostgreSQL removes the old files.

VACUUM FULL holds its table exclusively while it copies the live rows, and a statement waiting
for that lock makes every later query on the table (the Rasa servers' included) wait behind it.
So each statement waits at most ``LOCK_WAIT_MS`` for its lock, and when the table stays busy it
gives up and tries again after a pause, instead of queueing the servers behind it.

The database user needs to own the tables, and the database for ``pg_statistic`` (as
docs/deployment.md creates them). PostgreSQL's write-ahead log and backups are outside this:
docs/privacy.md says what the operator does about them.
"""

from __future__ import annotations

import time
from typing import Any, Callable, List, Mapping, Optional, Sequence

import sqlalchemy as sa

# Long enough to get the lock between two of a Rasa server's short transactions, short enough
# that the queries queued behind the waiting statement are held up no longer than this.
LOCK_WAIT_MS = 1000
ATTEMPTS = 30
PAUSE_SECONDS = 1.0
_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for lock_timeout


class RewriteError(RuntimeError):
    """A table's files could not be rewritten; the message names the table, never a row."""


def rewrite_tables(
    engine: Any,
    private_columns: Mapping[str, Sequence[str]],
    attempts: int = ATTEMPTS,
    pause: float = PAUSE_SECONDS,
) -> List[str]:
    """On PostgreSQL: the tables rewritten without their deleted rows, and the statistics of
    their ``private_columns`` dropped and never taken again. Returns the statements run (none on
    another database, whose files are not this module's business).

    Raises:
        RewriteError: a table stayed locked through every attempt, or PostgreSQL refused or
            skipped a statement (the database user does not own the table or the database).
    """
    if engine.dialect.name != "postgresql":
        return []
    quote = engine.dialect.identifier_preparer.quote
    done: List[str] = []

    def run(statement: str) -> None:
        _run(connection, statement, attempts, pause)
        done.append(statement)

    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")  # VACUUM refuses a transaction
        connection.exec_driver_sql(f"SET lock_timeout = {int(LOCK_WAIT_MS)}")
        try:
            dropped = False
            for table, columns in private_columns.items():
                for column in columns:
                    # First no new samples (autovacuum may analyze at any time), then none kept.
                    if _sampled(connection, table, column):
                        run(f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(column)} SET STATISTICS 0")
                    retyped = _statistics_drop(connection, table, column, quote)
                    if retyped is not None:
                        run(retyped)
                        dropped = True
            for table in private_columns:
                run(f"VACUUM FULL {quote(table)}")
            if dropped:
                run("VACUUM FULL pg_catalog.pg_statistic")
        finally:
            connection.exec_driver_sql("RESET lock_timeout")
    return done


def _sampled(connection: Any, table: str, column: str) -> bool:
    """Whether ANALYZE would copy this column's values into ``pg_statistic``."""
    row = connection.execute(
        sa.text(
            "SELECT attstattarget FROM pg_catalog.pg_attribute"
            " WHERE attrelid = to_regclass(:table) AND attname = :column AND NOT attisdropped"
        ),
        {"table": table, "column": column},
    ).first()
    return row is not None and row[0] != 0  # -1 (NULL from PostgreSQL 17 on): the default target


def _statistics_drop(connection: Any, table: str, column: str, quote: Callable[[str], str]) -> Optional[str]:
    """The statement that drops the column's statistics, or None when it has none: the column
    changed to its own type and collation, which rewrites no data."""
    row = connection.execute(
        sa.text(
            "SELECT pg_catalog.format_type(a.atttypid, a.atttypmod), cn.nspname, co.collname"
            " FROM pg_catalog.pg_attribute a"
            " LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation"
            " LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace"
            " WHERE a.attrelid = to_regclass(:table) AND a.attname = :column AND NOT a.attisdropped"
            " AND EXISTS (SELECT 1 FROM pg_catalog.pg_stats s"
            "   JOIN pg_catalog.pg_class c ON c.relname = s.tablename"
            "   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname"
            "   WHERE c.oid = a.attrelid AND s.attname = a.attname)"
        ),
        {"table": table, "column": column},
    ).first()
    if row is None:
        return None
    kind, collation_schema, collation = row
    collate = f" COLLATE {quote(collation_schema)}.{quote(collation)}" if collation else ""
    return f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(column)} TYPE {kind}{collate}"


def _run(connection: Any, statement: str, attempts: int, pause: float) -> None:
    """Runs one statement, trying again while its table stays locked. A statement PostgreSQL
    skips with a warning (VACUUM by a user who owns neither the table nor the database) is an
    error here: the rows would stay in the files. Run on the driver's own cursor, because
    SQLAlchemy moves PostgreSQL's warnings into its log, where nobody would see them."""
    raw = connection.connection
    failure = connection.dialect.dbapi.Error
    for attempt in range(1, attempts + 1):
        notices = getattr(raw, "notices", None)  # psycopg2's, when that is the driver
        if notices is not None:
            del notices[:]
        cursor = raw.cursor()
        try:
            cursor.execute(statement)
        except failure as error:
            if getattr(error, "pgcode", None) != _LOCK_NOT_AVAILABLE:
                raise RewriteError(f"{statement} failed ({type(error).__name__})") from None
            if attempt == attempts:
                raise RewriteError(f"{statement}: the table stayed locked through {attempts} attempts") from None
            time.sleep(pause)
            continue
        finally:
            cursor.close()
        skipped = [notice.strip() for notice in notices or () if "skipping" in notice]
        if skipped:
            raise RewriteError(f"PostgreSQL skipped {statement}: {skipped[0]}")
        return
