"""Invitations to use a new address (ADR-5): sent with a code, accepted once.

The address is created with its invitation in one transaction. The code never enters
the log: its digest and a sealed copy are in the credential store, written before the
save. The mail is a job derived from the invitation's event (``jobs.SEND_INVITATION``):
it reads the sealed copy, sends, records the invitation as mailed and then forgets the
copy, so a mail server that is down delays the mail rather than losing it, and a second
run of the job sends nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from uuid import UUID, uuid4

from attrs import field, frozen

from application.accounts import enrol
from application.authorization import require_admin
from application.context import command, identified, self_service
from application.creation import AddressCreation
from application.credentials import staged_secret
from application.log import MailHostLog
from application.mailservices import MailServices
from application.ports import (
    Clock,
    CredentialStore,
    EngineMail,
    Fingerprints,
    OutgoingMail,
    PasswordHasher,
    Sealer,
)
from domain import ids
from domain.address import EmailAddress
from domain.creation import CreationMode
from domain.errors import InvalidInput, NotPermitted
from domain.hosted import AddressKind
from domain.invitation import Invitation, LoginChoice, awaits_invitee
from domain.mailbox import Mailbox
from domain.mailservice import MailService
from domain.organisation import Organisation, Role
from domain.security import PasswordPolicy


def _invitee(send_to: str | None) -> str | None:
    """Where the invitation goes when not to the address itself: checked, normalised."""
    return str(EmailAddress.parse(send_to, what="invitee")) if send_to else None


class MissingCodeError(LookupError):
    """An invitation waits for its mail, but its sealed code is not in the store."""


def code_context(invitation_id: UUID) -> str:
    """What a sealed code is bound to: it opens for its own invitation only."""
    return f"mailhost/invitation-code:{invitation_id}"


@frozen
class Invitations:
    log: MailHostLog
    services: MailServices
    creation: AddressCreation
    credentials: CredentialStore
    hasher: PasswordHasher
    fingerprints: Fingerprints
    mail: EngineMail
    clock: Clock
    sealer: Sealer
    passwords: PasswordPolicy = field(factory=PasswordPolicy)

    @command
    def invite(
        self,
        address: str,
        *,
        send_to: str | None = None,
        login_choice: LoginChoice = LoginChoice.THE_ADDRESS,
        signature: str | None = None,
        by: UUID | None,
    ) -> UUID:
        """Create the address and mail an invitation to it, or to ``send_to``.

        The address and its invitation are saved together; the mail is their job.
        """
        staged = self._staged(_invitee(send_to), login_choice)
        with staged as (invitation_id, invitation_for):
            self.creation.create(
                address,
                AddressKind.MAILBOX,
                CreationMode.INVITATION,
                by=by,
                signature=signature,
                encoded=None,
                companions=lambda service, mailbox: [invitation_for(service, mailbox)],
            )
        return invitation_id

    @command
    def reinvite(
        self,
        address: str,
        *,
        send_to: str | None = None,
        login_choice: LoginChoice = LoginChoice.THE_ADDRESS,
        by: UUID | None,
    ) -> UUID:
        """A new invitation (and code) for an address nobody has accepted yet."""
        target = _invitee(send_to)
        service, mailbox = self.services.mailbox(address)
        require_admin(self.log, service, by)
        if not awaits_invitee(mailbox):
            raise InvalidInput(f"{mailbox.address} is not waiting for an invitation")
        with self._staged(target, login_choice) as (_, invitation_for):
            invitation = invitation_for(service, mailbox)
            self.log.create(invitation, what="invitation")
        return invitation.id

    @contextmanager
    def _staged(
        self, sent_to: str | None, login_choice: LoginChoice
    ) -> Iterator[tuple[UUID, Callable[[MailService, Mailbox], Invitation]]]:
        """A new invitation's id, and how to make it for an address.

        The code's digest and its sealed copy are stored for the block that saves the
        invitation, and taken back when the save does not happen.
        """
        invitation_id = uuid4()
        token, token_id, code_id = self.fingerprints.new_token(), uuid4(), uuid4()

        def invitation_for(service: MailService, mailbox: Mailbox) -> Invitation:
            return Invitation.send(
                invitation_id,
                organisation_id=service.organisation_id,
                mailbox_id=mailbox.id,
                address=mailbox.address,
                sent_to=sent_to,
                login_choice=login_choice,
                token_id=token_id,
                code_id=code_id,
                at=self.clock.now(),
            )

        digest = self.fingerprints.digest(token)
        sealed = self.sealer.seal(token.encode(), context=code_context(invitation_id))
        with (
            staged_secret(self.credentials, token_id, digest, owner=invitation_id),
            staged_secret(self.credentials, code_id, sealed, owner=invitation_id),
        ):
            yield invitation_id, invitation_for

    def mail_invitation(self, invitation_id: UUID) -> bool:
        """The job: mail the code while the invitation waits for it; True if mailed.

        The copy is forgotten only once the log says mailed: a crash before that sends
        the same mail (one Message-ID) again, never none. An invitation accepted, expired
        or mailed already, or to an address deleted or taken up meanwhile (through
        another invitation), has its copy forgotten and gets no mail.
        """
        invitation = self.log.find(invitation_id, Invitation)
        if invitation is None or invitation.code_id is None:
            return False
        mailbox = self.log.find(invitation.mailbox_id, Mailbox)
        waiting = (
            invitation.awaits_mail(at=self.clock.now())
            and mailbox is not None
            and awaits_invitee(mailbox)
        )
        if waiting:
            sealed = self.credentials.secret(invitation.code_id)
            if sealed is None:  # the store and the log disagree (a restore?): say so
                raise MissingCodeError(
                    f"invitation {invitation_id} has no sealed code to mail; "
                    "send a new one with reinvite"
                )
            token = self.sealer.unseal(sealed, context=code_context(invitation_id))
            self.mail.send(self._invitation_mail(invitation, token.decode()))
            self.log.retrying(lambda: self._record_mailed(invitation_id))
        self.credentials.forget_secret(invitation.code_id)
        return waiting

    def mailed(self, invitation_id: UUID) -> bool:
        """Whether the invitation's mail has gone out (its job recorded it)."""
        return self.log.load(invitation_id, Invitation, "invitation").mailed

    def _record_mailed(self, invitation_id: UUID) -> None:
        invitation = self.log.load(invitation_id, Invitation, "invitation")
        if not invitation.mailed:
            invitation.record_mailed(at=self.clock.now())
            self.log.save(invitation)

    @self_service
    def accept_invitation(
        self,
        invitation_id: UUID,
        token: str,
        *,
        password: str,
        login: str | None = None,
        display_name: str = "",
    ) -> UUID:
        """The invited person becomes a user of the organisation, linked to the address.

        No ``by``: the invitation's code proves who accepts, and the account it creates
        is the actor of its own creation.
        """
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
        account_id = self._free_login(address)  # before the slow hash
        identified(account_id)
        credential_id = uuid4()
        with staged_secret(
            self.credentials,
            credential_id,
            self.hasher.hash(password),
            owner=account_id,
        ):
            self.log.retrying(
                lambda: self._enrol(
                    invitation_id, address, account_id, credential_id, display_name
                )
            )
        self.credentials.forget_secret(invitation.token_id)
        if invitation.code_id is not None:
            self.credentials.forget_secret(invitation.code_id)
        return account_id

    def _enrol(
        self,
        invitation_id: UUID,
        address: EmailAddress,
        account_id: UUID,
        credential_id: UUID,
        display_name: str,
    ) -> None:
        """The account, its membership, the address's user and the acceptance, saved
        together; decided again on fresh state if another writer saved first (the
        job recording the mail, say): a used or expired invitation is refused first,
        then an address taken up through another invitation, then a taken login."""
        at = self.clock.now()
        invitation = self.log.load(invitation_id, Invitation, "invitation")
        invitation.accept(account_id, at=at)
        mailbox = self.log.load(invitation.mailbox_id, Mailbox, "address")
        if not awaits_invitee(mailbox):
            raise NotPermitted(f"{mailbox.address} has been taken up already")
        self._free_login(address)
        org = self.log.load(invitation.organisation_id, Organisation, "organisation")
        account = enrol(
            org,
            address,
            credential_id=credential_id,
            display_name=display_name,
            role=Role.MEMBER,
            at=at,
        )
        mailbox.assign(account.id, at=at)
        self.log.save(account, org, mailbox, invitation)

    def _free_login(self, address: EmailAddress) -> UUID:
        """The account id ``address`` would have; refused if an account has it."""
        account_id = ids.account_id(str(address))
        if self.log.exists(account_id):
            raise InvalidInput(f"login {address} is taken; choose another")
        return account_id

    def _invitation_mail(self, invitation: Invitation, token: str) -> OutgoingMail:
        message = EmailMessage()
        message["From"] = self.mail.sender
        message["To"] = invitation.sent_to
        message["Subject"] = f"You are invited to use {invitation.address}"
        message["Message-ID"] = self.mail.message_id("invitation", str(invitation.id))
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
        return OutgoingMail(self.mail.sender, (invitation.sent_to,), message)
