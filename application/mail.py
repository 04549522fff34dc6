"""Outgoing mail leaves through this one port (SMTP, or an outbox folder when embedded)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol

from attrs import frozen


@frozen
class OutgoingMail:
    """A message and its envelope; the envelope, not the headers, decides delivery."""

    envelope_from: str
    recipients: tuple[str, ...]
    message: EmailMessage


class MailSender(Protocol):
    def send(self, mail: OutgoingMail) -> None:
        """Hand the mail over, or raise; returning means the server accepted it."""
        ...
