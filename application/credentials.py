"""Secrets live beside the log, never in it (SEC-6): events carry only references.

A password hash is stored under a fresh random credential id; the event that makes it
current names that id. Writing the secret first and the event second keeps both
consistent without a shared transaction: a crash in between leaves an unreferenced row,
never an event that points at nothing. Such a row names its owner, and
``application.orphans`` removes it once it is older than any save could take.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol
from uuid import UUID

from application.ports import CredentialStore


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


class OwnedRows(Protocol):
    """The rows of the credential store that name one owner, as forgetting needs them.

    Apart from ``CredentialStore``: only forgetting a person looks a row up by owner.
    """

    def owned_secrets(self, owner: UUID) -> Sequence[tuple[UUID, str]]:
        """(credential id, stored value) of each row naming ``owner``."""
        ...

    def take_secret(self, credential_id: UUID) -> str | None: ...
