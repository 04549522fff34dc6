"""The login throttle as an account reads it (OWASP ASVS 6.3): refused or not, and when
an episode of refusals ends.

The arithmetic is domain/throttle.py's; these functions apply it to the few fields of
the account named below, for its commands, which decide, and its events, which apply.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from domain.security import LoginContext, SecurityPolicy
from domain.throttle import (
    SourcedTimes,
    ceiling_end,
    ceiling_reached,
    open_episodes,
    source_limit_end,
    source_limit_reached,
    throttle_source,
)


class Throttled(Protocol):
    """What of the account the throttle reads."""

    known_devices: set[str]
    recent_failures: tuple[datetime, ...]
    source_failures: SourcedTimes
    throttle_episodes: SourcedTimes
    throttled_until: datetime | None


class Refusal(Protocol):
    """A LoginThrottled event."""

    @property
    def context(self) -> LoginContext: ...
    @property
    def until(self) -> datetime: ...
    @property
    def timestamp(self) -> datetime: ...


def source_of(account: Throttled, context: LoginContext) -> str:
    return throttle_source(context, account.known_devices)


def is_throttled(
    account: Throttled,
    at: datetime,
    policy: SecurityPolicy,
    context: LoginContext | None,
) -> bool:
    if ceiling_reached(account.recent_failures, at, policy):
        return True
    if context is None:
        return False
    source = source_of(account, context)
    return source_limit_reached(account.source_failures, source, at, policy)


def episode_end(
    account: Throttled, context: LoginContext, at: datetime, policy: SecurityPolicy
) -> datetime | None:
    """When the episode the refused attempt at ``at`` opens ends; None when it falls
    into one already open (the account-wide ceiling's, or its source's)."""
    if ceiling_reached(account.recent_failures, at, policy):
        if account.throttled_until is not None and at < account.throttled_until:
            return None
        return ceiling_end(account.recent_failures, at, policy)
    source = source_of(account, context)
    if any(s == source and at < u for s, u in account.throttle_episodes):
        return None
    return source_limit_end(account.source_failures, source, at, policy)


def after_refusal(account: Throttled, event: Refusal) -> tuple[datetime, SourcedTimes]:
    """``throttled_until`` and the open episodes once ``event`` opened an episode."""
    until = account.throttled_until
    latest = event.until if until is None or event.until > until else until
    source = source_of(account, event.context)
    episodes = open_episodes(
        account.throttle_episodes, source, event.timestamp, event.until
    )
    return latest, episodes
