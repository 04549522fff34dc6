"""What the tests of the decision's modules share: a responder, messages in every form.

Every message is read in the three forms the application may hand over (a parsed
``EmailMessage``, a legacy ``compat32`` ``Message``, a mapping of raw fields) and in the
one ``deliver`` reads from the wire (:func:`header_block`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, message_from_string, policy
from email.message import EmailMessage, Message

from domain.address import EmailAddress
from domain.autoreply import decide
from domain.incoming import Headers, HeaderSource, header_block
from domain.replymail import compose_reply
from domain.replyplan import Decision, ReplyPlan
from domain.responder import AutoResponder
from domain.respondermessage import MessageDraft, ResponderConfig
from domain.responderpolicy import ResponderPolicy

T0 = datetime(2024, 7, 3, 10, 0, tzinfo=UTC)  # a Wednesday, 12:00 in Zurich
ADDRESS = "alice@example.org"
POLICY = ResponderPolicy()


def wall(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A wall-clock time of the mailbox zone: naive on purpose (RSP-6)."""
    return datetime(year, month, day, hour, minute)  # noqa: DTZ001 - a wall-clock time


def responder(
    *,
    weekdays: tuple[str, ...] = (),
    end: date | datetime | None = None,
    exclusions: tuple[str, ...] = (),
) -> AutoResponder:
    r = AutoResponder.provision(
        EmailAddress.parse(ADDRESS),
        time_zone="Europe/Zurich",
        at=T0 - timedelta(days=30),
    )
    r.save_message(
        MessageDraft(
            name="Holidays",
            body="I am away until August.",
            weekdays=weekdays,
            end=end,
            exclusions=exclusions,
        ),
        at=T0 - timedelta(days=30),
    )
    r.activate("Holidays", at=T0 - timedelta(days=30))
    return r


CONFIG = responder(exclusions=("boss@company.com", "@partner.ch")).config()


def raw(*fields: str, body: str = "Hello Alice.") -> str:
    return "\r\n".join(fields) + "\r\n\r\n" + body + "\r\n"


ORDINARY = (
    "Received: from mx.other.org by mx.example.org; Wed, 3 Jul 2024 09:59:58 +0000",
    "From: Bob <bob@other.org>",
    "Subject: Lunch?",
    "Message-ID: <lunch-1@other.org>",
    "Date: Wed, 3 Jul 2024 11:59:00 +0200",
)


def as_email_message(text: str) -> EmailMessage:
    parsed = message_from_bytes(text.encode("utf-8"), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def as_compat32(text: str) -> Message:
    return message_from_string(text, policy=policy.compat32)


def as_mapping(text: str) -> Mapping[str, list[str]]:
    """Raw fields as on the wire: folding kept, encoded words not decoded."""
    head = text.split("\r\n\r\n", 1)[0]
    fields: dict[str, list[str]] = {}
    for line in head.split("\r\n"):
        if line[:1] in {" ", "\t"}:
            name = next(reversed(fields))
            fields[name][-1] += "\r\n" + line
        else:
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.lstrip())
    return fields


def as_wire(text: str) -> Headers:
    """The bytes as ``deliver`` reads them (obsolete syntax understood, bounded)."""
    return header_block(text.encode("utf-8"))


FORMS: dict[str, Callable[[str], HeaderSource | Headers]] = {
    "EmailMessage": as_email_message,
    "compat32": as_compat32,
    "mapping": as_mapping,
    "wire": as_wire,
}


def deliver(
    message: str | HeaderSource | Headers,
    *,
    sender: str = "bob@other.org",
    form: str = "EmailMessage",
    config: ResponderConfig | None = CONFIG,
    at: datetime = T0,
    last_sent: datetime | None = None,
    used: int = 0,
    own: tuple[str, ...] = ("a.smith@example.org",),
    rules: ResponderPolicy = POLICY,
    decided: datetime | None = None,
) -> Decision:
    """The decision on ``message``: text is read in ``form``, headers as they are."""
    return decide(
        config,
        recipient=ADDRESS,
        envelope_sender=sender,
        headers=FORMS[form](message) if isinstance(message, str) else message,
        received_at=at,
        window_last_sent=last_sent,
        budget_used=used,
        policy=rules,
        own_addresses=own,
        decided_at=decided,
    )


def decided_and_composed(
    headers: HeaderSource | Headers | Mapping[str, list[str]],
    *,
    config: ResponderConfig = CONFIG,
    sender: str = "bob@other.org",
    rules: ResponderPolicy = POLICY,
) -> Decision:
    """A decision on any headers: its reason starts with its rule, its reply composes."""
    decision = deliver(headers, sender=sender, config=config, own=(), rules=rules)
    assert decision.reason.startswith(decision.rule + ": ")
    if decision.plan is not None:
        composed = compose_reply(decision.plan, date=T0)
        assert composed.message.as_bytes()
    return decision


def plan_for(
    *fields: str, sender: str = "Bob@Other.org", config: ResponderConfig = CONFIG
) -> ReplyPlan:
    decision = deliver(raw(*fields), sender=sender, config=config)
    assert decision.plan is not None, decision.reason
    return decision.plan
