"""Recent activity per user (SEC-3): logins, places, devices, failures, security changes."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from application.ports import ActivityEntry
from domain.account import UserAccount
from domain.importjob import ImportJob
from domain.mailbox import Mailbox
from domain.security import LoginContext
from domain.twostep import TwoStep
from projections import activityimports as imports
from projections.activitylines import ActivityPage, Line
from projections.storage import Cursor, Database

EVENTS = (
    UserAccount.Registered,
    UserAccount.LoggedIn,
    UserAccount.LoginFailed,
    UserAccount.LoginThrottled,
    UserAccount.LoggedOut,
    UserAccount.PasswordChanged,
    UserAccount.RecoveryPhoneChanged,
    UserAccount.NotificationPreferencesChanged,
    UserAccount.SecurityAlertSent,
    UserAccount.Reauthenticated,
)
# Two-step changes, the lock and a cloned key show as security lines of the account
# (SEC-3); the TwoStep aggregate names its account, kept here per aggregate id.
TWO_STEP_EVENTS: dict[type, tuple[str, str]] = {
    TwoStep.FactorConfirmed: ("two-step method added", ""),
    TwoStep.FactorRemoved: ("two-step method removed", ""),
    TwoStep.Disabled: ("two-step verification turned off", ""),
    TwoStep.BackupCodesIssued: ("new backup codes", "the old ones no longer work"),
    TwoStep.BackupCodeUsed: ("backup code used", ""),
    TwoStep.AppPasswordCreated: ("app password created", ""),
    TwoStep.AppPasswordRevoked: ("app password revoked", ""),
    TwoStep.AppPasswordsRevoked: ("every app password revoked", ""),
    TwoStep.CloneSuspected: ("security key refused", "it may have been copied"),
}
# The destination's users see its imports (started, completed, failed): the mailbox's
# users are followed here, and each job's destination, so an entry goes to each of them.
IMPORT_EVENTS = (
    Mailbox.Created,
    Mailbox.UserAssigned,
    Mailbox.UserUnassigned,
    ImportJob.Requested,
    ImportJob.Started,
    ImportJob.Completed,
    ImportJob.Failed,
)


class RecentActivity:
    name = "recent_activity"
    tables: tuple[str, ...] = (
        "mh_activity",
        "mh_activity_imports",
        "mh_activity_mailbox_users",
        "mh_activity_import_jobs",
        "mh_activity_two_step",
    )
    topics: tuple[str, ...] = tuple(
        get_topic(cls)
        for cls in (
            *EVENTS,
            *IMPORT_EVENTS,
            TwoStep.Opened,
            TwoStep.SecondFactorFailed,
            *TWO_STEP_EVENTS,
        )
    )
    schema: tuple[str, ...] = (
        (
            "CREATE TABLE IF NOT EXISTS mh_activity ("
            " position BIGINT PRIMARY KEY, account_id TEXT NOT NULL, at TEXT NOT NULL,"
            " kind TEXT NOT NULL, outcome TEXT NOT NULL, place TEXT NOT NULL,"
            " network TEXT NOT NULL, device TEXT NOT NULL, detail TEXT NOT NULL,"
            " repeats BIGINT NOT NULL DEFAULT 1)"
        ),
        (
            "CREATE INDEX IF NOT EXISTS mh_activity_by_account"
            " ON mh_activity (account_id, position)"
        ),
        (
            "CREATE TABLE IF NOT EXISTS mh_activity_imports ("
            " position BIGINT NOT NULL, account_id TEXT NOT NULL, at TEXT NOT NULL,"
            " kind TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL,"
            " PRIMARY KEY (account_id, position))"
        ),
        (
            "CREATE TABLE IF NOT EXISTS mh_activity_mailbox_users ("
            " mailbox_id TEXT NOT NULL, account_id TEXT NOT NULL,"
            " PRIMARY KEY (mailbox_id, account_id))"
        ),
        (
            "CREATE TABLE IF NOT EXISTS mh_activity_two_step ("
            " two_step_id TEXT PRIMARY KEY, account_id TEXT NOT NULL)"
        ),
        (
            "CREATE TABLE IF NOT EXISTS mh_activity_import_jobs ("
            " job_id TEXT PRIMARY KEY, mailbox_id TEXT NOT NULL,"
            " destination TEXT NOT NULL)"
        ),
    )

    def process(self, event: object, position: int, cursor: Cursor) -> None:
        self.process_many([(event, position)], cursor)

    def process_many(self, items: Sequence[tuple[object, int]], cursor: Cursor) -> None:
        """The page's lines written at its end (``ActivityPage``); the import and
        two-step bookkeeping as met, since later events of the page read it."""
        page = ActivityPage(cursor)
        # Each account's id as text, by its number (a lookup that hashes in C).
        accounts: dict[int, str] = {}
        for event, position in items:
            route, describer = _ROUTES.get(type(event)) or _route(type(event))
            if describer is not None:
                originator: UUID = event.originator_id  # type: ignore[attr-defined]
                account = accounts.get(originator.int)
                if account is None:
                    account = accounts[originator.int] = str(originator)
                page.add(account, describer(event), position, fold=route is _Route.FOLD)
            elif route is _Route.IMPORTS:
                imports.process(event, position, cursor)  # type: ignore[arg-type]
            elif route is _Route.TWO_STEP:
                _two_step(event, position, cursor)  # type: ignore[arg-type]
        page.write()


class _Route(enum.Enum):
    """What ``process_many`` does with an event of a class (found once per class)."""

    NONE = 0
    IMPORTS = 1  # an import's bookkeeping and lines
    TWO_STEP = 2  # a security line of the two-step record's account
    LINE = 3  # a line of the account
    FOLD = 4  # a line of the account, or one more repeat of its latest login


# Each class's route, and for a line of the account its describer (``line_of``).
_ROUTES: dict[type, tuple[_Route, Callable[[Any], Line] | None]] = {}


def _route(cls: type) -> tuple[_Route, Callable[[Any], Line] | None]:
    if issubclass(cls, Mailbox.Event | ImportJob.Event):
        route = _Route.IMPORTS
    elif issubclass(cls, TwoStep.Event):
        route = _Route.TWO_STEP
    elif issubclass(cls, UserAccount.LoginFailed):
        route = _Route.FOLD
    elif issubclass(cls, UserAccount.Event):
        route = _Route.LINE
    else:
        route = _Route.NONE
    lines = route is _Route.LINE or route is _Route.FOLD
    routed = _ROUTES[cls] = (route, _describer(cls) if lines else None)
    return routed


def _two_step(event: TwoStep.Event, position: int, cursor: Cursor) -> None:
    """A security line on the account's list; its account is the aggregate's."""
    if isinstance(event, TwoStep.Opened):
        cursor.execute(
            "INSERT INTO mh_activity_two_step (two_step_id, account_id) VALUES (?, ?)"
            " ON CONFLICT DO NOTHING",
            (str(event.originator_id), str(event.account_id)),
        )
        return
    if isinstance(event, TwoStep.SecondFactorFailed):
        outcome = "wrong two-step code" + (", locked" if event.locked_until else "")
        detail = f"{event.failures} in a row"
    elif type(event) in TWO_STEP_EVENTS:
        outcome, detail = TWO_STEP_EVENTS[type(event)]
    else:
        return
    cursor.execute(
        "SELECT account_id FROM mh_activity_two_step WHERE two_step_id = ?",
        (str(event.originator_id),),
    )
    row = cursor.fetchone()
    if row is None:
        return
    cursor.execute(
        "INSERT INTO mh_activity (position, account_id, at, kind, outcome, place,"
        " network, device, detail) VALUES (?, ?, ?, 'security', ?, '', '', '', ?)",
        (position, str(row[0]), event.timestamp.isoformat(), outcome, detail),
    )


def _login(at: datetime, outcome: str, context: LoginContext, detail: str = "") -> Line:
    device = context.user_agent or "unknown device"
    return (
        at,
        "login",
        outcome,
        context.place,
        context.network,
        f"{device} [{context.device[:8]}]",
        detail,
    )


def _plain(at: datetime, kind: str, outcome: str, detail: str = "") -> Line:
    return (at, kind, outcome, "", "", "", detail)


def _named(*flags: tuple[str, bool]) -> str:
    """The names whose flag is set, in order, comma-separated."""
    return ", ".join([name for name, on in flags if on])


# What a login is new for, by (new device, new location): as ``_named`` joins them.
_NEWS = {
    (device, location): _named(("new device", device), ("new location", location))
    for device in (False, True)
    for location in (False, True)
}


def _logged_in(e: UserAccount.LoggedIn) -> Line:
    news = _NEWS[bool(e.new_device), bool(e.new_location)]
    return _login(e.timestamp, "signed in", e.context, news)


def _throttled(e: UserAccount.LoginThrottled) -> Line:
    detail = f"until {e.until:%Y-%m-%d %H:%M} UTC"
    return _login(e.timestamp, "refused: too many attempts", e.context, detail)


def _preferences(e: UserAccount.NotificationPreferencesChanged) -> Line:
    p = e.preferences
    on = _named(
        ("new location", p.new_location),
        ("failed login", p.failed_login),
        ("security change", p.security_change),
    )
    return _plain(
        e.timestamp, "security", "notifications chosen", f"mails for: {on or 'none'}"
    )


def _alert(e: UserAccount.SecurityAlertSent) -> Line:
    detail = e.kind.value.replace("_", " ") + (
        f" ({e.count} attempts)" if e.count > 1 else ""
    )
    return _plain(e.timestamp, "alert", "security mail sent", detail)


# One describer per event class (a table rather than a match: a page of logins asks
# for thousands of lines, and a lookup by class is one step, a match one per case).
_DESCRIBERS: dict[type, Callable[[Any], Line]] = {
    UserAccount.Registered: lambda e: _plain(e.timestamp, "account", "registered"),
    UserAccount.LoggedIn: _logged_in,
    UserAccount.LoginFailed: lambda e: _login(e.timestamp, "wrong password", e.context),
    UserAccount.LoginThrottled: _throttled,
    UserAccount.LoggedOut: lambda e: _plain(e.timestamp, "session", "signed out"),
    UserAccount.Reauthenticated: lambda e: _plain(
        e.timestamp, "session", "password checked again"
    ),
    UserAccount.PasswordChanged: lambda e: _plain(
        e.timestamp,
        "security",
        "password changed",
        f"{len(e.ended_sessions)} other session(s) ended",
    ),
    UserAccount.RecoveryPhoneChanged: lambda e: _plain(
        e.timestamp,
        "security",
        "recovery phone changed",
        f"now ends in {e.phone.e164[-2:]}",
    ),
    UserAccount.NotificationPreferencesChanged: _preferences,
    UserAccount.SecurityAlertSent: _alert,
}
_FOUND: dict[type, Callable[[Any], Line] | None] = {}


def _describer(cls: type) -> Callable[[Any], Line] | None:
    """The class's describer; a subclass reads as the class it extends, as a match
    would read it."""
    if cls not in _FOUND:
        _FOUND[cls] = next(
            (_DESCRIBERS[c] for c in cls.__mro__ if c in _DESCRIBERS), None
        )
    return _FOUND[cls]


def line_of(event: object) -> Line | None:
    """The line of ``describe``, as the columns the page writes."""
    describer = _describer(type(event))
    return None if describer is None else describer(event)


def describe(event: object) -> ActivityEntry | None:
    """The line a user sees for an event; secrets were never in the event to show."""
    line = line_of(event)
    if line is None:
        return None
    at, kind, outcome, place, network, device, detail = line
    return ActivityEntry(
        at=at,
        kind=kind,
        outcome=outcome,
        place=place,
        network=network,
        device=device,
        detail=detail,
    )


class SqlActivityQueries:
    def __init__(self, database: Database) -> None:
        self.database = database

    def recent(self, account_id: UUID, limit: int = 50) -> list[ActivityEntry]:
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT at, kind, outcome, place, network, device, detail, repeats,"
                " position FROM mh_activity WHERE account_id = ?"
                " UNION ALL SELECT at, kind, outcome, '', '', '', detail, 1, position"
                " FROM mh_activity_imports WHERE account_id = ?"
                " ORDER BY position DESC LIMIT ?",
                (str(account_id), str(account_id), limit),
            )
            rows = cursor.fetchall()
        return [
            ActivityEntry(
                at=datetime.fromisoformat(r[0]).astimezone(UTC),
                kind=r[1],
                outcome=r[2],
                place=r[3],
                network=r[4],
                device=r[5],
                detail=r[6],
                count=int(r[7]),
            )
            for r in rows
        ]
