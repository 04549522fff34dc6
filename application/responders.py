"""Use cases of auto-responders (RSP-1..RSP-9, ADR-12), and the delivery entry point.

``deliver`` decides for one incoming message and, when it replies, records the reply
(window, hourly budget and the reply itself) in one transaction before any send job
exists; a conflict means another worker decided for the same sender at the same moment,
and the decision is taken again on fresh state (RSP-9). The job sends the reply.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import TypeVar
from uuid import UUID, uuid4

from attrs import field, frozen

from application.authorization import OPERATOR, require_admin, require_permission
from application.credentials import staged_secret
from application.log import MailHostLog
from application.mailservices import MailServices
from application.ports import (
    Clock,
    CredentialStore,
    Fingerprints,
    MailSender,
    OutgoingMail,
    ReplyHistoryEntry,
    ResponderQueries,
    ResponderStatus,
)
from domain.address import EmailAddress
from domain.autoreply import (
    AutoReply,
    Decision,
    Headers,
    auto_reply_id,
    compose_reply,
    decide,
    header_block,
    record_reply,
    window_id_for,
)
from domain.errors import InvalidInput, NotFound
from domain.mailbox import Mailbox
from domain.mailservice import AddressKind, MailService, ResponderTemplate
from domain.permissions import Permission
from domain.responder import (
    AutoResponder,
    ReplyBudget,
    ReplyWindow,
    ResponderMessage,
    ResponderPolicy,
    address_key,
    name_key,
    reply_budget_id,
    responder_id,
)
from domain.time import utc

T = TypeVar("T")
MAX_MESSAGE_BYTES = 50 * 1024 * 1024
CODE_DIGITS = 8
# A code is exactly what request_sender_verification generates: ASCII digits only
# (``\d`` would take Arabic-Indic digits), so only such a string counts as a guess.
_CODE = re.compile(rf"[0-9]{{{CODE_DIGITS}}}")
# The history is read for a screen or a script: more rows than this in one answer are
# a mistake (and a number past SQLite's 64-bit integers fails in the driver).
MAX_HISTORY = 10_000
# An MTA's clock may run ahead a little; a day ahead is a wrong timestamp. It only
# chooses the schedule (windows and caps use this host's clock, RSP-4), but a time far
# off is a broken MTA or a forged argument, refused rather than guessed at.
MAX_CLOCK_AHEAD = timedelta(days=1)
# Postfix gives up on a queued message after 5 days (maximal_queue_lifetime), Exim
# after 4 or so; a message that arrived more than 7 days ago is a wrong timestamp too
# (year 1, the 1970 epoch of an unset clock).
MAX_RECEIVED_AGE = timedelta(days=7)










@frozen
class Responders:
    log: MailHostLog
    services: MailServices
    fingerprints: Fingerprints
    credentials: CredentialStore
    mail: MailSender
    clock: Clock
    sender: str
    views: ResponderQueries
    policy: ResponderPolicy = field(factory=ResponderPolicy)

    # -- managing the messages (RSP-1, RSP-2, RSP-3, RSP-5) ---------------------------------

    def add(
        self,
        address: str,
        name: str,
        *,
        body: str,
        subject: str | None = None,
        weekdays: Iterable[str] = (),
        start: date | datetime | None = None,
        end: date | datetime | None = None,
        exclusions: Iterable[str] = (),
        sender: str | None = None,
        time_zone: str | None = None,
        by: UUID | None = OPERATOR,
    ) -> ResponderMessage:
        """Save a message (not active until activated); the first one sets the zone."""
        days, excluded = tuple(weekdays), tuple(exclusions)

        def change(responder: AutoResponder) -> ResponderMessage:
            if time_zone and time_zone != responder.time_zone:
                responder.change_time_zone(time_zone, at=self.clock.now())
            return responder.save_message(
                name,
                body=body,
                subject=subject,
                weekdays=days,
                start=start,
                end=end,
                sender=sender,
                exclusions=excluded,
                at=self.clock.now(),
            )

        return self._change(address, by, change, time_zone=time_zone)

    def edit(
        self,
        address: str,
        name: str,
        *,
        body: str,
        subject: str | None = None,
        weekdays: Iterable[str] = (),
        start: date | datetime | None = None,
        end: date | datetime | None = None,
        exclusions: Iterable[str] = (),
        sender: str | None = None,
        reset_memory: bool = False,
        by: UUID | None = OPERATOR,
    ) -> ResponderMessage:
        """Replace a message's fields; its 7-day memory stays unless ``reset_memory``."""
        days, excluded = tuple(weekdays), tuple(exclusions)
        return self._change(
            address,
            by,
            lambda r: r.edit_message(
                name,
                body=body,
                subject=subject,
                weekdays=days,
                start=start,
                end=end,
                sender=sender,
                exclusions=excluded,
                reset_memory=reset_memory,
                at=self.clock.now(),
            ),
        )

    def delete(self, address: str, name: str, *, by: UUID | None = OPERATOR) -> None:
        self._change(address, by, lambda r: r.delete_message(name, at=self.clock.now()))

    def activate(self, address: str, name: str, *, by: UUID | None = OPERATOR) -> None:
        """RSP-1: at most one active message; activating one deactivates the other."""
        self._change(address, by, lambda r: r.activate(name, at=self.clock.now()))

    def deactivate(self, address: str, *, by: UUID | None = OPERATOR) -> None:
        self._change(address, by, lambda r: r.deactivate(at=self.clock.now()))

    def reset(self, address: str, name: str, *, by: UUID | None = OPERATOR) -> int:
        """RSP-5: forget who got this message; the next mail from anyone gets it again."""
        return self._change(
            address, by, lambda r: r.reset_memory(name, at=self.clock.now())
        )

    def set_time_zone(
        self, address: str, time_zone: str, *, by: UUID | None = OPERATOR
    ) -> None:
        self._change(
            address,
            by,
            lambda r: r.change_time_zone(time_zone, at=self.clock.now()),
            time_zone=time_zone,
        )

    def status(self, address: str) -> ResponderStatus | None:
        _, mailbox = self.services.mailbox(address)
        return self.views.status(mailbox.address, self.clock.now())

    def history(self, address: str, limit: int = 100) -> list[ReplyHistoryEntry]:
        """The newest ``limit`` replies (1..:data:`MAX_HISTORY`)."""
        count = _history_limit(limit)
        _, mailbox = self.services.mailbox(address)
        return self.views.history(mailbox.address, count)

    def get(self, address: str) -> AutoResponder | None:
        _, mailbox = self.services.mailbox(address)
        return self.log.find(responder_id(mailbox.address), AutoResponder)

    # -- alternative sender (RSP-2) ---------------------------------------------------------

    def request_sender_verification(
        self, address: str, alternative: str, *, by: UUID | None = OPERATOR
    ) -> datetime:
        """Mail a one-time code to the alternative sender; only its keyed digest is kept.

        The number of mails is limited per alternative address (``ResponderPolicy``),
        counted from the recorded requests, so every worker sees the same count.
        """
        other = EmailAddress.parse(alternative, what="alternative sender")
        _, mailbox = self.services.mailbox(address)
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        # The keyed digest waits in the credential store; the log names it only. A
        # refused request (a limit, a permission, a lost race) takes it back.
        code_id = uuid4()
        with staged_secret(
            self.credentials,
            code_id,
            self._code_digest(address, other, code),
            owner=responder_id(mailbox.address),
        ):
            expires = self._change(
                address,
                by,
                lambda r: r.request_sender_verification(
                    other,
                    code_id,
                    at=self.clock.now(),
                    policy=self.policy,
                ),
            )
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = str(other)
        message["Subject"] = "Confirm this address as a sender"
        message["Message-ID"] = make_msgid(domain=other.domain)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(
            f"The address {address} asks to send its automatic replies as {other}.\n\n"
            f"Code: {code}\n\nEnter it in the auto-responder settings before "
            f"{expires:%Y-%m-%d %H:%M} UTC. If you did not expect this, ignore it.\n",
            cte="7bit",
        )
        self.mail.send(OutgoingMail(self.sender, (str(other),), message))
        return expires

    def confirm_sender(
        self, address: str, alternative: str, code: str, *, by: UUID | None = OPERATOR
    ) -> bool:
        """Check a typed code; a wrong one is recorded (the tries are bounded).

        Only a code of the form this engine mails (:data:`CODE_DIGITS` ASCII digits)
        is a guess; anything else is refused as input and records nothing, so it can
        neither use up the tries nor reach the digest as text it cannot encode.
        """
        typed = _code(code)
        other = EmailAddress.parse(alternative, what="alternative sender")
        digest = self._code_digest(address, other, typed)

        def check(responder: AutoResponder) -> bool:
            pending = responder.pending_senders.get(other.identity)
            stored = self.credentials.secret(pending.code_id) if pending else None
            matches = stored is not None and secrets.compare_digest(stored, digest)
            confirmed = responder.confirm_sender(
                other, code_matches=matches, at=self.clock.now()
            )
            if confirmed and pending is not None:
                self.credentials.forget_secret(pending.code_id)
            return confirmed

        return self._change(address, by, check)

    def _code_digest(self, address: str, other: EmailAddress, code: str) -> str:
        return self.fingerprints.digest(
            f"sender-code:{address_key(address)}:{other.identity}:{code}"
        )

    # -- templates (ADR-12) -----------------------------------------------------------------

    def save_template(
        self,
        domain: str,
        name: str,
        *,
        body: str,
        subject: str | None = None,
        by: UUID | None = OPERATOR,
    ) -> None:
        def decide_(service: MailService) -> None:
            require_admin(self.log, service, by)
            service.save_responder_template(
                name, subject=subject, body=body, at=self.clock.now()
            )

        self.services.update(domain, decide_)

    def apply_template(
        self,
        domain: str,
        name: str,
        *,
        activate: bool = False,
        by: UUID | None = OPERATOR,
    ) -> int:
        """Save the template as a message of every mailbox of the domain (ADR-12).

        All the mailboxes change in one transaction, so a failure changes none; running
        it again updates the text and leaves an already active message active.
        """

        def attempt() -> int:
            service = self.services.get(domain)
            require_admin(self.log, service, by)
            template = service.responder_template(name)
            at = self.clock.now()
            changed = []
            for entry in service.addresses.values():
                if entry.kind is not AddressKind.MAILBOX:
                    continue
                address = EmailAddress.parse(service.address_of(entry))
                responder = self.log.find(responder_id(address), AutoResponder)
                if responder is None:
                    responder = AutoResponder.provision(address, time_zone="UTC", at=at)
                _put_template(responder, template, activate=activate, at=at)
                changed.append(responder)
            if changed:
                self.log.save(*changed)
            return len(changed)

        return self.log.retrying(attempt)

    # -- delivery (RSP-4, RSP-6..RSP-9) --------------------------------------------------------

    def deliver(
        self,
        recipient: str,
        envelope_sender: str,
        raw_message: bytes,
        received_at: datetime | None = None,
    ) -> Decision:
        """Decide whether the message delivered to ``recipient`` is answered, and record it.

        Usable as an MTA pipe transport (``mailhost deliver``): the decision names the
        rule that decided; a reply is sent by a worker once it is recorded.

        ``received_at`` (the MTA's time, default now) only chooses the schedule; the
        7-day window and the hourly cap are measured with this host's clock (RSP-4),
        and a ``received_at`` that no queue could explain is refused. Only a bounded
        header block is read (:func:`domain.autoreply.header_block`). A ``recipient``
        with a subaddress (``ann+tag@``, RFC 5233) is delivered to ``ann@`` unless
        ``ann+tag@`` exists itself.
        """
        if len(raw_message) > MAX_MESSAGE_BYTES:
            raise InvalidInput(f"the message is larger than {MAX_MESSAGE_BYTES} bytes")
        now = self.clock.now()
        arrived = now if received_at is None else self._plausible(received_at, now)
        headers = header_block(raw_message)
        mailbox = self._recipient_mailbox(recipient)
        return self.log.retrying(
            lambda: self._decide(
                mailbox,
                recipient,
                envelope_sender,
                headers,
                received_at=arrived,
                now=self.clock.now(),
            )
        )

    def reply_sent(self, decision: Decision) -> bool:
        """Whether the reply of ``decision`` reached the mail server (False: queued)."""
        if decision.plan is None:
            return False
        reply = self.log.find(auto_reply_id(decision.plan), AutoReply)
        return reply is not None and reply.sent_at is not None

    @staticmethod
    def _plausible(received_at: datetime, now: datetime) -> datetime:
        if received_at.tzinfo is None or received_at.utcoffset() is None:
            raise InvalidInput(
                f"received_at {received_at.isoformat()} has no time zone: an MTA's "
                "time is an instant, give it with its UTC offset"
            )
        at = utc(received_at)
        if at - now > MAX_CLOCK_AHEAD:
            raise InvalidInput(
                f"received_at {at.isoformat()} is more than a day ahead of this host's clock"
            )
        if now - at > MAX_RECEIVED_AGE:
            raise InvalidInput(
                f"received_at {at.isoformat()} is more than {MAX_RECEIVED_AGE.days} days "
                "before this host's clock: no mail queue keeps a message that long"
            )
        return at

    def _recipient_mailbox(self, recipient: str) -> Mailbox:
        try:
            return self.services.mailbox(recipient)[1]
        except NotFound:
            local, at_sign, domain = recipient.strip().rpartition("@")
            separator = self.policy.subaddress_separator
            if not at_sign or not separator or separator not in local:
                raise
            base = local.split(separator, 1)[0]
            if not base:
                raise
            return self.services.mailbox(f"{base}@{domain}")[1]

    def _decide(
        self,
        mailbox: Mailbox,
        recipient: str,
        envelope_sender: str,
        headers: Headers,
        *,
        received_at: datetime,
        now: datetime,
    ) -> Decision:
        responder = self.log.find(responder_id(mailbox.address), AutoResponder)
        config = responder.config() if responder is not None else None
        window_id = window_id_for(config, envelope_sender)
        window = self.log.find(window_id, ReplyWindow) if window_id else None
        budget = self.log.find(reply_budget_id(mailbox.address, now), ReplyBudget)
        generation = config.active.generation if config and config.active else 0
        decision = decide(
            config,
            recipient=recipient,
            envelope_sender=envelope_sender,
            headers=headers,
            received_at=received_at,
            decided_at=now,
            window_last_sent=window.last_sent_for(generation) if window else None,
            budget_used=budget.used if budget else 0,
            policy=self.policy,
            own_addresses=mailbox.aliases,
        )
        if decision.plan is not None:
            window, budget = record_reply(
                decision.plan, window=window, budget=budget, policy=self.policy
            )
            self.log.save(window, budget, AutoReply.decide(decision.plan))
        return decision

    def send_reply(self, reply_id: UUID) -> bool:
        """The send job: compose from the record, send, mark sent; True if it sent."""
        reply = self.log.find(reply_id, AutoReply)
        if reply is None or reply.sent_at is not None:
            return False
        composed = compose_reply(reply.plan, date=self.clock.now())
        self.mail.send(OutgoingMail("", (composed.envelope.rcpt_to,), composed.message))

        def mark() -> None:
            fresh = self.log.load(reply_id, AutoReply, "auto-reply")
            if fresh.sent_at is None:
                fresh.record_sent(at=self.clock.now())
                self.log.save(fresh)

        self.log.retrying(mark)
        return True

    # -- helpers -------------------------------------------------------------------------

    def _change(
        self,
        address: str,
        by: UUID | None,
        change: Callable[[AutoResponder], T],
        *,
        time_zone: str | None = None,
    ) -> T:
        """Load (or provision) the address's responder, check RSP-3, change, save."""

        def attempt() -> T:
            service, mailbox = self.services.mailbox(address)
            if mailbox.kind is not AddressKind.MAILBOX:
                raise InvalidInput(
                    f"{mailbox.address} is a {mailbox.kind.value}: no responder"
                )
            require_permission(
                self.log, service, mailbox, by, Permission.MANAGE_RESPONDER
            )
            responder = self.log.find(responder_id(mailbox.address), AutoResponder)
            if responder is None:
                responder = AutoResponder.provision(
                    EmailAddress.parse(mailbox.address),
                    time_zone=time_zone or "UTC",
                    at=self.clock.now(),
                )
            result = change(responder)
            self.log.save(responder)
            return result

        return self.log.retrying(attempt)


