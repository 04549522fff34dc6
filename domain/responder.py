"""The auto-responder of an address (RSP-1..RSP-6) and the memory of its replies (RSP-4).

Three aggregates, so that deciding stays as fast for the 100,000th sender as for the first:

- :class:`AutoResponder`, one per address: the saved messages, which one is active, the
  mailbox time zone and the verified alternative senders. It never holds per-sender data.
- :class:`ReplyWindow`, one per (address, message, sender): when that sender last got that
  message, in which generation of the message. Two workers answering the same sender at
  once both write version 1 or both write the same next version, so one save conflicts
  (RSP-9) and the application retries with the fresh window.
- :class:`ReplyBudget`, one per (address, UTC hour): how many replies the address sent in
  that hour, refused past :attr:`ResponderPolicy.hourly_cap` (runaway-loop guard).

Schedule bounds are wall-clock times of the mailbox zone, stored without an offset, so
"until Friday 18:00" stays 18:00 local whatever the season. A wall time is turned into an
instant as RFC 5545 3.3.5 says: an ambiguous time (clocks going back) means its first
occurrence, a skipped time (clocks going forward) is read with the offset before the gap.
This is ``fold=0`` in :mod:`zoneinfo`. Comparing instants, not wall times, keeps each bound
a single cut in time even in the repeated hour.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import MINYEAR, UTC, date, datetime, time, timedelta
from enum import StrEnum
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attrs import evolve, field, frozen
from eventsourcing.domain import Aggregate

from domain import ids
from domain.address import EmailAddress, identity
from domain.errors import AlreadyExists, InvalidInput, NotFound, NotPermitted
from domain.text import clean_line, forbidden_character
from domain.time import utc

# RSP-4: the same sender gets the same message again only this long after the last one.
REPLY_INTERVAL = timedelta(days=7)

MAX_NAME_LENGTH = 100
MAX_SUBJECT_LENGTH = 200
MAX_BODY_LENGTH = 100_000
MAX_EXCLUSIONS = 1000
# Schedule bounds are refused outside these years: an auto-reply planned for the year
# 9999 is a typo, and its wall time has no UTC instant in a zone west of Greenwich.
EARLIEST_SCHEDULE_YEAR = 1970
LATEST_SCHEDULE_YEAR = 2100
_NEVER = datetime.max.replace(tzinfo=UTC)
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_ALWAYS = datetime.min.replace(tzinfo=UTC)


# -- ids --------------------------------------------------------------------------------


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


def name_key(name: str) -> str:
    """Message names are unique per responder, ignoring case and repeated spaces."""
    return " ".join(name.split()).casefold()


# -- policy -----------------------------------------------------------------------------


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


# -- time zone and schedule (RSP-6) ---------------------------------------------------------


def parse_time_zone(key: str) -> ZoneInfo:
    """An IANA zone by its key ("Europe/Zurich"); refuses what only the host defines."""
    clean = key.strip()
    if not clean or clean.casefold() in {"localtime", "posixrules", "factory"}:
        raise InvalidInput(f"time zone {key!r} is not an IANA time zone name")
    try:
        return ZoneInfo(clean)
    except (ZoneInfoNotFoundError, ValueError, OSError) as e:
        raise InvalidInput(f"time zone {key!r} is not an IANA time zone name") from e


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @classmethod
    def parse(cls, text: str) -> Weekday:
        """``mon``, ``Monday``, ``MON``: the first three letters of an English name."""
        clean = text.strip().casefold()
        for day in cls:
            full = _FULL_NAMES[day]
            if clean in {day.value, full.casefold()}:
                return day
        raise InvalidInput(f"{text!r} is not a weekday (mon, tue, ..., sun)")

    @classmethod
    def of(cls, day: date) -> Weekday:
        return _ORDER[day.weekday()]

    @property
    def number(self) -> int:
        """Monday is 0, as :meth:`datetime.date.weekday`."""
        return _ORDER.index(self)

    @property
    def full_name(self) -> str:
        return _FULL_NAMES[self]


_ORDER = tuple(Weekday)
_FULL_NAMES = {
    Weekday.MON: "Monday",
    Weekday.TUE: "Tuesday",
    Weekday.WED: "Wednesday",
    Weekday.THU: "Thursday",
    Weekday.FRI: "Friday",
    Weekday.SAT: "Saturday",
    Weekday.SUN: "Sunday",
}


def _weekdays(value: Iterable[Weekday | str]) -> tuple[Weekday, ...]:
    days = {v if isinstance(v, Weekday) else Weekday.parse(v) for v in value}
    return tuple(sorted(days, key=lambda d: d.number))


def _naive(_: object, attribute: object, value: datetime | None) -> None:
    if value is not None and value.tzinfo is not None:
        name = getattr(attribute, "name", "bound")
        raise InvalidInput(f"schedule {name} must be a wall-clock time of the zone")


def instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time of ``zone`` (RFC 5545 3.3.5, ``fold=0``).

    A wall time at the edge of the calendar (stored before schedule years were bounded,
    then read in another zone) has no UTC instant: it stands for "never" at the far end
    and "always" at the near one, so such a schedule still answers instead of failing
    every delivery.
    """
    try:
        return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    except OverflowError:
        return _NEVER if wall.year > MINYEAR else _ALWAYS


