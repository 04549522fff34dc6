"""How an account's security mails are decided and folded (SEC-1, SEC-2, SEC-4).

The account's commands decide with these and its events apply them again on every
replay; they read the account and the event through the few fields named below and
return new values, which the account assigns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from attrs import evolve

from domain.security import (
    AlertKind,
    LoginContext,
    NotificationPreferences,
    PendingAlert,
    SecurityPolicy,
    alert_key,
)

Pending = dict[str, PendingAlert]
Window = tuple[datetime, str] | None


class Alerting(Protocol):
    """What of the account these rules read."""

    failure_window: Window
    pending_alerts: Pending
    preferences: NotificationPreferences

    @property
    def version(self) -> int: ...


class Failure(Protocol):
    """A LoginFailed event: the alert it counts for, and when it opened (if it did)."""

    @property
    def alert_key(self) -> str | None: ...
    @property
    def alert_due(self) -> datetime | None: ...
    @property
    def timestamp(self) -> datetime: ...
    @property
    def context(self) -> LoginContext: ...


class Change(Protocol):
    """A security-change event (password, recovery phone): alerting or not."""

    @property
    def alert(self) -> bool: ...
    @property
    def originator_version(self) -> int: ...
    @property
    def timestamp(self) -> datetime: ...


class Login(Change, Protocol):
    """A LoggedIn event: alerting or not (SEC-1), and where it came from."""

    @property
    def context(self) -> LoginContext: ...


def failure_alert(
    account: Alerting, at: datetime, policy: SecurityPolicy
) -> tuple[str | None, datetime | None]:
    """(key, due) of the alert a wrong password at ``at`` counts for (SEC-2).

    Inside an open window: that window's alert, if still pending, and no new due time.
    Otherwise a new alert named after the coming event, due when the window closes, if
    the user wants such mails.
    """
    window = account.failure_window
    if window is not None and at < window[0]:
        return (window[1] if window[1] in account.pending_alerts else None), None
    if account.preferences.failed_login:
        key = alert_key(AlertKind.FAILED_LOGIN, account.version + 1)
        return key, at + policy.failed_login_window
    return None, None


def after_failure(account: Alerting, event: Failure) -> tuple[Window, Pending]:
    """The failure window and pending alerts once ``event`` opened an alert or raised
    its count."""
    key, pending = event.alert_key, account.pending_alerts
    if key is None:
        return account.failure_window, pending
    if event.alert_due is not None:
        opened = PendingAlert.raised(
            AlertKind.FAILED_LOGIN, event.timestamp, context=event.context
        )
        return (event.alert_due, key), {**pending, key: opened}
    counted = evolve(
        pending[key],
        last_at=event.timestamp,
        count=pending[key].count + 1,
        context=event.context,
    )
    return account.failure_window, {**pending, key: counted}


def after_login(pending: Pending, event: Login) -> Pending:
    """The pending alerts once a login from a new device or location was recorded."""
    if not event.alert:
        return pending
    kind = AlertKind.NEW_LOCATION
    raised = PendingAlert.raised(kind, event.timestamp, context=event.context)
    return {**pending, alert_key(kind, event.originator_version): raised}


def after_sent(account: Alerting, key: str) -> tuple[Window, Pending]:
    """The failure window and pending alerts once the mail for ``key`` went out: a
    window whose alert was sent is closed."""
    pending = {k: v for k, v in account.pending_alerts.items() if k != key}
    window = account.failure_window
    return (None if window is not None and window[1] == key else window), pending


def after_change(pending: Pending, event: Change, what: str) -> Pending:
    """The pending alerts once a security change (SEC-4, SEC-5) was recorded."""
    if not event.alert:
        return pending
    kind = AlertKind.SECURITY_CHANGE
    raised = PendingAlert.raised(kind, event.timestamp, detail=what)
    return {**pending, alert_key(kind, event.originator_version): raised}
