"""Use cases of addresses: create (ADR-3..ADR-6, ADR-8, ADR-10), delete (ADR-11),
permissions (ORG-3), passwords (PWD-1, PWD-2, ADR-7), signatures (ADR-12).

Each command loads the mail service and the mailboxes it touches, decides, and saves them
in one transaction; secrets go to the credential store first (under a fresh id the events
name, owned by the aggregate that names it), and are taken back when the save does not
happen. The one way an address is created is application/creation.py; invitations are
application/invitations.py; the mail store follows the log by application/storesync.py.
``Addresses`` keeps their entry points so that ``host.addresses`` offers every address
command in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar
from uuid import UUID

from attrs import field, frozen

from application.accounts import Accounts
from application.addresspasswords import AddressPasswords
from application.authorization import require_admin, require_permission
from application.context import command
from application.creation import AddressCreation, members
from application.delegation import Delegated
from application.deletion import AddressDeletion
from application.invitations import Invitations
from application.log import MailHostLog
from application.mailservices import MailServices, split_address
from application.ports import (
    Clock,
    CredentialStore,
    EngineMail,
    Fingerprints,
    MailStore,
    PasswordHasher,
    Sealer,
)
from application.storesync import StoreSync
from domain.errors import InvalidInput
from domain.hosted import AddressEntry, AddressKind, parse_local_part
from domain.mailbox import Mailbox
from domain.mailservice import MailService
from domain.permissions import Permission
from domain.security import PasswordPolicy

T = TypeVar("T")


@frozen
class Addresses:
    log: MailHostLog
    services: MailServices
    credentials: CredentialStore
    hasher: PasswordHasher
    fingerprints: Fingerprints
    store: MailStore
    mail: EngineMail
    clock: Clock
    accounts: Accounts
    sealer: Sealer
    passwords: PasswordPolicy = field(factory=PasswordPolicy)

    @property
    def creation(self) -> AddressCreation:
        return AddressCreation(
            self.log,
            self.services,
            self.credentials,
            self.hasher,
            self.clock,
            self.passwords,
        )

    @property
    def invitations(self) -> Invitations:
        return Invitations(
            self.log,
            self.services,
            self.creation,
            self.credentials,
            self.hasher,
            self.fingerprints,
            self.mail,
            self.clock,
            self.sealer,
            self.passwords,
        )

    @property
    def deletion(self) -> AddressDeletion:
        return AddressDeletion(self.log, self.services, self.clock)

    @property
    def password_changes(self) -> AddressPasswords:
        return AddressPasswords(
            self.log,
            self.services,
            self.credentials,
            self.hasher,
            self.clock,
            self.accounts,
            self.passwords,
        )

    @property
    def store_sync(self) -> StoreSync:
        return StoreSync(self.log, self.services, self.credentials, self.store)

    # -- creation: application/creation.py --------------------------------------------

    create_for_self = Delegated("creation", AddressCreation.create_for_self)
    create_for_users = Delegated("creation", AddressCreation.create_for_users)
    create_unassigned = Delegated("creation", AddressCreation.create_unassigned)
    create_no_reply = Delegated("creation", AddressCreation.create_no_reply)
    create_redirect = Delegated("creation", AddressCreation.create_redirect)

    @command
    def add_alias(self, mailbox_address: str, alias: str, *, by: UUID | None) -> str:
        def attempt() -> str:
            service, mailbox = self.services.mailbox(mailbox_address)
            require_admin(self.log, service, by)
            local = parse_local_part(alias, service.domain)
            if (
                service.entry(split_address(mailbox.address)[0]).kind
                is not AddressKind.MAILBOX
            ):
                raise InvalidInput(
                    f"{mailbox_address} is not a mailbox: aliases need one"
                )
            at = self.clock.now()
            service.claim([AddressEntry(local, AddressKind.ALIAS, mailbox.id)], at=at)
            full = f"{local}@{service.domain}"
            mailbox.add_alias(full, at=at)
            self.log.save(service, mailbox)
            return full

        return self.log.retrying(attempt)

    # -- users and permissions (ORG-3) ----------------------------------------------------

    @command
    def assign(self, address: str, user: str | UUID, *, by: UUID | None) -> None:
        """Give a member the address and link it to their mail app (admin only)."""
        self._for_member(
            address, user, by, lambda m, u: m.assign(u, at=self.clock.now())
        )

    @command
    def unassign(self, address: str, user: str | UUID, *, by: UUID | None) -> None:
        self._for_member(
            address, user, by, lambda m, u: m.unassign(u, at=self.clock.now())
        )

    def _for_member(
        self,
        address: str,
        user: str | UUID,
        by: UUID | None,
        change: Callable[[Mailbox, UUID], None],
    ) -> None:
        def decide(service: MailService, mailbox: Mailbox) -> None:
            require_admin(self.log, service, by)
            (user_id,) = members(self.log, service, [user])
            change(mailbox, user_id)

        self._update(address, decide)

    @command
    def set_permission(
        self,
        address: str,
        user: str | UUID,
        permission: Permission,
        allowed: bool | None,
        *,
        by: UUID | None,
    ) -> None:
        """Grant, withdraw, or (None) return to the service default; only an admin may."""

        def decide(service: MailService, mailbox: Mailbox) -> None:
            require_admin(self.log, service, by)
            (user_id,) = members(self.log, service, [user])
            mailbox.set_permission(user_id, permission, allowed, at=self.clock.now())

        self._update(address, decide)

    def allows(self, address: str, user: str | UUID, permission: Permission) -> bool:
        service, mailbox = self.services.mailbox(address)
        (user_id,) = members(self.log, service, [user])
        return mailbox.allows(user_id, permission, service.default_permissions)

    # -- signatures (ADR-12) --------------------------------------------------------------

    @command
    def set_signature(self, address: str, text: str, *, by: UUID | None) -> None:
        def decide(service: MailService, mailbox: Mailbox) -> None:
            require_permission(
                self.log, service, mailbox, by, Permission.MANAGE_SIGNATURE
            )
            mailbox.set_signature(text, at=self.clock.now())

        self._update(address, decide)

    @command
    def apply_signature_template(
        self, domain: str, template: str, *, by: UUID | None
    ) -> int:
        """ADR-12: the template becomes the signature of every mailbox of the domain."""

        def attempt() -> int:
            service = self.services.get(domain)
            require_admin(self.log, service, by)
            text = service.signature(template)
            at = self.clock.now()
            boxes = []
            for entry in service.addresses.values():
                if entry.kind in {AddressKind.MAILBOX, AddressKind.NO_REPLY}:
                    mailbox = self.log.load(entry.mailbox_id, Mailbox, "address")
                    if mailbox.signature != text:
                        mailbox.set_signature(text, at=at)
                        boxes.append(mailbox)
            if boxes:
                self.log.save(*boxes)
            return len(boxes)

        return self.log.retrying(attempt)

    # -- facts for the advisories (ADV-1..3) ----------------------------------------------

    @command
    def set_allow_list(
        self, address: str, entries: Iterable[str], *, by: UUID | None
    ) -> None:
        values = tuple(entries)

        def decide(service: MailService, mailbox: Mailbox) -> None:
            require_permission(
                self.log, service, mailbox, by, Permission.MANAGE_FILTERS
            )
            mailbox.set_allow_list(values, at=self.clock.now())

        self._update(address, decide)

    @command
    def record_client_access(
        self,
        address: str,
        protocol: str,
        *,
        keeps_copy: bool = False,
        by: UUID | None,
    ) -> None:
        """A fact for the advisories (ADV-1..3), from the admin's or operator's tools."""
        self._as_admin(
            address,
            by,
            lambda m: m.record_client_access(
                protocol, keeps_copy=keeps_copy, at=self.clock.now()
            ),
        )

    @command
    def record_usage(
        self, address: str, used_mb: int, limit_mb: int, *, by: UUID | None
    ) -> None:
        self._as_admin(
            address,
            by,
            lambda m: m.record_usage(used_mb, limit_mb, at=self.clock.now()),
        )

    def _as_admin(
        self, address: str, by: UUID | None, change: Callable[[Mailbox], None]
    ) -> None:
        def decide(service: MailService, mailbox: Mailbox) -> None:
            require_admin(self.log, service, by)
            change(mailbox)

        self._update(address, decide)

    # -- invitations (ADR-5), deletion, passwords and the mail store ----------------

    invite = Delegated("invitations", Invitations.invite)
    reinvite = Delegated("invitations", Invitations.reinvite)
    accept_invitation = Delegated("invitations", Invitations.accept_invitation)
    mail_invitation = Delegated("invitations", Invitations.mail_invitation)
    invitation_mailed = Delegated("invitations", Invitations.mailed)
    delete = Delegated("deletion", AddressDeletion.delete)
    change_password = Delegated("password_changes", AddressPasswords.change_password)
    sync_store = Delegated("store_sync", StoreSync.sync_store)
    resync_store = Delegated("store_sync", StoreSync.resync_store)

    def _update(self, address: str, decide: Callable[[MailService, Mailbox], T]) -> T:
        def attempt() -> T:
            service, mailbox = self.services.mailbox(address)
            result = decide(service, mailbox)
            self.log.save(mailbox)
            return result

        return self.log.retrying(attempt)