def _wall(bound: date | datetime | None, zone: ZoneInfo, what: str) -> datetime | None:
    """A bound as typed: an aware time is moved to the zone, a date is its midnight."""
    if bound is None:
        return None
    if not EARLIEST_SCHEDULE_YEAR <= bound.year <= LATEST_SCHEDULE_YEAR:
        raise InvalidInput(
            f"schedule {what} {bound.isoformat()} is outside the years "
            f"{EARLIEST_SCHEDULE_YEAR}..{LATEST_SCHEDULE_YEAR}"
        )
    if isinstance(bound, datetime):
        if bound.tzinfo is not None and bound.utcoffset() is not None:
            return bound.astimezone(zone).replace(tzinfo=None, fold=0)
        return bound.replace(tzinfo=None, fold=0)
    return datetime.combine(bound, time())


@frozen
class Schedule:
    """When a message may answer, in the mailbox zone (RSP-2, RSP-6).

    ``weekdays``: the local days it answers on; empty means every day.
    ``start``: first wall-clock time it answers (inclusive); ``None`` for no start.
    ``end``: wall-clock time it stops (exclusive); with ``end_is_date`` the end was typed
    as a date, ``end`` is that date's midnight and the whole day is covered.
    """

    weekdays: tuple[Weekday, ...] = field(default=(), converter=_weekdays)
    start: datetime | None = field(default=None, validator=_naive)
    end: datetime | None = field(default=None, validator=_naive)
    end_is_date: bool = False

    @classmethod
    def build(
        cls,
        *,
        weekdays: Iterable[Weekday | str] = (),
        start: date | datetime | None = None,
        end: date | datetime | None = None,
        zone: ZoneInfo,
    ) -> Schedule:
        """A schedule from what the editing screen gives: dates, naive or aware times.

        Naive times are wall-clock times of ``zone``; aware ones are moved into it.
        """
        end_is_date = end is not None and not isinstance(end, datetime)
        schedule = cls(
            weekdays=tuple(weekdays),
            start=_wall(start, zone, "start"),
            end=_wall(end, zone, "end"),
            end_is_date=end_is_date,
        )
        first, last = schedule.start_at(zone), schedule.end_at(zone)
        if first is not None and last is not None and last <= first:
            raise InvalidInput("the schedule ends before it starts")
        return schedule

    @property
    def is_always(self) -> bool:
        return not self.weekdays and self.start is None and self.end is None

    def start_at(self, zone: ZoneInfo) -> datetime | None:
        return None if self.start is None else instant(self.start, zone)

    def end_at(self, zone: ZoneInfo) -> datetime | None:
        """The first instant no longer covered; a date-only end runs to the next midnight."""
        if self.end is None:
            return None
        if self.end_is_date:
            if self.end.date() == date.max:
                return _NEVER
            return instant(
                datetime.combine(self.end.date() + timedelta(days=1), time()), zone
            )
        return instant(self.end, zone)

    def refusal(self, at: datetime, zone: ZoneInfo) -> str | None:
        """Why ``at`` is outside the schedule, or ``None`` when it is covered."""
        at = utc(at)
        first = self.start_at(zone)
        if first is not None and at < first:
            return f"before its start {_show(self.start)} {zone.key}"
        last = self.end_at(zone)
        if last is not None and at >= last:
            shown = (
                f"{self.end.date().isoformat()} (whole day)"
                if self.end_is_date and self.end is not None
                else _show(self.end)
            )
            return f"after its end {shown} {zone.key}"
        if self.weekdays:
            day = Weekday.of(at.astimezone(zone).date())
            if day not in self.weekdays:
                days = ", ".join(d.value for d in self.weekdays)
                return f"{day.full_name} is not one of its days ({days}) in {zone.key}"
        return None

    def covers(self, at: datetime, zone: ZoneInfo) -> bool:
        return self.refusal(at, zone) is None


