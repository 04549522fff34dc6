"""Who sent a delivery: the envelope sender, its name, subaddresses, system senders (RSP-7).

Addresses are compared by :func:`domain.responderpolicy.address_key`: NFC and
lower-cased, never case-folded (``straße@`` is not ``strasse@``), an IDN domain in its
ASCII form; ASCII addresses compare as they did when keys were case-folded.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from domain.address import EmailAddress
from domain.incoming import Headers
from domain.responderpolicy import address_key, split_key
from domain.text import LINK_REMOVED, neutralise


def parse_envelope_sender(text: str) -> EmailAddress | None:
    """The return path as given to ``deliver``; ``None`` for the null path ``<>``.

    Raises :class:`InvalidInput` when it is not a usable address (a bare
    ``MAILER-DAEMON``, a quoted local part, a domain-less name): nothing can be sent there.
    """
    clean = text.strip()
    if clean.startswith("<") and clean.endswith(">"):
        clean = clean[1:-1].strip()
    if not clean:
        return None
    return EmailAddress.parse(clean, what="envelope sender")


def base_address(key: str, separator: str) -> str:
    """``alice+news@x`` -> ``alice@x`` (RFC 5233 subaddress)."""
    local, domain = split_key(key)
    if not separator or separator not in local:
        return key
    return f"{local.split(separator, 1)[0]}@{domain}"


_SYSTEM_NAMES = {
    "mailer-daemon": "MAILER-DAEMON (bounce)",
    "listserv": "LISTSERV (list robot)",
    "majordomo": "majordomo (list robot)",
    # A role mailbox that mostly sends DSNs and reports; a reply risks a bounce loop.
    "postmaster": "postmaster (mail system)",
}
_NO_REPLY = re.compile(r"^(?:no|do[-_.]?not)[-_.]?reply(?:$|[-_.])")
_SYSTEM_PATTERNS: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda b: b.startswith("owner-") or b.endswith("-owner"), "list owner (owner-*)"),
    (lambda b: b.endswith("-request"), "list robot (*-request)"),
    (
        lambda b: (
            b in {"bounce", "bounces"}
            or b.startswith(("bounce-", "bounces-"))
            or b.endswith(("-bounce", "-bounces"))
        ),
        "bounce handler",
    ),
    (lambda b: _NO_REPLY.match(b) is not None, "no-reply address"),
)


def system_sender(key: str, separator: str = "+") -> str | None:
    """What kind of system address ``key`` is, or ``None`` for a person.

    RFC 5230 4.5 and Pigeonhole: ``MAILER-DAEMON``, ``LISTSERV``, ``majordomo``,
    ``*-request``, ``owner-*``. Added here: ``*-owner`` (the return path of many lists),
    ``postmaster``, bounce-handling addresses (``bounce(s)``, ``*-bounces``,
    ``bounce(s)-*``; Mailman and VERP senders) and the no-reply family (``noreply``,
    ``no-reply``, ``no_reply``, ``donotreply``, ``do-not-reply``, with a suffix after
    ``-``/``.``/``_``), which say themselves that nobody reads a reply. The subaddress
    (``+...``) is ignored.
    """
    base = split_key(base_address(address_key(key), separator))[0]
    if base in _SYSTEM_NAMES:
        return _SYSTEM_NAMES[base]
    return next((kind for matches, kind in _SYSTEM_PATTERNS if matches(base)), None)


# Pigeonhole's _sender_headers, in its order: the agent who sent the message first.
_SENDER_FIELDS = ("sender", "resent-from", "from")
MAX_DISPLAY_NAME = 100


def display_name_of(headers: Headers, sender: EmailAddress) -> str | None:
    """The name the envelope sender gives themselves, to address the reply to them.

    Pigeonhole's vacation replies to the ``Sender``, ``Resent-From`` or ``From``
    mailbox whose address is the envelope sender, display name included; the first
    match decides, even when it has no name. The name is outside text: neutralised,
    and dropped when it held link-like text (a name that is a link is bait, not a name).
    """
    for name in _SENDER_FIELDS:
        for display, address in headers.mailboxes(name):
            if address_key(address) != sender.identity:
                continue
            clean = neutralise(display, max_length=MAX_DISPLAY_NAME)
            if not clean or LINK_REMOVED in clean:
                return None
            return clean
    return None
