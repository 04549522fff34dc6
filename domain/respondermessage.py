"""The messages of an auto-responder: what the user types, and what is saved (RSP-1, RSP-2).

A :class:`MessageDraft` is the user's fields checked once, where they enter (the CLI, an
embedder, a template); the responder turns it into a :class:`ResponderMessage` with what
only it knows: the mailbox zone of the schedule, the verified senders, the generation.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from attrs import field, frozen

from domain.address import EmailAddress
from domain.errors import InvalidInput
from domain.responderpolicy import address_key, name_key, split_key
from domain.schedule import Schedule, Weekday, parse_time_zone, parse_weekdays
from domain.text import clean_block, clean_line, required_line

MAX_NAME_LENGTH = 100
MAX_SUBJECT_LENGTH = 200
MAX_BODY_LENGTH = 100_000
MAX_EXCLUSIONS = 1000


def _clean_name(name: str) -> str:
    # domain.text.clean_line is the rule of every one-line text: a line break or tab
    # typed into a name is refused, not folded into a space (issue 7).
    return required_line(name, field="message name", max_length=MAX_NAME_LENGTH)


def _clean_subject(subject: str | None) -> str | None:
    if subject is None:
        return None
    # The subject becomes a header line of every reply: a line break in it would
    # inject header fields, so it is refused when saved (clean_line), never folded.
    return clean_line(subject, field="subject", max_length=MAX_SUBJECT_LENGTH) or None


def _clean_body(body: str) -> str:
    text = clean_block(body, field="message body", max_length=MAX_BODY_LENGTH)
    if not text.strip():
        raise InvalidInput("message body is empty")
    return text


def parse_exclusion(entry: str) -> str:
    """An address or ``@domain.xyz``, validated, in the form :func:`address_key` gives
    (RSP-2)."""
    text = entry.strip()
    if text.startswith("@"):
        parsed = EmailAddress.parse(f"postmaster{text}", what="excluded domain")
        return "@" + parsed.domain
    if "@" not in text:
        raise InvalidInput(
            f"exclusion {entry!r} is neither an address nor @domain (write @{text})"
        )
    return EmailAddress.parse(text, what="excluded address").identity


def _clean_exclusions(entries: Iterable[str]) -> tuple[str, ...]:
    clean = tuple(sorted({parse_exclusion(e) for e in entries}))
    if len(clean) > MAX_EXCLUSIONS:
        raise InvalidInput(f"more than {MAX_EXCLUSIONS} exclusions")
    return clean


def _alternative(sender: EmailAddress | str | None) -> EmailAddress | None:
    if sender is None or isinstance(sender, EmailAddress):
        return sender
    return EmailAddress.parse(sender, what="alternative sender")


@frozen(kw_only=True)
class MessageDraft:
    """A message as the user typed it, each field checked by the rules of domain.text.

    ``weekdays``, ``start`` and ``end`` are kept as typed (dates, naive or aware times):
    only the responder knows the zone they are read in (:meth:`schedule`). ``sender`` is
    parsed here; whether it is verified is for the responder to say.
    """

    name: str = field(converter=_clean_name)
    body: str = field(converter=_clean_body)
    subject: str | None = field(default=None, converter=_clean_subject)
    weekdays: tuple[Weekday, ...] = field(default=(), converter=parse_weekdays)
    start: date | datetime | None = None
    end: date | datetime | None = None
    sender: EmailAddress | None = field(default=None, converter=_alternative)
    exclusions: tuple[str, ...] = field(default=(), converter=_clean_exclusions)

    @property
    def key(self) -> str:
        return name_key(self.name)

    def schedule(self, zone: ZoneInfo) -> Schedule:
        return Schedule.build(
            weekdays=self.weekdays, start=self.start, end=self.end, zone=zone
        )


@frozen
class ResponderMessage:
    """One saved message of an auto-responder.

    ``sender`` is the verified alternative ``From`` address, or ``None`` for the address
    itself. ``exclusions`` are addresses (as :func:`address_key` compares them) and
    ``@domain`` entries; a domain entry matches that domain exactly, not its
    subdomains. ``generation`` changes when the
    7-day memory is reset (RSP-5): replies of an earlier generation no longer count.
    Generations are unique within a responder, so a message deleted and saved again under
    the same name does not inherit the old memory either.
    """

    name: str
    body: str
    subject: str | None = None
    schedule: Schedule = field(factory=Schedule)
    sender: str | None = None
    exclusions: tuple[str, ...] = ()
    generation: int = 1

    @property
    def key(self) -> str:
        return name_key(self.name)

    def excluded_by(self, address: str) -> str | None:
        """The exclusion entry that matches ``address`` (by :func:`address_key`), if any.

        ASCII entries stored when exclusions were case-folded match as they did; a
        non-ASCII one stored folded (``strasse@`` typed as ``straße@``) now matches
        only the folded spelling.
        """
        key = address_key(address)
        domain = "@" + split_key(key)[1]
        for entry in self.exclusions:
            if entry in {key, domain}:
                return entry
        return None


@frozen
class ResponderConfig:
    """What a delivery decision needs from a responder: a plain, immutable value."""

    address: str
    time_zone: str
    active: ResponderMessage | None

    @property
    def zone(self) -> ZoneInfo:
        return parse_time_zone(self.time_zone)
