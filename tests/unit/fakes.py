"""In-memory stand-ins for the ports the account use cases take (tests/unit)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from application.ports import SessionRecord


@dataclass
class MemoryCredentials:
    """The credential store port in memory, with each secret's owner."""

    secrets: dict[UUID, str] = field(default_factory=dict)
    owners: dict[UUID, UUID | None] = field(default_factory=dict)
    sessions: dict[str, SessionRecord] = field(default_factory=dict)

    def put_secret(
        self, credential_id: UUID, encoded: str, *, owner: UUID | None = None
    ) -> None:
        self.secrets[credential_id] = encoded
        self.owners[credential_id] = owner

    def secret(self, credential_id: UUID) -> str | None:
        return self.secrets.get(credential_id)

    def forget_secret(self, credential_id: UUID) -> None:
        self.secrets.pop(credential_id, None)
        self.owners.pop(credential_id, None)

    def take_secret(self, credential_id: UUID) -> str | None:
        self.owners.pop(credential_id, None)
        return self.secrets.pop(credential_id, None)

    def swap_secret(self, credential_id: UUID, expected: str, new: str) -> bool:
        if self.secrets.get(credential_id) != expected:
            return False
        self.secrets[credential_id] = new
        return True

    def put_session(self, token_digest: str, record: SessionRecord) -> None:
        self.sessions[token_digest] = record

    def session(self, token_digest: str) -> SessionRecord | None:
        return self.sessions.get(token_digest)

    def forget_sessions(self, session_ids: tuple[UUID, ...]) -> None:
        for digest, record in list(self.sessions.items()):
            if record.session_id in session_ids:
                del self.sessions[digest]


@dataclass
class Clock:
    """A clock a second later at every reading: each event has its own instant."""

    at: datetime

    def now(self) -> datetime:
        self.at += timedelta(seconds=1)
        return self.at
