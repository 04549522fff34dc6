"""One TwoStep driven by random commands, checked against a small model.

The model knows what the rules say (MFA-2 a backup code once, MFA-3 a TOTP step once,
the lock after ``max_failures`` in a row with one notice, MFA-4 app passwords revoked on
a password change, single-use expiring challenges, the push and SMS rate limits), not
how the aggregate stores it. After every step the aggregate must agree with it, and the
aggregate rebuilt from its stored events (through the real mapper) must equal it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

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

from domain.errors import AlreadyExists, InvalidInput, NotFound, NotPermitted
from domain.twostep import TwoStep
from domain.twostepfacts import (
    CHALLENGE_MEMORY,
    MAX_FACTORS,
    ChallengeState,
    FactorKind,
    TwoStepPolicy,
    totp_step,
)
from tests.strategies import (
    SMS_POOL,
    replay,
    through_mapper,
    two_step_policies,
    utc_datetimes,
)

ACCOUNT = UUID("00000000-0000-4000-8000-0000000000a2")
APP_NAMES = ("Thunderbird", "thunderbird", "DAVx5", "K-9")
KINDS = (FactorKind.TOTP, FactorKind.PUSH, FactorKind.SECURITY_KEY, FactorKind.SMS)


@dataclass
class Pending:
    """The model's own record of a challenge: what it expects, not the aggregate's."""

    kind: str
    issued_at: datetime
    expires_at: datetime
    number: int | None = None
    purpose: str | None = None
    state: ChallengeState = ChallengeState.PENDING


@dataclass
class Model:
    now: datetime
    factors: dict[UUID, tuple[FactorKind, bool, str | None]] = field(
        default_factory=dict
    )
    steps: dict[UUID, int] = field(default_factory=dict)
    backup: tuple[UUID, int] | None = None
    used: set[int] = field(default_factory=set)
    failures: int = 0
    locked_until: datetime | None = None
    apps: dict[UUID, str] = field(default_factory=dict)
    challenges: dict[UUID, Pending] = field(default_factory=dict)
    # The run of failures since the last success or lock, and the notices counted.
    streaks: list[int] = field(default_factory=lambda: [0])
    locks: int = 0
    notices: int = 0

    def locked(self) -> bool:
        return self.locked_until is not None and self.now < self.locked_until

    def has(self, kind: FactorKind, *, confirmed: bool = False) -> bool:
        return any(
            k is kind and (c or not confirmed) for k, c, _ in self.factors.values()
        )

    def issued(self, kind: str, window: timedelta) -> int:
        since = self.now - window
        return sum(
            1
            for c in self.challenges.values()
            if c.kind == kind and c.issued_at > since
        )

    def succeed(self) -> None:
        self.failures = 0
        self.streaks.append(0)

    def fail(self, policy: TwoStepPolicy) -> None:
        """One failure counted; the last allowed one locks (MFA-3) and starts over."""
        self.failures += 1
        self.streaks[-1] += 1
        if self.failures >= policy.max_failures:
            self.locked_until = self.now + policy.lock
            self.failures = 0
            self.locks += 1
            self.streaks.append(0)

    def remember(self, challenge_id: UUID, pending: Pending) -> None:
        """A challenge issued: the aggregate keeps a day of them (and more than the
        few a run issues per kind)."""
        since = self.now - CHALLENGE_MEMORY
        kept = {i: c for i, c in self.challenges.items() if c.issued_at > since}
        self.challenges = {**kept, challenge_id: pending}

    def open(self, challenge_id: UUID, kind: str) -> type[Exception] | None:
        c = self.challenges.get(challenge_id)
        if c is None or c.kind != kind:
            return NotFound
        if c.state is not ChallengeState.PENDING or self.now >= c.expires_at:
            return NotPermitted
        return None


class TwoStepMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.two_step: TwoStep
        self.policy: TwoStepPolicy
        self.model: Model
        self.events: list[Any] = []
        self.replayed: TwoStep | None = None

    # -- plumbing ------------------------------------------------------------------

    def collect(self) -> None:
        new = list(self.two_step.collect_events())
        for event in new:
            if isinstance(event, TwoStep.SecondFactorFailed):
                self.model.notices += event.notify
        self.replayed = replay(through_mapper(new), self.replayed)
        self.events.extend(new)

    def attempt(
        self, expected: type[Exception] | None, command: Callable[[], object]
    ) -> bool:
        """Run the command; refused with ``expected`` (changing nothing) or done."""
        if expected is None:
            command()
            self.collect()
            return True
        version = self.two_step.version
        with pytest.raises(expected):
            command()
        assert self.two_step.version == version
        assert self.two_step.pending_events == []
        return False

    def pick(self, data: st.DataObject, ids: list[UUID]) -> UUID:
        """One of ``ids``, or an id nobody issued."""
        return data.draw(st.sampled_from([*ids, UUID(int=7)]))

    @property
    def m(self) -> Model:
        return self.model

    # -- rules ---------------------------------------------------------------------

    @initialize(policy=two_step_policies(), start=utc_datetimes())
    def open(self, policy: TwoStepPolicy, start: datetime) -> None:
        self.policy = policy
        self.model = Model(now=start)
        self.two_step = TwoStep.open(ACCOUNT, at=start)
        self.collect()

    @rule(seconds=st.one_of(st.integers(0, 40), st.integers(0, 3600)))
    def advance_time(self, seconds: int) -> None:
        self.m.now += timedelta(seconds=seconds)

    @rule(kind=st.sampled_from(KINDS), phone=st.sampled_from(SMS_POOL[:2]))
    def enrol(self, kind: FactorKind, phone: str) -> None:
        factor = uuid4()
        number = phone if kind is FactorKind.SMS else None
        taken = number is not None and any(
            p == number for _, _, p in self.m.factors.values()
        )
        full = len(self.m.factors) >= MAX_FACTORS
        done = self.attempt(
            NotPermitted if full else AlreadyExists if taken else None,
            lambda: self.two_step.start_enrolment(
                factor, kind, "", uuid4(), number, at=self.m.now
            ),
        )
        if done:
            self.m.factors[factor] = (kind, False, number)

    @precondition(lambda self: bool(self.model.factors))
    @rule(data=st.data(), drift=st.integers(-1, 1))
    def confirm(self, data: st.DataObject, drift: int) -> None:
        factor = self.pick(data, list(self.m.factors))
        known = self.m.factors.get(factor)
        step = totp_step(self.m.now) + drift
        totp = known is not None and known[0] is FactorKind.TOTP
        expected: type[Exception] | None = None
        if known is None:
            expected = NotFound
        elif known[1]:
            expected = InvalidInput
        elif self.m.locked() or (totp and step <= self.m.steps.get(factor, -1)):
            expected = NotPermitted
        done = self.attempt(
            expected,
            lambda: self.two_step.confirm(
                factor, step if totp else None, at=self.m.now
            ),
        )
        if done and known is not None:
            self.m.factors[factor] = (known[0], True, known[2])
            if totp:
                self.m.steps[factor] = step
            self.m.succeed()

    @precondition(lambda self: bool(self.model.factors))
    @rule(data=st.data(), drift=st.integers(-1, 1))
    def accept_totp(self, data: st.DataObject, drift: int) -> None:
        # rule MFA-3
        factor = self.pick(data, list(self.m.factors))
        known = self.m.factors.get(factor)
        step = totp_step(self.m.now) + drift
        expected: type[Exception] | None = None
        if known is None:
            expected = NotFound
        elif (
            known[0] is not FactorKind.TOTP
            or not known[1]
            or self.m.locked()
            or step <= self.m.steps.get(factor, -1)
        ):
            expected = NotPermitted
        if self.attempt(
            expected, lambda: self.two_step.accept_totp(factor, step, at=self.m.now)
        ):
            self.m.steps[factor] = step
            self.m.succeed()

    @precondition(lambda self: bool(self.model.steps))
    @rule(data=st.data(), back=st.integers(0, 2))
    def replay_a_code(self, data: st.DataObject, back: int) -> None:
        # rule MFA-3: an observed code (its step, or an older one) submitted again
        factor = data.draw(st.sampled_from(sorted(self.m.steps)))
        step = self.m.steps[factor] - back
        known = self.m.factors.get(factor)
        expected = NotFound if known is None else NotPermitted
        self.attempt(
            expected, lambda: self.two_step.accept_totp(factor, step, at=self.m.now)
        )

    @precondition(lambda self: bool(self.model.factors))
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        factor = self.pick(data, list(self.m.factors))
        gone = factor not in self.m.factors
        if self.attempt(
            NotFound if gone else None,
            lambda: self.two_step.remove(factor, at=self.m.now),
        ):
            del self.m.factors[factor]

    @rule(n=st.integers(1, 5))
    def issue_backup_codes(self, n: int) -> None:
        set_id = uuid4()
        self.two_step.issue_backup_codes(
            set_id, tuple(uuid4() for _ in range(n)), at=self.m.now
        )
        self.collect()
        self.m.backup, self.m.used = (set_id, n), set()

    @rule(index=st.integers(0, 5))
    def use_backup_code(self, index: int) -> None:
        # rule MFA-2
        backup = self.m.backup
        expected: type[Exception] | None = None
        if backup is None:
            expected = NotFound
        elif index >= backup[1]:
            expected = InvalidInput
        elif index in self.m.used or self.m.locked():
            expected = NotPermitted
        if self.attempt(
            expected, lambda: self.two_step.use_backup_code(index, at=self.m.now)
        ):
            self.m.used.add(index)
            self.m.succeed()

    @rule(times=st.integers(1, 8))
    def fail(self, times: int) -> None:
        for _ in range(times):
            if not self.attempt(
                NotPermitted if self.m.locked() else None,
                lambda: self.two_step.fail(self.m.now, self.policy),
            ):
                return
            self.m.fail(self.policy)

    @rule(name=st.sampled_from(APP_NAMES))
    def create_app_password(self, name: str) -> None:
        # rule MFA-4
        app = uuid4()
        taken = any(n.casefold() == name.casefold() for n in self.m.apps.values())
        if self.attempt(
            AlreadyExists if taken else None,
            lambda: self.two_step.create_app_password(
                app, name, uuid4(), at=self.m.now
            ),
        ):
            self.m.apps[app] = name

    @precondition(lambda self: bool(self.model.apps))
    @rule(data=st.data())
    def revoke_app_password(self, data: st.DataObject) -> None:
        app = self.pick(data, list(self.m.apps))
        if self.attempt(
            None if app in self.m.apps else NotFound,
            lambda: self.two_step.revoke_app_password(app, at=self.m.now),
        ):
            del self.m.apps[app]

    @rule()
    def password_changed(self) -> None:
        # rule SEC-4: every app password goes with the old account password
        revoked = self.two_step.revoke_all_app_passwords(
            "password changed", at=self.m.now
        )
        assert (revoked is None) is (not self.m.apps)
        if revoked is not None:
            assert set(revoked.app_ids) == set(self.m.apps)
        self.collect()
        self.m.apps = {}

    @rule()
    def disable(self) -> None:
        nothing = not (self.m.factors or self.m.backup or self.m.apps)
        if self.attempt(
            InvalidInput if nothing else None,
            lambda: self.two_step.disable(at=self.m.now),
        ):
            self.m.factors, self.m.apps, self.m.challenges = {}, {}, {}
            self.m.backup, self.m.used = None, set()

    # -- challenges ----------------------------------------------------------------

    def issue(self, kind: str, command: Callable[[UUID], object]) -> None:
        challenge_id = uuid4()
        if kind == "push":
            factor, window, most = (
                FactorKind.PUSH,
                self.policy.push_window,
                self.policy.push_per_window,
            )
        else:
            factor, window, most = (
                FactorKind.SMS,
                self.policy.sms_window,
                self.policy.sms_per_window,
            )
        expected: type[Exception] | None = None
        if not self.m.has(factor):
            expected = InvalidInput
        elif self.m.locked() or self.m.issued(kind, window) >= most:
            expected = NotPermitted
        self.attempt(expected, lambda: command(challenge_id))

    @rule(number=st.integers(10, 99))
    def issue_push(self, number: int) -> None:
        expires = self.m.now + self.policy.push_expiry

        def command(challenge_id: UUID) -> None:
            self.two_step.issue_push(
                challenge_id, number, expires, self.policy, at=self.m.now
            )
            self.m.remember(
                challenge_id, Pending("push", self.m.now, expires, number=number)
            )

        self.issue("push", command)

    @rule()
    def issue_sms_code(self) -> None:
        expires = self.m.now + self.policy.sms_expiry

        def command(challenge_id: UUID) -> None:
            self.two_step.issue_sms_code(
                challenge_id, uuid4(), expires, self.policy, at=self.m.now
            )
            self.m.remember(challenge_id, Pending("sms", self.m.now, expires))

        self.issue("sms", command)

    @rule(purpose=st.sampled_from(("register", "authenticate")))
    def issue_key_challenge(self, purpose: str) -> None:
        challenge_id = uuid4()
        expires = self.m.now + self.policy.challenge_expiry
        expected: type[Exception] | None = None
        if purpose == "authenticate":
            if not self.m.has(FactorKind.SECURITY_KEY, confirmed=True):
                expected = InvalidInput
            elif self.m.locked():
                expected = NotPermitted
        if self.attempt(
            expected,
            lambda: self.two_step.issue_key_challenge(
                challenge_id, purpose, expires, at=self.m.now
            ),
        ):
            self.m.remember(
                challenge_id, Pending("key", self.m.now, expires, purpose=purpose)
            )

    def ids_of(self, kind: str) -> list[UUID]:
        return [i for i, c in self.m.challenges.items() if c.kind == kind]

    @rule(data=st.data(), approved=st.booleans(), right=st.booleans())
    def answer_push(self, data: st.DataObject, approved: bool, right: bool) -> None:
        challenge_id = self.pick(data, self.ids_of("push"))
        expected = self.m.open(challenge_id, "push")
        if expected is None and approved and self.m.locked():
            expected = NotPermitted
        number = self.m.challenges[challenge_id].number if expected is None else 10
        shown = number if right or number is None else (number % 89) + 10
        if not self.attempt(
            expected,
            lambda: self.two_step.answer_push(
                challenge_id, approved, shown or 10, at=self.m.now, policy=self.policy
            ),
        ):
            return
        pending = self.m.challenges[challenge_id]
        if approved and shown == pending.number:
            pending.state = ChallengeState.APPROVED
            self.m.succeed()
            return
        pending.state = ChallengeState.DENIED
        if approved:
            # A wrong number is a failure (the events were collected already).
            self.m.fail(self.policy)

    @rule(data=st.data(), kind=st.sampled_from(("sms", "key")))
    def use_challenge(self, data: st.DataObject, kind: str) -> None:
        challenge_id = self.pick(data, self.ids_of(kind))
        expected = self.m.open(challenge_id, kind)
        authenticating = kind == "sms" or (
            expected is None
            and self.m.challenges[challenge_id].purpose == "authenticate"
        )
        if expected is None and authenticating and self.m.locked():
            expected = NotPermitted
        use = (
            self.two_step.use_sms_code
            if kind == "sms"
            else self.two_step.use_key_challenge
        )
        if self.attempt(expected, lambda: use(challenge_id, at=self.m.now)):
            self.m.challenges[challenge_id].state = ChallengeState.USED
            if authenticating:
                self.m.succeed()

    # -- invariants ----------------------------------------------------------------

    @invariant()
    def replay_equals_live(self) -> None:
        assert self.two_step.pending_events == []
        assert self.replayed == self.two_step

    @invariant()
    def two_step_matches_the_model(self) -> None:
        t, m = self.two_step, self.model
        assert {f.factor_id: (f.kind, f.confirmed, f.phone) for f in t.factors} == (
            m.factors
        )
        assert t.enabled is any(c for _, c, _ in m.factors.values())
        assert dict(t.steps) == m.steps
        assert t.backup_remaining == (
            0 if m.backup is None else m.backup[1] - len(m.used)
        )
        assert t.failures == m.failures
        assert t.is_locked(m.now) is m.locked()
        assert {p.app_id: p.name for p in t.app_passwords} == m.apps
        for challenge_id, pending in m.challenges.items():
            if challenge_id in t.challenges:
                assert t.challenge(challenge_id).state is pending.state

    @invariant()
    def the_lock_bound_holds(self) -> None:
        # Never more than max_failures wrong codes in a row before the lock, and one
        # notice per lock.
        assert all(s <= self.policy.max_failures for s in self.model.streaks)
        assert self.model.notices == self.model.locks

    def teardown(self) -> None:
        if self.events and not self.two_step.pending_events:
            assert replay(through_mapper(self.events)) == self.two_step


TwoStepMachine.TestCase.settings = settings(
    max_examples=2 * settings().max_examples, stateful_step_count=50
)
TestTwoStepMachine = TwoStepMachine.TestCase
