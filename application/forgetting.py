"""Forgetting a person: their keys are deleted, so their data reads as forgotten everywhere.

The log is never rewritten (its hash chain covers the stored bytes): a person's data
in it was sealed with their own keys (infrastructure.personaldata), and deleting the
keys is what forgets it. What was derived from it while it could be read, the read
models and the snapshots, is then rebuilt from the log and scrubbed, so no stored byte
of them holds it any more. The forgetting is itself recorded, with no personal data:
who asked, which account, when, how many keys were deleted.

Beside the log, the credential store holds one kind of row with personal data in plain:
an unfinished two-step sign-in (where it came from). Those rows are deleted, and the
store compacted with the read models. Mail already sent to the person (alerts in the
outbox) is theirs, not the engine's to take back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol
from uuid import UUID, uuid4

from attrs import define, frozen
from eventsourcing.domain import Aggregate

from application.authorization import OPERATOR
from application.context import command
from application.credentials import OwnedRows
from application.log import MailHostLog
from application.loginflow import cancel_pending_logins
from application.ports import Clock
from domain.account import UserAccount
from domain.errors import NotPermitted
from domain.ids import account_id as account_id_of
from domain.organisation import Organisation


class Erasure(Aggregate):
    """The record that a person was forgotten (one per forgetting)."""

    account_id: UUID
    subjects: tuple[UUID, ...]
    keys_deleted: int

    class Recorded(Aggregate.Created):
        account_id: UUID
        subjects: tuple[UUID, ...]
        keys_deleted: int

    def __init__(
        self, *, account_id: UUID, subjects: tuple[UUID, ...], keys_deleted: int
    ) -> None:
        self.account_id = account_id
        self.subjects = subjects
        self.keys_deleted = keys_deleted

    @classmethod
    def record(
        cls,
        account_id: UUID,
        subjects: tuple[UUID, ...],
        keys_deleted: int,
        *,
        at: datetime,
    ) -> Erasure:
        return cls._create(
            cls.Recorded,
            id=uuid4(),
            timestamp=at,
            account_id=account_id,
            subjects=subjects,
            keys_deleted=keys_deleted,
        )


class PersonKeys(Protocol):
    def forget(self, subjects: tuple[UUID, ...]) -> int:
        """Delete the subjects' keys for good; how many there were."""
        ...


class Redaction(Protocol):
    def redact(self, subjects: tuple[UUID, ...]) -> None:
        """Rebuild and scrub what was derived from the subjects' data while readable."""
        ...


@frozen
class Forgotten:
    account_id: UUID
    erasure_id: UUID
    keys_deleted: int
    at: datetime
    # Unfinished two-step sign-ins deleted from the credential store.
    sign_ins_cancelled: int = 0


@define
class Forgetting:
    log: MailHostLog
    keys: PersonKeys
    redaction: Redaction
    clock: Clock
    # Every subject whose key holds the data of the person with this account id.
    subjects_of: Callable[[UUID], tuple[UUID, ...]]
    # The credential store, for the rows beside the log that name the account.
    secrets: OwnedRows

    @command
    def forget(self, login: str, *, by: UUID | None) -> Forgotten:
        """The operator, the person themselves or an admin of their organisation may."""
        account_id = account_id_of(login)
        account = self.log.load(account_id, UserAccount, "account")
        self._authorise(account, by)
        subjects = self.subjects_of(account_id)
        deleted = self.keys.forget(subjects)
        cancelled = cancel_pending_logins(self.secrets, account_id)
        at = self.clock.now()
        erasure = Erasure.record(account_id, subjects, deleted, at=at)
        self.log.save(erasure)
        self.redaction.redact(subjects)
        return Forgotten(account_id, erasure.id, deleted, at, cancelled)

    def _authorise(self, account: UserAccount, by: UUID | None) -> None:
        if by is OPERATOR or by == account.id:
            return
        org = self.log.load(account.organisation_id, Organisation, "organisation")
        if not org.is_admin(by):
            raise NotPermitted("only the person, an admin or the operator may do this")
