"""The TwoStep aggregate (MFA-1..MFA-5): what counts as a second factor, and how often.

Each refusal is checked to change nothing (no event, same version); every scenario is
rebuilt from its events through the real mapper and must equal the live aggregate.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import ids
from domain.errors import AlreadyExists, InvalidInput, NotFound, NotPermitted
from domain.phone import PhoneNumber
from domain.twostep import TwoStep
from domain.twostepfacts import (
    LAST_USE_RESOLUTION,
    ChallengeState,
    FactorKind,
    KeyPurpose,
    TwoStepPolicy,
    totp_step,
)
from tests.strategies import (
    SMS_POOL,
    SMS_REFUSED,
    replay,
    through_mapper,
    two_step_policies,
    utc_datetimes,
)
from tests.unit.eventsupport import fixed_ids

[ACCOUNT] = fixed_ids("a1")
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
POLICY = TwoStepPolicy()
MINUTE = timedelta(minutes=1)


def refused(
    two_step: TwoStep, error: type[Exception], command: Callable[[], object]
) -> str:
    """Run a command that must be refused; nothing may change. Returns the message."""
    version, pending = two_step.version, len(two_step.pending_events)
    with pytest.raises(error) as raised:
        command()
    assert two_step.version == version
    assert len(two_step.pending_events) == pending
    return str(raised.value)


def replays(two_step: TwoStep) -> None:
    """The aggregate rebuilt from its events, through the mapper, equals the live one."""
    rebuilt = replay(through_mapper(two_step.pending_events))
    assert isinstance(rebuilt, TwoStep)
    assert _state(rebuilt) == _state(two_step)


def _state(two_step: TwoStep) -> dict[str, object]:
    return {k: v for k, v in vars(two_step).items() if k != "_pending_events"}


def opened(at: datetime = NOW) -> TwoStep:
    return TwoStep.open(ACCOUNT, at=at)


def with_totp(at: datetime = NOW) -> tuple[TwoStep, UUID]:
    two_step = opened(at)
    factor = uuid4()
    two_step.start_enrolment(factor, "totp", "phone app", uuid4(), at=at)
    two_step.confirm(factor, totp_step(at), at=at)
    return two_step, factor


# -- opening and enrolment ---------------------------------------------------------------


def test_one_two_step_per_account_its_id_derived() -> None:
    two_step = opened()
    assert two_step.id == ids.two_step_id(ACCOUNT) == TwoStep.open(ACCOUNT, at=NOW).id
    assert two_step.id != ids.two_step_id(uuid4())
    assert two_step.account_id == ACCOUNT
    assert not two_step.enabled
    assert two_step.factors == ()
    assert two_step.app_passwords == ()
    replays(two_step)


def test_a_totp_factor_counts_once_confirmed_by_a_code() -> None:
    # rule MFA-1, MFA-3
    two_step = opened()
    factor, seed = uuid4(), uuid4()
    two_step.start_enrolment(factor, FactorKind.TOTP, "", seed, at=NOW)
    assert not two_step.enabled
    enrolled = two_step.factor(factor)
    assert (enrolled.kind, enrolled.label, enrolled.credential_id) == (
        FactorKind.TOTP,
        "Authenticator app",
        seed,
    )
    assert not enrolled.confirmed
    assert two_step.confirmed_factors == ()
    refused(two_step, InvalidInput, lambda: two_step.confirm(factor, at=NOW))
    step = totp_step(NOW)
    two_step.confirm(factor, step, at=NOW)
    assert two_step.enabled
    assert two_step.confirmed_factors == (two_step.factor(factor),)
    assert two_step.last_step(factor) == step
    # The confirming code is used: it does not log in afterwards.
    message = refused(
        two_step, NotPermitted, lambda: two_step.accept_totp(factor, step, at=NOW)
    )
    assert message == "this code was already used"
    refused(two_step, InvalidInput, lambda: two_step.confirm(factor, step + 1, at=NOW))
    replays(two_step)


def test_enrolment_refuses_bad_input_by_name() -> None:
    two_step = opened()
    factor = uuid4()
    message = refused(
        two_step,
        InvalidInput,
        lambda: two_step.start_enrolment(factor, "email", "", uuid4(), at=NOW),
    )
    assert "unknown two-step method 'email'" in message
    refused(
        two_step,
        InvalidInput,
        lambda: two_step.start_enrolment(factor, "totp", "a\nb", uuid4(), at=NOW),
    )
    refused(
        two_step,
        InvalidInput,
        lambda: two_step.start_enrolment(
            factor, "totp", "", uuid4(), SMS_POOL[0], at=NOW
        ),
    )
    refused(
        two_step,
        InvalidInput,
        lambda: two_step.start_enrolment(factor, "sms", "", uuid4(), at=NOW),
    )
    two_step.start_enrolment(factor, "push", "Pixel", uuid4(), at=NOW)
    refused(
        two_step,
        AlreadyExists,
        lambda: two_step.start_enrolment(factor, "totp", "", uuid4(), at=NOW),
    )
    refused(
        two_step,
        InvalidInput,
        lambda: two_step.confirm(factor, totp_step(NOW), at=NOW),
    )
    refused(two_step, NotFound, lambda: two_step.confirm(uuid4(), at=NOW))
    refused(
        two_step,
        InvalidInput,
        lambda: two_step.start_enrolment(
            uuid4(), "totp", "", uuid4(), at=NOW.replace(tzinfo=None)
        ),
    )


@pytest.mark.parametrize("number", SMS_REFUSED)
def test_an_sms_factor_outside_the_four_countries_is_refused(number: str) -> None:
    # rule MFA-1
    two_step = opened()
    message = refused(
        two_step,
        InvalidInput,
        lambda: two_step.start_enrolment(uuid4(), "sms", "", uuid4(), number, at=NOW),
    )
    assert "MFA-1" in message


def test_an_sms_factor_keeps_its_number_normalised_once() -> None:
    two_step = opened()
    factor = uuid4()
    phone = PhoneNumber.parse("+41", "078 123 45 67")
    two_step.start_enrolment(factor, "sms", "", uuid4(), phone, at=NOW)
    assert two_step.factor(factor).phone == "+41781234567"
    refused(
        two_step,
        AlreadyExists,
        lambda: two_step.start_enrolment(
            uuid4(), "sms", "", uuid4(), "+41 78 123 45 67", at=NOW
        ),
    )
    replays(two_step)


def test_remove_and_disable() -> None:
    two_step, totp = with_totp()
    key = uuid4()
    two_step.start_enrolment(key, "security_key", "YubiKey", uuid4(), at=NOW)
    two_step.confirm(key, at=NOW)
    two_step.issue_backup_codes(uuid4(), (uuid4(), uuid4()), at=NOW)
    app = uuid4()
    two_step.create_app_password(app, "Thunderbird", uuid4(), at=NOW)
    two_step.remove(totp, at=NOW)
    assert [f.factor_id for f in two_step.factors] == [key]
    assert two_step.enabled
    refused(two_step, NotFound, lambda: two_step.remove(totp, at=NOW))
    disabled = two_step.disable(at=NOW)
    assert (disabled.factor_ids, disabled.app_ids) == ((key,), (app,))
    assert not two_step.enabled
    assert two_step.factors == ()
    assert two_step.app_passwords == ()
    assert two_step.backup_remaining == 0
    assert two_step.backup_set is None
    message = refused(two_step, InvalidInput, lambda: two_step.disable(at=NOW))
    assert "not set up" in message
    # The replay protection outlives the factor (MFA-3).
    assert two_step.last_step(totp) == totp_step(NOW)
    replays(two_step)


# -- TOTP: each time step at most once (MFA-3) ---------------------------------------------


@given(
    start=utc_datetimes(),
    submissions=st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 90), st.integers(-1, 1)),
        max_size=40,
    ),
)
def test_any_interleaving_of_totp_submissions_accepts_each_step_at_most_once(
    start: datetime, submissions: list[tuple[int, int, int]]
) -> None:
    # rule MFA-3: two factors, codes of the current step or one step of drift
    two_step = opened(start)
    factors = [uuid4(), uuid4()]
    for factor in factors:
        two_step.start_enrolment(factor, "totp", "", uuid4(), at=start)
        two_step.confirm(factor, totp_step(start) - 5, at=start)
    accepted: dict[UUID, list[int]] = {f: [] for f in factors}
    at = start
    for which, gap, drift in submissions:
        at += timedelta(seconds=gap)
        factor, step = factors[which], totp_step(at) + drift
        last = two_step.last_step(factor)
        assert last is not None
        if step <= last:
            refused(
                two_step,
                NotPermitted,
                lambda: two_step.accept_totp(factor, step, at=at),  # noqa: B023 - called at once
            )
        else:
            two_step.accept_totp(factor, step, at=at)
            accepted[factor].append(step)
        assert two_step.last_step(factor) == max([last, step])
    for steps in accepted.values():
        assert len(steps) == len(set(steps))
        assert steps == sorted(steps)
    replays(two_step)


def test_two_processes_accepting_one_code_one_wins_and_the_retry_is_refused() -> None:
    # rule MFA-3: both load the same version; the store keeps the first save, the
    # second conflicts, reloads (the winner's event) and is refused.
    two_step, factor = with_totp()
    saved = list(two_step.collect_events())
    first = replay(through_mapper(saved))
    second = replay(through_mapper(saved))
    assert isinstance(first, TwoStep)
    assert isinstance(second, TwoStep)
    step = totp_step(NOW + MINUTE)
    won = first.accept_totp(factor, step, at=NOW + MINUTE)
    lost = second.accept_totp(factor, step, at=NOW + MINUTE)
    assert won.originator_version == lost.originator_version  # the save conflict
    reloaded = replay(through_mapper([*saved, won]))
    assert isinstance(reloaded, TwoStep)
    refused(
        reloaded,
        NotPermitted,
        lambda: reloaded.accept_totp(factor, step, at=NOW + MINUTE),
    )


def test_a_totp_code_needs_a_confirmed_totp_factor_and_a_whole_step() -> None:
    two_step, factor = with_totp()
    pending = uuid4()
    two_step.start_enrolment(pending, "totp", "", uuid4(), at=NOW)
    step = totp_step(NOW) + 1
    refused(two_step, NotPermitted, lambda: two_step.accept_totp(pending, step, at=NOW))
    refused(two_step, NotFound, lambda: two_step.accept_totp(uuid4(), step, at=NOW))
    refused(two_step, InvalidInput, lambda: two_step.accept_totp(factor, -1, at=NOW))
    refused(
        two_step,
        InvalidInput,
        lambda: two_step.accept_totp(factor, True, at=NOW),  # noqa: FBT003 - a bool is no step
    )


# -- backup codes (MFA-2) ----------------------------------------------------------------


@given(uses=st.lists(st.integers(0, 9), max_size=30), reissue_at=st.integers(0, 30))
def test_a_backup_code_works_once_and_a_new_set_voids_the_old(
    uses: list[int], reissue_at: int
) -> None:
    # rule MFA-2
    two_step, _ = with_totp()
    first, second = uuid4(), uuid4()
    codes = tuple(uuid4() for _ in range(10))
    two_step.issue_backup_codes(first, codes, at=NOW)
    used: set[int] = set()
    for n, index in enumerate(uses):
        if n == reissue_at:
            two_step.issue_backup_codes(second, codes, at=NOW)
            used = set()
        if index in used:
            message = refused(
                two_step,
                NotPermitted,
                lambda: two_step.use_backup_code(index, at=NOW),  # noqa: B023 - called at once
            )
            assert message == "this backup code was already used"
        else:
            event = two_step.use_backup_code(index, at=NOW)
            assert event.set_id == (second if n >= reissue_at else first)
            used.add(index)
        assert two_step.backup_remaining == 10 - len(used)
        assert {i for i, _ in two_step.unused_backup_codes} == set(range(10)) - used
    replays(two_step)


def test_backup_codes_refuse_bad_sets_and_indexes() -> None:
    two_step = opened()
    refused(two_step, NotFound, lambda: two_step.use_backup_code(0, at=NOW))
    refused(
        two_step, InvalidInput, lambda: two_step.issue_backup_codes(uuid4(), (), at=NOW)
    )
    same = uuid4()
    refused(
        two_step,
        InvalidInput,
        lambda: two_step.issue_backup_codes(uuid4(), (same, same), at=NOW),
    )
    set_id = uuid4()
    two_step.issue_backup_codes(set_id, (uuid4(),), at=NOW)
    refused(
        two_step,
        AlreadyExists,
        lambda: two_step.issue_backup_codes(set_id, (uuid4(),), at=NOW),
    )
    refused(two_step, InvalidInput, lambda: two_step.use_backup_code(1, at=NOW))
    refused(two_step, InvalidInput, lambda: two_step.use_backup_code(-1, at=NOW))


# -- the lock (brute force) ----------------------------------------------------------------


@given(
    policy=two_step_policies(),
    attempts=st.lists(
        st.tuples(st.booleans(), st.integers(0, 600)), min_size=1, max_size=60
    ),
)
def test_never_more_than_max_failures_in_a_row_and_one_notice_per_lock(
    policy: TwoStepPolicy, attempts: list[tuple[bool, int]]
) -> None:
    two_step, factor = with_totp()
    at, streak, locks, notices = NOW, 0, 0, 0
    for wrong, gap in attempts:
        at += timedelta(seconds=gap)
        if two_step.is_locked(at):
            # Nothing is checked or recorded while locked: no failure, no success.
            refused(two_step, NotPermitted, lambda: two_step.fail(at, policy))  # noqa: B023 - called at once
            step = totp_step(at) + 1
            refused(
                two_step,
                NotPermitted,
                lambda: two_step.accept_totp(factor, step, at=at),  # noqa: B023 - called at once
            )
            continue
        if wrong:
            failed = two_step.fail(at, policy)
            streak += 1
            assert failed.failures == streak <= policy.max_failures
            notices += failed.notify
            if failed.locked_until is not None:
                assert streak == policy.max_failures
                assert failed.locked_until == at + policy.lock
                assert two_step.is_locked(at)
                locks, streak = locks + 1, 0
            else:
                assert not failed.notify
        else:
            step = totp_step(at) + 1
            if step > (two_step.last_step(factor) or 0):
                two_step.accept_totp(factor, step, at=at)
                streak = 0
        assert two_step.failures == streak
    assert notices == locks
    replays(two_step)


def test_the_lock_ends_after_its_time_and_counts_again_from_nought() -> None:
    policy = TwoStepPolicy(max_failures=2, lock=timedelta(minutes=10))
    two_step, factor = with_totp()
    two_step.issue_backup_codes(uuid4(), (uuid4(),), at=NOW)
    two_step.fail(NOW, policy)
    locking = two_step.fail(NOW, policy)
    assert locking.notify
    assert locking.locked_until == NOW + timedelta(minutes=10)
    message = refused(
        two_step, NotPermitted, lambda: two_step.use_backup_code(0, at=NOW)
    )
    assert "locked after too many wrong codes" in message
    later = NOW + timedelta(minutes=10)
    assert not two_step.is_locked(later)
    assert two_step.fail(later, policy).failures == 1
    two_step.accept_totp(factor, totp_step(later), at=later)
    assert two_step.failures == 0


# -- push approval (ASVS 6.6.4) ------------------------------------------------------------


def with_push() -> TwoStep:
    two_step = opened()
    device = uuid4()
    two_step.start_enrolment(device, "push", "Pixel", uuid4(), at=NOW)
    return two_step


def test_a_push_is_approved_once_with_the_number_shown() -> None:
    two_step = with_push()
    challenge = uuid4()
    two_step.issue_push(challenge, 42, NOW + POLICY.push_expiry, POLICY, at=NOW)
    assert two_step.pending_push(challenge).state is ChallengeState.PENDING
    assert two_step.pending_push(challenge).number == 42
    approved = two_step.answer_push(challenge, True, 42, at=NOW + MINUTE / 2)  # noqa: FBT003 - the device's yes
    assert isinstance(approved, TwoStep.PushApproved)
    assert two_step.pending_push(challenge).state is ChallengeState.APPROVED
    message = refused(
        two_step,
        NotPermitted,
        lambda: two_step.answer_push(challenge, True, 42, at=NOW),  # noqa: FBT003 - the answer's approved flag
    )
    assert "approved already" in message
    replays(two_step)


def test_a_yes_with_the_wrong_number_denies_and_counts_as_a_failure() -> None:
    two_step = with_push()
    challenge = uuid4()
    two_step.issue_push(challenge, 42, NOW + MINUTE, at=NOW)
    policy = TwoStepPolicy(max_failures=1)
    denied = two_step.answer_push(challenge, True, 24, at=NOW, policy=policy)  # noqa: FBT003 - the answer's approved flag
    assert isinstance(denied, TwoStep.PushDenied)
    assert denied.wrong_number
    failed = two_step.pending_events[-1]
    assert isinstance(failed, TwoStep.SecondFactorFailed)
    assert failed.notify
    assert two_step.is_locked(NOW)
    assert two_step.pending_push(challenge).state is ChallengeState.DENIED
    replays(two_step)


def test_a_push_denied_expired_or_unknown() -> None:
    two_step = with_push()
    challenge, late = uuid4(), uuid4()
    two_step.issue_push(challenge, 10, NOW + MINUTE, at=NOW)
    denied = two_step.answer_push(challenge, False, 0, at=NOW)  # noqa: FBT003 - the device's no
    assert isinstance(denied, TwoStep.PushDenied)
    assert not denied.wrong_number
    assert two_step.failures == 0
    two_step.issue_push(late, 99, NOW + MINUTE, at=NOW)
    message = refused(
        two_step,
        NotPermitted,
        lambda: two_step.answer_push(late, True, 99, at=NOW + MINUTE),  # noqa: FBT003 - the answer's approved flag
    )
    assert "expired" in message
    refused(two_step, NotFound, lambda: two_step.pending_push(uuid4()))
    refused(
        two_step,
        NotFound,
        lambda: two_step.answer_push(uuid4(), True, 10, at=NOW),  # noqa: FBT003 - the answer's approved flag
    )


def test_pushes_are_rate_limited_and_checked() -> None:
    # ASVS 6.6.4: push-bombing
    two_step = with_push()
    policy = TwoStepPolicy(push_per_window=2, push_window=timedelta(minutes=10))
    for n in range(2):
        at = NOW + n * MINUTE
        two_step.issue_push(uuid4(), 50, at + MINUTE, policy, at=at)
    at = NOW + 2 * MINUTE
    message = refused(
        two_step,
        NotPermitted,
        lambda: two_step.issue_push(uuid4(), 50, at + MINUTE, policy, at=at),
    )
    assert "too many push requests" in message
    later = NOW + timedelta(minutes=10)
    two_step.issue_push(uuid4(), 50, later + MINUTE, policy, at=later)
    for number in (9, 100):
        refused(
            two_step,
            InvalidInput,
            lambda: two_step.issue_push(uuid4(), number, NOW + MINUTE, at=NOW),  # noqa: B023 - run at once
        )
    refused(
        two_step,
        InvalidInput,
        lambda: two_step.issue_push(uuid4(), 50, NOW + 2 * MINUTE, at=NOW),
    )
    refused(
        opened(),
        InvalidInput,
        lambda: opened().issue_push(uuid4(), 50, NOW + MINUTE, at=NOW),
    )


# -- SMS codes -----------------------------------------------------------------------------


def test_an_sms_code_is_single_use_expiring_and_rate_limited() -> None:
    two_step = opened()
    refused(
        two_step,
        InvalidInput,
        lambda: two_step.issue_sms_code(uuid4(), uuid4(), NOW + MINUTE, at=NOW),
    )
    two_step.start_enrolment(uuid4(), "sms", "", uuid4(), SMS_POOL[1], at=NOW)
    code, old, digest = uuid4(), uuid4(), uuid4()
    two_step.issue_sms_code(old, uuid4(), NOW + MINUTE, at=NOW)
    two_step.issue_sms_code(code, digest, NOW + 5 * MINUTE, at=NOW)
    assert two_step.challenge(code).credential_id == digest
    two_step.use_sms_code(code, at=NOW + MINUTE)
    refused(two_step, NotPermitted, lambda: two_step.use_sms_code(code, at=NOW))
    refused(two_step, NotPermitted, lambda: two_step.use_sms_code(old, at=NOW + MINUTE))
    refused(
        two_step,
        AlreadyExists,
        lambda: two_step.issue_sms_code(code, uuid4(), NOW + MINUTE, at=NOW),
    )
    two_step.issue_sms_code(uuid4(), uuid4(), NOW + MINUTE, at=NOW)
    message = refused(
        two_step,
        NotPermitted,
        lambda: two_step.issue_sms_code(uuid4(), uuid4(), NOW + MINUTE, at=NOW),
    )
    assert "too many SMS codes" in message
    replays(two_step)


# -- security keys -----------------------------------------------------------------------


def test_key_challenges_are_single_use_and_a_clone_is_recorded() -> None:
    two_step = opened()
    key, register, login = uuid4(), uuid4(), uuid4()
    refused(
        two_step,
        InvalidInput,
        lambda: two_step.issue_key_challenge(
            login, "authenticate", NOW + MINUTE, at=NOW
        ),
    )
    refused(
        two_step,
        InvalidInput,
        lambda: two_step.issue_key_challenge(login, "sign", NOW + MINUTE, at=NOW),
    )
    two_step.issue_key_challenge(register, "register", NOW + MINUTE, at=NOW)
    two_step.use_key_challenge(register, at=NOW)
    two_step.start_enrolment(key, "security_key", "YubiKey 5", uuid4(), at=NOW)
    two_step.confirm(key, at=NOW)
    issued = two_step.issue_key_challenge(
        login, KeyPurpose.AUTHENTICATE, NOW + MINUTE, at=NOW
    )
    assert issued.purpose is KeyPurpose.AUTHENTICATE
    two_step.fail(NOW, POLICY)
    two_step.use_key_challenge(login, at=NOW)
    assert two_step.failures == 0
    for used in (register, login):
        refused(
            two_step,
            NotPermitted,
            lambda: two_step.use_key_challenge(used, at=NOW),  # noqa: B023 - called at once
        )
    two_step.record_clone_suspected(key, at=NOW)
    refused(
        two_step, NotFound, lambda: two_step.record_clone_suspected(uuid4(), at=NOW)
    )
    replays(two_step)


# -- application passwords (MFA-4, SEC-4) ---------------------------------------------------


def test_app_passwords_created_listed_used_and_revoked() -> None:
    two_step, _ = with_totp()
    mail, cal = uuid4(), uuid4()
    two_step.create_app_password(mail, "Thunderbird", uuid4(), at=NOW)
    two_step.create_app_password(cal, "DAVx5", uuid4(), at=NOW)
    refused(
        two_step,
        AlreadyExists,
        lambda: two_step.create_app_password(uuid4(), "thunderbird", uuid4(), at=NOW),
    )
    refused(
        two_step,
        InvalidInput,
        lambda: two_step.create_app_password(uuid4(), "  ", uuid4(), at=NOW),
    )
    assert [p.name for p in two_step.app_passwords] == ["Thunderbird", "DAVx5"]
    assert two_step.record_app_password_use(mail, "IMAP", at=NOW) is not None
    # The same protocol within the hour records nothing; another protocol does.
    assert two_step.record_app_password_use(mail, "imap", at=NOW + MINUTE) is None
    assert two_step.record_app_password_use(mail, "smtp", at=NOW + MINUTE) is not None
    later = NOW + MINUTE + LAST_USE_RESOLUTION
    assert two_step.record_app_password_use(mail, "smtp", at=later) is not None
    used = two_step.app_password(mail)
    assert (used.last_used_at, used.last_protocol) == (later, "smtp")
    two_step.revoke_app_password(cal, at=NOW)
    refused(two_step, NotFound, lambda: two_step.revoke_app_password(cal, at=NOW))
    revoked = two_step.revoke_all_app_passwords("account password changed", at=NOW)
    assert revoked is not None
    assert revoked.app_ids == (mail,)
    assert two_step.app_passwords == ()
    assert two_step.revoke_all_app_passwords("account password changed", at=NOW) is None
    replays(two_step)
