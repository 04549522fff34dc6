"""Schedules in the mailbox zone (RSP-6).

The schedule is checked on pinned DST days whose lengths were worked out by hand, and by
properties around every transition of 2024..2026 in four zones, against an oracle that
reads instants into wall times (the opposite direction from the code under test).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.responder import AutoResponder
from domain.respondermessage import MessageDraft
from domain.schedule import Schedule, Weekday, instant, parse_time_zone
from tests.unit.responder_support import ALICE, DST_ZONES, T0, ZURICH, provision, wall


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus", "", "  ", "localtime", "../etc/passwd", "Europe", "/UTC"]
)
def test_a_time_zone_must_be_an_iana_name(zone: str) -> None:
    # rule RSP-6: the mailbox zone is an IANA zone
    with pytest.raises(InvalidInput):
        parse_time_zone(zone)
    with pytest.raises(InvalidInput):
        AutoResponder.provision(ALICE, time_zone=zone, at=T0)


# -- schedule (RSP-6) ---------------------------------------------------------------------------


def covered_span(schedule: Schedule, zone: ZoneInfo, around: datetime) -> timedelta:
    """How long ``schedule`` covers within two days of ``around``, to the minute."""
    step = timedelta(minutes=15)
    t = around - timedelta(days=2)
    total = timedelta(0)
    while t < around + timedelta(days=2):
        if schedule.covers(t, zone):
            total += step
        t += step
    return total


def dst_day(
    zone: str,
    day: tuple[int, int, int],
    first: tuple[int, int, int, int] | tuple[int, int, int, int, int],
    hours: float,
) -> tuple[str, date, datetime, float]:
    """A local day, its first instant in UTC (to the minute) and its length in hours."""
    year, month, mday, hour, *minutes = first
    start = datetime(year, month, mday, hour, sum(minutes), tzinfo=UTC)
    return zone, date(*day), start, hours


@pytest.mark.parametrize(
    ("zone", "day", "first", "hours"),
    [
        # Hand-computed: local midnight to midnight in UTC, and the day's real length.
        dst_day("Europe/Zurich", (2024, 3, 31), (2024, 3, 30, 23), 23),
        dst_day("Europe/Zurich", (2024, 10, 27), (2024, 10, 26, 22), 25),
        dst_day("America/New_York", (2024, 3, 10), (2024, 3, 10, 5), 23),
        dst_day("America/New_York", (2024, 11, 3), (2024, 11, 3, 4), 25),
        dst_day("Australia/Lord_Howe", (2024, 10, 6), (2024, 10, 5, 13, 30), 23.5),
        dst_day("Australia/Lord_Howe", (2024, 4, 7), (2024, 4, 6, 13), 24.5),
        dst_day("Pacific/Chatham", (2024, 9, 29), (2024, 9, 28, 11, 15), 23),
        dst_day("Pacific/Chatham", (2024, 4, 7), (2024, 4, 6, 10, 15), 25),
    ],
)
def test_a_weekday_and_a_date_only_day_last_exactly_the_local_day_across_dst(
    zone: str, day: date, first: datetime, hours: float
) -> None:
    # rule RSP-6: evaluated in the mailbox zone, correct across DST changes
    tz = ZoneInfo(zone)
    last = first + timedelta(hours=hours)
    for schedule in (
        Schedule.build(weekdays=[Weekday.of(day)], zone=tz),
        Schedule.build(start=day, end=day, zone=tz),
    ):
        assert not schedule.covers(first - timedelta(microseconds=1), tz)
        assert schedule.covers(first, tz)
        assert schedule.covers(last - timedelta(microseconds=1), tz)
        assert not schedule.covers(last, tz)
        assert covered_span(schedule, tz, first) == timedelta(hours=hours)


def test_an_end_inside_the_repeated_hour_is_one_cut_in_time() -> None:
    # rule RSP-6: 02:30 on 2024-10-27 happens twice in Zurich; the first one ends it
    end = Schedule.build(end=wall(2024, 10, 27, 2, 30), zone=ZURICH)
    first_0245 = datetime(2024, 10, 27, 0, 45, tzinfo=UTC)  # 02:45 CEST
    second_0215 = datetime(2024, 10, 27, 1, 15, tzinfo=UTC)  # 02:15 CET, after it
    assert end.end_at(ZURICH) == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    assert not end.covers(first_0245, ZURICH)
    assert not end.covers(second_0215, ZURICH)  # a wall-clock comparison would say yes
    start = Schedule.build(start=wall(2024, 10, 27, 2, 30), zone=ZURICH)
    assert not start.covers(
        datetime(2024, 10, 27, 0, 29, tzinfo=UTC), ZURICH
    )  # 02:29 CEST
    assert start.covers(first_0245, ZURICH)
    assert start.covers(second_0215, ZURICH)  # a wall-clock comparison would say no


def test_a_time_the_clocks_skip_is_read_with_the_offset_before_the_gap() -> None:
    # rule RSP-6, RFC 5545 3.3.5: 02:30 does not exist on 2024-03-31 in Zurich
    start = Schedule.build(start=wall(2024, 3, 31, 2, 30), zone=ZURICH)
    assert start.start_at(ZURICH) == datetime(
        2024, 3, 31, 1, 30, tzinfo=UTC
    )  # 03:30 CEST


def test_aware_bounds_are_moved_into_the_mailbox_zone() -> None:
    schedule = Schedule.build(
        start=datetime(2024, 7, 1, 7, tzinfo=UTC),
        end=datetime(2024, 7, 2, 12, tzinfo=ZoneInfo("America/New_York")),
        zone=ZURICH,
    )
    assert schedule.start == wall(2024, 7, 1, 9)
    assert schedule.end == wall(2024, 7, 2, 18)
    assert not schedule.end_is_date


def test_a_schedule_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidInput):
        Schedule.build(start=wall(2024, 7, 2), end=wall(2024, 7, 1), zone=ZURICH)
    with pytest.raises(InvalidInput):
        Schedule.build(start=wall(2024, 7, 1, 9), end=wall(2024, 7, 1, 9), zone=ZURICH)
    # A date-only end covers its day, so start and end on one date is a one-day schedule.
    assert Schedule.build(start=date(2024, 7, 1), end=date(2024, 7, 1), zone=ZURICH)


def test_weekdays_are_parsed_sorted_and_unique() -> None:
    schedule = Schedule.build(
        weekdays=["fri", "Monday", "MON", Weekday.WED], zone=ZURICH
    )
    assert schedule.weekdays == (Weekday.MON, Weekday.WED, Weekday.FRI)
    with pytest.raises(InvalidInput):
        Weekday.parse("mo")


def test_the_refusal_says_why() -> None:
    schedule = Schedule.build(
        weekdays=["mon"], start=date(2024, 7, 1), end=date(2024, 7, 31), zone=ZURICH
    )
    before = schedule.refusal(datetime(2024, 6, 30, tzinfo=UTC), ZURICH)
    after = schedule.refusal(datetime(2024, 8, 1, tzinfo=UTC), ZURICH)
    tuesday = schedule.refusal(datetime(2024, 7, 2, 12, tzinfo=UTC), ZURICH)
    assert before is not None
    assert "before its start 2024-07-01 00:00 Europe/Zurich" in before
    assert after is not None
    assert "after its end 2024-07-31 (whole day)" in after
    assert tuesday is not None
    assert "Tuesday" in tuesday


def _transitions(zone: ZoneInfo) -> list[datetime]:
    """UTC instants where the zone's offset changes, 2024..2026, found from UTC upwards."""
    found = []
    t = datetime(2024, 1, 1, tzinfo=UTC)
    step = timedelta(hours=6)
    while t < datetime(2027, 1, 1, tzinfo=UTC):
        if t.astimezone(zone).utcoffset() != (t + step).astimezone(zone).utcoffset():
            low, high = t, t + step
            while high - low > timedelta(minutes=1):
                mid = low + (high - low) / 2
                if mid.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
                    low = mid
                else:
                    high = mid
            found.append(high)
        t += step
    return found


