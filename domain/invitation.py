"""Invitations to use a new address (ADR-5).

The invitation goes to the new address itself or to the person's existing address; the
invited user's login is either exactly the new address or one of their choice. The
token that proves the invitation lives in the credential store, not here: its digest, to
check it, and until the invitation is mailed a sealed copy (``code_id``) for the job
that mails it. An invitation saved before the copy was kept has no ``code_id``: its mail
went out with the request that made it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.address import EmailAddress
from domain.creation import CreationMode
from domain.errors import InvalidInput, NotPermitted
from domain.mailbox import Mailbox
from domain.time import utc

VALIDITY = timedelta(days=7)


class LoginChoice(StrEnum):
    THE_ADDRESS = "address"
    OWN_CHOICE = "choice"


def awaits_invitee(mailbox: Mailbox) -> bool:
    """The address was made to be taken up by invitation, and nobody has taken it up."""
    return (
        not mailbox.deleted
        and mailbox.mode is CreationMode.INVITATION
        and not mailbox.users
    )


class Invitation(Aggregate):
    # Never snapshotted, so no class-level declaration of the state for the mapper:
    # __init__ types the attributes. Snapshotting it would need one (the mapper says so).

    class Sent(Aggregate.Created):
        organisation_id: UUID
        mailbox_id: UUID
        address: str
        sent_to: str
        login_choice: LoginChoice
        token_id: UUID
        expires_at: datetime
        code_id: UUID | None = None

    def __init__(
        self,
        *,
        organisation_id: UUID,
        mailbox_id: UUID,
        address: str,
        sent_to: str,
        login_choice: LoginChoice,
        token_id: UUID,
        expires_at: datetime,
        code_id: UUID | None = None,
    ) -> None:
        self.organisation_id = organisation_id
        self.mailbox_id = mailbox_id
        self.address = address
        self.sent_to = sent_to
        self.login_choice = login_choice
        self.token_id = token_id
        self.expires_at = expires_at
        self.code_id = code_id
        self.accepted_by: UUID | None = None
        self.mailed = code_id is None

    @classmethod
    def send(
        cls,
        invitation_id: UUID,
        *,
        organisation_id: UUID,
        mailbox_id: UUID,
        address: str,
        sent_to: str | None,
        login_choice: LoginChoice,
        token_id: UUID,
        code_id: UUID,
        at: datetime,
    ) -> Invitation:
        """Invite to ``sent_to`` (an existing address), or to the new address itself."""
        target = (
            str(EmailAddress.parse(sent_to, what="invitee")) if sent_to else address
        )
        return cls._create(
            cls.Sent,
            id=invitation_id,
            timestamp=utc(at),
            organisation_id=organisation_id,
            mailbox_id=mailbox_id,
            address=address,
            sent_to=target,
            login_choice=login_choice,
            token_id=token_id,
            expires_at=utc(at) + VALIDITY,
            code_id=code_id,
        )

    def login_for(self, chosen: str | None) -> EmailAddress:
        if self.login_choice is LoginChoice.THE_ADDRESS:
            if chosen and chosen.strip().casefold() != self.address.casefold():
                raise InvalidInput(f"this invitation's login is {self.address}")
            return EmailAddress.parse(self.address)
        if not chosen:
            raise InvalidInput("this invitation asks for a login of your choice")
        return EmailAddress.parse(chosen, what="login")

    class Accepted(Aggregate.Event):
        account_id: UUID

        def apply(self, aggregate: Invitation) -> None:
            aggregate.accepted_by = self.account_id

    def accept(self, account_id: UUID, *, at: datetime) -> None:
        if self.accepted_by is not None:
            raise NotPermitted("this invitation was used already")
        if utc(at) >= self.expires_at:
            raise NotPermitted("this invitation has expired; ask for a new one")
        self.trigger_event(self.Accepted, timestamp=utc(at), account_id=account_id)

    def awaits_mail(self, *, at: datetime) -> bool:
        """Its code is still to be mailed: not mailed yet, not used, not expired."""
        return (
            not self.mailed and self.accepted_by is None and utc(at) < self.expires_at
        )

    class Mailed(Aggregate.Event):
        def apply(self, aggregate: Invitation) -> None:
            aggregate.mailed = True

    def record_mailed(self, *, at: datetime) -> None:
        """The mail is sent: its code need not be kept any longer (the job's last step)."""
        if self.mailed:
            raise NotPermitted("this invitation was mailed already")
        self.trigger_event(self.Mailed, timestamp=utc(at))
