"""Secrets live beside the log, never in it (SEC-6): events carry only references.

A password hash is stored under a fresh random credential id; the event that makes it
current names that id. Writing the secret first and the event second keeps both
consistent without a shared transaction: a crash in between leaves an unreferenced row,
never an event that points at nothing. Such a row names its owner, and
``application.orphans`` removes it once it is older than any save could take.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Protocol, runtime_checkable
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
    def put_secret(
        self, credential_id: UUID, encoded: str, *, owner: UUID | None = None
    ) -> None:
        """Store a secret; ``owner`` is the aggregate whose events will name it.

        A row whose owner never came to name it (a crash between this write and the
        save) is an orphan that a sweep removes.
        """
        ...

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


@contextmanager
def staged_secret(
    store: CredentialStore, credential_id: UUID, encoded: str, *, owner: UUID | None
) -> Iterator[None]:
    """The secret is stored for the block; a refused or failed block takes it back.

    The secret must exist before the event that names it is saved, so it is written
    first; when the save does not happen (a refusal, a lost race) nothing is left behind.
    """
    store.put_secret(credential_id, encoded, owner=owner)
    try:
        yield
    except BaseException:
        store.forget_secret(credential_id)
        raise


@runtime_checkable
class OwnedSecrets(Protocol):
    """What the orphan sweep needs of a credential store that records owners.

    A row is *unconfirmed* until the sweep has seen its owner's events name it; a
    confirmed row (or one stored before owners were recorded) is never swept.
    """

    def unconfirmed_secrets(
        self, stored_before: datetime, *, after: UUID | None = None, limit: int = ...
    ) -> Sequence[tuple[UUID, UUID]]:
        """(credential id, owner) pairs in credential id order, after ``after``."""
        ...

    def confirm_secrets(self, credential_ids: Iterable[UUID]) -> None: ...

    def forget_unconfirmed(self, credential_ids: Iterable[UUID]) -> int:
        """Delete those rows unless confirmed meanwhile; how many went."""
        ...