TRANSITIONS = {name: _transitions(ZoneInfo(name)) for name in DST_ZONES}


def test_each_zone_has_two_transitions_a_year() -> None:
    assert all(len(ts) == 6 for ts in TRANSITIONS.values()), TRANSITIONS


@st.composite
def near_transitions(draw: st.DrawFn) -> tuple[ZoneInfo, datetime, datetime]:
    """(zone, a transition, an instant within two days of it, to the second or finer)."""
    name = draw(st.sampled_from(DST_ZONES))
    transition = draw(st.sampled_from(TRANSITIONS[name]))
    offset = draw(
        st.one_of(
            st.integers(-2 * 86400, 2 * 86400).map(lambda s: timedelta(seconds=s)),
            st.integers(-7200, 7200).map(lambda s: timedelta(seconds=s)),
            st.sampled_from([timedelta(0), timedelta(microseconds=-1)]),
        )
    )
    return ZoneInfo(name), transition, transition + offset


def local_date(at: datetime, zone: ZoneInfo) -> date:
    return at.astimezone(zone).date()


@given(case=near_transitions(), shift=st.integers(-1, 1), use_start=st.booleans())
def test_date_only_bounds_cover_whole_local_days(
    case: tuple[ZoneInfo, datetime, datetime], shift: int, use_start: bool
) -> None:
    # rule RSP-6: a date-only end covers the whole day in the mailbox zone, across DST
    zone, transition, at = case
    day = local_date(transition, zone) + timedelta(days=shift)
    if use_start:
        schedule = Schedule.build(start=day, zone=zone)
        assert schedule.covers(at, zone) == (local_date(at, zone) >= day)
    else:
        schedule = Schedule.build(end=day, zone=zone)
        assert schedule.covers(at, zone) == (local_date(at, zone) <= day)


@given(
    case=near_transitions(), days=st.sets(st.sampled_from(list(Weekday)), min_size=1)
)
def test_weekdays_are_the_local_weekdays(
    case: tuple[ZoneInfo, datetime, datetime], days: set[Weekday]
) -> None:
    # rule RSP-6
    zone, _, at = case
    schedule = Schedule.build(weekdays=days, zone=zone)
    assert schedule.covers(at, zone) == (
        at.astimezone(zone).weekday() in {d.number for d in days}
    )


