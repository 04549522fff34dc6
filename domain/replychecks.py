"""The checks of a delivery after the sender's own, in the order of issue 4 (RSP-2..RSP-7).

Each check looks at one :class:`Delivery` and refuses (a :class:`Decision` naming its
rule) or passes (``None``); :func:`domain.autoreply.decide` runs them in order and the
first that refuses wins. Every occurrence of a field counts: a message with two
``Precedence`` fields is bulk if either says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

from attrs import frozen

from domain.address import EmailAddress
from domain.incoming import Headers, one_line, token
from domain.replyplan import Check, Decision, refusal
from domain.respondermessage import ResponderConfig, ResponderMessage
from domain.responderpolicy import REPLY_INTERVAL, ResponderPolicy, address_key
from domain.senders import base_address, system_sender
from domain.time import utc

_LIST_FIELDS = ("mailing-list", "x-mailing-list")
_BULK = {"bulk", "list", "junk"}
# RSP-7 and the issue: To, Cc and their Resent- forms. A Bcc field that survived
# delivery does not make the address an explicit, visible recipient.
_RECIPIENT_FIELDS = ("to", "cc", "resent-to", "resent-cc")


def ago(delta: timedelta) -> str:
    if delta < timedelta(0):
        return "after this message arrived"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        n = int(delta.total_seconds() // size)
        if n:
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "just now"


@frozen
class Delivery:
    """One delivery as the checks after the sender's own see it.

    ``at`` is when the engine decides (window and cap), ``received_at`` the MTA's time.
    """

    responder: ResponderConfig
    message: ResponderMessage
    at: datetime
    received_at: datetime
    sender: EmailAddress
    own: frozenset[str]
    headers: Headers
    window_last_sent: datetime | None
    budget_used: int
    policy: ResponderPolicy

    @property
    def separator(self) -> str:
        return self.policy.subaddress_separator

    def senders(self) -> list[str]:
        """The envelope sender and the From addresses, as compared."""
        return [
            self.sender.identity,
            *(address_key(a) for a in self.headers.addresses("from")),
        ]


def oversized_header(d: Delivery) -> Decision | None:
    """Before every check that reads a field: none was read."""
    if d.headers.oversized is None:
        return None
    return refusal(
        Check.OVERSIZED_HEADER,
        f"the header block is larger than {d.headers.oversized} bytes and was not "
        "read (a broken or hostile message)",
    )


def _own_address(d: Delivery) -> Decision | None:
    if base_address(d.sender.identity, d.separator) in d.own:
        return refusal(
            Check.OWN_ADDRESS,
            f"sender {d.sender} is one of the address's own addresses",
        )
    return None


def _excluded(d: Delivery) -> Decision | None:
    for key in d.senders():
        entry = d.message.excluded_by(key)
        if entry is not None:
            return refusal(Check.EXCLUDED, f"sender {key} is excluded by {entry!r}")
    return None


def _system_sender(d: Delivery) -> Decision | None:
    for key in d.senders():
        kind = system_sender(key, d.separator)
        if kind is not None:
            return refusal(Check.SYSTEM_SENDER, f"system sender {key}: {kind}")
    return None


def _mailing_list(d: Delivery) -> Decision | None:
    names = d.headers.names
    found = next((n for n in names if n.lower() == "list-id"), None) or next(
        (
            n
            for n in names
            if n.lower().startswith("list-") or n.lower() in _LIST_FIELDS
        ),
        None,
    )
    if found is not None:
        return refusal(Check.MAILING_LIST, f"{found} header present (mailing list)")
    return None


def _auto_submitted(d: Delivery) -> Decision | None:
    for value in d.headers.values("auto-submitted"):
        if token(value) != "no":
            return refusal(
                Check.AUTO_SUBMITTED,
                f"Auto-Submitted: {one_line(value)} (automatic message, RFC 3834)",
            )
    return None


def _precedence(d: Delivery) -> Decision | None:
    for value in d.headers.values("precedence"):
        if token(value) in _BULK:
            return refusal(Check.PRECEDENCE, f"Precedence: {token(value)} (bulk mail)")
    return None


def _suppressed(d: Delivery) -> Decision | None:
    for value in d.headers.values("x-auto-response-suppress"):
        words = {w.casefold() for w in re.split(r"[\s,;]+", value) if w}
        if words & {"all", "oof"}:
            return refusal(
                Check.RESPONSE_SUPPRESSED,
                f"X-Auto-Response-Suppress: {one_line(value)} (the sender asks for none)",
            )
    return None


def _spam(d: Delivery) -> Decision | None:
    flags = [
        f"X-Spam-Flag: {v.strip()}"
        for v in d.headers.values("x-spam-flag")
        if token(v).startswith("yes")
    ]
    flags += [
        f"X-Spam-Status: {v.strip()[:3]}"
        for v in d.headers.values("x-spam-status")
        if re.split(r"[\s,;]", v.strip(), maxsplit=1)[0].casefold() == "yes"
    ]
    flags += [
        f"X-Spam: {v.strip()}" for v in d.headers.values("x-spam") if token(v) == "yes"
    ]
    if flags:
        return refusal(
            Check.SPAM, f"flagged as spam ({flags[0]}); a reply would be backscatter"
        )
    return None


def _loop(d: Delivery) -> Decision | None:
    hops = d.headers.count("received")
    if hops > d.policy.max_received:
        return refusal(
            Check.LOOP,
            f"{hops} Received headers, more than {d.policy.max_received} (mail loop)",
        )
    return None


def _explicit_recipient(d: Delivery) -> Decision | None:
    if not d.policy.require_explicit_recipient:
        return None
    listed = {
        base_address(address_key(a), d.separator)
        for name in _RECIPIENT_FIELDS
        for a in d.headers.addresses(name)
    }
    if listed & d.own:
        return None
    return refusal(
        Check.NOT_A_RECIPIENT,
        f"{d.responder.address} is not an explicit recipient in To/Cc/Resent-To/Resent-Cc "
        "(a Bcc'd or list copy)",
    )


def _replied_recently(d: Delivery) -> Decision | None:
    if d.window_last_sent is None:
        return None
    last = utc(d.window_last_sent)
    if d.at - last >= REPLY_INTERVAL:
        return None
    return refusal(
        Check.REPLIED_RECENTLY,
        f"replied to this sender with {d.message.name!r} {ago(d.at - last)}; "
        f"again from {(last + REPLY_INTERVAL).isoformat()}",
    )


def _hourly_cap(d: Delivery) -> Decision | None:
    if d.budget_used < d.policy.hourly_cap:
        return None
    return refusal(
        Check.HOURLY_CAP,
        f"{d.responder.address} sent {d.budget_used} auto-replies this hour, the cap is "
        f"{d.policy.hourly_cap} (runaway-loop guard)",
    )


# The order of issue 4, after the responder, schedule and null-sender checks.
CHECKS: tuple[Callable[[Delivery], Decision | None], ...] = (
    _own_address,
    _excluded,
    _system_sender,
    _mailing_list,
    _auto_submitted,
    _precedence,
    _suppressed,
    _spam,
    _loop,
    _explicit_recipient,
    _replied_recently,
    _hourly_cap,
)
