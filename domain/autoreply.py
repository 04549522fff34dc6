"""Whether a delivered message gets the auto-reply, and the reply itself (RSP-4..RSP-8).

Pure: the application loads the responder, the sender's :class:`ReplyWindow` and the hour's
:class:`ReplyBudget`, passes what they say and the parsed message, and gets a
:class:`Decision` naming the rule that decided. Checks run in this order (issue 4), the
first that refuses wins:

1. a message is active (RSP-1) and ``received_at`` is inside its schedule, in the mailbox
   zone (RSP-6);
2. the envelope sender is not null (``<>``) nor unusable; then the header block could
   be read: larger than :data:`MAX_HEADER_BYTES` it is not parsed at all and the message
   is not answered (a broken or hostile message);
3. the envelope sender is not one of the address's own addresses, not excluded (RSP-2;
   the ``From`` addresses are checked against the exclusions too: a user who excludes a
   person means the person, whatever path the mail took);
4. neither the envelope sender nor a ``From`` address is a system sender (RSP-7), see
   :func:`system_sender`;
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

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from email import policy as email_policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message
from email.utils import format_datetime
from enum import StrEnum
from typing import TypeAlias
from uuid import UUID, uuid5

from attrs import frozen
from eventsourcing.domain import Aggregate

from domain.address import EmailAddress
from domain.errors import InvalidInput
from domain.responder import (
    REPLY_INTERVAL,
    ReplyBudget,
    ReplyWindow,
    ResponderConfig,
    ResponderMessage,
    ResponderPolicy,
    address_key,
    reply_budget_id,
    reply_window_id,
)
from domain.time import utc

HeaderSource: TypeAlias = Message | Mapping[str, str | Sequence[str]]
"""A parsed message, or its header fields by name (raw values, as on the wire)."""

# RFC 5322 3.6.4 lets References grow without bound; like netnews (RFC 5537 3.4.4) a
# reply keeps the first id and the latest ones, enough to thread.
MAX_REFERENCES = 20
MAX_SUBJECT = 998
MAX_ID_LENGTH = 250
NO_SUBJECT = "(no subject)"
REPLY_PREFIX = "Auto: "


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
class OriginalMessage:
    """What a reply needs from the message it answers (RFC 5322 3.6.4, RSP-8)."""

    message_id: str | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    subject: str | None = None


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


def _no(check: Check, why: str) -> Decision:
    return Decision(reply=False, check=check, reason=f"{RULES[check]}: {why}")


# -- reading header fields ------------------------------------------------------------------

_REGISTRY = HeaderRegistry()
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_LINE_BREAK = re.compile(r"[\r\n]+")
_COMMENT = re.compile(r"\([^()]*\)")
_MSG_ID = re.compile(r"<[^<>\s]+>")


# The stdlib's structured parsers are superlinear on hostile values (one To field of
# 36,000 addresses took 48 s): a value is parsed only within these sizes, past them it is
# read raw and its addresses are found by a linear scan. 16 KiB holds a To of some 600
# recipients; 64 KiB is the budget of all the fields of one message together, each field
# costing its length plus a fixed overhead (a parse costs ~0.2 ms however short the value:
# 20,000 one-address To fields took 3 s).
MAX_PARSED_FIELD = 16 * 1024
MAX_PARSED_TOTAL = 64 * 1024
PARSE_OVERHEAD = 256
_ADDR_SPEC = re.compile(r"[^\s<>,;:\"()\[\]\\@]+@[^\s<>,;:\"()\[\]\\@]+")


class _Unparsed(str):
    """A value too large to parse: read as it is."""

    __slots__ = ()


def _readable(text: str) -> str:
    """Raw 8-bit header bytes arrive as surrogate escapes; read them as UTF-8 (RFC 6532)."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class Headers:
    """The header fields of a message by lower-case name, every occurrence kept.

    ``oversized`` is set (to the limit it exceeded) when the header block was too large
    to be read at all: then no field is known and the delivery is not answered.
    """

    def __init__(
        self,
        source: HeaderSource | Iterable[tuple[str, str]],
        *,
        oversized: int | None = None,
    ) -> None:
        self._raw: dict[str, list[str | BaseHeader]] = {}
        self._names: list[str] = []
        self.oversized = oversized
        if isinstance(source, Message):
            pairs: Iterable[tuple[str, object]] = source.raw_items()
        elif isinstance(source, Mapping):
            pairs = (
                (name, value)
                for name, values in source.items()
                for value in ([values] if isinstance(values, str) else values)
            )
        else:
            pairs = source
        for name, value in pairs:
            key = name.strip().lower()
            if key not in self._raw:
                self._names.append(name.strip())
            item = value if isinstance(value, BaseHeader) else _readable(str(value))
            self._raw.setdefault(key, []).append(item)
        self._parsed: dict[str, list[BaseHeader | str]] = {}
        self._budget = MAX_PARSED_TOTAL

    @property
    def names(self) -> list[str]:
        """Field names as first written, in message order, each once."""
        return list(self._names)

    def count(self, name: str) -> int:
        return len(self._raw.get(name.lower(), ()))

    def _fields(self, name: str) -> list[BaseHeader | str]:
        key = name.lower()
        known = self._parsed.get(key)
        if known is None:
            known = [self._parse(key, v) for v in self._raw.get(key, ())]
            self._parsed[key] = known
        return known

    def _parse(self, name: str, value: str | BaseHeader) -> BaseHeader | str:
        if isinstance(value, BaseHeader):
            return value
        unfolded = _LINE_BREAK.sub(" ", _FOLD.sub("", value)).strip()
        cost = len(unfolded) + PARSE_OVERHEAD
        if len(unfolded) > MAX_PARSED_FIELD or cost > self._budget:
            return _Unparsed(unfolded)
        self._budget -= cost
        try:
            return _REGISTRY(name, unfolded)
        except Exception:  # noqa: BLE001 - the stdlib parser raises assorted errors on hostile input; such a field is read raw
            return unfolded

    def values(self, name: str) -> list[str]:
        """Each occurrence unfolded, RFC 2047 words decoded."""
        return [str(v) for v in self._fields(name)]

    def addresses(self, name: str) -> list[str]:
        """The addr-specs of each occurrence (group syntax and display names handled)."""
        found: list[str] = []
        for value in self._fields(name):
            if isinstance(value, _Unparsed):
                found.extend(_ADDR_SPEC.findall(value))
                continue
            groups = getattr(value, "groups", None)
            if groups is None:
                continue
            found.extend(
                a.addr_spec
                for group in groups
                for a in group.addresses
                if a.username and a.domain
            )
        return found


