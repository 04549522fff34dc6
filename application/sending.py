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

from application.authorization import require_permission
from application.context import command
from application.log import MailHostLog
from application.mailservices import MailServices
from application.ports import Clock, MailSender, OutgoingMail
from domain.address import EmailAddress
from domain.errors import InvalidInput
from domain.hosted import AddressKind
from domain.permissions import Permission
from domain.text import MAX_HEADER_LINE, clean_block, clean_line

MAX_SUBJECT = MAX_HEADER_LINE
# Characters of a typed body: far above any text a person writes, and below the
# size an SMTP server takes (commonly 25 to 50 MB).
MAX_BODY = 10_000_000


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

    @command
    def send(
        self,
        sender: str,
        *,
        to: Sequence[str] = (),
        cc: Sequence[str] = (),
        bcc: Sequence[str] = (),
        subject: str = "",
        body: str = "",
        by: UUID | None,
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
        # Refused, not repaired: the sender typed them, and a control character or line
        # separator in a header is an injection (the shared rule of domain/text.py).
        subject = clean_line(subject, field="subject", max_length=MAX_SUBJECT)
        body = clean_block(body, field="body", max_length=MAX_BODY)
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
