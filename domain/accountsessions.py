"""The session facts of an account: persistent or not (MFA-6), enrol-only (MFA-7), and
when the user last re-entered the password in it (re-authentication).

The account keeps them as immutable values (frozensets, tuples of pairs) with class
defaults, so an account logged in before these existed replays and restores from a
snapshot without them; these functions are the one reading of them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

Reauthentications = tuple[tuple[UUID, datetime], ...]
Facts = tuple[frozenset[UUID], frozenset[UUID], Reauthentications]


class Sessions(Protocol):
    """What of the account these rules read."""

    active_sessions: set[UUID]
    transient_sessions: frozenset[UUID]
    restricted_sessions: frozenset[UUID]
    reauthentications: Reauthentications


class Login(Protocol):
    """A LoggedIn event: its session and how it may be used."""

    @property
    def session_id(self) -> UUID: ...
    @property
    def persistent(self) -> bool: ...
    @property
    def restricted(self) -> bool: ...


def opened(account: Sessions, login: Login) -> Facts:
    """The facts once ``login`` opened its session: ending with the browser unless
    persistent (MFA-6), enrol-only when restricted (MFA-7)."""
    transient, limited = account.transient_sessions, account.restricted_sessions
    session = login.session_id
    return (
        transient if login.persistent else transient | {session},
        limited | {session} if login.restricted else limited,
        account.reauthentications,
    )


def live_only(account: Sessions) -> Facts:
    """The facts of the sessions still active: an ended session keeps none."""
    live = account.active_sessions
    return (
        account.transient_sessions & live,
        account.restricted_sessions & live,
        tuple((s, t) for s, t in account.reauthentications if s in live),
    )


def reauthenticated(
    past: Reauthentications, session_id: UUID, at: datetime
) -> Reauthentications:
    """The last re-authentication per session, ``session_id``'s now at ``at``."""
    return (*((s, t) for s, t in past if s != session_id), (session_id, at))


def is_recent(
    account: Sessions, session_id: UUID, at: datetime, window: timedelta
) -> bool:
    """Whether the session is active and re-authenticated in the ``window`` up to
    ``at``."""
    if session_id not in account.active_sessions:
        return False
    past = account.reauthentications
    last = next((t for s, t in past if s == session_id), None)
    return last is not None and last <= at < last + window
