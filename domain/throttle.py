"""The login throttle's arithmetic over an account's recent failures (OWASP ASVS 6.3).

The account keeps its failures as plain tuples of times (snapshots restore them as they
are); these functions are the one reading of them, shared by the account's commands,
which decide, and its events, which apply the decision again on every replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from domain.security import MAX_LIMIT, LoginContext, SecurityPolicy

# The throttle looks back one policy period; the state keeps enough for any period up to
# a day and any limit up to MAX_TRACKED_FAILURES, and no more, so it stays small.
FAILURE_MEMORY = timedelta(days=1)
MAX_TRACKED_FAILURES = MAX_LIMIT

SourcedTimes = tuple[tuple[str, datetime], ...]


def throttle_source(context: LoginContext, known_devices: Iterable[str]) -> str:
    """Where an attempt counts for the throttle (OWASP ASVS 6.3.1, a soft lockout).

    A device the account logged in from before is its own source; any other attempt
    counts for its network prefix. Failures from an attacker's network so throttle
    that network, and the real user passes from another network or a known device.
    """
    if context.device in known_devices:
        return f"device:{context.device}"
    return f"network:{context.network}"


def ceiling_reached(
    failures: Iterable[datetime], at: datetime, policy: SecurityPolicy
) -> bool:
    """Whether all sources together reached the account-wide ``account_limit``."""
    return len(_within_period(failures, at, policy)) >= policy.account_limit


def source_limit_reached(
    sourced: SourcedTimes, source: str, at: datetime, policy: SecurityPolicy
) -> bool:
    """Whether ``source`` reached its own ``throttle_limit``."""
    return len(_from_source(sourced, source, at, policy)) >= policy.throttle_limit


def ceiling_end(
    failures: Iterable[datetime], at: datetime, policy: SecurityPolicy
) -> datetime:
    """When the account-wide ceiling reached at ``at`` lifts."""
    window = _within_period(failures, at, policy)
    return window[-policy.account_limit] + policy.throttle_period


def source_limit_end(
    sourced: SourcedTimes, source: str, at: datetime, policy: SecurityPolicy
) -> datetime:
    """When the throttle of ``source``, reached at ``at``, lifts."""
    window = _from_source(sourced, source, at, policy)
    return window[-policy.throttle_limit] + policy.throttle_period


def _within_period(
    failures: Iterable[datetime], at: datetime, policy: SecurityPolicy
) -> list[datetime]:
    since = at - policy.throttle_period
    return sorted(t for t in failures if t > since)


def _from_source(
    sourced: SourcedTimes, source: str, at: datetime, policy: SecurityPolicy
) -> list[datetime]:
    return _within_period((t for s, t in sourced if s == source), at, policy)


def remember_failure(
    failures: tuple[datetime, ...],
    sourced: SourcedTimes,
    source: str,
    at: datetime,
) -> tuple[tuple[datetime, ...], SourcedTimes]:
    """The failures kept after one more at ``at``: a day's worth, at most the limit.

    The most recent failures of the account hold every source's recent ones (the
    account-wide ceiling is at most MAX_TRACKED_FAILURES).
    """
    since = at - FAILURE_MEMORY
    kept = (*(t for t in failures if t > since), at)[-MAX_TRACKED_FAILURES:]
    kept_sourced = (*((s, t) for s, t in sourced if t > since), (source, at))
    return kept, kept_sourced[-MAX_TRACKED_FAILURES:]


def open_episodes(
    episodes: SourcedTimes, source: str, at: datetime, until: datetime
) -> SourcedTimes:
    """The throttle episodes still open at ``at``, ``source``'s replaced by one to ``until``."""
    still_open = ((s, u) for s, u in episodes if s != source and u > at)
    return (*still_open, (source, until))
