"""The auto-reply as a mail: its envelope, headers and body, from the plan alone (RSP-8).

The reply is sent from the null path (``MAIL FROM:<>``) so nothing answers it with a
bounce, says it is ``Auto-Submitted: auto-replied`` (RFC 3834) so no other responder
answers it, and threads on the message it answers (RFC 5322 3.6.4).

Where RFC 3834 leaves room it does what Dovecot Pigeonhole's vacation does
(``src/lib-sieve/plugins/vacation/cmd-vacation.c``): the ``To`` keeps the display name
the sender gave themselves, the derived subject is ``Auto: `` and the original subject
decoded, at most 256 characters ending in an ellipsis, "Automated reply" when there is
none. Two things the stdlib gets wrong are handled here: it RFC 2047-encodes a msg-id
longer than a line (forbidden, RFC 2047 5), and it decodes encoded-words in a value it
is given, so a subject encoded twice would be decoded twice and its CR LF written raw.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from email import policy as email_policy
from email.errors import HeaderParseError
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from attrs import frozen

from domain.incoming import OriginalMessage, first_and_latest, is_msg_id, one_line
from domain.replyplan import ReplyPlan
from domain.text import MAX_HEADER_LINE
from domain.time import utc

if TYPE_CHECKING:
    from email.policy import Policy

# Pigeonhole's sieve_vacation_default_subject, for a message without a subject.
DEFAULT_SUBJECT = "Automated reply"
REPLY_PREFIX = "Auto: "
# Pigeonhole's SIEVE_MAX_SUBJECT_HEADER_CODEPOINTS: the ellipsis counts in it.
MAX_SUBJECT_CHARACTERS = 256
ELLIPSIS = "\u2026"
# RFC 5322 2.1.1: lines SHOULD stay within 78 characters; ids are folded there.
FOLD_COLUMNS = 78
# Each round decodes one level of encoding and shortens the text; a subject encoded
# more often than this is hostile, and its remaining "=?" are broken apart instead.
MAX_DECODE_ROUNDS = 4
_MARKS = frozenset({"Mn", "Mc", "Me"})


@frozen
class Envelope:
    """SMTP envelope of a reply: ``mail_from`` is empty, the null path ``MAIL FROM:<>``."""

    mail_from: str
    rcpt_to: str


@frozen
class Reply:
    envelope: Envelope
    message: EmailMessage


class IdentificationHeader(BaseHeader):
    """Message-ID, In-Reply-To, References: msg-ids written as they are, never encoded.

    The stdlib folds an unstructured value by RFC 2047-encoding a token longer than the
    line, so a long Exchange id became an encoded-word, which RFC 2047 5 forbids in a
    msg-id (a client then sees no id at all, RFC 5322 3.6.4). Here each id is an
    unbreakable token: the field folds between ids, at 78 columns where they allow, and
    an id longer than that stands alone on its line, within 998 octets since ids are at
    most :data:`domain.incoming.MAX_ID_LENGTH`.
    """

    max_count = 1

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        kwds["decoded"] = " ".join(value.split())
        kwds["parse_tree"] = UnstructuredHeader.value_parser(kwds["decoded"])

    def fold(self, *, policy: Policy) -> str:
        width = min(policy.max_line_length or MAX_HEADER_LINE, MAX_HEADER_LINE)
        lines: list[str] = []
        line = f"{self.name}:"
        for n, msg_id in enumerate(str(self).split()):
            if n and len(line) + 1 + len(msg_id) > min(width, FOLD_COLUMNS):
                lines.append(line)
                line = ""
            line += " " + msg_id
        lines.append(line)
        return policy.linesep.join(lines) + policy.linesep


_HEADERS = HeaderRegistry()
for _name in ("message-id", "in-reply-to", "references"):
    _HEADERS.map_to_type(_name, IdentificationHeader)
_ASCII = email_policy.SMTP.clone(header_factory=_HEADERS)
_UTF8 = email_policy.SMTPUTF8.clone(header_factory=_HEADERS)
_DECODER = HeaderRegistry()


def literal(text: str) -> str:
    """``text`` as it will read once set as a header: nothing left for it to decode.

    Setting a header decodes the encoded-words in the value given. The original subject
    is read decoded already; one that was encoded twice would be decoded again there,
    and a CR LF inside it written raw (a header injection). So it is decoded here until
    it no longer changes, each step cleaned of what no line may hold.
    """
    for _ in range(MAX_DECODE_ROUNDS):
        decoded = one_line(str(_DECODER("subject", text)))
        if decoded == text:
            return text
        text = decoded
    return one_line(text.replace("=?", "= ?"))


def bounded(text: str) -> str:
    """At most :data:`MAX_SUBJECT_CHARACTERS`, cut before a character, with an ellipsis.

    A combining mark stays with the letter it belongs to: the cut moves back before it.
    """
    if len(text) <= MAX_SUBJECT_CHARACTERS:
        return text
    cut = MAX_SUBJECT_CHARACTERS - len(ELLIPSIS)
    while cut > 0 and unicodedata.category(text[cut]) in _MARKS:
        cut -= 1
    return text[:cut].rstrip() + ELLIPSIS


def reply_subject(original: str | None, chosen: str | None = None) -> str:
    """The message's own subject, else ``Auto: <original>`` without stacking prefixes.

    Decoded (RFC 2047), on one line, and bounded like Pigeonhole's; a message without a
    subject, or with a blank one, gets :data:`DEFAULT_SUBJECT`.
    """
    subject = literal(one_line(chosen or ""))
    if not subject:
        text = literal(one_line(original or ""))
        if not text:
            subject = DEFAULT_SUBJECT
        elif text.casefold().startswith(REPLY_PREFIX.strip().casefold()):
            subject = text
        else:
            subject = REPLY_PREFIX + text
    return literal(bounded(subject))


def reply_references(original: OriginalMessage) -> tuple[str, ...]:
    """RFC 5322 3.6.4: the parent's References (or its single In-Reply-To), then its id.

    A chain too long keeps its first id and the latest ones (the middle ones dropped,
    as 3.6.4 allows); an id that is not a writable msg-id is left out.
    """
    if original.message_id is None or not is_msg_id(original.message_id):
        return ()
    if original.references:
        parents = original.references
    elif len(original.in_reply_to) == 1:
        parents = original.in_reply_to
    else:
        parents = ()
    kept = tuple(i for i in parents if is_msg_id(i))
    return first_and_latest((*kept, original.message_id))


def reply_to(plan: ReplyPlan) -> str | Address:
    """The envelope sender, with the display name they gave themselves if any."""
    if not plan.to_name:
        return plan.to
    try:
        return Address(display_name=plan.to_name, addr_spec=plan.to)
    except (ValueError, HeaderParseError):  # an address the stdlib cannot split
        return plan.to


def compose_reply(plan: ReplyPlan, *, date: datetime) -> Reply:
    """The reply as a message and its envelope, from the plan alone (pure)."""
    utf8 = not (plan.to.isascii() and plan.from_address.isascii())
    message = EmailMessage(policy=_UTF8 if utf8 else _ASCII)
    message["From"] = plan.from_address
    message["To"] = reply_to(plan)
    message["Subject"] = reply_subject(plan.original.subject, plan.subject)
    message["Date"] = format_datetime(utc(date))
    message["Message-ID"] = plan.message_id
    refs = reply_references(plan.original)
    if refs:
        message["In-Reply-To"] = refs[-1]
        message["References"] = " ".join(refs)
    message["Auto-Submitted"] = "auto-replied"
    # Exchange and Outlook honour this: their own responders will not answer the reply.
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(
        plan.body, cte=None if plan.body.isascii() else "quoted-printable"
    )
    return Reply(envelope=Envelope(mail_from="", rcpt_to=plan.to), message=message)
