"""Commands take the time as an argument; this keeps it an aware UTC instant."""

from datetime import UTC, datetime

from domain.errors import InvalidInput


def utc(at: datetime) -> datetime:
    """Return ``at`` in UTC, refusing naive datetimes, whose meaning depends on a host.

    A time at the very edge of the calendar (``0001-01-01T00:00+01:00``) has no UTC
    instant; it is bad input, not an internal error.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput(
            f"time {at.isoformat()} has no time zone; use an aware datetime"
        )
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(
            f"time {at.isoformat()} is outside the range of dates this engine keeps"
        ) from None
