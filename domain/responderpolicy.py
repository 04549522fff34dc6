"""How the auto-responder compares addresses, derives its ids, and the operator's limits.

Every id of the responder's aggregates is derived from what it belongs to (the address,
the message, the sender, the hour), so two workers answering the same sender load and
write the same aggregates and one of the two saves conflicts (RSP-9).
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from uuid import UUID, uuid5

from attrs import field, frozen

from domain import ids
from domain.address import EmailAddress, identity
from domain.errors import InvalidInput
from domain.time import utc

# RSP-4: the same sender gets the same message again only this long after the last one.
REPLY_INTERVAL = timedelta(days=7)


def address_key(address: EmailAddress | str) -> str:
    """How addresses are compared here: :func:`domain.address.identity`.

    The local part is NFC-normalised and lower-cased, never case-folded: folding would
    make ``straße@`` and ``strasse@`` one sender, one exclusion, one alternative (issue
    7, item 7). For ASCII, ``lower()`` and ``casefold()`` agree, so an ASCII address
    has the same key as when keys were case-folded, and so do the ids derived from it
    (responder, reply window, reply budget): what was recorded before is still found.
    A key only compares, it never refuses (input is refused where it is parsed), so a
    string whose domain is no valid IDN is compared NFC and lower-cased as it is.
    """
    if isinstance(address, EmailAddress):
        return address.identity
    text = address.strip()
    try:
        return identity(text)
    except InvalidInput:
        return unicodedata.normalize("NFC", text).lower()


def split_key(key: str) -> tuple[str, str]:
    """(local part, domain) of an :func:`address_key`, split on its last ``@``.

    A key was an address once (parsed where it entered), so it is split, not parsed
    again: the decision reads thousands of them and never refuses one.
    """
    local, _, domain = key.rpartition("@")
    return local, domain


def name_key(name: str) -> str:
    """Message names are unique per responder, ignoring case and repeated spaces."""
    return " ".join(name.split()).casefold()


def responder_id(address: EmailAddress | str) -> UUID:
    """The id of the auto-responder of ``address``: one per address, derived."""
    return uuid5(ids.NAMESPACE, f"responder:{address_key(address)}")


def reply_window_id(address: EmailAddress | str, message_key: str, sender: str) -> UUID:
    """The id of the reply memory of one message for one sender.

    Addresses enter by :func:`address_key` (never case-folded, so ``straße@`` and
    ``strasse@`` have a window each); ASCII senders keep the ids they had when keys
    were case-folded, so windows recorded before still count (RSP-4).
    """
    return uuid5(
        ids.NAMESPACE,
        f"reply-window:{address_key(address)}\0{message_key.casefold()}\0"
        f"{address_key(sender)}",
    )


def hour_bucket(at: datetime) -> datetime:
    """The UTC hour ``at`` falls in, as its first instant."""
    return utc(at).replace(minute=0, second=0, microsecond=0)


def reply_budget_id(address: EmailAddress | str, at: datetime) -> UUID:
    """The id of the reply count of ``address`` for the UTC hour of ``at``."""
    return uuid5(
        ids.NAMESPACE,
        f"reply-budget:{address_key(address)}\0{hour_bucket(at).isoformat()}",
    )


def _positive(_: object, attribute: object, value: timedelta) -> None:
    if value <= timedelta(0):
        raise InvalidInput(f"{getattr(attribute, 'name', 'duration')} must be positive")


def _at_least_one(_: object, attribute: object, value: int) -> None:
    if value < 1:
        raise InvalidInput(f"{getattr(attribute, 'name', 'limit')} must be at least 1")


@frozen
class ResponderPolicy:
    """Operator limits of the auto-responder (not the user's settings).

    ``hourly_cap``: replies per address per UTC hour; a responder talking to another
    responder that ignores ``Auto-Submitted`` stops here instead of mailing forever.
    ``max_received``: more ``Received`` header fields than this means a mail loop. Exim's
    default ``received_headers_max`` is 30; real mail crosses about 5..15 hops, and the
    cost of a false positive is one auto-reply not sent, so 30 errs on the safe side.
    ``require_explicit_recipient``: RSP-7 "unless configured otherwise".
    ``subaddress_separator``: ``alice+news@`` is alice's own address (RFC 5233).
    ``verification_*``: a code mailed to an alternative sender is good for this long and
    this many wrong tries.
    ``verification_mails_*``: how many codes may be mailed to one alternative address
    per hour and per day, and to all alternatives of one address per hour: a user who
    mistyped asks again, nobody needs more, and the mail goes to an address no one has
    vouched for yet (issue 7, item 9).
    """

    hourly_cap: int = field(default=20, validator=_at_least_one)
    max_received: int = field(default=30, validator=_at_least_one)
    require_explicit_recipient: bool = True
    subaddress_separator: str = "+"
    verification_validity: timedelta = field(
        default=timedelta(days=1), validator=_positive
    )
    verification_attempts: int = field(default=5, validator=_at_least_one)
    verification_mails_per_hour: int = field(default=3, validator=_at_least_one)
    verification_mails_per_day: int = field(default=10, validator=_at_least_one)
    verification_mails_per_hour_all: int = field(default=10, validator=_at_least_one)
