"""Whether a delivered message gets the auto-reply, and the record of one reply (RSP-4..RSP-9).

Pure: the application loads the responder, the sender's :class:`ReplyWindow` and the hour's
:class:`ReplyBudget`, passes what they say and the parsed message, and gets a
:class:`Decision` naming the rule that decided. Checks run in this order (issue 4), the
first that refuses wins:

1. a message is active (RSP-1) and ``received_at`` is inside its schedule, in the mailbox
   zone (RSP-6);
2. the envelope sender is not null (``<>``) nor unusable; then the header block could
   be read: larger than :data:`domain.incoming.MAX_HEADER_BYTES` it is not parsed at
   all and the message is not answered (a broken or hostile message);
3. the envelope sender is not one of the address's own addresses, not excluded (RSP-2;
   the ``From`` addresses are checked against the exclusions too: a user who excludes a
   person means the person, whatever path the mail took);
4. neither the envelope sender nor a ``From`` address is a system sender (RSP-7), see
   :func:`domain.senders.system_sender`;
5. no mailing-list header: ``List-*`` (RFC 2369, RFC 2919), ``Mailing-List`` (ezmlm),
   ``X-Mailing-List`` (RFC 5230 4.5 names the ``List-*`` ones);
6. ``Auto-Submitted`` absent or ``no`` (RFC 3834 2, RFC 5230 4.5: MUST NOT);
7. no ``Precedence: bulk|list|junk``;
8. no ``X-Auto-Response-Suppress`` with ``All`` or ``OOF`` ([MS-OXCMAIL] 2.2.3.2.14);
9. not flagged as spam (``X-Spam-Flag: YES``, ``X-Spam-Status: Yes, ...``, ``X-Spam: yes``):
   a reply to forged spam is backscatter;
10. at most :attr:`ResponderPolicy.max_received` ``Received`` fields (mail loop);
11. an own address is an explicit recipient in ``To``, ``Cc``, ``Resent-To`` or
    ``Resent-Cc`` (RSP-7, RFC 5230 4.5); a Bcc'd copy, even one whose ``Bcc`` field
    survived delivery, is not answered unless so configured;
12. the 7-day window of this message for this sender (RSP-4, reset by RSP-5);
13. the hourly reply cap of the address (runaway-loop guard).

Every occurrence of a field counts (a message with two ``Precedence`` fields is bulk if
either says so); folded and RFC 2047-encoded values are read decoded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from uuid import UUID

from attrs import frozen
from eventsourcing.domain import Aggregate

from domain.address import EmailAddress
from domain.errors import InvalidInput
from domain.incoming import Headers, HeaderSource, summarise
from domain.replychecks import CHECKS, Delivery, ago, oversized_header
from domain.replyplan import (
    RULES,
    Check,
    Decision,
    ReplyPlan,
    auto_reply_id,
    refusal,
    reply_message_id,
)
from domain.replywindow import ReplyBudget, ReplyWindow
from domain.respondermessage import ResponderConfig
from domain.responderpolicy import ResponderPolicy, address_key, reply_window_id
from domain.senders import base_address, display_name_of, parse_envelope_sender
from domain.time import utc

# decide, record_reply, window_id_for and the aggregate; Decision and compose_reply are
# re-exported until tests/hostile/test_api_hostile.py imports them from domain.replyplan
# and domain.replymail.
__all__ = [
    "AutoReply",
    "decide",
    "record_reply",
    "window_id_for",
]


def _reply(d: Delivery, addressed: str) -> Decision:
    message, at = d.message, d.at
    plan = ReplyPlan(
        address=d.responder.address,
        message_name=message.name,
        message_key=message.key,
        generation=message.generation,
        to=str(d.sender),
        sender_key=d.sender.identity,
        from_address=message.sender or addressed,
        subject=message.subject,
        body=message.body,
        received_at=d.received_at,
        message_id=reply_message_id(
            d.responder.address, d.sender.identity, message.key, message.generation, at
        ),
        original=summarise(d.headers),
        decided_at=at,
        to_name=display_name_of(d.headers, d.sender),
    )
    history = (
        "first reply to this sender"
        if d.window_last_sent is None
        else f"last reply to this sender {ago(at - utc(d.window_last_sent))}"
    )
    return Decision(
        reply=True,
        check=Check.REPLY,
        reason=f"{RULES[Check.REPLY]}: reply with {message.name!r} ({history})",
        plan=plan,
    )


def decide(
    responder: ResponderConfig | None,
    *,
    recipient: str,
    envelope_sender: str,
    headers: HeaderSource | Headers,
    received_at: datetime,
    window_last_sent: datetime | None,
    budget_used: int,
    policy: ResponderPolicy,
    own_addresses: Iterable[str] = (),
    decided_at: datetime | None = None,
) -> Decision:
    """Decide whether the message to ``recipient`` gets the active message as reply.

    ``received_at`` (the MTA's time) chooses the schedule (RSP-6); ``decided_at`` (the
    engine's clock, default ``received_at``) measures the 7-day window and the hourly
    cap (RSP-4), so a past-dated delivery cannot reopen a window nor escape a cap.
    ``window_last_sent``: :meth:`ReplyWindow.last_sent_for` the active message's
    generation (``None`` without a window); ``budget_used``: :attr:`ReplyBudget.used` of
    the hour of ``decided_at`` (0 without one). ``own_addresses``: the aliases of the
    address; the address and ``recipient`` are always its own.
    """
    arrived = utc(received_at)
    at = arrived if decided_at is None else utc(decided_at)
    if responder is None or responder.active is None:
        return refusal(
            Check.NO_ACTIVE_MESSAGE, f"no active auto-responder message for {recipient}"
        )
    message = responder.active
    outside = message.schedule.refusal(arrived, responder.zone)
    if outside is not None:
        return refusal(
            Check.SCHEDULE, f"outside the schedule of {message.name!r}: {outside}"
        )
    sender = _sender_of(envelope_sender)
    if isinstance(sender, Decision):
        return sender
    own = MailboxAddresses.of(
        responder.address, recipient, own_addresses, policy.subaddress_separator
    )
    delivery = Delivery(
        responder=responder,
        message=message,
        at=at,
        received_at=arrived,
        sender=sender,
        own=own.keys,
        headers=headers if isinstance(headers, Headers) else Headers(headers),
        window_last_sent=window_last_sent,
        budget_used=budget_used,
        policy=policy,
    )
    for check in (oversized_header, *CHECKS):
        refused = check(delivery)
        if refused is not None:
            return refused
    return _reply(delivery, own.addressed_as(delivery.headers))


def _sender_of(envelope_sender: str) -> EmailAddress | Decision:
    """The envelope sender, or the refusal of a null or unusable one."""
    try:
        sender = parse_envelope_sender(envelope_sender)
    except InvalidInput:
        return refusal(
            Check.INVALID_SENDER,
            f"envelope sender {envelope_sender.strip()!r} is not a usable address",
        )
    if sender is None:
        return refusal(
            Check.NULL_SENDER, "null envelope sender <> (a bounce or notification)"
        )
    return sender


# Pigeonhole's _my_address_headers, in its order.
_ADDRESSED_FIELDS = ("to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc")


@frozen
class MailboxAddresses:
    """The mailbox's own addresses as written (the primary, then its aliases), keyed as
    compared (subaddresses dropped, RFC 5233), and the key the MTA delivered to."""

    spelled: Mapping[str, str]
    recipient: str
    separator: str

    @classmethod
    def of(
        cls, address: str, recipient: str, aliases: Iterable[str], separator: str
    ) -> MailboxAddresses:
        spelled: dict[str, str] = {}
        for a in (address, *aliases):
            if a.strip():
                spelled.setdefault(cls._key(a, separator), a.strip())
        delivered = cls._key(recipient if recipient.strip() else address, separator)
        spelled.setdefault(delivered, delivered)
        return cls(spelled, delivered, separator)

    @staticmethod
    def _key(address: str, separator: str) -> str:
        return base_address(address_key(address), separator)

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self.spelled)

    def addressed_as(self, headers: Headers) -> str:
        """Which own address the message was sent to: the reply's ``From``.

        As Pigeonhole chooses among the recipient and ``:addresses``: the first field of
        To, Cc, Bcc and their Resent- forms that names an own address decides, the
        address delivered to first, then the primary and the aliases in order; a message
        naming none (a list or Bcc copy) is answered from the address delivered to.
        A subaddress is the user's filing tag, not an address: never the ``From``.
        """
        for name in _ADDRESSED_FIELDS:
            listed = {self._key(a, self.separator) for a in headers.addresses(name)}
            if self.recipient in listed:
                return self.spelled[self.recipient]
            found = next((k for k in self.spelled if k in listed), None)
            if found is not None:
                return self.spelled[found]
        return self.spelled[self.recipient]


def window_id_for(
    responder: ResponderConfig | None, envelope_sender: str
) -> UUID | None:
    """Which :class:`ReplyWindow` to load before deciding; ``None`` when none can matter."""
    if responder is None or responder.active is None:
        return None
    try:
        sender = parse_envelope_sender(envelope_sender)
    except InvalidInput:
        return None
    if sender is None:
        return None
    return reply_window_id(responder.address, responder.active.key, sender.identity)


def record_reply(
    plan: ReplyPlan,
    *,
    window: ReplyWindow | None,
    budget: ReplyBudget | None,
    policy: ResponderPolicy,
) -> tuple[ReplyWindow, ReplyBudget]:
    """Record a decided reply on its window and budget (opened when missing).

    Save both with the send job in one transaction; a conflict means another worker got
    there first (RSP-9): reload and decide again.
    """
    at = plan.window_start
    if window is None:
        window = ReplyWindow.open(
            plan.address, plan.message_key, plan.sender_key, at=at
        )
    window.record_reply(
        generation=plan.generation, reply_message_id=plan.message_id, at=at
    )
    if budget is None:
        budget = ReplyBudget.open(plan.address, at=at)
    budget.count_reply(plan.message_id, at=at, policy=policy)
    return window, budget


class AutoReply(Aggregate):
    """One decided reply: recorded with its window and budget before any send job exists.

    The send job finds everything it needs here (RSP-8), retries until the mail server
    accepts the reply, then records that it was sent; a second delivery of the job finds
    it sent and does nothing.
    """

    plan: ReplyPlan
    sent_at: datetime | None

    class Decided(Aggregate.Created):
        plan: ReplyPlan

    def __init__(self, plan: ReplyPlan) -> None:
        self.plan = plan
        self.sent_at = None

    @classmethod
    def decide(cls, plan: ReplyPlan) -> AutoReply:
        return cls._create(
            cls.Decided, id=auto_reply_id(plan), timestamp=plan.window_start, plan=plan
        )

    class Sent(Aggregate.Event):
        def apply(self, aggregate: AutoReply) -> None:
            aggregate.sent_at = self.timestamp

    def record_sent(self, *, at: datetime) -> None:
        if self.sent_at is not None:
            raise InvalidInput(f"reply {self.plan.message_id} was sent already")
        self.trigger_event(self.Sent, timestamp=utc(at))