# -- the header block as the MTA hands it over ------------------------------------------

# Every field the decision reads is in the header block; a real one is a few KiB (a
# message that crossed 30 hops with DKIM and ARC signatures stays under 64 KiB). A block
# larger than this is not parsed at all: reading it costs CPU without bound (the stdlib
# parser spent 24 s on 23 MB) and no legitimate sender needs an auto-reply to it.
MAX_HEADER_BYTES = 256 * 1024
# RFC 5322 3.6.8 field names are printable ASCII but ":"; 4.5 (obsolete syntax,
# obs-optional) allows blanks between the name and the colon: "Auto-Submitted : x" must
# be read as Auto-Submitted, or the stdlib's stricter parser ends the header there.
_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:(.*)", re.DOTALL)
_END_OF_HEADER = re.compile(rb"\r?\n\r?\n")
_LINES = re.compile(rb"\r?\n")


def header_block(raw: bytes, *, limit: int = MAX_HEADER_BYTES) -> Headers:
    """The header fields of a raw message (RFC 5322 2.2, obsolete syntax read too).

    Pure and bounded: at most ``limit`` bytes are looked at, whatever the size of the
    message; a header block that does not end within them gives an ``oversized``
    :class:`Headers`. A line that is neither a field nor a continuation (the mbox
    ``From `` line, garbage) is skipped rather than ending the header: a field after it
    can only suppress a reply or name a recipient, never cause harm.
    """
    if raw[:1] == b"\n" or raw[:2] == b"\r\n":
        return Headers(())  # an empty header block: the body starts at once
    end = _END_OF_HEADER.search(raw, 0, limit + 4)
    if end is not None and end.start() <= limit:
        block = raw[: end.start()]
    elif len(raw) <= limit:
        block = raw  # no body: the whole message is its header (RFC 5322 3.5)
    else:
        return Headers((), oversized=limit)
    # Each field as its name and its lines (joined once: appending to bytes would copy
    # a long folded field once per line).
    fields: list[tuple[bytes, list[bytes]]] = []
    for line in _LINES.split(block):
        if line[:1] in {b" ", b"\t"}:
            if fields:
                fields[-1][1].append(line)
            continue
        found = _FIELD.fullmatch(line)
        if found is not None:
            fields.append((found.group(1), [found.group(2).lstrip(b" \t")]))
    return Headers(
        (
            name.decode("ascii"),
            b"\r\n".join(lines).rstrip(b"\r").decode("ascii", "surrogateescape"),
        )
        for name, lines in fields
    )


