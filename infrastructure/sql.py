"""One small SQL door for the stores beside the log (credentials, read models, jobs).

SQLite for the embedded default, PostgreSQL when the event log is there too. Statements
are written once with ``?`` placeholders and the subset of SQL both speak
(``INSERT ... ON CONFLICT``, ``BIGINT``, ``TEXT``).

``CREATE_TABLE=n`` (the tables are made by the operator's migration tool) holds for these
tables too on PostgreSQL: the engine then runs no DDL there and refuses to start while a
table it needs is missing. The SQLite files beside the log are the engine's own and
always get their tables.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql
from eventsourcing.utils import strtobool
from psycopg_pool import ConnectionPool

from infrastructure.files import create_private
from infrastructure.settings import ConfigurationError
from projections.storage import Cursor, Params

# Advisory locks are per database; a number of the engine's own (see infrastructure.pglog).
SCHEMA_LOCK = 0x6D68_7461_626C_6573  # "mhtables"
_CREATED_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)", re.IGNORECASE)


class SqliteDatabase:
    """A file opened in WAL mode, one connection per thread.

    ``BEGIN IMMEDIATE`` takes the write lock up front, so two processes (the embedded
    engine and a worker) serialise instead of failing halfway through a transaction.
    """

    dialect = "sqlite"
    create_tables = True

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Made 0600 before SQLite opens it: its -wal and -shm files copy these modes.
        # Never reopened when it exists (see create_private: a closed descriptor drops
        # the locks SQLite holds in this process).
        create_private(path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
            with self._lock:
                self._all.append(connection)
        return connection

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield _SqliteCursor(connection.cursor())
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        """A cursor for reading alone: no write lock taken, each statement reading
        the latest commit (a follower's look for what is new)."""
        cursor = self._connection().cursor()
        try:
            yield _SqliteCursor(cursor)
        finally:
            cursor.close()

    def ensure_schema(self, statements: Sequence[str]) -> None:
        ensure_schema(self, statements)

    @contextmanager
    def scratch(self) -> Iterator[None]:
        """Within the block, this thread's transactions keep no journal on disk and
        wait for no disk flush: for a store nobody else opens and that is deleted
        if anything fails (a rebuild's).

        What the write-ahead log and its flushes buy is a store that survives a crash
        of the process or the machine; such a store is thrown away then. A rollback
        still works (the journal is kept in memory). The file is back in WAL mode, with
        its usual flushes, when the block ends.
        """
        connection = self._connection()
        connection.execute("PRAGMA journal_mode=MEMORY")
        connection.execute("PRAGMA synchronous=OFF")
        try:
            yield
        finally:
            # WAL first: switching while synchronous is still OFF costs no disk flush
            # (the store is thrown away after the rebuild's comparison anyway).
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")

    def compact(self, tables: Iterable[str] = ()) -> None:  # noqa: ARG002 - SQLite compacts the whole file
        """Rewrite the file so no deleted row's bytes remain in it (or in the WAL).

        VACUUM cannot run inside a transaction, so this uses a connection of its own.
        """
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            connection.execute("PRAGMA secure_delete = ON")
            connection.execute("VACUUM")
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()

    def close(self) -> None:
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()
        self._local = threading.local()


class _SqliteCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Params = ()) -> None:
        self._cursor.execute(sql, tuple(params))

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cursor.fetchall()

    def fetchone(self) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._cursor.fetchone()
        return row


class PostgresDatabase:
    dialect = "postgres"

    def __init__(self, env: Mapping[str, str]) -> None:
        conninfo = psycopg.conninfo.make_conninfo(
            dbname=env["POSTGRES_DBNAME"],
            host=env.get("POSTGRES_HOST", "127.0.0.1"),
            port=env.get("POSTGRES_PORT", "5432"),
            user=env.get("POSTGRES_USER", ""),
            password=env.get("POSTGRES_PASSWORD", ""),
            connect_timeout=env.get("POSTGRES_CONNECT_TIMEOUT", "10"),
        )
        self.create_tables = create_tables_setting(env)
        self._pool = ConnectionPool(conninfo, min_size=1, max_size=4, open=True)

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self._pool.connection() as connection, connection.transaction():
            yield _PostgresCursor(connection.cursor())

    def read(self) -> AbstractContextManager[Cursor]:
        """As SQLite's: here, a transaction like any other."""
        return self.transaction()

    def ensure_schema(self, statements: Sequence[str]) -> None:
        ensure_schema(self, statements)

    def compact(self, tables: Iterable[str] = ()) -> None:
        """``VACUUM FULL`` each table: its deleted rows' bytes leave the data files.

        VACUUM cannot run inside a transaction block, hence autocommit.
        """
        with self._pool.connection() as connection:
            connection.autocommit = True
            for table in sorted(set(tables)):
                connection.execute(
                    psycopg.sql.SQL("VACUUM FULL {}").format(
                        psycopg.sql.Identifier(table)
                    )
                )

    def close(self) -> None:
        self._pool.close()


class _PostgresCursor:
    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Params = ()) -> None:
        self._cursor.execute(sql.replace("?", "%s"), tuple(params))

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cursor.fetchall()

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._cursor.fetchone()


Database = SqliteDatabase | PostgresDatabase


def read_only(path: Path) -> sqlite3.Connection:
    """The SQLite file at ``path``, opened so that nothing can write to it.

    A reader of the log (a rebuild, verify) neither takes its write lock nor makes a
    missing file or table: ``mode=ro`` of SQLite's URI, from the path's own URI (so
    that a name with ``?`` or ``#`` stays a name). No implicit transactions: a reader
    that wants one snapshot says ``BEGIN`` itself.
    """
    return sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None
    )


def create_tables_setting(env: Mapping[str, str]) -> bool:
    """``CREATE_TABLE`` as eventsourcing reads it: yes unless the operator says no."""
    raw = env.get("CREATE_TABLE") or "yes"
    try:
        return bool(strtobool(raw))
    except ValueError:
        raise ConfigurationError(
            f"CREATE_TABLE must be yes or no, not {raw!r}"
        ) from None


def ensure_schema(database: Database, statements: Sequence[str]) -> None:
    """Create what is missing, one process at a time on PostgreSQL.

    Two PostgreSQL sessions running ``CREATE TABLE IF NOT EXISTS`` for one new table
    both find it absent and the later fails on ``pg_type``'s unique index; a
    transaction-scoped advisory lock makes the later wait and find the table.
    """
    with database.transaction() as cursor:
        if database.dialect == "postgres":
            if not database.create_tables:
                _check_tables(cursor, statements)
                return
            cursor.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))
        for statement in statements:
            cursor.execute(statement)


def _check_tables(cursor: Cursor, statements: Sequence[str]) -> None:
    for statement in statements:
        match = _CREATED_TABLE.search(statement)
        if match is None:
            continue
        cursor.execute("SELECT to_regclass(?)", (match[1],))
        row = cursor.fetchone()
        if row is None or row[0] is None:
            raise ConfigurationError(
                f"CREATE_TABLE is no but table {match[1]} does not exist: create it"
                " with your migration tool, or start once with CREATE_TABLE=yes"
            )
