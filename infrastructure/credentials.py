"""The mutable store of secrets beside the log: password hashes and session digests.

Each secret row names its ``owner`` (the aggregate whose events will name it) and when it
was stored, so that a sweep can find the rows no event ever came to name (a refused
command that crashed, a killed bulk run). ``stored_at`` (microseconds since the epoch) is
cleared once the sweep has found the row named: a confirmed row is never looked at
again. Rows written before these columns existed have neither: they are kept.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from application.ports import SessionRecord
from infrastructure.settings import ConfigurationError
from infrastructure.sql import Database, ensure_schema
from projections.storage import Cursor, Params

SCHEMA = (
    (
        "CREATE TABLE IF NOT EXISTS mh_secrets ("
        " credential_id TEXT PRIMARY KEY, encoded TEXT NOT NULL,"
        " owner TEXT, stored_at BIGINT)"
    ),
    (
        "CREATE TABLE IF NOT EXISTS mh_sessions (token_digest TEXT PRIMARY KEY,"
        " account_id TEXT NOT NULL, session_id TEXT NOT NULL,"
        " persistent BIGINT, restricted BIGINT)"
    ),
    "CREATE INDEX IF NOT EXISTS mh_sessions_by_id ON mh_sessions (session_id)",
)
# Added to tables made before the orphan sweep and two-step verification; all nullable,
# so no row is rewritten (a session row without the flags reads persistent, unrestricted).
ADDED_COLUMNS = {
    "mh_secrets": (("owner", "TEXT"), ("stored_at", "BIGINT")),
    "mh_sessions": (("persistent", "BIGINT"), ("restricted", "BIGINT")),
}
PAGE = 1_000  # rows handed to the sweep at a time


def _micros(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


class SqlCredentialStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        ensure_schema(database, SCHEMA)
        _add_missing_columns(database)

    def put_secret(
        self, credential_id: UUID, encoded: str, *, owner: UUID | None = None
    ) -> None:
        with self.database.transaction() as cursor:
            cursor.execute(
                "INSERT INTO mh_secrets (credential_id, encoded, owner, stored_at)"
                " VALUES (?, ?, ?, ?)",
                (
                    str(credential_id),
                    encoded,
                    None if owner is None else str(owner),
                    time.time_ns() // 1_000,
                ),
            )

    def _rows(self, sql: str, params: Params) -> list[tuple[Any, ...]]:
        """One statement in a transaction of its own, and the rows it returned (fetched
        before the commit, so a DELETE or UPDATE ... RETURNING gives them too)."""
        with self.database.transaction() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def secret(self, credential_id: UUID) -> str | None:
        rows = self._rows(
            "SELECT encoded FROM mh_secrets WHERE credential_id = ?",
            (str(credential_id),),
        )
        return str(rows[0][0]) if rows else None

    def forget_secret(self, credential_id: UUID) -> None:
        with self.database.transaction() as cursor:
            cursor.execute(
                "DELETE FROM mh_secrets WHERE credential_id = ?", (str(credential_id),)
            )

    def take_secret(self, credential_id: UUID) -> str | None:
        """Delete the row and return what it held, in one statement.

        ``DELETE ... RETURNING`` is atomic on both databases: of two processes taking
        the same row at once, one gets it and the other finds nothing.
        """
        rows = self._rows(
            "DELETE FROM mh_secrets WHERE credential_id = ? RETURNING encoded",
            (str(credential_id),),
        )
        return str(rows[0][0]) if rows else None

    def swap_secret(self, credential_id: UUID, expected: str, new: str) -> bool:
        """One conditional update: it changes the row only while it holds ``expected``."""
        rows = self._rows(
            "UPDATE mh_secrets SET encoded = ? WHERE credential_id = ?"
            " AND encoded = ? RETURNING credential_id",
            (new, str(credential_id), expected),
        )
        return bool(rows)

    def owned_secrets(self, owner: UUID) -> Sequence[tuple[UUID, str]]:
        """(credential id, value) of every row naming ``owner``: what forgetting looks at."""
        rows = self._rows(
            "SELECT credential_id, encoded FROM mh_secrets WHERE owner = ?"
            " ORDER BY credential_id",
            (str(owner),),
        )
        return [(UUID(row[0]), str(row[1])) for row in rows]

    # -- the orphan sweep's port (application.ports.OwnedSecrets) ----------------------

    def unconfirmed_secrets(
        self, stored_before: datetime, *, after: UUID | None = None, limit: int = PAGE
    ) -> Sequence[tuple[UUID, UUID]]:
        """(credential id, owner) of rows not yet confirmed, stored at or before then."""
        rows = self._rows(
            "SELECT credential_id, owner FROM mh_secrets"
            " WHERE owner IS NOT NULL AND stored_at IS NOT NULL AND stored_at <= ?"
            " AND credential_id > ? ORDER BY credential_id LIMIT ?",
            (_micros(stored_before), "" if after is None else str(after), limit),
        )
        return [(UUID(row[0]), UUID(row[1])) for row in rows]

    def confirm_secrets(self, credential_ids: Iterable[UUID]) -> None:
        with self.database.transaction() as cursor:
            for credential_id in credential_ids:
                cursor.execute(
                    "UPDATE mh_secrets SET stored_at = NULL WHERE credential_id = ?",
                    (str(credential_id),),
                )

    def forget_unconfirmed(self, credential_ids: Iterable[UUID]) -> int:
        """Delete the rows, unless confirmed meanwhile; return how many went."""
        gone = 0
        with self.database.transaction() as cursor:
            for credential_id in credential_ids:
                cursor.execute(
                    "DELETE FROM mh_secrets WHERE credential_id = ?"
                    " AND stored_at IS NOT NULL RETURNING credential_id",
                    (str(credential_id),),
                )
                gone += len(cursor.fetchall())
        return gone

    # -- sessions -----------------------------------------------------------------------

    def put_session(self, token_digest: str, record: SessionRecord) -> None:
        with self.database.transaction() as cursor:
            cursor.execute(
                "INSERT INTO mh_sessions (token_digest, account_id, session_id,"
                " persistent, restricted) VALUES (?, ?, ?, ?, ?)",
                (
                    token_digest,
                    str(record.account_id),
                    str(record.session_id),
                    int(record.persistent),
                    int(record.restricted),
                ),
            )

    def session(self, token_digest: str) -> SessionRecord | None:
        rows = self._rows(
            "SELECT account_id, session_id, persistent, restricted FROM mh_sessions"
            " WHERE token_digest = ?",
            (token_digest,),
        )
        if not rows:
            return None
        account_id, session_id, persistent, restricted = rows[0]
        return SessionRecord(
            UUID(account_id),
            UUID(session_id),
            persistent=persistent is None or bool(persistent),
            restricted=bool(restricted),
        )

    def forget_sessions(self, session_ids: tuple[UUID, ...]) -> None:
        with self.database.transaction() as cursor:
            for session_id in session_ids:
                cursor.execute(
                    "DELETE FROM mh_sessions WHERE session_id = ?", (str(session_id),)
                )


def _add_missing_columns(database: Database) -> None:
    """Give tables made before the sweep and two-step verification their new columns.

    SQLite: the check and the ALTER run in one ``BEGIN IMMEDIATE`` transaction, so two
    processes starting at once cannot both add a column. PostgreSQL: ``ADD COLUMN IF NOT
    EXISTS`` checks under the table lock the ALTER takes; it runs only when a column is
    missing, so a normal start takes no exclusive lock.
    """
    for table, added in ADDED_COLUMNS.items():
        with database.transaction() as cursor:
            present = _columns(database, cursor, table)
            missing = [(name, kind) for name, kind in added if name not in present]
            if not missing:
                continue
            if not getattr(database, "create_tables", True):
                names = ", ".join(name for name, _ in missing)
                raise ConfigurationError(
                    f"CREATE_TABLE is no but table {table} lacks column(s) {names}: "
                    "add them (nullable) with your migration tool, or start once with "
                    "CREATE_TABLE=yes"
                )
            for name, kind in missing:
                guard = " IF NOT EXISTS" if database.dialect == "postgres" else ""
                cursor.execute(f"ALTER TABLE {table} ADD COLUMN{guard} {name} {kind}")


def _columns(database: Database, cursor: Cursor, table: str) -> set[str]:
    if database.dialect == "postgres":
        cursor.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = ? AND table_schema = current_schema()",
            (table,),
        )
        return {str(row[0]) for row in cursor.fetchall()}
    cursor.execute(f"PRAGMA table_info({table})")
    return {str(row[1]) for row in cursor.fetchall()}