def expected_instant(wall: datetime, zone: ZoneInfo, transition: datetime) -> datetime:
    """RFC 5545 3.3.5 from the zone's offsets either side: first occurrence, else the
    offset before the gap. Uses only UTC-to-local conversions."""
    before = (transition - timedelta(days=1)).astimezone(zone).utcoffset()
    after = (transition + timedelta(days=1)).astimezone(zone).utcoffset()
    assert before is not None
    assert after is not None
    candidates = [
        (wall - offset).replace(tzinfo=UTC)
        for offset in (before, after)
        if ((wall - offset).replace(tzinfo=UTC)).astimezone(zone).replace(tzinfo=None)
        == wall
    ]
    if candidates:
        return min(candidates)
    return (wall - before).replace(tzinfo=UTC)


@given(
    case=near_transitions(),
    minutes=st.integers(-180, 180),
    # Also often 30..60 minutes after the cut: the second pass through a repeated hour
    # (60 minutes in most zones, 30 on Lord Howe), where wall times run backwards.
    probe=st.integers(-4 * 3600, 4 * 3600) | st.integers(1800, 3600),
)
def test_a_wall_time_bound_is_a_single_cut_at_its_rfc5545_instant(
    case: tuple[ZoneInfo, datetime, datetime], minutes: int, probe: int
) -> None:
    # rule RSP-6: bounds in the skipped and the repeated hour included
    zone, transition, _ = case
    local = transition.astimezone(zone).replace(tzinfo=None)
    wall = (local + timedelta(minutes=minutes)).replace(second=0, microsecond=0)
    cut = expected_instant(wall, zone, transition)
    assert instant(wall, zone) == cut
    at = cut + timedelta(seconds=probe)
    start = Schedule.build(start=wall, zone=zone)
    end = Schedule.build(end=wall, zone=zone)
    assert start.covers(at, zone) == (at >= cut)
    assert end.covers(at, zone) == (at < cut)
    assert start.covers(cut, zone)
    assert not end.covers(cut, zone)


# -- hostile and careless input (issue 7) --------------------------------------------------


@pytest.mark.parametrize(
    ("bound", "value"),
    [
        ("end", wall(9999, 12, 31, 23, 59)),
        ("end", date(9999, 12, 31)),
        ("start", wall(1, 1, 1)),
        ("start", datetime(1, 1, 1, 12, tzinfo=UTC)),
        ("end", wall(2101, 1, 1)),
        ("start", date(1969, 12, 31)),
    ],
)
def test_schedule_bounds_outside_sane_years_are_refused_at_save(
    bound: str, value: date | datetime
) -> None:
    # rule RSP-2, rule RSP-6: issue 7 item 5
    responder = provision("America/New_York")
    with pytest.raises(InvalidInput, match=f"schedule {bound} .*1970..2100"):
        responder.save_message(
            MessageDraft(
                name="Far",
                body="x",
                start=value if bound == "start" else None,
                end=value if bound == "end" else None,
            ),
            at=T0,
        )
    assert not responder.messages
    kept = responder.save_message(
        MessageDraft(
            name="Long",
            body="x",
            start=date(1970, 1, 1),
            end=wall(2100, 12, 31, 23, 59),
        ),
        at=T0,
    )
    assert kept.schedule.end == wall(2100, 12, 31, 23, 59)


@pytest.mark.parametrize(
    "zone", ["America/New_York", "Pacific/Kiritimati", "Etc/GMT+12", "Asia/Tokyo"]
)
@pytest.mark.parametrize(
    "schedule",
    [
        Schedule(end=wall(9999, 12, 31, 23, 59)),
        Schedule(end=datetime(9999, 12, 31), end_is_date=True),  # noqa: DTZ001 - a wall time
        Schedule(start=wall(1, 1, 1), end=wall(9999, 12, 31, 23, 59)),
        Schedule(weekdays=("mon", "tue"), end=wall(9999, 12, 31, 23, 59)),
    ],
    ids=["far-end", "far-date-end", "year-1-start", "weekdays-far-end"],
)
def test_a_stored_schedule_at_the_calendar_edge_never_overflows(
    schedule: Schedule, zone: str
) -> None:
    # rule RSP-6: issue 7 item 5; stored before bounds existed, read in any zone
    from domain.schedule import next_change  # noqa: PLC0415 - the function this test is about

    tz = ZoneInfo(zone)
    at = datetime(2026, 3, 3, 9, tzinfo=UTC)  # a Monday or Tuesday in every zone
    assert schedule.covers(at, tz)
    end = schedule.end_at(tz)
    assert end is not None
    assert end.year == 9999  # the stored year, or the end of the calendar
    change = next_change(schedule, tz, at)  # answers, never overflows
    assert change != datetime.max.replace(tzinfo=UTC)  # the edge is no change
    west, east = ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")
    assert instant(wall(9999, 12, 31, 23, 59), west) == datetime.max.replace(tzinfo=UTC)
    assert instant(wall(1, 1, 1), east) == datetime.min.replace(tzinfo=UTC)
