"""The mutable store of secrets beside the log: password hashes and session digests."""

from __future__ import annotations

from uuid import UUID

from application.credentials import SessionRecord
from infrastructure.sql import Database, ensure_schema

SCHEMA = (
    (
        "CREATE TABLE IF NOT EXISTS mh_secrets ("
        " credential_id TEXT PRIMARY KEY, encoded TEXT NOT NULL)"
    ),
    (
        "CREATE TABLE IF NOT EXISTS mh_sessions (token_digest TEXT PRIMARY KEY,"
        " account_id TEXT NOT NULL, session_id TEXT NOT NULL)"
    ),
    "CREATE INDEX IF NOT EXISTS mh_sessions_by_id ON mh_sessions (session_id)",
)


class SqlCredentialStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        ensure_schema(database, SCHEMA)

    def put_secret(
        self, credential_id: UUID, encoded: str, *, owner: UUID | None = None
    ) -> None:
        del owner  # recorded once the orphan sweep lands
        with self.database.transaction() as cursor:
            cursor.execute(
                "INSERT INTO mh_secrets (credential_id, encoded) VALUES (?, ?)",
                (str(credential_id), encoded),
            )

    def secret(self, credential_id: UUID) -> str | None:
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT encoded FROM mh_secrets WHERE credential_id = ?",
                (str(credential_id),),
            )
            row = cursor.fetchone()
        return None if row is None else str(row[0])

    def forget_secret(self, credential_id: UUID) -> None:
        with self.database.transaction() as cursor:
            cursor.execute(
                "DELETE FROM mh_secrets WHERE credential_id = ?", (str(credential_id),)
            )

    def put_session(self, token_digest: str, record: SessionRecord) -> None:
        with self.database.transaction() as cursor:
            cursor.execute(
                "INSERT INTO mh_sessions (token_digest, account_id, session_id) VALUES (?, ?, ?)",
                (token_digest, str(record.account_id), str(record.session_id)),
            )

    def session(self, token_digest: str) -> SessionRecord | None:
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT account_id, session_id FROM mh_sessions WHERE token_digest = ?",
                (token_digest,),
            )
            row = cursor.fetchone()
        return None if row is None else SessionRecord(UUID(row[0]), UUID(row[1]))

    def forget_sessions(self, session_ids: tuple[UUID, ...]) -> None:
        with self.database.transaction() as cursor:
            for session_id in session_ids:
                cursor.execute(
                    "DELETE FROM mh_sessions WHERE session_id = ?", (str(session_id),)
                )