def _show(wall: datetime | None) -> str:
    return "" if wall is None else wall.isoformat(sep=" ", timespec="minutes")


# -- the messages (RSP-1, RSP-2) ------------------------------------------------------------


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
    schedule: Schedule = Schedule()
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
        domain = "@" + key.rpartition("@")[2]
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


@frozen
class PendingSender:
    """An alternative sender waiting for its code (RSP-2).

    ``code_id`` names the code's keyed digest in the credential store: not even a digest
    of a short code enters the log, where trying every code would reverse it.
    """

    address: str
    code_id: UUID
    expires_at: datetime
    attempts_left: int


def _clean_name(name: str) -> str:
    # domain.text.clean_line is the rule of every one-line text: a line break or tab
    # typed into a name is refused, not folded into a space (issue 7).
    clean = clean_line(name, field="message name", max_length=MAX_NAME_LENGTH)
    if not clean:
        raise InvalidInput("message name is empty")
    return clean


def _clean_subject(subject: str | None) -> str | None:
    if subject is None:
        return None
    # The subject becomes a header line of every reply: a line break in it would
    # inject header fields, so it is refused when saved (clean_line), never folded.
    return clean_line(subject, field="subject", max_length=MAX_SUBJECT_LENGTH) or None


def _clean_body(body: str) -> str:
    if not body.strip():
        raise InvalidInput("message body is empty")
    if len(body) > MAX_BODY_LENGTH:
        raise InvalidInput(f"message body is longer than {MAX_BODY_LENGTH} characters")
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    if any(not (c.isprintable() or c in "\n\t") for c in text):
        raise InvalidInput("message body has control characters")
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


