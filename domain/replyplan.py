"""What a delivery decision says: the check that decided, and the plan of a reply (RSP-4).

A :class:`Decision` names the rule that decided (its ``reason`` starts with the rule id);
when it replies, its :class:`ReplyPlan` is everything the reply is made of, stored with
the send job, and the ids of the window and budget the reply counts in.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from uuid import UUID, uuid5

from attrs import frozen

from domain.incoming import OriginalMessage
from domain.responderpolicy import (
    address_key,
    reply_budget_id,
    reply_window_id,
    split_key,
)
from domain.time import utc


class Check(StrEnum):
    """The check that decided, in the order they run."""

    NO_ACTIVE_MESSAGE = "no-active-message"
    SCHEDULE = "schedule"
    OVERSIZED_HEADER = "oversized-header"
    NULL_SENDER = "null-sender"
    INVALID_SENDER = "invalid-sender"
    OWN_ADDRESS = "own-address"
    EXCLUDED = "excluded"
    SYSTEM_SENDER = "system-sender"
    MAILING_LIST = "mailing-list"
    AUTO_SUBMITTED = "auto-submitted"
    PRECEDENCE = "precedence"
    RESPONSE_SUPPRESSED = "response-suppressed"
    SPAM = "spam"
    LOOP = "loop"
    NOT_A_RECIPIENT = "not-a-recipient"
    REPLIED_RECENTLY = "replied-recently"
    HOURLY_CAP = "hourly-cap"
    REPLY = "reply"


RULES: dict[Check, str] = {
    Check.NO_ACTIVE_MESSAGE: "RSP-1",
    Check.SCHEDULE: "RSP-6",
    Check.OVERSIZED_HEADER: "RSP-7",
    Check.NULL_SENDER: "RSP-7",
    Check.INVALID_SENDER: "RSP-7",
    Check.OWN_ADDRESS: "RSP-7",
    Check.EXCLUDED: "RSP-2",
    Check.SYSTEM_SENDER: "RSP-7",
    Check.MAILING_LIST: "RSP-7",
    Check.AUTO_SUBMITTED: "RSP-7",
    Check.PRECEDENCE: "RSP-7",
    Check.RESPONSE_SUPPRESSED: "RSP-7",
    Check.SPAM: "RSP-7",
    Check.LOOP: "RSP-7",
    Check.NOT_A_RECIPIENT: "RSP-7",
    Check.REPLIED_RECENTLY: "RSP-4",
    Check.HOURLY_CAP: "RSP-7",
    Check.REPLY: "RSP-4",
}


@frozen
class ReplyPlan:
    """Everything the reply is made of; stored by the application with its send job.

    ``to`` is the envelope sender as given (its local part keeps its case, RFC 5321);
    ``sender_key`` its identity (NFC, lower-cased, never case-folded; an ASCII key is
    what it was when keys were case-folded), which keys the window. ``received_at`` is
    the MTA's time, which chose the schedule; ``decided_at`` is the engine's, which starts
    the new 7-day window and counts in that hour's budget (RSP-4): a timestamp the MTA
    writes must not move a window or a cap. Plans recorded before it existed have
    ``None`` and used ``received_at`` for both.

    ``from_address`` is the verified alternative sender, else the mailbox's own address
    the message was sent to (an alias or the primary, as Pigeonhole chooses among
    ``:addresses``). ``to_name`` is the display name the sender gave themselves in the
    ``Sender``, ``Resent-From`` or ``From`` field whose address is the envelope sender,
    neutralised; ``None`` when none matched, and in plans recorded before it existed.
    """

    address: str
    message_name: str
    message_key: str
    generation: int
    to: str
    sender_key: str
    from_address: str
    subject: str | None
    body: str
    received_at: datetime
    message_id: str
    original: OriginalMessage
    decided_at: datetime | None = None
    to_name: str | None = None

    @property
    def window_id(self) -> UUID:
        return reply_window_id(self.address, self.message_key, self.sender_key)

    @property
    def window_start(self) -> datetime:
        """When the reply was decided: the instant its window and budget count from."""
        return self.received_at if self.decided_at is None else self.decided_at

    @property
    def budget_id(self) -> UUID:
        return reply_budget_id(self.address, self.window_start)


@frozen
class Decision:
    """Reply or not, and why: ``reason`` starts with the rule id that decided."""

    reply: bool
    check: Check
    reason: str
    plan: ReplyPlan | None = None

    @property
    def rule(self) -> str:
        return RULES[self.check]

    def as_dict(self) -> dict[str, object]:
        """The decision as one JSON object (the ``deliver`` command prints it)."""
        out: dict[str, object] = {
            "reply": self.reply,
            "reason": self.reason,
            "rule": self.rule,
            "check": self.check.value,
        }
        if self.plan is not None:
            out |= {
                "message": self.plan.message_name,
                "generation": self.plan.generation,
                "to": self.plan.to,
                "from": self.plan.from_address,
                "message_id": self.plan.message_id,
            }
        return out


def refusal(check: Check, why: str) -> Decision:
    """No reply, because of ``check``; the reason starts with its rule id."""
    return Decision(reply=False, check=check, reason=f"{RULES[check]}: {why}")


def reply_message_id(
    address: str, sender_key: str, message_key: str, generation: int, at: datetime
) -> str:
    """A Message-ID derived from the decision, so a re-sent reply is recognisable.

    The same (address, sender, message, generation, window start) gives the same id; the
    sender does not appear in it in clear.
    """
    seed = "\0".join(
        (
            address_key(address),
            sender_key,
            message_key,
            str(generation),
            utc(at).isoformat(),
        )
    )
    digest = hashlib.sha256(seed.encode()).hexdigest()[:32]
    domain = split_key(address_key(address))[1]
    return f"<auto-reply.{digest}@{domain}>"


def auto_reply_id(plan: ReplyPlan) -> UUID:
    """Derived from the reply's Message-ID: the same decision twice is one reply."""
    return uuid5(plan.window_id, plan.message_id)
