"""Secrets live beside the log, never in it (SEC-6): events carry only references.

A password hash is stored under a fresh random credential id; the event that makes it
current names that id. Writing the secret first and the event second keeps both
consistent without a shared transaction: a crash in between leaves an unreferenced row,
never an event that points at nothing.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from attrs import frozen


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str:
        """A slow salted hash for a password a person chose."""
        ...

    def hash_generated(self, password: str) -> str:
        """A salted hash for a high-entropy password the engine generated."""
        ...

    def verify(self, encoded: str, password: str) -> bool:
        """Constant-time check; False for a wrong password, never an exception."""
        ...

    def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification, so unknown logins answer as slowly."""
        ...


@frozen
class SessionRecord:
    account_id: UUID
    session_id: UUID


class CredentialStore(Protocol):
    def put_secret(self, credential_id: UUID, encoded: str) -> None: ...

    def secret(self, credential_id: UUID) -> str | None: ...

    def forget_secret(self, credential_id: UUID) -> None: ...

    def put_session(self, token_digest: str, record: SessionRecord) -> None: ...

    def session(self, token_digest: str) -> SessionRecord | None: ...

    def forget_sessions(self, session_ids: tuple[UUID, ...]) -> None: ...


class Fingerprints(Protocol):
    """Keyed one-way digests of bearer tokens (device and session tokens).

    A keyed digest (HMAC) rather than a plain hash: a stolen copy of the log or the
    store cannot be matched against tokens without the key.
    """

    def digest(self, token: str) -> str: ...

    def new_token(self) -> str:
        """A fresh unguessable token of at least 128 bits."""
        ...
