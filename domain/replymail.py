"""The auto-reply as a mail: its envelope, headers and body, from the plan alone (RSP-8).

The reply is sent from the null path (``MAIL FROM:<>``) so nothing answers it with a
bounce, says it is ``Auto-Submitted: auto-replied`` (RFC 3834) so no other responder
answers it, and threads on the message it answers (RFC 5322 3.6.4).
"""

from __future__ import annotations

from datetime import datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime

from attrs import frozen

from domain.incoming import OriginalMessage, first_and_latest, one_line
from domain.replyplan import ReplyPlan
from domain.time import utc

NO_SUBJECT = "(no subject)"
REPLY_PREFIX = "Auto: "


@frozen
class Envelope:
    """SMTP envelope of a reply: ``mail_from`` is empty, the null path ``MAIL FROM:<>``."""

    mail_from: str
    rcpt_to: str


@frozen
class Reply:
    envelope: Envelope
    message: EmailMessage


def reply_subject(original: str | None, chosen: str | None = None) -> str:
    """The message's own subject, else ``Auto: <original>`` without stacking prefixes."""
    if chosen:
        return chosen
    subject = one_line(original or "")
    if not subject:
        return REPLY_PREFIX + NO_SUBJECT
    if subject.casefold().startswith(REPLY_PREFIX.strip().casefold()):
        return subject
    return REPLY_PREFIX + subject


def reply_references(original: OriginalMessage) -> tuple[str, ...]:
    """RFC 5322 3.6.4: the parent's References (or its single In-Reply-To), then its id."""
    if original.message_id is None:
        return ()
    if original.references:
        parents = original.references
    elif len(original.in_reply_to) == 1:
        parents = original.in_reply_to
    else:
        parents = ()
    return first_and_latest((*parents, original.message_id))


def compose_reply(plan: ReplyPlan, *, date: datetime) -> Reply:
    """The reply as a message and its envelope, from the plan alone (pure)."""
    utf8 = not (plan.to.isascii() and plan.from_address.isascii())
    message = EmailMessage(policy=email_policy.SMTPUTF8 if utf8 else email_policy.SMTP)
    message["From"] = plan.from_address
    message["To"] = plan.to
    message["Subject"] = reply_subject(plan.original.subject, plan.subject)
    message["Date"] = format_datetime(utc(date))
    message["Message-ID"] = plan.message_id
    refs = reply_references(plan.original)
    if plan.original.message_id is not None:
        message["In-Reply-To"] = plan.original.message_id
        message["References"] = " ".join(refs)
    message["Auto-Submitted"] = "auto-replied"
    # Exchange and Outlook honour this: their own responders will not answer the reply.
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(
        plan.body, cte=None if plan.body.isascii() else "quoted-printable"
    )
    return Reply(envelope=Envelope(mail_from="", rcpt_to=plan.to), message=message)
