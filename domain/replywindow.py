"""The memory of an address's replies (RSP-4, RSP-9), kept apart from its responder.

Two aggregates, so that deciding stays as fast for the 100,000th sender as for the first:

- :class:`ReplyWindow`, one per (address, message, sender): when that sender last got that
  message, in which generation of the message. Two workers answering the same sender at
  once both write version 1 or both write the same next version, so one save conflicts
  (RSP-9) and the application retries with the fresh window.
- :class:`ReplyBudget`, one per (address, UTC hour): how many replies the address sent in
  that hour, refused past :attr:`ResponderPolicy.hourly_cap` (runaway-loop guard).

Both lived in :mod:`domain.responder` before; the log names their events by that module
(``domain.responder:ReplyWindow.Opened``), so the old topics are registered to these
classes (pinned by tests/unit/test_stored_topics.py).
"""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import Aggregate
from eventsourcing.utils import register_topic

from domain.errors import InvalidInput, NotPermitted
from domain.responderpolicy import (
    REPLY_INTERVAL,
    ResponderPolicy,
    address_key,
    hour_bucket,
    name_key,
    reply_budget_id,
    reply_window_id,
)
from domain.time import utc


class ReplyWindow(Aggregate):
    """When one sender last got one message of one address.

    Only replies sent move the window: a suppressed delivery is not recorded at all, so
    it cannot extend it. A reply of an earlier generation (before a reset) does not count.
    """

    address: str
    message_key: str
    sender: str
    generation: int
    last_sent: datetime | None
    last_message_id: str | None
    replies: int

    class Opened(Aggregate.Created):
        address: str
        message_key: str
        sender: str

    def __init__(self, address: str, message_key: str, sender: str) -> None:
        self.address = address
        self.message_key = message_key
        self.sender = sender
        self.generation = 0
        self.last_sent: datetime | None = None
        self.last_message_id: str | None = None
        self.replies = 0

    @classmethod
    def open(
        cls, address: str, message_key: str, sender: str, *, at: datetime
    ) -> ReplyWindow:
        """The (empty) memory for ``sender``; addresses are kept by :func:`address_key`."""
        clean = (address_key(address), name_key(message_key), address_key(sender))
        if not all(clean) or "@" not in clean[0] or "@" not in clean[2]:
            raise InvalidInput(
                "a reply window needs an address, a message and a sender"
            )
        return cls._create(
            cls.Opened,
            id=reply_window_id(*clean),
            timestamp=utc(at),
            address=clean[0],
            message_key=clean[1],
            sender=clean[2],
        )

    def last_sent_for(self, generation: int) -> datetime | None:
        """The last reply of this generation; ``None`` when there is none (or a reset).

        A window that has seen a later generation than asked answers with its last
        reply, so a decision made on a stale generation is suppressed, not doubled.
        """
        if self.last_sent is None or generation > self.generation:
            return None
        return self.last_sent

    def allows(self, generation: int, at: datetime) -> bool:
        """RSP-4: no reply of this generation yet, or the last one is 7+ days before ``at``."""
        last = self.last_sent_for(generation)
        return last is None or utc(at) - last >= REPLY_INTERVAL

    class ReplySent(Aggregate.Event):
        generation: int
        reply_message_id: str

        def apply(self, aggregate: ReplyWindow) -> None:
            aggregate.generation = self.generation
            aggregate.last_sent = self.timestamp
            aggregate.last_message_id = self.reply_message_id
            aggregate.replies += 1

    def record_reply(
        self, *, generation: int, reply_message_id: str, at: datetime
    ) -> None:
        """Record the reply decided at ``at``, before the send job exists (the log is the
        outbox). Refused inside the window, so a stale decision cannot send twice."""
        at = utc(at)
        if generation < 1:
            raise InvalidInput("generation must be at least 1")
        if not reply_message_id:
            raise InvalidInput("reply_message_id is empty")
        if generation < self.generation:
            raise NotPermitted(
                f"generation {generation} is older than the last reply's "
                f"({self.generation}): the message was reset meanwhile"
            )
        if not self.allows(generation, at):
            raise NotPermitted(
                f"RSP-4: {self.sender} got this message less than "
                f"{REPLY_INTERVAL.days} days before {at.isoformat()}"
            )
        self.trigger_event(
            self.ReplySent,
            timestamp=at,
            generation=generation,
            reply_message_id=reply_message_id,
        )


class ReplyBudget(Aggregate):
    """Replies of one address in one UTC hour, capped (runaway-loop guard)."""

    address: str
    hour: datetime
    used: int
    last_message_id: str | None

    class Opened(Aggregate.Created):
        address: str
        hour: datetime

    def __init__(self, address: str, hour: datetime) -> None:
        self.address = address
        self.hour = hour
        self.used = 0
        self.last_message_id: str | None = None

    @classmethod
    def open(cls, address: str, *, at: datetime) -> ReplyBudget:
        key = address_key(address)
        if "@" not in key:
            raise InvalidInput(f"{address!r} is not an address")
        return cls._create(
            cls.Opened,
            id=reply_budget_id(key, at),
            timestamp=utc(at),
            address=key,
            hour=hour_bucket(at),
        )

    def remaining(self, policy: ResponderPolicy) -> int:
        return max(policy.hourly_cap - self.used, 0)

    class ReplyCounted(Aggregate.Event):
        reply_message_id: str

        def apply(self, aggregate: ReplyBudget) -> None:
            aggregate.used += 1
            aggregate.last_message_id = self.reply_message_id

    def count_reply(
        self, reply_message_id: str, *, at: datetime, policy: ResponderPolicy
    ) -> None:
        at = utc(at)
        if hour_bucket(at) != self.hour:
            raise InvalidInput(
                f"{at.isoformat()} is outside the hour {self.hour.isoformat()}"
            )
        if not reply_message_id:
            raise InvalidInput("reply_message_id is empty")
        if self.used >= policy.hourly_cap:
            raise NotPermitted(
                f"{self.address} sent {self.used} auto-replies this hour "
                f"(cap {policy.hourly_cap})"
            )
        self.trigger_event(
            self.ReplyCounted, timestamp=at, reply_message_id=reply_message_id
        )


register_topic("domain.responder:ReplyWindow", ReplyWindow)
register_topic("domain.responder:ReplyBudget", ReplyBudget)