def summarise(headers: HeaderSource | Headers) -> OriginalMessage:
    """What a reply to this message threads on, in a storable value."""
    h = headers if isinstance(headers, Headers) else Headers(headers)

    def ids(name: str) -> tuple[str, ...]:
        found = (i for v in h.values(name) for i in _MSG_ID.findall(v))
        return tuple(i for i in found if len(i) <= MAX_ID_LENGTH)

    # Anyone can send anything: keep only what a reply threads on, bounded, so one
    # hostile message cannot put megabytes into the log (RFC 5322 2.1.1: 998 octets).
    message_ids = ids("message-id")
    references = ids("references")
    if len(references) > MAX_REFERENCES:
        references = (references[0], *references[-(MAX_REFERENCES - 1) :])
    subjects = h.values("subject")
    return OriginalMessage(
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=ids("in-reply-to")[:MAX_REFERENCES],
        references=references,
        subject=_one_line(subjects[0])[:MAX_SUBJECT] if subjects else None,
    )


def _one_line(text: str) -> str:
    """Control characters (a decoded encoded-word may hold CR LF) become spaces."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _token(value: str) -> str:
    """The first word of a structured value, comments and parameters dropped."""
    return _COMMENT.sub(" ", value).split(";")[0].strip().casefold()


# -- addresses ------------------------------------------------------------------------------


def _key(addr_spec: str) -> str:
    """An address as compared: :func:`domain.responder.address_key`.

    NFC and lower-cased, never case-folded (``straße@`` is not ``strasse@``); an IDN
    domain in its ASCII form. ASCII addresses compare as they did when this folded.
    """
    return address_key(addr_spec)


def _base(key: str, separator: str) -> str:
    """``alice+news@x`` -> ``alice@x`` (RFC 5233 subaddress)."""
    local, _, domain = key.rpartition("@")
    if not separator or separator not in local:
        return key
    return f"{local.split(separator, 1)[0]}@{domain}"


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
    base = _base(_key(key), separator).rpartition("@")[0]
    if base in _SYSTEM_NAMES:
        return _SYSTEM_NAMES[base]
    return next((kind for matches, kind in _SYSTEM_PATTERNS if matches(base)), None)


# -- the decision ---------------------------------------------------------------------------

_LIST_FIELDS = ("mailing-list", "x-mailing-list")
_BULK = {"bulk", "list", "junk"}
# RSP-7 and the issue: To, Cc and their Resent- forms. A Bcc field that survived
# delivery does not make the address an explicit, visible recipient.
_RECIPIENT_FIELDS = ("to", "cc", "resent-to", "resent-cc")


def _ago(delta: timedelta) -> str:
    if delta < timedelta(0):
        return "after this message arrived"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        n = int(delta.total_seconds() // size)
        if n:
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "just now"


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
    domain = address_key(address).rpartition("@")[2]
    return f"<auto-reply.{digest}@{domain}>"


@frozen
class _Delivery:
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
            *(_key(a) for a in self.headers.addresses("from")),
        ]


def _oversized_header(d: _Delivery) -> Decision | None:
    """Before every check that reads a field: none was read."""
    if d.headers.oversized is None:
        return None
    return _no(
        Check.OVERSIZED_HEADER,
        f"the header block is larger than {d.headers.oversized} bytes and was not "
        "read (a broken or hostile message)",
    )


def _own_address(d: _Delivery) -> Decision | None:
    if _base(d.sender.identity, d.separator) in d.own:
        return _no(
            Check.OWN_ADDRESS,
            f"sender {d.sender} is one of the address's own addresses",
        )
    return None


def _excluded(d: _Delivery) -> Decision | None:
    for key in d.senders():
        entry = d.message.excluded_by(key)
        if entry is not None:
            return _no(Check.EXCLUDED, f"sender {key} is excluded by {entry!r}")
    return None


def _system_sender(d: _Delivery) -> Decision | None:
    for key in d.senders():
        kind = system_sender(key, d.separator)
        if kind is not None:
            return _no(Check.SYSTEM_SENDER, f"system sender {key}: {kind}")
    return None


def _mailing_list(d: _Delivery) -> Decision | None:
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
        return _no(Check.MAILING_LIST, f"{found} header present (mailing list)")
    return None


def _auto_submitted(d: _Delivery) -> Decision | None:
    for value in d.headers.values("auto-submitted"):
        if _token(value) != "no":
            return _no(
                Check.AUTO_SUBMITTED,
                f"Auto-Submitted: {_one_line(value)} (automatic message, RFC 3834)",
            )
    return None


def _precedence(d: _Delivery) -> Decision | None:
    for value in d.headers.values("precedence"):
        if _token(value) in _BULK:
            return _no(Check.PRECEDENCE, f"Precedence: {_token(value)} (bulk mail)")
    return None


def _suppressed(d: _Delivery) -> Decision | None:
    for value in d.headers.values("x-auto-response-suppress"):
        words = {w.casefold() for w in re.split(r"[\s,;]+", value) if w}
        if words & {"all", "oof"}:
            return _no(
                Check.RESPONSE_SUPPRESSED,
                f"X-Auto-Response-Suppress: {_one_line(value)} (the sender asks for none)",
            )
    return None


def _spam(d: _Delivery) -> Decision | None:
    flags = [
        f"X-Spam-Flag: {v.strip()}"
        for v in d.headers.values("x-spam-flag")
        if _token(v).startswith("yes")
    ]
    flags += [
        f"X-Spam-Status: {v.strip()[:3]}"
        for v in d.headers.values("x-spam-status")
        if re.split(r"[\s,;]", v.strip(), maxsplit=1)[0].casefold() == "yes"
    ]
    flags += [
        f"X-Spam: {v.strip()}" for v in d.headers.values("x-spam") if _token(v) == "yes"
    ]
    if flags:
        return _no(
            Check.SPAM, f"flagged as spam ({flags[0]}); a reply would be backscatter"
        )
    return None


def _loop(d: _Delivery) -> Decision | None:
    hops = d.headers.count("received")
    if hops > d.policy.max_received:
        return _no(
            Check.LOOP,
            f"{hops} Received headers, more than {d.policy.max_received} (mail loop)",
        )
    return None


def _explicit_recipient(d: _Delivery) -> Decision | None:
    if not d.policy.require_explicit_recipient:
        return None
    listed = {
        _base(_key(a), d.separator)
        for name in _RECIPIENT_FIELDS
        for a in d.headers.addresses(name)
    }
    if listed & d.own:
        return None
    return _no(
        Check.NOT_A_RECIPIENT,
        f"{d.responder.address} is not an explicit recipient in To/Cc/Resent-To/Resent-Cc "
        "(a Bcc'd or list copy)",
    )


def _replied_recently(d: _Delivery) -> Decision | None:
    if d.window_last_sent is None:
        return None
    last = utc(d.window_last_sent)
    if d.at - last >= REPLY_INTERVAL:
        return None
    return _no(
        Check.REPLIED_RECENTLY,
        f"replied to this sender with {d.message.name!r} {_ago(d.at - last)}; "
        f"again from {(last + REPLY_INTERVAL).isoformat()}",
    )


def _hourly_cap(d: _Delivery) -> Decision | None:
    if d.budget_used < d.policy.hourly_cap:
        return None
    return _no(
        Check.HOURLY_CAP,
        f"{d.responder.address} sent {d.budget_used} auto-replies this hour, the cap is "
        f"{d.policy.hourly_cap} (runaway-loop guard)",
    )


# The order of issue 4, after the responder, schedule and null-sender checks.
CHECKS: tuple[Callable[[_Delivery], Decision | None], ...] = (
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


def _reply(d: _Delivery) -> Decision:
    message, at = d.message, d.at
    plan = ReplyPlan(
        address=d.responder.address,
        message_name=message.name,
        message_key=message.key,
        generation=message.generation,
        to=str(d.sender),
        sender_key=d.sender.identity,
        from_address=message.sender or d.responder.address,
        subject=message.subject,
        body=message.body,
        received_at=d.received_at,
        message_id=reply_message_id(
            d.responder.address, d.sender.identity, message.key, message.generation, at
        ),
        original=summarise(d.headers),
        decided_at=at,
    )
    history = (
        "first reply to this sender"
        if d.window_last_sent is None
        else f"last reply to this sender {_ago(at - utc(d.window_last_sent))}"
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
        return _no(
            Check.NO_ACTIVE_MESSAGE, f"no active auto-responder message for {recipient}"
        )
    message = responder.active
    outside = message.schedule.refusal(arrived, responder.zone)
    if outside is not None:
        return _no(
            Check.SCHEDULE, f"outside the schedule of {message.name!r}: {outside}"
        )
    try:
        sender = parse_envelope_sender(envelope_sender)
    except InvalidInput:
        return _no(
            Check.INVALID_SENDER,
            f"envelope sender {envelope_sender.strip()!r} is not a usable address",
        )
    if sender is None:
        return _no(
            Check.NULL_SENDER, "null envelope sender <> (a bounce or notification)"
        )
    fields = headers if isinstance(headers, Headers) else Headers(headers)
    separator = policy.subaddress_separator
    delivery = _Delivery(
        responder=responder,
        message=message,
        at=at,
        received_at=arrived,
        sender=sender,
        own=frozenset(
            _base(_key(a), separator)
            for a in (responder.address, recipient, *own_addresses)
            if a.strip()
        ),
        headers=fields,
        window_last_sent=window_last_sent,
        budget_used=budget_used,
        policy=policy,
    )
    for check in (_oversized_header, *CHECKS):
        refused = check(delivery)
        if refused is not None:
            return refused
    return _reply(delivery)


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


# -- the reply (RSP-8) ----------------------------------------------------------------------


@frozen
class Envelope:
    """SMTP envelope of a reply: ``mail_from`` is empty, the null path ``MAIL FROM:<>``."""

    mail_from: str
    rcpt_to: str


@frozen
class Reply:
    envelope: Envelope
    message: EmailMessage


def reply_subject(original: str | None, chosen: str | None = None) -> str:
    """The message's own subject, else ``Auto: <original>`` without stacking prefixes."""
    if chosen:
        return chosen
    subject = _one_line(original or "")
    if not subject:
        return REPLY_PREFIX + NO_SUBJECT
    if subject.casefold().startswith(REPLY_PREFIX.strip().casefold()):
        return subject
    return REPLY_PREFIX + subject


