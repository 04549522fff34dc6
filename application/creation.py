"""Creating one address (ADR-3..ADR-6, ADR-8, ADR-10, ADR-12): the claim and the mailbox.

Every way an address comes to exist (for yourself, for others, unassigned, no-reply, a
redirect, an invitation) goes through :class:`AddressCreation`: the service claims the
local part and the ``Mailbox`` is created in the same transaction, with whatever must
exist beside it (an invitation, the responder a template fills). The password's hash
goes to the credential store first, under a fresh id the event names, and is taken
back when the save does not happen.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from uuid import UUID, uuid4

from attrs import field, frozen
from eventsourcing.domain import Aggregate

from application.accounts import account_key
from application.authorization import require_admin
from application.context import command
from application.credentials import staged_secret
from application.log import MailHostLog
from application.mailservices import MailServices, split_address
from application.ports import Clock, CredentialStore, PasswordHasher
from domain.address import EmailAddress
from domain.creation import CreationMode
from domain.errors import InvalidInput, NotFound
from domain.hosted import AddressEntry, AddressKind, parse_local_part
from domain.mailbox import Mailbox
from domain.mailservice import MailService
from domain.organisation import Organisation
from domain.responder import AutoResponder
from domain.respondermessage import MessageDraft
from domain.responderpolicy import responder_id
from domain.security import PasswordPolicy
from domain.templates import ResponderTemplate

GENERATED_BYTES = 15  # 120 bits, 20 URL-safe characters

# What else a new mailbox brings into existence, saved with it (an invitation).
Companions = Callable[[MailService, Mailbox], Sequence[Aggregate]]


def generate_password() -> str:
    return secrets.token_urlsafe(GENERATED_BYTES)


@frozen
class CreatedAddress:
    """``password`` is the generated one, to be shown once; None when the user chose it."""

    address: str
    mailbox_id: UUID
    password: str | None = field(repr=False)


def not_a_member(user: str | UUID, org: Organisation) -> str:
    return f"user {user} is not a member of {org.name}"


def members(
    log: MailHostLog, service: MailService, users: Iterable[str | UUID]
) -> tuple[UUID, ...]:
    """The account ids of ``users``, each a member of the service's organisation."""
    org = log.load(service.organisation_id, Organisation, "organisation")
    chosen = []
    for user in users:
        account_id = user if isinstance(user, UUID) else account_key(user, what="user")
        if account_id not in org.members:
            raise NotFound(not_a_member(user, org))
        chosen.append(account_id)
    return tuple(chosen)


def responder_of(log: MailHostLog, mailbox: Mailbox) -> AutoResponder | None:
    """The auto-responder of the mailbox's address, if it has (or had) one."""
    return log.find(responder_id(mailbox.address), AutoResponder)


@frozen
class _NewAddress:
    """A creation as decided before any write: every name resolved, every value parsed."""

    local: str
    kind: AddressKind
    mode: CreationMode
    creator: UUID | None
    users: tuple[UUID, ...]
    signature: str
    targets: tuple[str, ...]
    template: ResponderTemplate | None


