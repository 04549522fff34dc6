"""User accounts: registration, login, and the security mails they trigger (SEC-1..SEC-6).

The aggregate decides; it never sees a password, a hash or a device token. The
application verifies the password against the credential store and hands over only the
outcome and a keyed fingerprint of the device, so replaying the log reveals no secret.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain import accountalerts as alerts
from domain import accountsessions as sessions
from domain import accountthrottle as throttle
from domain import ids
from domain.address import EmailAddress
from domain.errors import InvalidInput, NotFound, NotPermitted
from domain.phone import PhoneNumber
from domain.security import (
    AlertKind,
    LoginContext,
    NotificationPreferences,
    PendingAlert,
    SecurityPolicy,
)
from domain.text import clean_line
from domain.throttle import remember_failure
from domain.time import utc

MAX_DISPLAY_NAME = 200


class UserAccount(Aggregate):
    # Declared for snapshots: the mapper restores each attribute to this type.
    organisation_id: UUID
    login: str
    display_name: str
    credential_id: UUID
    preferences: NotificationPreferences
    recovery_phone: str | None
    known_devices: set[str]
    known_locations: set[str]
    active_sessions: set[UUID]
    recent_failures: tuple[datetime, ...]
    throttled_until: datetime | None
    failure_window: tuple[datetime, str] | None
    pending_alerts: dict[str, PendingAlert]
    # Defaults at class level: a snapshot taken before the per-source throttle existed
    # restores without them (both are replaced, never changed in place).
    source_failures: tuple[tuple[str, datetime], ...] = ()
    throttle_episodes: tuple[tuple[str, datetime], ...] = ()
    # Likewise for sessions before MFA-6/MFA-7 and re-authentication: persistent, not
    # restricted, never re-authenticated (domain/accountsessions.py).
    transient_sessions: frozenset[UUID] = frozenset()
    restricted_sessions: frozenset[UUID] = frozenset()
    reauthentications: sessions.Reauthentications = ()

    class Registered(Aggregate.Created):
        organisation_id: UUID
        login: str
        display_name: str
        credential_id: UUID

    def __init__(
        self, organisation_id: UUID, login: str, display_name: str, credential_id: UUID
    ) -> None:
        self.organisation_id = organisation_id
        self.login = login
        self.display_name = display_name
        # A reference into the credential store; the hash itself never enters the log.
        self.credential_id = credential_id
        self.preferences = NotificationPreferences()
        self.recovery_phone: str | None = None
        self.known_devices: set[str] = set()
        self.known_locations: set[str] = set()
        self.active_sessions: set[UUID] = set()
        self.recent_failures: tuple[datetime, ...] = ()
        self.throttled_until: datetime | None = None
        self.source_failures = ()
        self.throttle_episodes = ()
        self.failure_window: tuple[datetime, str] | None = None
        self.pending_alerts: dict[str, PendingAlert] = {}

    @classmethod
    def register(
        cls,
        organisation_id: UUID,
        login: EmailAddress,
        *,
        credential_id: UUID,
        display_name: str = "",
        at: datetime,
    ) -> UserAccount:
        # Refused, not folded: a display name ends up in mail headers and alerts, where a
        # line break is a header injection (the shared rule of domain/text.py).
        name = clean_line(
            display_name, field="display name", max_length=MAX_DISPLAY_NAME
        )
        return cls._create(
            cls.Registered,
            id=ids.account_id(str(login)),
            timestamp=utc(at),
            organisation_id=organisation_id,
            login=str(login),
            display_name=name,
            credential_id=credential_id,
        )

    # -- login -----------------------------------------------------------------------

    def throttle_source(self, context: LoginContext) -> str:
        """Where an attempt counts for the throttle: see ``domain.throttle``."""
        return throttle.source_of(self, context)

    def is_throttled(
        self,
        at: datetime,
        policy: SecurityPolicy,
        context: LoginContext | None = None,
    ) -> bool:
        """True while an attempt from ``context`` would be refused unchecked.

        The last period holds ``throttle_limit`` failed checks from the attempt's source,
        or ``account_limit`` from all sources together. Without a context: whether every
        source is refused (the account-wide ceiling).
        """
        return throttle.is_throttled(self, utc(at), policy, context)

    class LoggedIn(Aggregate.Event):
        session_id: UUID
        context: LoginContext
        new_device: bool
        new_location: bool
        alert: bool
        # Defaults: older events are of persistent, unrestricted sessions.
        persistent: bool = True
        restricted: bool = False

        def apply(self, aggregate: UserAccount) -> None:
            aggregate.known_devices.add(self.context.device)
            aggregate.known_locations.add(self.context.location)
            aggregate.active_sessions.add(self.session_id)
            aggregate._session_facts(sessions.opened(aggregate, self))
            aggregate.pending_alerts = alerts.after_login(
                aggregate.pending_alerts, self
            )

    def log_in(
        self,
        session_id: UUID,
        context: LoginContext,
        *,
        at: datetime,
        policy: SecurityPolicy,
        persistent: bool = True,
        restricted: bool = False,
    ) -> bool:
        """Record a login whose password the application verified; True if it alerts.

        SEC-1: a device or a location never seen before alerts, once; the first login of
        a new account alerts too (the account has seen nothing yet), which is what a
        user who just registered from a shared computer would want. A session that is
        not ``persistent`` ends with the browser (MFA-6); a ``restricted`` one may only
        enrol a second factor (MFA-7).
        """
        at = utc(at)
        if self.is_throttled(at, policy, context):
            raise NotPermitted(
                "login refused: too many failed attempts, try again later"
            )
        new_device = context.device not in self.known_devices
        new_location = context.location not in self.known_locations
        alert = (new_device or new_location) and self.preferences.new_location
        self.trigger_event(
            self.LoggedIn,
            timestamp=at,
            session_id=session_id,
            context=context,
            new_device=new_device,
            new_location=new_location,
            alert=alert,
            persistent=persistent,
            restricted=restricted,
        )
        return alert

    class LoginFailed(Aggregate.Event):
        context: LoginContext
        alert_key: str | None
        alert_due: datetime | None

        def apply(self, aggregate: UserAccount) -> None:
            aggregate.recent_failures, aggregate.source_failures = remember_failure(
                aggregate.recent_failures,
                aggregate.source_failures,
                aggregate.throttle_source(self.context),
                self.timestamp,
            )
            aggregate.failure_window, aggregate.pending_alerts = alerts.after_failure(
                aggregate, self
            )

    def fail_login(
        self, context: LoginContext, *, at: datetime, policy: SecurityPolicy
    ) -> None:
        """Record a wrong password (SEC-2), folding it into the open alert window.

        The first failure of a window opens a pending alert due when the window closes;
        later ones only raise its count. However many attempts arrive, the account gets
        at most one mail per window, and the throttle bounds the attempts themselves.
        """
        at = utc(at)
        if self.is_throttled(at, policy, context):
            raise NotPermitted("password check refused: the account is throttled")
        key, due = alerts.failure_alert(self, at, policy)
        self.trigger_event(
            self.LoginFailed,
            timestamp=at,
            context=context,
            alert_key=key,
            alert_due=due,
        )

    class LoginThrottled(Aggregate.Event):
        context: LoginContext
        until: datetime

        def apply(self, aggregate: UserAccount) -> None:
            aggregate.throttled_until, aggregate.throttle_episodes = (
                throttle.after_refusal(aggregate, self)
            )

    def record_throttled(
        self, context: LoginContext, *, at: datetime, policy: SecurityPolicy
    ) -> bool:
        """Record that the throttle refused an attempt, once per throttle episode.

        An episode is the account-wide ceiling's or one source's; refused attempts are
        not each logged: an attacker must not be able to grow the log without bound.
        Every source needs ``throttle_limit`` failures of its own before its first
        episode, so the episodes are bounded by the failures. Returns True when an event
        was recorded.
        """
        at = utc(at)
        if not self.is_throttled(at, policy, context):
            raise InvalidInput("the account is not throttled at this time")
        until = throttle.episode_end(self, context, at, policy)
        if until is None:
            return False
        self.trigger_event(
            self.LoginThrottled, timestamp=at, context=context, until=until
        )
        return True

    # -- sessions and security changes -------------------------------------------------

    class LoggedOut(Aggregate.Event):
        session_id: UUID

        def apply(self, aggregate: UserAccount) -> None:
            aggregate.active_sessions.discard(self.session_id)
            aggregate._session_facts(sessions.live_only(aggregate))

    def log_out(self, session_id: UUID, *, at: datetime) -> None:
        if session_id not in self.active_sessions:
            raise NotFound(f"session {session_id} is not active")
        self.trigger_event(self.LoggedOut, timestamp=utc(at), session_id=session_id)

    def is_persistent(self, session_id: UUID) -> bool:
        return session_id not in self.transient_sessions

    def is_restricted(self, session_id: UUID) -> bool:
        return session_id in self.restricted_sessions

    class Reauthenticated(Aggregate.Event):
        session_id: UUID

        def apply(self, aggregate: UserAccount) -> None:
            aggregate.reauthentications = sessions.reauthenticated(
                aggregate.reauthentications, self.session_id, self.timestamp
            )

    def reauthenticate(self, session_id: UUID, *, at: datetime) -> None:
        """The password (and second factor) checked again in this session: a security
        change may follow within the policy's window."""
        if session_id not in self.active_sessions:
            raise NotFound(f"session {session_id} is not active")
        self.trigger_event(
            self.Reauthenticated, timestamp=utc(at), session_id=session_id
        )

    def recently_reauthenticated(
        self, session_id: UUID, at: datetime, window: timedelta
    ) -> bool:
        return sessions.is_recent(self, session_id, utc(at), window)

    def _session_facts(self, facts: sessions.Facts) -> None:
        self.transient_sessions, self.restricted_sessions, self.reauthentications = (
            facts
        )

    class PasswordChanged(Aggregate.Event):
        credential_id: UUID
        ended_sessions: tuple[UUID, ...]
        alert: bool

        def apply(self, aggregate: UserAccount) -> None:
            aggregate.credential_id = self.credential_id
            aggregate.active_sessions.difference_update(self.ended_sessions)
            aggregate.recent_failures = ()
            aggregate.source_failures = ()
            aggregate.throttled_until = None
            aggregate.throttle_episodes = ()
            aggregate._session_facts(sessions.live_only(aggregate))
            what = "The account password was changed."
            aggregate.pending_alerts = alerts.after_change(
                aggregate.pending_alerts, self, what
            )

    def change_password(
        self, credential_id: UUID, *, keep_session: UUID | None, at: datetime
    ) -> tuple[UUID, ...]:
        """Record a password change the application verified; return the ended sessions.

        SEC-4: every other session ends, since it may be the intruder's.
        """
        ended = tuple(sorted(s for s in self.active_sessions if s != keep_session))
        self.trigger_event(
            self.PasswordChanged,
            timestamp=utc(at),
            credential_id=credential_id,
            ended_sessions=ended,
            alert=self.preferences.security_change,
        )
        return ended

    class RecoveryPhoneChanged(Aggregate.Event):
        phone: PhoneNumber
        alert: bool

        def apply(self, aggregate: UserAccount) -> None:
            aggregate.recovery_phone = self.phone.e164
            what = "The recovery phone number was changed."
            aggregate.pending_alerts = alerts.after_change(
                aggregate.pending_alerts, self, what
            )

    def change_recovery_phone(self, phone: PhoneNumber, *, at: datetime) -> None:
        if phone.e164 == self.recovery_phone:
            raise InvalidInput(f"{phone} is already the recovery number")
        self.trigger_event(
            self.RecoveryPhoneChanged,
            timestamp=utc(at),
            phone=phone,
            alert=self.preferences.security_change,
        )

    class NotificationPreferencesChanged(Aggregate.Event):
        preferences: NotificationPreferences

        def apply(self, aggregate: UserAccount) -> None:
            aggregate.preferences = self.preferences

    def choose_notifications(
        self, preferences: NotificationPreferences, *, at: datetime
    ) -> None:
        self.trigger_event(
            self.NotificationPreferencesChanged,
            timestamp=utc(at),
            preferences=preferences,
        )

    # -- alert mails -----------------------------------------------------------------

    class SecurityAlertSent(Aggregate.Event):
        key: str
        kind: AlertKind
        count: int

        def apply(self, aggregate: UserAccount) -> None:
            aggregate.failure_window, aggregate.pending_alerts = alerts.after_sent(
                aggregate, self.key
            )

    def record_alert_sent(self, key: str, *, at: datetime) -> None:
        """Record that the mail for ``key`` went out; later deliveries of the job skip it."""
        pending = self.pending_alerts.get(key)
        if pending is None:
            raise NotFound(f"no pending security alert {key!r}")
        self.trigger_event(
            self.SecurityAlertSent,
            timestamp=utc(at),
            key=key,
            kind=pending.kind,
            count=pending.count,
        )
