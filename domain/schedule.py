"""When a message may answer: the mailbox time zone, weekdays and bounds (RSP-6).

Schedule bounds are wall-clock times of the mailbox zone, stored without an offset, so
"until Friday 18:00" stays 18:00 local whatever the season. A wall time is turned into an
instant as RFC 5545 3.3.5 says: an ambiguous time (clocks going back) means its first
occurrence, a skipped time (clocks going forward) is read with the offset before the gap.
This is ``fold=0`` in :mod:`zoneinfo`. Comparing instants, not wall times, keeps each bound
a single cut in time even in the repeated hour.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import MINYEAR, UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attrs import field, frozen

from domain.errors import InvalidInput
from domain.time import utc

# Schedule bounds are refused outside these years: an auto-reply planned for the year
# 9999 is a typo, and its wall time has no UTC instant in a zone west of Greenwich.
EARLIEST_SCHEDULE_YEAR = 1970
LATEST_SCHEDULE_YEAR = 2100
NEVER = datetime.max.replace(tzinfo=UTC)
ALWAYS = datetime.min.replace(tzinfo=UTC)


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


def parse_weekdays(value: Iterable[Weekday | str]) -> tuple[Weekday, ...]:
    """Days as typed (names or values), each once, Monday first."""
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
        return NEVER if wall.year > MINYEAR else ALWAYS


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

    weekdays: tuple[Weekday, ...] = field(default=(), converter=parse_weekdays)
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
                return NEVER
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
        if t is not None and t not in {NEVER, ALWAYS}
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
