"""One UserAccount driven by random commands, checked against a small model.

The model knows what the rules say (SEC-1 new device or place, SEC-2 one failed-login
mail per window and the throttle, SEC-4 sessions, SEC-5 recovery phone), not how the
aggregate stores it; after every step the account must agree with it, and the account
rebuilt from its stored events (through the real mapper) must equal the live one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from uuid import UUID, uuid5

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from application.jobs import SEND_SECURITY_ALERT, jobs_for
from domain.account import UserAccount
from domain.address import EmailAddress
from domain.errors import InvalidInput, NotFound, NotPermitted
from domain.phone import PhoneNumber
from domain.security import (
    AlertKind,
    LoginContext,
    NotificationPreferences,
    SecurityPolicy,
    alert_key,
)
from tests.strategies import (
    DEVICES,
    NETWORKS,
    PHONE_POOL,
    login_contexts,
    login_texts,
    minutes,
    notification_preferences,
    replay,
    through_mapper,
    utc_datetimes,
)

ORG = UUID("00000000-0000-4000-8000-000000000002")
NOT_A_SESSION = UUID("00000000-0000-4000-8000-0000000000ff")


@dataclass
class Alert:
    kind: AlertKind
    count: int
    due: datetime


@dataclass
class Model:
    """What the rules say the account holds; nothing about how it holds it."""

    now: datetime
    version: int = 1
    devices: set[str] = field(default_factory=set)
    locations: set[str] = field(default_factory=set)
    sessions: set[UUID] = field(default_factory=set)
    preferences: NotificationPreferences = field(
        default_factory=NotificationPreferences
    )
    phone: str | None = None
    pending: dict[str, Alert] = field(default_factory=dict)
    window: tuple[datetime, str] | None = None
    # Failed checks (source, time) since the last password change: the change resets
    # the throttle. A source is a known device, or else the network (ASVS 6.3.1).
    failures: list[tuple[str, datetime]] = field(default_factory=list)
    epochs: list[list[tuple[str, datetime]]] = field(default_factory=lambda: [[]])
    throttled_until: datetime | None = None
    episodes: dict[str, datetime] = field(default_factory=dict)
    openings: list[datetime] = field(default_factory=list)

    def source(self, context: LoginContext) -> str:
        if context.device in self.devices:
            return f"device:{context.device}"
        return f"network:{context.network}"

    def recent(self, policy: SecurityPolicy, source: str | None) -> list[datetime]:
        since = self.now - policy.throttle_period
        return sorted(t for s, t in self.failures if t > since and source in {None, s})

    def ceiling(self, policy: SecurityPolicy) -> bool:
        return len(self.recent(policy, None)) >= policy.account_limit

    def throttled(
        self, policy: SecurityPolicy, context: LoginContext | None = None
    ) -> bool:
        if self.ceiling(policy):
            return True
        if context is None:
            return False
        return len(self.recent(policy, self.source(context))) >= policy.throttle_limit

    def due_alerts(self) -> list[str]:
        return sorted(k for k, a in self.pending.items() if a.due <= self.now)


class AccountMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.account: UserAccount
        self.policy: SecurityPolicy
        self.model: Model
        self.events: list[Any] = []
        self.replayed: UserAccount | None = None

    # -- plumbing ------------------------------------------------------------------

    def expect_security_change_alert(self, version: int) -> None:
        """The model's alert for a security change, if wanted; then collect the jobs."""
        m = self.model
        jobs = []
        if m.preferences.security_change:
            key = alert_key(AlertKind.SECURITY_CHANGE, version)
            m.pending[key] = Alert(AlertKind.SECURITY_CHANGE, 1, m.now)
            jobs.append((key, m.now))
        self.collect(jobs)

    def collect(self, expected_jobs: list[tuple[str, datetime]]) -> None:
        """Take the new events, check their jobs, and fold them onto the replay."""
        new = list(self.account.collect_events())
        jobs = [j for e in new for j in jobs_for(e)]
        assert all(j.actor == SEND_SECURITY_ALERT for j in jobs)
        assert all(j.args[0] == str(self.account.id) for j in jobs)
        assert [(j.args[1], j.due_at) for j in jobs] == expected_jobs
        self.replayed = replay(through_mapper(new), self.replayed)
        self.events.extend(new)

    def refused(self, error: type[Exception], command: Callable[[], object]) -> None:
        version = self.account.version
        with pytest.raises(error):
            command()
        assert self.account.version == version
        assert self.account.pending_events == []

    def step(self) -> int:
        self.model.version += 1
        return self.model.version

    # -- rules ---------------------------------------------------------------------

    @initialize(
        # An account ceiling close to the per-source limit, so both are reached.
        policy=st.integers(2, 6).flatmap(
            lambda limit: st.builds(
                SecurityPolicy,
                failed_login_window=minutes(1, 15),
                throttle_limit=st.just(limit),
                throttle_period=minutes(1, 10),
                account_limit=st.integers(limit, 3 * limit),
            )
        ),
        start=utc_datetimes(),
        login=login_texts(),
    )
    def register(self, policy: SecurityPolicy, start: datetime, login: str) -> None:
        self.policy = policy
        self.model = Model(now=start)
        self.account = UserAccount.register(
            ORG,
            EmailAddress.parse(login),
            credential_id=uuid5(ORG, "first"),
            display_name="Machine",
            at=start,
        )
        self.collect([])

    @rule(seconds=st.one_of(st.integers(0, 90), st.integers(0, 3600)))
    def advance_time(self, seconds: int) -> None:
        self.model.now += timedelta(seconds=seconds)

    @rule(context=login_contexts(), session=st.uuids(version=4))
    def login_ok(self, context: LoginContext, session: UUID) -> None:
        # rule SEC-1
        m = self.model
        if m.throttled(self.policy, context):
            self.refuse_throttled(context)
            return
        new = context.device not in m.devices or context.location not in m.locations
        expected = new and m.preferences.new_location
        alerted = self.account.log_in(session, context, at=m.now, policy=self.policy)
        assert alerted is expected
        version = self.step()
        jobs = []
        if alerted:
            key = alert_key(AlertKind.NEW_LOCATION, version)
            m.pending[key] = Alert(AlertKind.NEW_LOCATION, 1, m.now)
            jobs.append((key, m.now))
        m.devices.add(context.device)
        m.locations.add(context.location)
        m.sessions.add(session)
        self.collect(jobs)

    def fail(self, context: LoginContext) -> None:
        """A wrong password on an account that is not throttled."""
        # rule SEC-2
        m = self.model
        self.account.fail_login(context, at=m.now, policy=self.policy)
        version = self.step()
        jobs = []
        if m.window is not None and m.now < m.window[0]:
            if m.window[1] in m.pending:
                m.pending[m.window[1]].count += 1
        elif m.preferences.failed_login:
            key = alert_key(AlertKind.FAILED_LOGIN, version)
            due = m.now + self.policy.failed_login_window
            m.pending[key] = Alert(AlertKind.FAILED_LOGIN, 1, due)
            m.window = (due, key)
            m.openings.append(m.now)
            jobs.append((key, due))
        m.failures.append((m.source(context), m.now))
        m.epochs[-1].append((m.source(context), m.now))
        self.collect(jobs)

    def refuse_throttled(self, context: LoginContext) -> None:
        """An attempt on a throttled account, driven as the application does."""
        # rule SEC-2: refused without a password check, recorded once per episode
        m = self.model
        self.refused(
            NotPermitted,
            lambda: self.account.fail_login(context, at=m.now, policy=self.policy),
        )
        self.refused(
            NotPermitted,
            lambda: self.account.log_in(
                NOT_A_SESSION, context, at=m.now, policy=self.policy
            ),
        )
        period, source = self.policy.throttle_period, m.source(context)
        if m.ceiling(self.policy):
            expected = m.throttled_until is None or m.now >= m.throttled_until
            until = m.recent(self.policy, None)[-self.policy.account_limit] + period
        else:
            expected = source not in m.episodes or m.now >= m.episodes[source]
            until = m.recent(self.policy, source)[-self.policy.throttle_limit] + period
        recorded = self.account.record_throttled(context, at=m.now, policy=self.policy)
        assert recorded is expected
        if recorded:
            self.step()
            assert until > m.now
            if m.throttled_until is None or until > m.throttled_until:
                m.throttled_until = until
            m.episodes = {s: u for s, u in m.episodes.items() if u > m.now}
            m.episodes[source] = until
        self.collect([])

    @rule(context=login_contexts())
    def login_wrong(self, context: LoginContext) -> None:
        if self.model.throttled(self.policy, context):
            self.refuse_throttled(context)
        else:
            self.fail(context)

    @rule(
        context=login_contexts(),
        attempts=st.integers(1, 12),
        seconds=st.integers(0, 40),
    )
    def guess_passwords(
        self, context: LoginContext, attempts: int, seconds: int
    ) -> None:
        """An attacker's burst of wrong passwords, some while throttled."""
        for _ in range(attempts):
            self.model.now += timedelta(seconds=seconds)
            if self.model.throttled(self.policy, context):
                self.refuse_throttled(context)
            else:
                self.fail(context)

    @rule(context=login_contexts())
    def record_throttled_when_not_throttled(self, context: LoginContext) -> None:
        if self.model.throttled(self.policy, context):
            return
        self.refused(
            InvalidInput,
            lambda: self.account.record_throttled(
                context, at=self.model.now, policy=self.policy
            ),
        )

    @rule(data=st.data(), credential=st.uuids())
    def change_password(self, data: st.DataObject, credential: UUID) -> None:
        # rule SEC-4
        m = self.model
        keep = (
            data.draw(st.none() | st.sampled_from(sorted(m.sessions)))
            if m.sessions
            else None
        )
        ended = self.account.change_password(credential, keep_session=keep, at=m.now)
        assert set(ended) == m.sessions - {keep}
        assert len(ended) == len(set(ended))
        version = self.step()
        m.sessions &= {keep}
        m.failures = []
        m.epochs.append([])
        m.throttled_until = None
        m.episodes = {}
        self.expect_security_change_alert(version)
        assert self.account.credential_id == credential

    @rule(phone=st.sampled_from(PHONE_POOL))
    def change_phone(self, phone: PhoneNumber) -> None:
        # rule SEC-5
        m = self.model
        if phone.e164 == m.phone:
            self.refused(
                InvalidInput,
                lambda: self.account.change_recovery_phone(phone, at=m.now),
            )
            return
        self.account.change_recovery_phone(phone, at=m.now)
        version = self.step()
        m.phone = phone.e164
        self.expect_security_change_alert(version)

    @rule(preferences=notification_preferences())
    def choose_notifications(self, preferences: NotificationPreferences) -> None:
        # rule SEC-3
        self.account.choose_notifications(preferences, at=self.model.now)
        self.step()
        self.model.preferences = preferences
        self.collect([])

    @precondition(lambda self: bool(self.model.due_alerts()))
    @rule(data=st.data())
    def send_pending_alert(self, data: st.DataObject) -> None:
        """The worker sends a mail whose job is due (never before)."""
        m = self.model
        key = data.draw(st.sampled_from(m.due_alerts()))
        self.account.record_alert_sent(key, at=m.now)
        self.step()
        alert = m.pending.pop(key)
        if m.window is not None and m.window[1] == key:
            m.window = None
        new: list[Any] = list(self.account.pending_events)
        assert len(new) == 1
        assert (new[0].key, new[0].kind, new[0].count) == (key, alert.kind, alert.count)
        self.collect([])
        # A second delivery of the same job finds nothing to send.
        self.refused(NotFound, lambda: self.account.record_alert_sent(key, at=m.now))

    @precondition(lambda self: bool(self.model.sessions))
    @rule(data=st.data())
    def log_out(self, data: st.DataObject) -> None:
        m = self.model
        session = data.draw(st.sampled_from(sorted(m.sessions)))
        self.account.log_out(session, at=m.now)
        self.step()
        m.sessions.remove(session)
        self.collect([])

    @rule(session=st.uuids(version=1))
    def log_out_unknown(self, session: UUID) -> None:
        # Sessions are version-4 ids; a version-1 id is never one of them.
        self.refused(NotFound, lambda: self.account.log_out(session, at=self.model.now))

    # -- invariants ----------------------------------------------------------------

    @invariant()
    def replay_equals_live(self) -> None:
        assert self.account.pending_events == []
        assert self.replayed == self.account

    @invariant()
    def account_matches_the_model(self) -> None:
        a, m = self.account, self.model
        assert a.version == m.version
        assert a.known_devices == m.devices
        assert a.known_locations == m.locations
        assert a.active_sessions == m.sessions
        assert a.preferences == m.preferences
        assert a.recovery_phone == m.phone
        assert a.throttled_until == m.throttled_until
        assert a.failure_window == m.window
        assert a.is_throttled(m.now, self.policy) is m.throttled(self.policy)
        for device in DEVICES:
            for network in NETWORKS:
                context = LoginContext(device=device, network=network)
                assert a.throttle_source(context) == m.source(context)
                expected = m.throttled(self.policy, context)
                assert a.is_throttled(m.now, self.policy, context) is expected

    @invariant()
    def pending_alerts_match_the_model(self) -> None:
        # rule SEC-1, SEC-2, SEC-4
        actual = {k: (p.kind, p.count) for k, p in self.account.pending_alerts.items()}
        expected = {k: (a.kind, a.count) for k, a in self.model.pending.items()}
        assert actual == expected

    @invariant()
    def throttle_bound_holds(self) -> None:
        # rule SEC-2 (ASVS 6.3): at most throttle_limit failures per throttle_period
        # from one source, and at most account_limit from all sources together
        period, limit = self.policy.throttle_period, self.policy.throttle_limit
        for epoch in self.model.epochs:
            for source, t in epoch:
                inside = [(s, f) for s, f in epoch if t - period < f <= t]
                assert len(inside) <= self.policy.account_limit
                assert sum(s == source for s, _ in inside) <= limit

    @invariant()
    def at_most_one_open_failed_login_alert(self) -> None:
        # rule SEC-2: one mail per window
        window = self.policy.failed_login_window
        open_keys = [
            k
            for k, p in self.account.pending_alerts.items()
            if p.kind is AlertKind.FAILED_LOGIN and p.first_at + window > self.model.now
        ]
        assert len(open_keys) <= 1
        openings = self.model.openings
        for first, second in pairwise(openings):
            assert second - first >= window

    def teardown(self) -> None:
        # Only after complete steps: a failed rule may leave uncollected events.
        if self.events and not self.account.pending_events:
            assert replay(through_mapper(self.events)) == self.account


# Runs are cheap and most are short: three times the profile's examples, 50 steps each.
AccountMachine.TestCase.settings = settings(
    max_examples=3 * settings().max_examples, stateful_step_count=50
)
TestAccountMachine = AccountMachine.TestCase
