"""The header fields of an incoming message, read robustly and within bounds (RSP-7, RSP-8).

Anyone can send anything: the header block the MTA hands over is read up to a bound, each
field is parsed only within a size budget (the stdlib's parsers are superlinear on hostile
values), every occurrence of a field is kept, folded and RFC 2047-encoded values are read
decoded, and what a reply threads on is kept bounded (:func:`summarise`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from typing import TypeAlias

from attrs import frozen

from domain.text import MAX_HEADER_LINE, forbidden_character

HeaderSource: TypeAlias = Message | Mapping[str, str | Sequence[str]]
"""A parsed message, or its header fields by name (raw values, as on the wire)."""

# RFC 5322 3.6.4 lets References grow without bound; like netnews (RFC 5537 3.4.4) a
# reply keeps the first id and the latest ones, enough to thread. An id is written
# unbroken on a line of its own at worst, so it must fit the 998 octets of a line
# (RFC 5322 2.1.1) with the field name; 250 holds every real one (Exchange's are ~100).
MAX_REFERENCES = 20
MAX_ID_LENGTH = 250


@frozen
class OriginalMessage:
    """What a reply needs from the message it answers (RFC 5322 3.6.4, RSP-8)."""

    message_id: str | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    subject: str | None = None


_REGISTRY = HeaderRegistry()
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_LINE_BREAK = re.compile(r"[\r\n]+")
_COMMENT = re.compile(r"\([^()]*\)")
# RFC 5322 3.6.4: a msg-id is printable ASCII between angle brackets. An id holding
# anything else (a control character, raw UTF-8) cannot be written back into the
# reply's In-Reply-To or References as it was, so it is not kept.
_MSG_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]+>")


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
        return [address for _, address in self.mailboxes(name)]

    def mailboxes(self, name: str) -> list[tuple[str, str]]:
        """The (display name, addr-spec) of each mailbox of each occurrence, decoded.

        A value too large to parse has its addresses found by a scan, without names.
        """
        found: list[tuple[str, str]] = []
        for value in self._fields(name):
            if isinstance(value, _Unparsed):
                found.extend(("", a) for a in _ADDR_SPEC.findall(value))
                continue
            groups = getattr(value, "groups", None)
            if groups is None:
                continue
            found.extend(
                (a.display_name, a.addr_spec)
                for group in groups
                for a in group.addresses
                if a.username and a.domain
            )
        return found


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


def is_msg_id(text: str) -> bool:
    """Whether ``text`` is one msg-id a reply may write back as it is (RFC 5322 3.6.4)."""
    return len(text) <= MAX_ID_LENGTH and _MSG_ID.fullmatch(text) is not None


def first_and_latest(ids: tuple[str, ...]) -> tuple[str, ...]:
    """At most :data:`MAX_REFERENCES` ids: the first one and the latest ones."""
    if len(ids) <= MAX_REFERENCES:
        return ids
    return (ids[0], *ids[-(MAX_REFERENCES - 1) :])


def summarise(headers: HeaderSource | Headers) -> OriginalMessage:
    """What a reply to this message threads on, in a storable value."""
    h = headers if isinstance(headers, Headers) else Headers(headers)

    def ids(name: str) -> tuple[str, ...]:
        found = (i for v in h.values(name) for i in _MSG_ID.findall(v))
        return tuple(i for i in found if len(i) <= MAX_ID_LENGTH)

    # Anyone can send anything: keep only what a reply threads on, bounded, so one
    # hostile message cannot put megabytes into the log (RFC 5322 2.1.1).
    message_ids = ids("message-id")
    subjects = h.values("subject")
    return OriginalMessage(
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=ids("in-reply-to")[:MAX_REFERENCES],
        references=first_and_latest(ids("references")),
        subject=one_line(subjects[0])[:MAX_HEADER_LINE] if subjects else None,
    )


def one_line(text: str) -> str:
    """Outside text on one line: what no stored line may hold becomes a space (a decoded
    encoded-word may hold CR LF), blanks collapsed; nothing is refused or removed."""
    return " ".join("".join(" " if forbidden_character(c) else c for c in text).split())


def token(value: str) -> str:
    """The first word of a structured value, comments and parameters dropped."""
    return _COMMENT.sub(" ", value).split(";")[0].strip().casefold()
