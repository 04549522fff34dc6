"""Sending a message from an address (SND-1..SND-3).

To and Cc are headers everyone sees; Bcc recipients are only in the envelope, never in
the message a recipient receives (RFC 5322 3.6.3). Limits are counted on the address and
refused with the reason before anything leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from uuid import UUID

from attrs import frozen

from application.actors import OPERATOR, require_permission
from application.clock import Clock
from application.log import MailHostLog
from application.mail import MailSender, OutgoingMail
from application.mailservices import MailServices
from domain.address import EmailAddress
from domain.errors import InvalidInput
from domain.mailservice import AddressKind
from domain.permissions import Permission

MAX_SUBJECT = 998


@frozen
class SendingLimits:
    max_recipients: int = 100
    max_per_day: int = 500


@frozen
class SentMessage:
    message_id: str
    recipients: tuple[str, ...]


@frozen
class Sending:
    log: MailHostLog
    services: MailServices
    mail: MailSender
    clock: Clock
    limits: SendingLimits = SendingLimits()

    def send(
        self,
        sender: str,
        *,
        to: Sequence[str] = (),
        cc: Sequence[str] = (),
        bcc: Sequence[str] = (),
        subject: str = "",
        body: str = "",
        by: UUID | None = OPERATOR,
    ) -> SentMessage:
        service, mailbox = self.services.mailbox(sender)
        require_permission(self.log, service, mailbox, by, Permission.SEND)
        if mailbox.kind is AddressKind.REDIRECT:
            raise InvalidInput(f"{mailbox.address} is a redirection: it cannot send")
        visible_to = _addresses(to, "To")
        visible_cc = _addresses(cc, "Cc")
        hidden = _addresses(bcc, "Bcc")
        envelope = tuple(dict.fromkeys((*visible_to, *visible_cc, *hidden)))
        if not envelope:
            raise InvalidInput("a message needs at least one recipient (To, Cc or Bcc)")
        if "\n" in subject or "\r" in subject or len(subject) > MAX_SUBJECT:
            raise InvalidInput("the subject is one line of at most 998 characters")
        at = self.clock.now()
        message = EmailMessage()
        message["From"] = mailbox.address
        if visible_to:
            message["To"] = ", ".join(visible_to)
        if visible_cc:
            message["Cc"] = ", ".join(visible_cc)
        message["Subject"] = subject
        message["Date"] = format_datetime(at)
        message["Message-ID"] = make_msgid(domain=service.domain)
        text = (
            body
            if not mailbox.signature
            else f"{body.rstrip()}\n\n-- \n{mailbox.signature}"
        )
        message.set_content(text)
        # Counted before anything leaves, under optimistic concurrency: concurrent
        # sends from one address can never pass the daily limit together. A send the
        # server then refuses still counts (the limit errs on the safe side).
        self.log.retrying(lambda: self._count(sender, len(envelope), message, at))
        self.mail.send(OutgoingMail(mailbox.address, envelope, message))
        return SentMessage(str(message["Message-ID"]), envelope)

    def _count(
        self, sender: str, recipients: int, message: EmailMessage, at: datetime
    ) -> None:
        _, fresh = self.services.mailbox(sender)
        fresh.record_sent(
            recipients,
            str(message["Message-ID"]),
            max_recipients=self.limits.max_recipients,
            max_per_day=self.limits.max_per_day,
            at=at,
        )
        self.log.save(fresh)


def _addresses(values: Sequence[str], field: str) -> tuple[str, ...]:
    parts = [part for value in values for part in value.split(",") if part.strip()]
    return tuple(str(EmailAddress.parse(p, what=f"{field} address")) for p in parts)