def _history_limit(limit: object) -> int:
    """``limit`` as a row count, or InvalidInput naming it (nan, inf, 10**100, 0)."""
    if isinstance(limit, float) and not math.isfinite(limit):
        raise InvalidInput(f"limit must be a whole number, not {limit}")
    if isinstance(limit, bool) or not isinstance(limit, int):
        kind = type(limit).__name__
        raise InvalidInput(f"limit must be a whole number, not a {kind}")
    if not 1 <= limit <= MAX_HISTORY:
        # Not echoed: str() of a 5,000-digit int raises (sys.int_info's digit limit).
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_HISTORY}")
    return limit


def _code(code: str) -> str:
    """The typed code without surrounding blanks, if it has the form of a mailed one."""
    typed = code.strip() if isinstance(code, str) else code
    if not isinstance(typed, str) or _CODE.fullmatch(typed) is None:
        raise InvalidInput(
            f"the code must be the {CODE_DIGITS} digits (0-9) of the mail, nothing else"
        )
    return typed


def _put_template(
    responder: AutoResponder,
    template: ResponderTemplate,
    *,
    activate: bool,
    at: datetime,
) -> None:
    if name_key(template.name) in responder.messages:
        responder.edit_message(
            template.name, body=template.body, subject=template.subject, at=at
        )
    else:
        responder.save_message(
            template.name, body=template.body, subject=template.subject, at=at
        )
    if activate and responder.active != name_key(template.name):
        responder.activate(template.name, at=at)
