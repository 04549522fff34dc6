"""The delivery entry point: decide for one incoming message, record, send (RSP-4, RSP-6..9).

``deliver`` decides for one incoming message and, when it replies, records the reply
(window, hourly budget and the reply itself) in one transaction before any send job
exists; a conflict means another worker decided for the same sender at the same moment,
and the decision is taken again on fresh state (RSP-9). The job sends the reply.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from attrs import frozen

from application.context import Actor, acting
from application.log import MailHostLog
from application.mailservices import MailServices, split_address
from application.ports import Clock, MailSender, OutgoingMail
from domain.autoreply import AutoReply, decide, record_reply, window_id_for
from domain.errors import InvalidInput, NotFound
from domain.incoming import Headers, header_block
from domain.mailbox import Mailbox
from domain.replymail import compose_reply
from domain.replyplan import Decision, auto_reply_id
from domain.replywindow import ReplyBudget, ReplyWindow
from domain.responder import AutoResponder
from domain.responderpolicy import ResponderPolicy, reply_budget_id, responder_id
from domain.time import utc

DELIVERY = Actor.system("delivery")

MAX_MESSAGE_BYTES = 50 * 1024 * 1024
# An MTA's clock may run ahead a little; a day ahead is a wrong timestamp. It only
# chooses the schedule (windows and caps use this host's clock, RSP-4), but a time far
# off is a broken MTA or a forged argument, refused rather than guessed at.
MAX_CLOCK_AHEAD = timedelta(days=1)
# Postfix gives up on a queued message after 5 days (maximal_queue_lifetime), Exim
# after 4 or so; a message that arrived more than 7 days ago is a wrong timestamp too
# (year 1, the 1970 epoch of an unset clock).
MAX_RECEIVED_AGE = timedelta(days=7)


@frozen
class ReplyDelivery:
    log: MailHostLog
    services: MailServices
    mail: MailSender
    clock: Clock
    policy: ResponderPolicy

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
        header block is read (:func:`domain.incoming.header_block`). A ``recipient``
        with a subaddress (``ann+tag@``, RFC 5233) is delivered to ``ann@`` unless
        ``ann+tag@`` exists itself.
        """
        if len(raw_message) > MAX_MESSAGE_BYTES:
            raise InvalidInput(f"the message is larger than {MAX_MESSAGE_BYTES} bytes")
        now = self.clock.now()
        arrived = now if received_at is None else _plausible(received_at, now)
        headers = header_block(raw_message)
        mailbox = self._recipient_mailbox(recipient)
        # No person asks for this: the MTA hands a message over, and each message is
        # its own correlation in the audit trail.
        with acting(DELIVERY):
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
        reply = self.log.read_or_none(auto_reply_id(decision.plan), AutoReply)
        return reply is not None and reply.sent_at is not None

    def _recipient_mailbox(self, recipient: str) -> Mailbox:
        """The mailbox to read only: the decision never changes it (no copy, see read)."""
        try:
            return self.services.read_mailbox(recipient)[1]
        except NotFound:
            local, domain = split_address(recipient)
            separator = self.policy.subaddress_separator
            if not separator or separator not in local:
                raise
            base = local.split(separator, 1)[0]
            if not base:
                raise
            return self.services.read_mailbox(f"{base}@{domain}")[1]

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
        # The responder and the mailbox are only read (read_or_none: the cached object,
        # no copy); the window and budget are recorded on and saved, so they are copies.
        responder = self.log.read_or_none(responder_id(mailbox.address), AutoResponder)
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
        reply = self.log.read_or_none(reply_id, AutoReply)
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


def _plausible(received_at: datetime, now: datetime) -> datetime:
    """The MTA's time as an instant, refused when no mail queue could explain it."""
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
