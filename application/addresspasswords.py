"""Changing an address's IMAP/SMTP password (PWD-1, PWD-2, ADR-7).

The new hash goes to the credential store under a fresh id before the event that names
it; the old one is forgotten after the save, so a job still holding the old id finds
nothing to write.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from attrs import field, frozen

from application.accounts import Accounts
from application.authorization import OPERATOR, require_permission
from application.context import command
from application.credentials import staged_secret
from application.log import MailHostLog
from application.mailservices import MailServices
from application.ports import Clock, CredentialStore, PasswordHasher
from domain.errors import InvalidInput, NotPermitted
from domain.mailbox import Mailbox
from domain.mailservice import MailService
from domain.organisation import Organisation
from domain.permissions import Permission
from domain.security import PasswordPolicy


@frozen
class AddressPasswords:
    log: MailHostLog
    services: MailServices
    credentials: CredentialStore
    hasher: PasswordHasher
    clock: Clock
    accounts: Accounts
    passwords: PasswordPolicy = field(factory=PasswordPolicy)

    @command
    def change_password(
        self,
        address: str,
        new_password: str,
        *,
        by: UUID | None,
        old_password: str | None = None,
        account_password: str | None = None,
    ) -> tuple[UUID, ...]:
        """Change the address's IMAP/SMTP password; return the mail-app links kept.

        PWD-1: a user needs the permission and the old password. PWD-2: a user who does
        not know it proves who they are with the account password instead (which, if
        forgotten too, is reset through the account's recovery). The operator and the
        organisation's admins need neither.
        """
        service, mailbox = self.services.mailbox(address)
        require_permission(self.log, service, mailbox, by, Permission.CHANGE_PASSWORD)
        if by is not OPERATOR and not self._is_admin(service, by):
            self._require_proof(mailbox, by, old_password, account_password)
        self.passwords.check(new_password, login=mailbox.address)
        encoded = self.hasher.hash(new_password)

        def attempt() -> tuple[tuple[UUID, ...], UUID | None]:
            service, box = self.services.mailbox(address)
            require_permission(self.log, service, box, by, Permission.CHANGE_PASSWORD)
            old, credential_id = box.credential_id, uuid4()
            with staged_secret(self.credentials, credential_id, encoded, owner=box.id):
                kept = box.change_password(credential_id, by=by, at=self.clock.now())
                self.log.save(box)
            return kept, old

        kept, old = self.log.retrying(attempt)
        if old is not None:
            # A sync_store job still holding the old id then finds nothing to write.
            self.credentials.forget_secret(old)
        return kept

    def _require_proof(
        self, mailbox: Mailbox, by: UUID, old: str | None, account_password: str | None
    ) -> None:
        if old is not None:
            stored = (
                self.credentials.secret(mailbox.credential_id)
                if mailbox.credential_id
                else None
            )
            if stored is not None and self.hasher.verify(stored, old):
                return
            raise NotPermitted(f"the current password of {mailbox.address} is wrong")
        if account_password is not None:
            self.accounts.require_password(by, account_password)
            return
        raise InvalidInput(
            "give the current address password, or your account password"
        )

    def _is_admin(self, service: MailService, by: UUID) -> bool:
        return self.log.load(
            service.organisation_id, Organisation, "organisation"
        ).is_admin(by)
