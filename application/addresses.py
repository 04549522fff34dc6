"""Use cases of addresses: create (ADR-3..ADR-6, ADR-8, ADR-10), delete (ADR-11),
permissions (ORG-3), passwords (PWD-1, PWD-2, ADR-7), signatures (ADR-12).

Each command loads the mail service and the mailboxes it touches, decides, and saves them
in one transaction; secrets go to the credential store first (under a fresh id the events
name, owned by the aggregate that names it), and are taken back when the save does not
happen. The save is the only write: the mail store (passwd-file lines, destroyed content)
is brought to the log's state by ``sync_store``, a job the saved events start, so a crash
after the save can never leave the store behind for good (two writes, one of which may
not happen, could).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from email.message import EmailMessage
from email.utils import make_msgid
from typing import TypeVar
from uuid import UUID, uuid4

from attrs import field, frozen
from eventsourcing.domain import Aggregate

from application.accounts import Accounts, account_key
from application.authorization import OPERATOR, require_admin, require_permission
from application.credentials import staged_secret
from application.log import MailHostLog
from application.mailservices import MailServices, split_address
from application.ports import (
    Clock,
    CredentialStore,
    Fingerprints,
    MailSender,
    MailStore,
    OutgoingMail,
    PasswordHasher,
)
from domain import ids
from domain.account import UserAccount
from domain.address import EmailAddress
from domain.errors import InvalidInput, NotFound, NotPermitted
from domain.invitation import Invitation, LoginChoice
from domain.mailbox import CreationMode, Mailbox
from domain.mailservice import AddressEntry, AddressKind, MailService, parse_local_part
from domain.organisation import Organisation, Role
from domain.permissions import Permission
from domain.responder import AutoResponder, responder_id
from domain.security import PasswordPolicy

T = TypeVar("T")
GENERATED_BYTES = 15  # 120 bits, 20 URL-safe characters
# Events after which a mail store write made from an older state may be stale.
_STORE_TOPICS = (
    "Mailbox.Created",
    "Mailbox.PasswordChanged",
    "Mailbox.Deleted",
    "MailService.AddressesClaimed",
)
_SYNC_ROUNDS = 5


class InvitationNotSent(RuntimeError):  # noqa: N818 - reads as what happened
    """Saved, but the mail with the code did not go out: invite again."""


@frozen
class CreatedAddress:
    """``password`` is the generated one, to be shown once; None when the user chose it."""

    address: str
    mailbox_id: UUID
    password: str | None = field(repr=False)


def generate_password() -> str:
    return secrets.token_urlsafe(GENERATED_BYTES)


@frozen
class Addresses:
    log: MailHostLog
    services: MailServices
    credentials: CredentialStore
    hasher: PasswordHasher
    fingerprints: Fingerprints
    store: MailStore
    mail: MailSender
    clock: Clock
    sender: str
    accounts: Accounts
    passwords: PasswordPolicy = field(factory=PasswordPolicy)

    # -- creation ---------------------------------------------------------------------

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
        return self._create(
            address,
            AddressKind.MAILBOX,
            CreationMode.FOR_SELF,
            by=by,
            creator=by,
            encoded=self.hasher.hash(password),
            generated=None,
            responder_template=responder_template,
        )

    def create_for_users(
        self,
        address: str,
        users: Sequence[str | UUID],
        *,
        signature: str | None = None,
        responder_template: str | None = None,
        by: UUID | None = OPERATOR,
    ) -> CreatedAddress:
        """ADR-4: for users of the organisation; a random password, shown once."""
        if not users:
            raise InvalidInput("name at least one user for the new address")
        password = generate_password()
        return self._create(
            address,
            AddressKind.MAILBOX,
            CreationMode.FOR_OTHERS,
            by=by,
            creator=by,
            users=users,
            signature=signature,
            encoded=self.hasher.hash_generated(password),
            generated=password,
            responder_template=responder_template,
        )

    def create_unassigned(
        self,
        address: str,
        *,
        password: str | None = None,
        signature: str | None = None,
        responder_template: str | None = None,
        by: UUID | None = OPERATOR,
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

    def create_no_reply(
        self, address: str, *, password: str | None = None, by: UUID | None = OPERATOR
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

    def create_redirect(
        self, address: str, targets: Sequence[str], *, by: UUID | None = OPERATOR
    ) -> CreatedAddress:
        """ADR-10: a virtual address that only forwards."""
        return self._create(
            address,
            AddressKind.REDIRECT,
            CreationMode.UNASSIGNED,
            by=by,
            creator=by,
            targets=targets,
            encoded=None,
            generated=None,
        )

    def add_alias(
        self, mailbox_address: str, alias: str, *, by: UUID | None = OPERATOR
    ) -> str:
        def attempt() -> str:
            service, mailbox = self.services.mailbox(mailbox_address)
            require_admin(self.log, service, by)
            local = parse_local_part(alias, service.domain)
            if (
                service.entry(mailbox.address.rpartition("@")[0]).kind
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
        return self._create(
            address,
            kind,
            mode,
            by=by,
            creator=by,
            signature=signature,
            encoded=self.hasher.hash(password)
            if password is not None
            else self.hasher.hash_generated(str(generated)),
            generated=generated,
            responder_template=responder_template,
        )

    def _create(
        self,
        address: str,
        kind: AddressKind,
        mode: CreationMode,
        *,
        by: UUID | None,
        creator: UUID | None,
        encoded: str | None,
        generated: str | None,
        users: Sequence[str | UUID] = (),
        signature: str | None = None,
        targets: Sequence[str] = (),
        companions: Callable[[MailService, Mailbox], Sequence[Aggregate]] | None = None,
        responder_template: str | None = None,
    ) -> CreatedAddress:
        """Claim the local part and create the mailbox (and its ``companions``) at once."""
        local, domain = split_address(address)
        service = self.services.get(domain)
        require_admin(self.log, service, by)
        local = parse_local_part(local, service.domain)
        user_ids = self._members(service, users)
        text = service.signature(signature)
        template = (
            service.responder_template(responder_template)
            if (responder_template)
            else None
        )

        def attempt() -> Mailbox:
            fresh = self.services.get(domain)
            mailbox_id = fresh.new_mailbox_id(local)
            if encoded is None:
                return decide_and_save(fresh, mailbox_id, None)
            credential_id = uuid4()
            with staged_secret(
                self.credentials, credential_id, encoded, owner=mailbox_id
            ):
                return decide_and_save(fresh, mailbox_id, credential_id)

        def decide_and_save(
            fresh: MailService, mailbox_id: UUID, credential_id: UUID | None
        ) -> Mailbox:
            at = self.clock.now()
            fresh.claim([AddressEntry(local, kind, mailbox_id)], at=at)
            mailbox = Mailbox.create(
                mailbox_id,
                fresh.id,
                f"{local}@{fresh.domain}",
                kind=kind,
                mode=mode,
                creator_id=creator,
                credential_id=credential_id,
                users=user_ids,
                signature=text,
                targets=targets,
                at=at,
            )
            extra = [*companions(fresh, mailbox)] if companions else []
            if template is not None:  # ADR-12: the template, saved, not yet active
                # A responder retired with an earlier address of this name is reused.
                responder = self._responder_of(mailbox) or AutoResponder.provision(
                    EmailAddress.parse(mailbox.address), time_zone="UTC", at=at
                )
                responder.save_message(
                    template.name, body=template.body, subject=template.subject, at=at
                )
                extra.append(responder)
            self.log.save(fresh, mailbox, *extra)
            return mailbox

        mailbox = self.log.retrying(attempt)
        return CreatedAddress(mailbox.address, mailbox.id, generated)

    def _members(
        self, service: MailService, users: Iterable[str | UUID]
    ) -> tuple[UUID, ...]:
        org = self.log.load(service.organisation_id, Organisation, "organisation")
        chosen = []
        for user in users:
            account_id = (
                user if isinstance(user, UUID) else account_key(user, what="user")
            )
            if account_id not in org.members:
                raise NotFound(f"user {user} is not a member of {org.name}")
            chosen.append(account_id)
        return tuple(chosen)

    # -- invitations (ADR-5) ----------------------------------------------------------

    def invite(
        self,
        address: str,
        *,
        send_to: str | None = None,
        login_choice: LoginChoice = LoginChoice.THE_ADDRESS,
        signature: str | None = None,
        by: UUID | None = OPERATOR,
    ) -> UUID:
        """Create the address and mail an invitation to it, or to ``send_to``.

        The address and its invitation are saved together. The code is in the mail only
        (its digest is kept): if the mail cannot be sent, ``reinvite`` sends a new one.
        """
        target = str(EmailAddress.parse(send_to, what="invitee")) if send_to else None
        token, token_id = self.fingerprints.new_token(), uuid4()
        invitation_id = uuid4()

        def invitation_for(service: MailService, mailbox: Mailbox) -> list[Aggregate]:
            return [
                Invitation.send(
                    invitation_id,
                    organisation_id=service.organisation_id,
                    mailbox_id=mailbox.id,
                    address=mailbox.address,
                    sent_to=target,
                    login_choice=login_choice,
                    token_id=token_id,
                    at=self.clock.now(),
                )
            ]

        with staged_secret(
            self.credentials,
            token_id,
            self.fingerprints.digest(token),
            owner=invitation_id,
        ):
            self._create(
                address,
                AddressKind.MAILBOX,
                CreationMode.INVITATION,
                by=by,
                creator=by,
                signature=signature,
                encoded=None,
                generated=None,
                companions=invitation_for,
            )
        self._mail_invitation(invitation_id, token)
        return invitation_id

    def reinvite(
        self,
        address: str,
        *,
        send_to: str | None = None,
        login_choice: LoginChoice = LoginChoice.THE_ADDRESS,
        by: UUID | None = OPERATOR,
    ) -> UUID:
        """A new invitation (and code) for an address nobody has accepted yet."""
        target = str(EmailAddress.parse(send_to, what="invitee")) if send_to else None
        service, mailbox = self.services.mailbox(address)
        require_admin(self.log, service, by)
        if mailbox.mode is not CreationMode.INVITATION or mailbox.users:
            raise InvalidInput(f"{mailbox.address} is not waiting for an invitation")
        token, token_id, invitation_id = self.fingerprints.new_token(), uuid4(), uuid4()
        with staged_secret(
            self.credentials,
            token_id,
            self.fingerprints.digest(token),
            owner=invitation_id,
        ):
            invitation = Invitation.send(
                invitation_id,
                organisation_id=service.organisation_id,
                mailbox_id=mailbox.id,
                address=mailbox.address,
                sent_to=target,
                login_choice=login_choice,
                token_id=token_id,
                at=self.clock.now(),
            )
            self.log.create(invitation, what="invitation")
        self._mail_invitation(invitation.id, token)
        return invitation.id

    def _mail_invitation(self, invitation_id: UUID, token: str) -> None:
        invitation = self.log.load(invitation_id, Invitation, "invitation")
        try:
            self.mail.send(self._invitation_mail(invitation, token))
        except Exception as e:  # noqa: BLE001 - any failure of the mail port
            msg = (
                f"{invitation.address} and its invitation were saved, but the invitation "
                f"mail could not be sent ({type(e).__name__}); send it again with reinvite"
            )
            raise InvitationNotSent(msg) from None

    def accept_invitation(
        self,
        invitation_id: UUID,
        token: str,
        *,
        password: str,
        login: str | None = None,
        display_name: str = "",
    ) -> UUID:
        """The invited person becomes a user of the organisation, linked to the address."""
        invitation = self.log.load(invitation_id, Invitation, "invitation")
        stored = self.credentials.secret(invitation.token_id)
        try:
            given = self.fingerprints.digest(token)
        except UnicodeError:  # not text a code could be (a lone surrogate)
            given = ""
        if stored is None or not secrets.compare_digest(stored, given):
            raise NotPermitted("this invitation link is not valid")
        address = invitation.login_for(login)
        self.passwords.check(password, login=str(address))
        if self.log.exists(ids.account_id(str(address))):
            raise InvalidInput(f"login {address} is taken; choose another")
        credential_id = uuid4()
        with staged_secret(
            self.credentials,
            credential_id,
            self.hasher.hash(password),
            owner=ids.account_id(str(address)),
        ):
            at = self.clock.now()
            org = self.log.load(
                invitation.organisation_id, Organisation, "organisation"
            )
            mailbox = self.log.load(invitation.mailbox_id, Mailbox, "address")
            account = UserAccount.register(
                org.id,
                address,
                credential_id=credential_id,
                display_name=display_name,
                at=at,
            )
            org.admit(account.id, role=Role.MEMBER, at=at)
            mailbox.assign(account.id, at=at)
            invitation.accept(account.id, at=at)
            self.log.create(
                account, org, mailbox, invitation, what=f"account {address}"
            )
        self.credentials.forget_secret(invitation.token_id)
        return account.id

    def _invitation_mail(self, invitation: Invitation, token: str) -> OutgoingMail:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = invitation.sent_to
        message["Subject"] = f"You are invited to use {invitation.address}"
        message["Message-ID"] = make_msgid(domain=invitation.address.rpartition("@")[2])
        login = (
            f"Your login will be {invitation.address}."
            if invitation.login_choice is LoginChoice.THE_ADDRESS
            else "You will choose your own login."
        )
        message.set_content(
            f"You have been invited to use the address {invitation.address}.\n\n{login}\n\n"
            f"Invitation: {invitation.id}\nCode: {token}\n\n"
            "Enter the invitation and the code in your provider's account settings "
            f"before {invitation.expires_at:%Y-%m-%d %H:%M} UTC.\n",
            cte="7bit",
        )
        return OutgoingMail(self.sender, (invitation.sent_to,), message)

    # -- deletion (ADR-11) --------------------------------------------------------------

    def delete(
        self, addresses: Sequence[str], *, by: UUID | None = OPERATOR
    ) -> tuple[str, ...]:
        """Delete one or several addresses of one domain; their content is destroyed.

        All are checked, then the log records the deletions in one transaction: that
        frees the slots at once. The content and the login go by ``sync_store``, the job
        the deletions start (retried until the store has done it), so nothing is
        destroyed for a deletion that was not recorded, and no recorded deletion keeps
        its content for good.
        """
        if not addresses:
            raise InvalidInput("name at least one address to delete")
        domains = {a.strip().rpartition("@")[2].lower() for a in addresses}
        if len(domains) != 1:
            raise InvalidInput("delete the addresses of one domain at a time")
        service = self.services.get(domains.pop())
        require_admin(self.log, service, by)
        locals_ = [parse_local_part(a, service.domain) for a in addresses]
        return self.log.retrying(lambda: self._release(service.domain, locals_))

    def _release(self, domain: str, locals_: Sequence[str]) -> tuple[str, ...]:
        """Free the local parts and delete their mailboxes (with their aliases)."""
        service = self.services.get(domain)
        at = self.clock.now()
        before = dict(service.addresses)
        doomed = {
            service.entry(lp).mailbox_id
            for lp in locals_
            if service.entry(lp).kind is not AddressKind.ALIAS
        }
        service.release(locals_, at=at)
        released = [e for key, e in before.items() if key not in service.addresses]
        boxes = {m: self.log.load(m, Mailbox, "address") for m in doomed}
        responders = []
        for box in boxes.values():
            box.delete(at=at)
            responder = self._responder_of(box)
            if responder is not None:
                responder.retire(at=at)
                responders.append(responder)
        for entry in released:
            if entry.kind is AddressKind.ALIAS and entry.mailbox_id not in doomed:
                if entry.mailbox_id not in boxes:
                    boxes[entry.mailbox_id] = self.log.load(
                        entry.mailbox_id, Mailbox, "address"
                    )
                boxes[entry.mailbox_id].remove_aliases(
                    [service.address_of(entry)], at=at
                )
        self.log.save(service, *boxes.values(), *responders)
        return tuple(service.address_of(e) for e in released)

    def _responder_of(self, mailbox: Mailbox) -> AutoResponder | None:
        return self.log.find(responder_id(mailbox.address), AutoResponder)

    # -- users and permissions (ORG-3) ----------------------------------------------------

    def assign(
        self, address: str, user: str | UUID, *, by: UUID | None = OPERATOR
    ) -> None:
        """Give a member the address and link it to their mail app (admin only)."""
        self._for_member(
            address, user, by, lambda m, u: m.assign(u, at=self.clock.now())
        )

    def unassign(
        self, address: str, user: str | UUID, *, by: UUID | None = OPERATOR
    ) -> None:
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
            (user_id,) = self._members(service, [user])
            change(mailbox, user_id)

        self._update(address, decide)

    def set_permission(
        self,
        address: str,
        user: str | UUID,
        permission: Permission,
        allowed: bool | None,
        *,
        by: UUID | None = OPERATOR,
    ) -> None:
        """Grant, withdraw, or (None) return to the service default; only an admin may."""

        def decide(service: MailService, mailbox: Mailbox) -> None:
            require_admin(self.log, service, by)
            (user_id,) = self._members(service, [user])
            mailbox.set_permission(user_id, permission, allowed, at=self.clock.now())

        self._update(address, decide)

    def allows(self, address: str, user: str | UUID, permission: Permission) -> bool:
        service, mailbox = self.services.mailbox(address)
        (user_id,) = self._members(service, [user])
        return mailbox.allows(user_id, permission, service.default_permissions)

    # -- password (PWD-1, PWD-2, ADR-7) ---------------------------------------------------

    def change_password(
        self,
        address: str,
        new_password: str,
        *,
        by: UUID | None = OPERATOR,
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

    # -- signatures (ADR-12) --------------------------------------------------------------

    def set_signature(
        self, address: str, text: str, *, by: UUID | None = OPERATOR
    ) -> None:
        def decide(service: MailService, mailbox: Mailbox) -> None:
            require_permission(
                self.log, service, mailbox, by, Permission.MANAGE_SIGNATURE
            )
            mailbox.set_signature(text, at=self.clock.now())

        self._update(address, decide)

    def apply_signature_template(
        self, domain: str, template: str, *, by: UUID | None = OPERATOR
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

    def set_allow_list(
        self, address: str, entries: Iterable[str], *, by: UUID | None = OPERATOR
    ) -> None:
        values = tuple(entries)

        def decide(service: MailService, mailbox: Mailbox) -> None:
            require_permission(
                self.log, service, mailbox, by, Permission.MANAGE_FILTERS
            )
            mailbox.set_allow_list(values, at=self.clock.now())

        self._update(address, decide)

    def record_client_access(
        self, address: str, protocol: str, *, keeps_copy: bool = False
    ) -> None:
        self._update(
            address,
            lambda _, m: m.record_client_access(
                protocol, keeps_copy=keeps_copy, at=self.clock.now()
            ),
        )

    def record_usage(self, address: str, used_mb: int, limit_mb: int) -> None:
        self._update(
            address, lambda _, m: m.record_usage(used_mb, limit_mb, at=self.clock.now())
        )

    def resync_store(self, address: str) -> None:
        """Write the address's current hash to the mail store now (an operator's repair).

        The jobs converge the store by themselves; this is for a store that was
        restored from a backup or edited by hand, and names what it cannot write.
        """
        _, mailbox = self.services.mailbox(address)
        if mailbox.credential_id is None:
            raise InvalidInput(f"{address} has no password")
        encoded = self.credentials.secret(mailbox.credential_id)
        if encoded is None:
            raise NotFound(
                f"the credential of {address} is missing; set a new password"
            )
        self.store.set_password(mailbox.address, encoded)

    def sync_store(self, mailbox_ids: Sequence[UUID]) -> None:
        """Bring the mail store to the log's current state for these mailboxes.

        Run by the job that ``Mailbox.Created``/``PasswordChanged``/``Deleted`` start,
        with a batch of them at once: whatever event started it, it reads the current
        state, so a repeated, late or reordered job writes the same thing. A deleted
        mailbox's content and login are destroyed and its credential forgotten; if its
        address lives again under a newer mailbox, that one's hash is written again.
        The hashes are written in one ``set_passwords`` call (a 20,000-row import must
        not rewrite the passwd-file 20,000 times). A write made from a state that
        changed meanwhile is redone, so two jobs racing cannot leave an old hash last.
        A store failure raises: the job is retried.
        """
        pending = list(dict.fromkeys(mailbox_ids))
        for _ in range(_SYNC_ROUNDS):
            decided_on = self._sync_once(pending)
            changed: dict[UUID, bool] = {}
            pending = [
                mailbox_id
                for mailbox_id, versions in decided_on.items()
                if self._stale(versions, changed)
            ]
            if not pending:
                return
        msg = f"{len(pending)} mailbox(es) kept changing while the store was written"
        raise RuntimeError(msg)

    def _sync_once(self, mailbox_ids: Iterable[UUID]) -> dict[UUID, dict[UUID, int]]:
        """One pass; for each mailbox, the versions its write was decided on."""
        decided_on: dict[UUID, dict[UUID, int]] = {}
        live: dict[str, Mailbox] = {}
        for mailbox_id in mailbox_ids:
            box = self.log.find(mailbox_id, Mailbox)
            if box is None:
                continue
            versions = decided_on[mailbox_id] = {box.id: box.version}
            if not box.deleted:
                live[box.address.lower()] = box
                continue
            self.store.destroy(box.address)
            if box.credential_id is not None:
                self.credentials.forget_secret(box.credential_id)
            successor = self._successor(box, versions)
            if successor is not None:
                live[successor.address.lower()] = successor
        hashes = {
            box.address: encoded
            for box in live.values()
            if box.credential_id is not None
            and (encoded := self.credentials.secret(box.credential_id)) is not None
        }
        if hashes:
            self.store.set_passwords(hashes)
        return decided_on

    def _successor(self, box: Mailbox, versions: dict[UUID, int]) -> Mailbox | None:
        """The live mailbox that has a deleted one's address now, if any."""
        service = self.log.find(box.service_id, MailService)
        if service is None:
            return None
        versions[service.id] = service.version
        entry = service.addresses.get(box.address.rpartition("@")[0].casefold())
        if entry is None or entry.mailbox_id == box.id:
            return None
        if entry.kind not in {AddressKind.MAILBOX, AddressKind.NO_REPLY}:
            return None
        successor = self.log.find(entry.mailbox_id, Mailbox)
        if successor is None or successor.deleted:
            return None
        versions[successor.id] = successor.version
        return successor

    def _stale(self, versions: dict[UUID, int], changed: dict[UUID, bool]) -> bool:
        """Whether an aggregate a write was decided on has a newer store event."""
        for aggregate_id, version in versions.items():
            if aggregate_id not in changed:
                changed[aggregate_id] = self._changed_since(aggregate_id, version)
            if changed[aggregate_id]:
                return True
        return False

    def _changed_since(self, aggregate_id: UUID, version: int) -> bool:
        newer = self.log.recorder.select_events(aggregate_id, gt=version)
        return any(event.topic.endswith(_STORE_TOPICS) for event in newer)

    def _update(self, address: str, decide: Callable[[MailService, Mailbox], T]) -> T:
        def attempt() -> T:
            service, mailbox = self.services.mailbox(address)
            result = decide(service, mailbox)
            self.log.save(mailbox)
            return result

        return self.log.retrying(attempt)
