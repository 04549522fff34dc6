"""Commands take the time as an argument; this keeps it an aware UTC instant."""

from datetime import UTC, datetime

from domain.errors import InvalidInput


def utc(at: datetime) -> datetime:
    """Return ``at`` in UTC, refusing naive datetimes, whose meaning depends on a host."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput(
            f"time {at.isoformat()} has no time zone; use an aware datetime"
        )
    return at.astimezone(UTC)
