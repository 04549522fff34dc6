"""Recent activity per user (SEC-3): logins, places, devices, failures, security changes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.utils import get_topic

from application.ports import ActivityEntry
from domain.account import UserAccount
from domain.importjob import ImportJob
from domain.mailbox import Mailbox
from domain.security import LoginContext
from domain.twostep import TwoStep
from projections import activityimports as imports
from projections.activitylines import ActivityPage
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
        for event, position in items:
            if isinstance(event, Mailbox.Event | ImportJob.Event):
                imports.process(event, position, cursor)
                continue
            if isinstance(event, TwoStep.Event):
                _two_step(event, position, cursor)
                continue
            entry = describe(event)
            if entry is None or not isinstance(event, UserAccount.Event):
                continue
            fold = isinstance(event, UserAccount.LoginFailed)
            page.add(str(event.originator_id), entry, position, fold=fold)
        page.write()


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


def _login(
    at: datetime, outcome: str, context: LoginContext, detail: str = ""
) -> ActivityEntry:
    device = context.user_agent or "unknown device"
    return ActivityEntry(
        at=at,
        kind="login",
        outcome=outcome,
        place=context.place,
        network=context.network,
        device=f"{device} [{context.device[:8]}]",
        detail=detail,
    )


def _security(at: datetime, outcome: str, detail: str) -> ActivityEntry:
    return ActivityEntry(at=at, kind="security", outcome=outcome, detail=detail)


def _named(*flags: tuple[str, bool]) -> list[str]:
    """The names whose flag is set, in order."""
    return [name for name, on in flags if on]


def describe(event: object) -> ActivityEntry | None:  # noqa: C901, PLR0911 - one case per event
    """The line a user sees for an event; secrets were never in the event to show."""
    match event:
        case UserAccount.Registered(timestamp=at):
            return ActivityEntry(at=at, kind="account", outcome="registered")
        case UserAccount.LoggedIn(timestamp=at, context=context) as e:
            news = _named(
                ("new device", e.new_device), ("new location", e.new_location)
            )
            return _login(at, "signed in", context, ", ".join(news))
        case UserAccount.LoginFailed(timestamp=at, context=context):
            return _login(at, "wrong password", context)
        case UserAccount.LoginThrottled(timestamp=at, context=context, until=until):
            return _login(
                at,
                "refused: too many attempts",
                context,
                f"until {until:%Y-%m-%d %H:%M} UTC",
            )
        case UserAccount.LoggedOut(timestamp=at):
            return ActivityEntry(at=at, kind="session", outcome="signed out")
        case UserAccount.Reauthenticated(timestamp=at):
            return ActivityEntry(
                at=at, kind="session", outcome="password checked again"
            )
        case UserAccount.PasswordChanged(timestamp=at, ended_sessions=ended):
            return _security(
                at, "password changed", f"{len(ended)} other session(s) ended"
            )
        case UserAccount.RecoveryPhoneChanged(timestamp=at, phone=phone):
            return _security(
                at, "recovery phone changed", f"now ends in {phone.e164[-2:]}"
            )
        case UserAccount.NotificationPreferencesChanged(timestamp=at, preferences=p):
            on = _named(
                ("new location", p.new_location),
                ("failed login", p.failed_login),
                ("security change", p.security_change),
            )
            return _security(
                at, "notifications chosen", "mails for: " + (", ".join(on) or "none")
            )
        case UserAccount.SecurityAlertSent(timestamp=at, kind=kind, count=count):
            return ActivityEntry(
                at=at,
                kind="alert",
                outcome="security mail sent",
                detail=f"{kind.value.replace('_', ' ')}"
                + (f" ({count} attempts)" if count > 1 else ""),
            )
    return None


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