class AutoResponder(Aggregate):
    """The auto-responder of one address: saved messages, at most one active (RSP-1)."""

    # Declared for snapshots: the mapper restores each attribute to this type.
    address: str
    time_zone: str
    messages: dict[str, ResponderMessage]
    active: str | None
    generations: int
    verified_senders: set[str]
    pending_senders: dict[str, PendingSender]
    verification_mails: dict[str, list[datetime]]

    class Provisioned(Aggregate.Created):
        address: str
        time_zone: str

    def __init__(self, address: str, time_zone: str) -> None:
        self.address = address
        self.time_zone = time_zone
        self.messages: dict[str, ResponderMessage] = {}
        self.active: str | None = None
        # The last generation handed out; each save and reset takes the next one.
        self.generations = 0
        self.verified_senders: set[str] = set()
        self.pending_senders: dict[str, PendingSender] = {}
        # When codes were mailed, per alternative address, over the last day.
        self.verification_mails: dict[str, list[datetime]] = {}

    @classmethod
    def provision(
        cls, address: EmailAddress, *, time_zone: str, at: datetime
    ) -> AutoResponder:
        zone = parse_time_zone(time_zone)
        return cls._create(
            cls.Provisioned,
            id=responder_id(address),
            timestamp=utc(at),
            address=str(address),
            time_zone=zone.key,
        )

    # -- queries ---------------------------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        return parse_time_zone(self.time_zone)

    def message(self, name: str) -> ResponderMessage:
        bad = forbidden_character(name)
        if bad is not None:
            # No saved name holds one (clean_line): refused as such, not as unknown.
            raise InvalidInput(f"message name contains a control character ({bad})")
        found = self.messages.get(name_key(name))
        if found is None:
            raise NotFound(f"no auto-responder message named {name!r}")
        return found

    @property
    def active_message(self) -> ResponderMessage | None:
        return None if self.active is None else self.messages[self.active]

    def config(self) -> ResponderConfig:
        return ResponderConfig(
            address=self.address,
            time_zone=self.time_zone,
            active=self.active_message,
        )

    # -- the mailbox zone (RSP-6) ----------------------------------------------------

    class TimeZoneChanged(Aggregate.Event):
        time_zone: str

        def apply(self, aggregate: AutoResponder) -> None:
            aggregate.time_zone = self.time_zone

    def change_time_zone(self, time_zone: str, *, at: datetime) -> None:
        """Schedules keep their wall-clock times and are read in the new zone."""
        zone = parse_time_zone(time_zone)
        if zone.key == self.time_zone:
            raise InvalidInput(f"the time zone is already {zone.key}")
        self.trigger_event(self.TimeZoneChanged, timestamp=utc(at), time_zone=zone.key)

    # -- messages (RSP-1, RSP-2) -----------------------------------------------------

    def _build(
        self,
        name: str,
        *,
        body: str,
        subject: str | None,
        weekdays: Iterable[Weekday | str],
        start: date | datetime | None,
        end: date | datetime | None,
        sender: EmailAddress | str | None,
        exclusions: Iterable[str],
        generation: int,
    ) -> ResponderMessage:
        alternative: str | None = None
        if sender is not None:
            parsed = (
                sender
                if isinstance(sender, EmailAddress)
                else EmailAddress.parse(sender, what="alternative sender")
            )
            if parsed.identity != address_key(self.address):
                if parsed.identity not in self.verified_senders:
                    raise NotPermitted(
                        f"alternative sender {parsed} has not been verified (RSP-2)"
                    )
                alternative = str(parsed)
        return ResponderMessage(
            name=_clean_name(name),
            body=_clean_body(body),
            subject=_clean_subject(subject),
            schedule=Schedule.build(
                weekdays=weekdays, start=start, end=end, zone=self.zone
            ),
            sender=alternative,
            exclusions=_clean_exclusions(exclusions),
            generation=generation,
        )

    class MessageSaved(Aggregate.Event):
        message: ResponderMessage

        def apply(self, aggregate: AutoResponder) -> None:
            aggregate.messages[self.message.key] = self.message
            aggregate.generations = self.message.generation

    def save_message(
        self,
        name: str,
        *,
        body: str,
        subject: str | None = None,
        weekdays: Iterable[Weekday | str] = (),
        start: date | datetime | None = None,
        end: date | datetime | None = None,
        sender: EmailAddress | str | None = None,
        exclusions: Iterable[str] = (),
        at: datetime,
    ) -> ResponderMessage:
        """Save a new, inactive message; its name must be new (case-insensitively)."""
        if name_key(name) in self.messages:
            raise AlreadyExists(f"a message named {name!r} exists already")
        message = self._build(
            name,
            body=body,
            subject=subject,
            weekdays=weekdays,
            start=start,
            end=end,
            sender=sender,
            exclusions=exclusions,
            generation=self.generations + 1,
        )
        self.trigger_event(self.MessageSaved, timestamp=utc(at), message=message)
        return message

    class MessageEdited(Aggregate.Event):
        message: ResponderMessage
        memory_reset: bool

        def apply(self, aggregate: AutoResponder) -> None:
            aggregate.messages[self.message.key] = self.message
            aggregate.generations = max(aggregate.generations, self.message.generation)

    def edit_message(
        self,
        name: str,
        *,
        body: str,
        subject: str | None = None,
        weekdays: Iterable[Weekday | str] = (),
        start: date | datetime | None = None,
        end: date | datetime | None = None,
        sender: EmailAddress | str | None = None,
        exclusions: Iterable[str] = (),
        reset_memory: bool = False,
        at: datetime,
    ) -> ResponderMessage:
        """Replace every setting of a message but its name (renaming is delete + save).

        The 7-day memory survives unless ``reset_memory`` (RSP-5); an active message stays
        active.
        """
        current = self.message(name)
        message = self._build(
            current.name,
            body=body,
            subject=subject,
            weekdays=weekdays,
            start=start,
            end=end,
            sender=sender,
            exclusions=exclusions,
            generation=self.generations + 1 if reset_memory else current.generation,
        )
        self.trigger_event(
            self.MessageEdited,
            timestamp=utc(at),
            message=message,
            memory_reset=reset_memory,
        )
        return message

    class MessageDeleted(Aggregate.Event):
        name_key: str

        def apply(self, aggregate: AutoResponder) -> None:
            del aggregate.messages[self.name_key]
            if aggregate.active == self.name_key:
                aggregate.active = None

    def delete_message(self, name: str, *, at: datetime) -> None:
        """Delete a message; deleting the active one leaves none active."""
        key = self.message(name).key
        self.trigger_event(self.MessageDeleted, timestamp=utc(at), name_key=key)

    class MessageActivated(Aggregate.Event):
        name_key: str
        deactivated: str | None

        def apply(self, aggregate: AutoResponder) -> None:
            aggregate.active = self.name_key

    def activate(self, name: str, *, at: datetime) -> None:
        """Make ``name`` the active message; the one active before stops (RSP-1)."""
        key = self.message(name).key
        if self.active == key:
            raise InvalidInput(f"message {name!r} is already active")
        self.trigger_event(
            self.MessageActivated,
            timestamp=utc(at),
            name_key=key,
            deactivated=self.active,
        )

    class MessageDeactivated(Aggregate.Event):
        name_key: str

        def apply(self, aggregate: AutoResponder) -> None:
            aggregate.active = None

    def deactivate(self, *, at: datetime) -> None:
        if self.active is None:
            raise InvalidInput("no auto-responder message is active")
        self.trigger_event(
            self.MessageDeactivated, timestamp=utc(at), name_key=self.active
        )

    class MemoryReset(Aggregate.Event):
        name_key: str
        generation: int

        def apply(self, aggregate: AutoResponder) -> None:
            current = aggregate.messages[self.name_key]
            aggregate.messages[self.name_key] = evolve(
                current, generation=self.generation
            )
            aggregate.generations = self.generation

    def reset_memory(self, name: str, *, at: datetime) -> int:
        """Forget every reply sent with this message (RSP-5); returns the new generation."""
        key = self.message(name).key
        generation = self.generations + 1
        self.trigger_event(
            self.MemoryReset, timestamp=utc(at), name_key=key, generation=generation
        )
        return generation

    # -- alternative senders (RSP-2) ---------------------------------------------------

    class Retired(Aggregate.Event):
        def apply(self, aggregate: AutoResponder) -> None:
            aggregate.messages = {}
            aggregate.active = None
            aggregate.verified_senders = set()
            aggregate.pending_senders = {}

    def retire(self, *, at: datetime) -> None:
        """The address was deleted: whoever gets it next starts with nothing (ADR-11).

        Generations keep counting, so the old senders' windows never match a message
        saved later.
        """
        self.trigger_event(self.Retired, timestamp=utc(at))

    class SenderVerificationRequested(Aggregate.Event):
        sender: str
        code_id: UUID
        expires_at: datetime
        attempts: int

        def apply(self, aggregate: AutoResponder) -> None:
            key = address_key(self.sender)
            aggregate.pending_senders[key] = PendingSender(
                address=self.sender,
                code_id=self.code_id,
                expires_at=self.expires_at,
                attempts_left=self.attempts,
            )
            recent = aggregate.mails_since(self.timestamp - _DAY)
            recent.setdefault(key, []).append(self.timestamp)
            aggregate.verification_mails = recent

    def mails_since(self, since: datetime) -> dict[str, list[datetime]]:
        """The verification mails sent after ``since``, per alternative address."""
        # A snapshot taken before this attribute existed restores without it.
        known: dict[str, list[datetime]] = getattr(self, "verification_mails", {})
        recent = {key: [t for t in ts if t > since] for key, ts in known.items()}
        return {key: ts for key, ts in recent.items() if ts}

    def _check_mail_budget(
        self, address: EmailAddress, at: datetime, policy: ResponderPolicy
    ) -> None:
        """Refuse a code mail past the limits, counted from the recorded requests."""
        day = self.mails_since(at - _DAY)
        hour = self.mails_since(at - _HOUR)
        key = address.identity
        limits = (
            (hour.get(key, []), policy.verification_mails_per_hour, "hour"),
            (day.get(key, []), policy.verification_mails_per_day, "day"),
        )
        for sent, cap, period in limits:
            if len(sent) >= cap:
                again = min(sent) + (_HOUR if period == "hour" else _DAY)
                raise NotPermitted(
                    f"alternative sender {address} was mailed {len(sent)} verification "
                    f"codes in the last {period} (at most {cap}); ask again after "
                    f"{again:%Y-%m-%d %H:%M} UTC"
                )
        every = sorted(t for ts in hour.values() for t in ts)
        if len(every) >= policy.verification_mails_per_hour_all:
            raise NotPermitted(
                f"{self.address} had {len(every)} verification codes mailed in the last "
                f"hour (at most {policy.verification_mails_per_hour_all}); ask again "
                f"after {every[0] + _HOUR:%Y-%m-%d %H:%M} UTC"
            )

    def request_sender_verification(
        self,
        address: EmailAddress,
        code_id: UUID,
        *,
        at: datetime,
        policy: ResponderPolicy,
    ) -> datetime:
        """Remember which stored code the application mailed to ``address``.

        A new request replaces an earlier pending one. Returns when the code expires.
        """
        at = utc(at)
        if address.identity == address_key(self.address):
            raise InvalidInput(f"{address} is the address itself, not an alternative")
        if address.identity in self.verified_senders:
            raise InvalidInput(f"{address} is verified already")
        self._check_mail_budget(address, at, policy)
        expires_at = at + policy.verification_validity
        self.trigger_event(
            self.SenderVerificationRequested,
            timestamp=at,
            sender=str(address),
            code_id=code_id,
            expires_at=expires_at,
            attempts=policy.verification_attempts,
        )
        return expires_at

    class SenderVerificationFailed(Aggregate.Event):
        sender: str
        attempts_left: int

        def apply(self, aggregate: AutoResponder) -> None:
            key = address_key(self.sender)
            if self.attempts_left <= 0:
                del aggregate.pending_senders[key]
            else:
                pending = aggregate.pending_senders[key]
                aggregate.pending_senders[key] = evolve(
                    pending, attempts_left=self.attempts_left
                )

    class SenderConfirmed(Aggregate.Event):
        sender: str

        def apply(self, aggregate: AutoResponder) -> None:
            key = address_key(self.sender)
            aggregate.pending_senders.pop(key, None)
            aggregate.verified_senders.add(key)

    def confirm_sender(
        self, address: EmailAddress, *, code_matches: bool, at: datetime
    ) -> bool:
        """Record the outcome of the code check; True once ``address`` is verified.

        The application compares the typed code with the stored one (``code_id``).

        A wrong code is recorded (so the attempts are bounded across workers) and returns
        False; the last allowed wrong code drops the request. An expired or unknown
        request raises, and stores nothing.
        """
        at = utc(at)
        pending = self.pending_senders.get(address.identity)
        if pending is None:
            raise NotFound(f"no verification is pending for {address}")
        if at >= pending.expires_at:
            raise NotPermitted(
                f"the code sent to {address} has expired; ask for a new one"
            )
        if code_matches:
            self.trigger_event(
                self.SenderConfirmed, timestamp=at, sender=pending.address
            )
            return True
        self.trigger_event(
            self.SenderVerificationFailed,
            timestamp=at,
            sender=pending.address,
            attempts_left=pending.attempts_left - 1,
        )
        return False


# -- the 7-day memory (RSP-4, RSP-5, RSP-9) -------------------------------------------------


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


def next_change(schedule: Schedule, zone: ZoneInfo, now: datetime) -> datetime | None:
    """The next instant the schedule starts or stops answering, or None if it never does.

    Coverage changes only at the start, the end, or a local midnight (weekdays), so
    those candidates within the next eight days are enough.
    """
    now = utc(now)
    covered = schedule.covers(now, zone)
    # A bound with no UTC instant (see :func:`instant`) is no change anyone will see.
    candidates = [
        t
        for t in (schedule.start_at(zone), schedule.end_at(zone))
        if t is not None and t not in {_NEVER, _ALWAYS}
    ]
    if schedule.weekdays:
        today = now.astimezone(zone).date()
        candidates += [
            instant(datetime.combine(today + timedelta(days=n), time()), zone)
            for n in range(1, 9)
        ]
    for moment in sorted(t for t in candidates if t > now):
        if schedule.covers(moment, zone) != covered:
            return moment
    return None