def reply_references(original: OriginalMessage) -> tuple[str, ...]:
    """RFC 5322 3.6.4: the parent's References (or its single In-Reply-To), then its id."""
    if original.message_id is None:
        return ()
    if original.references:
        parents = original.references
    elif len(original.in_reply_to) == 1:
        parents = original.in_reply_to
    else:
        parents = ()
    refs = (*parents, original.message_id)
    if len(refs) > MAX_REFERENCES:
        refs = (refs[0], *refs[-(MAX_REFERENCES - 1) :])
    return refs


def compose_reply(plan: ReplyPlan, *, date: datetime) -> Reply:
    """The reply as a message and its envelope, from the plan alone (pure)."""
    utf8 = not (plan.to.isascii() and plan.from_address.isascii())
    message = EmailMessage(policy=email_policy.SMTPUTF8 if utf8 else email_policy.SMTP)
    message["From"] = plan.from_address
    message["To"] = plan.to
    message["Subject"] = reply_subject(plan.original.subject, plan.subject)
    message["Date"] = format_datetime(utc(date))
    message["Message-ID"] = plan.message_id
    refs = reply_references(plan.original)
    if plan.original.message_id is not None:
        message["In-Reply-To"] = plan.original.message_id
        message["References"] = " ".join(refs)
    message["Auto-Submitted"] = "auto-replied"
    # Exchange and Outlook honour this: their own responders will not answer the reply.
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(
        plan.body, cte=None if plan.body.isascii() else "quoted-printable"
    )
    return Reply(envelope=Envelope(mail_from="", rcpt_to=plan.to), message=message)


# -- the reply as a record: the outbox entry of one decided reply -----------------------------


def auto_reply_id(plan: ReplyPlan) -> UUID:
    """Derived from the reply's Message-ID: the same decision twice is one reply."""
    return uuid5(plan.window_id, plan.message_id)


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
