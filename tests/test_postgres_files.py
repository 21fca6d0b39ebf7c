"""clinic/postgres_files.py on a real PostgreSQL server (Debian's, as the cluster test starts it):
deleted rows and the statistics sampled from them gone from every file of the database, and a
busy table waited for briefly, never queueing other queries behind a long wait."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Iterator, List

import psycopg2
import pytest
import sqlalchemy as sa

from clinic.postgres_files import LOCK_WAIT_MS, RewriteError, rewrite_tables
from tests.cluster import Postgres, missing_packages

pytestmark = pytest.mark.system

PRIVATE = {"visits": ("note", "phone")}
GONE = [f"Wenzeslaus Ortega-{n:02d}" for n in range(40)]
KEPT = [f"Ottoline Brackwater-{n:02d}" for n in range(10)]
DATABASES = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Postgres]:
    if "postgresql" in missing_packages():
        pytest.fail("PostgreSQL is not installed: run `make services` (make test does)")
    postgres = Postgres(tmp_path_factory.mktemp("postgres")).start([])
    try:
        yield postgres
    finally:
        postgres.stop()


def superuser(server: Postgres, sql: str) -> None:
    connection = psycopg2.connect(server.url("postgres"))
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(sql)
    connection.close()


@pytest.fixture
def owner(server: Postgres) -> str:
    """A database owned by an ordinary user, as docs/deployment.md makes the clinic's."""
    name = f"clinic_{next(DATABASES)}"
    superuser(server, f"CREATE ROLE {name} LOGIN PASSWORD 'pw-{name}'")
    superuser(server, f"CREATE DATABASE {name} OWNER {name}")
    return f"postgresql://{name}:pw-{name}@127.0.0.1:{server.port}/{name}"


def fill(engine, notes: List[str]) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE visits (id serial PRIMARY KEY, note text NOT NULL, phone varchar(32), seen timestamptz)"
        )
        for number, note in enumerate(notes):
            connection.execute(
                sa.text("INSERT INTO visits (note, phone, seen) VALUES (:note, :phone, now())"),
                {"note": note, "phone": f"+1202555{number:04d}"},
            )


def test_deleted_rows_and_their_statistics_leave_every_file(server, owner):
    engine = sa.create_engine(owner, future=True)
    try:
        fill(engine, GONE + KEPT)
        with engine.connect() as connection:  # as autovacuum does whenever it likes
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE visits")
        with engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM visits WHERE note LIKE 'Wenzeslaus%'"))
        assert server.files_containing(GONE[7])  # deleted, still in the table's file and pg_statistic

        done = rewrite_tables(engine, PRIVATE)
        assert done[-2:] == ["VACUUM FULL visits", "VACUUM FULL pg_catalog.pg_statistic"], done
        for note in (GONE[0], GONE[7], GONE[39], "+12025550007"):
            assert server.files_containing(note) == [], note
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT note FROM visits ORDER BY id").scalars().all() == KEPT
        assert server.files_containing(KEPT[3])  # the live rows stay

        # The statistics are gone for good: ANALYZE no longer samples the private columns, and an
        # emptied table (whose old statistics ANALYZE would keep) leaves nothing behind either.
        with engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM visits")
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE visits")
            sampled = connection.exec_driver_sql("SELECT attname FROM pg_stats WHERE tablename = 'visits'").scalars()
            assert set(sampled) <= {"id", "seen"}
        assert rewrite_tables(engine, PRIVATE) == ["VACUUM FULL visits"]  # nothing left to drop
        assert server.files_containing(KEPT[3]) == []
    finally:
        engine.dispose()


def test_a_busy_table_is_waited_for_briefly_and_others_never_queue_long(server, owner):
    engine = sa.create_engine(owner, future=True)
    try:
        fill(engine, KEPT)
        # A long transaction reading the table (a staff report, say) holds a lock VACUUM FULL must wait for.
        holder = psycopg2.connect(owner)
        with holder.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM visits")
        result = {}

        def rewrite() -> None:
            try:
                result["done"] = rewrite_tables(engine, PRIVATE, attempts=20, pause=0.2)
            except RewriteError as error:
                result["error"] = error

        thread = threading.Thread(target=rewrite)
        thread.start()
        # Meanwhile another server's queries on the table: each waits at most about one lock wait.
        reader = sa.create_engine(owner, future=True)
        slowest = 0.0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            began = time.monotonic()
            with reader.connect() as connection:
                connection.exec_driver_sql("SELECT count(*) FROM visits").scalar()
            slowest = max(slowest, time.monotonic() - began)
            time.sleep(0.05)
        reader.dispose()
        assert thread.is_alive() and not result  # still trying: the table is held
        holder.rollback()
        thread.join(timeout=30)
        assert result.get("done", [])[-1] == "VACUUM FULL visits", result
        assert slowest < LOCK_WAIT_MS / 1000 + 0.5, slowest

        # Held for good: it gives up, saying why.
        with holder.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM visits")
        with pytest.raises(RewriteError, match="stayed locked through 2 attempts"):
            rewrite_tables(engine, PRIVATE, attempts=2, pause=0.1)
        holder.close()
    finally:
        engine.dispose()


def test_a_user_who_owns_neither_table_nor_database_is_told(server, owner):
    engine = sa.create_engine(owner, future=True)
    fill(engine, KEPT)
    database = owner.rsplit("/", 1)[1]
    superuser(server, f"CREATE ROLE {database}_other LOGIN PASSWORD 'pw'")
    with engine.begin() as connection:
        connection.exec_driver_sql(f"GRANT ALL ON visits TO {database}_other")
    engine.dispose()
    other = sa.create_engine(f"postgresql://{database}_other:pw@127.0.0.1:{server.port}/{database}", future=True)
    try:
        with pytest.raises(RewriteError, match="owner"):
            rewrite_tables(other, {"visits": ()})  # PostgreSQL only warns, and skips the table
        with pytest.raises(RewriteError, match="SET STATISTICS 0 failed"):
            rewrite_tables(other, PRIVATE)
    finally:
        other.dispose()