@frozen
class AddressCreation:
    log: MailHostLog
    services: MailServices
    credentials: CredentialStore
    hasher: PasswordHasher
    clock: Clock
    passwords: PasswordPolicy = field(factory=PasswordPolicy)

    @command
    def create_for_self(
        self,
        address: str,
        password: str,
        *,
        by: UUID,
        responder_template: str | None = None,
    ) -> CreatedAddress:
        """ADR-3: a strong password chosen; linked at once to the creator's mail app."""
        self.passwords.check(password, login=address)
        return self.create(
            address,
            AddressKind.MAILBOX,
            CreationMode.FOR_SELF,
            by=by,
            encoded=self.hasher.hash(password),
            generated=None,
            responder_template=responder_template,
        )

    @command
    def create_for_users(
        self,
        address: str,
        users: Sequence[str | UUID],
        *,
        signature: str | None = None,
        responder_template: str | None = None,
        by: UUID | None,
    ) -> CreatedAddress:
        """ADR-4: for users of the organisation; a random password, shown once."""
        if not users:
            raise InvalidInput("name at least one user for the new address")
        password = generate_password()
        return self.create(
            address,
            AddressKind.MAILBOX,
            CreationMode.FOR_OTHERS,
            by=by,
            users=users,
            signature=signature,
            encoded=self.hasher.hash_generated(password),
            generated=password,
            responder_template=responder_template,
        )

    @command
    def create_unassigned(
        self,
        address: str,
        *,
        password: str | None = None,
        signature: str | None = None,
        responder_template: str | None = None,
        by: UUID | None,
    ) -> CreatedAddress:
        """ADR-6: like for yourself, but linked to nobody's mail app."""
        return self._with_password(
            address,
            AddressKind.MAILBOX,
            CreationMode.UNASSIGNED,
            password=password,
            signature=signature,
            by=by,
            responder_template=responder_template,
        )

    @command
    def create_no_reply(
        self, address: str, *, password: str | None = None, by: UUID | None
    ) -> CreatedAddress:
        """ADR-8: a send-only generic address (confirmations, invoices)."""
        return self._with_password(
            address,
            AddressKind.NO_REPLY,
            CreationMode.UNASSIGNED,
            password=password,
            signature=None,
            by=by,
        )

    @command
    def create_redirect(
        self, address: str, targets: Sequence[str], *, by: UUID | None
    ) -> CreatedAddress:
        """ADR-10: a virtual address that only forwards."""
        return self.create(
            address,
            AddressKind.REDIRECT,
            CreationMode.UNASSIGNED,
            by=by,
            targets=targets,
            encoded=None,
            generated=None,
        )

    def _with_password(
        self,
        address: str,
        kind: AddressKind,
        mode: CreationMode,
        *,
        password: str | None,
        signature: str | None,
        by: UUID | None,
        responder_template: str | None = None,
    ) -> CreatedAddress:
        generated = generate_password() if password is None else None
        if password is not None:
            self.passwords.check(password, login=address)
        return self.create(
            address,
            kind,
            mode,
            by=by,
            signature=signature,
            encoded=self.hasher.hash(password)
            if password is not None
            else self.hasher.hash_generated(str(generated)),
            generated=generated,
            responder_template=responder_template,
        )

    @command
    def create(
        self,
        address: str,
        kind: AddressKind,
        mode: CreationMode,
        *,
        by: UUID | None,
        encoded: str | None,
        generated: str | None = None,
        users: Sequence[str | UUID] = (),
        signature: str | None = None,
        targets: Sequence[str] = (),
        companions: Companions | None = None,
        responder_template: str | None = None,
    ) -> CreatedAddress:
        """Claim the local part and create the mailbox (and its ``companions``) at once.

        ``encoded``: the password's hash (None: the address has no password yet);
        ``generated``: the password, when it was generated, to be shown once.
        """
        local, domain = split_address(address)
        service = self.services.get(domain)
        require_admin(self.log, service, by)
        new = _NewAddress(
            local=parse_local_part(local, service.domain),
            kind=kind,
            mode=mode,
            creator=by,
            users=members(self.log, service, users),
            signature=service.signature(signature),
            targets=tuple(targets),
            template=service.responder_template(responder_template)
            if responder_template
            else None,
        )

        def attempt() -> Mailbox:
            fresh = self.services.get(domain)
            mailbox_id = fresh.new_mailbox_id(new.local)
            if encoded is None:
                return self._save(fresh, new, mailbox_id, None, companions)
            credential_id = uuid4()
            with staged_secret(
                self.credentials, credential_id, encoded, owner=mailbox_id
            ):
                return self._save(fresh, new, mailbox_id, credential_id, companions)

        mailbox = self.log.retrying(attempt)
        return CreatedAddress(mailbox.address, mailbox.id, generated)

    def _save(
        self,
        service: MailService,
        new: _NewAddress,
        mailbox_id: UUID,
        credential_id: UUID | None,
        companions: Companions | None,
    ) -> Mailbox:
        at = self.clock.now()
        service.claim([AddressEntry(new.local, new.kind, mailbox_id)], at=at)
        mailbox = Mailbox.create(
            mailbox_id,
            service.id,
            f"{new.local}@{service.domain}",
            kind=new.kind,
            mode=new.mode,
            creator_id=new.creator,
            credential_id=credential_id,
            users=new.users,
            signature=new.signature,
            targets=new.targets,
            at=at,
        )
        extra = [*companions(service, mailbox)] if companions else []
        if new.template is not None:
            extra.append(self._responder_with(mailbox, new.template, at))
        self.log.save(service, mailbox, *extra)
        return mailbox

    def _responder_with(
        self, mailbox: Mailbox, template: ResponderTemplate, at: datetime
    ) -> AutoResponder:
        """ADR-12: the template saved as the address's message, not yet active.

        A responder retired with an earlier address of this name is reused.
        """
        responder = responder_of(self.log, mailbox) or AutoResponder.provision(
            EmailAddress.parse(mailbox.address), time_zone="UTC", at=at
        )
        draft = MessageDraft(
            name=template.name, body=template.body, subject=template.subject
        )
        responder.save_message(draft, at=at)
        return responder
