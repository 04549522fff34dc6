"""Invitations to use a new address (ADR-5): sent with a code, accepted once.

The address is created with its invitation in one transaction; the code is mailed only
(its digest is in the credential store, never in the log), so a mail that could not be
sent is followed by ``reinvite``, which makes a new code.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import make_msgid
from uuid import UUID, uuid4

from attrs import field, frozen

from application.accounts import enrol
from application.authorization import require_admin
from application.context import command, identified, self_service
from application.creation import AddressCreation
from application.credentials import staged_secret
from application.log import MailHostLog
from application.mailservices import MailServices, split_address
from application.ports import (
    Clock,
    CredentialStore,
    EngineMail,
    Fingerprints,
    OutgoingMail,
    PasswordHasher,
)
from domain import ids
from domain.address import EmailAddress
from domain.creation import CreationMode
from domain.errors import InvalidInput, NotPermitted
from domain.hosted import AddressKind
from domain.invitation import Invitation, LoginChoice
from domain.mailbox import Mailbox
from domain.mailservice import MailService
from domain.organisation import Organisation, Role
from domain.security import PasswordPolicy


def _invitee(send_to: str | None) -> str | None:
    """Where the invitation goes when not to the address itself: checked, normalised."""
    return str(EmailAddress.parse(send_to, what="invitee")) if send_to else None


class InvitationNotSent(RuntimeError):  # noqa: N818 - reads as what happened
    """Saved, but the mail with the code did not go out: invite again."""


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

        The address and its invitation are saved together. The code is in the mail only
        (its digest is kept): if the mail cannot be sent, ``reinvite`` sends a new one.
        """
        staged = self._staged(_invitee(send_to), login_choice)
        with staged as (invitation_id, token, invitation_for):
            self.creation.create(
                address,
                AddressKind.MAILBOX,
                CreationMode.INVITATION,
                by=by,
                signature=signature,
                encoded=None,
                companions=lambda service, mailbox: [invitation_for(service, mailbox)],
            )
        self._mail_invitation(invitation_id, token)
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
        if mailbox.mode is not CreationMode.INVITATION or mailbox.users:
            raise InvalidInput(f"{mailbox.address} is not waiting for an invitation")
        with self._staged(target, login_choice) as (_, token, invitation_for):
            invitation = invitation_for(service, mailbox)
            self.log.create(invitation, what="invitation")
        self._mail_invitation(invitation.id, token)
        return invitation.id

    @contextmanager
    def _staged(
        self, sent_to: str | None, login_choice: LoginChoice
    ) -> Iterator[tuple[UUID, str, Callable[[MailService, Mailbox], Invitation]]]:
        """A new invitation's id, its code, and how to make it for an address.

        The code's digest is stored for the block that saves the invitation, and taken
        back when the save does not happen.
        """
        invitation_id = uuid4()
        token, token_id = self.fingerprints.new_token(), uuid4()

        def invitation_for(service: MailService, mailbox: Mailbox) -> Invitation:
            return Invitation.send(
                invitation_id,
                organisation_id=service.organisation_id,
                mailbox_id=mailbox.id,
                address=mailbox.address,
                sent_to=sent_to,
                login_choice=login_choice,
                token_id=token_id,
                at=self.clock.now(),
            )

        digest = self.fingerprints.digest(token)
        with staged_secret(self.credentials, token_id, digest, owner=invitation_id):
            yield invitation_id, token, invitation_for

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
        if self.log.exists(ids.account_id(str(address))):
            raise InvalidInput(f"login {address} is taken; choose another")
        identified(ids.account_id(str(address)))
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
            account = enrol(
                org,
                address,
                credential_id=credential_id,
                display_name=display_name,
                role=Role.MEMBER,
                at=at,
            )
            mailbox.assign(account.id, at=at)
            invitation.accept(account.id, at=at)
            self.log.create(
                account, org, mailbox, invitation, what=f"account {address}"
            )
        self.credentials.forget_secret(invitation.token_id)
        return account.id

    def _invitation_mail(self, invitation: Invitation, token: str) -> OutgoingMail:
        message = EmailMessage()
        message["From"] = self.mail.sender
        message["To"] = invitation.sent_to
        message["Subject"] = f"You are invited to use {invitation.address}"
        message["Message-ID"] = make_msgid(domain=split_address(invitation.address)[1])
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
