"""Push approval end to end (MFA-1, ASVS 6.6.4): number matching, expiry, push-bombing.

The sign-in page shows a number; the push the job writes to the outbox names the
challenge but not the number, so approving needs the user to type on the device the
number the page shows. A yes with another number is a guess: refused and counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from application.accounts import Outcome
from application.challenges import WrongPushNumber
from application.ports import OwnedSecrets
from application.secondfactor import SecondFactorRefused
from application.twostep import Reauth
from domain.errors import InvalidInput, NotPermitted
from infrastructure.bootstrap import Engine
from tests.integration.support import LOGIN, PASSWORD, ManualClock, engine, event_count
from tests.integration.test_twostep import code_at, enrolled, twostep

IP = "192.0.2.10"
DEVICE = "Ann's phone"


def log_size(opened: Engine) -> int:
    """How many events the log holds."""
    return len(opened.host.log.recorder.select_notifications(start=1, limit=10**6))


@contextmanager
def unrecorded(opened: Engine) -> Iterator[None]:
    """What runs inside records nothing: a refusal leaves the log as it was."""
    before = log_size(opened)
    yield
    assert log_size(opened) == before


def pushes(home: Path) -> list[dict[str, Any]]:
    path = home / "outbox" / "push.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def with_push(e: Engine, clock: ManualClock) -> str:
    """Ann with TOTP and a confirmed push device; the push window is empty again."""
    seed, _ = enrolled(e, clock)
    two = twostep(e)
    enrolment = two.enrol(
        LOGIN,
        "push",
        Reauth(password=PASSWORD, code=code_at(seed, clock)),
        label=DEVICE,
    )
    # The enrolment sent the push that proves the new device, and shows its number.
    assert enrolment.challenge_id is not None
    assert enrolment.number is not None
    two.answer_push(
        LOGIN, enrolment.challenge_id, approved=True, number=enrolment.number
    )
    two.confirm(LOGIN, enrolment.factor_id, push=enrolment.challenge_id)
    assert "push" in {f.kind.value for f in two.status(LOGIN).factors if f.confirmed}
    clock.advance(two.second.adapters.policy.push_window + timedelta(seconds=1))
    return seed


def unconfirmed_rows(e: Engine) -> list[tuple[UUID, UUID]]:
    """The credential rows no sweep has confirmed yet (every row written lately)."""
    store = e.host.accounts.credentials
    assert isinstance(store, OwnedSecrets)
    return list(store.unconfirmed_secrets(datetime(9999, 1, 1, tzinfo=UTC)))


def pending_push(e: Engine) -> tuple[str, UUID, int]:
    """A sign-in waiting for the push: its token, the challenge, the number shown."""
    pending = e.host.accounts.login(LOGIN, PASSWORD, ip=IP)
    assert pending.outcome is Outcome.SECOND_FACTOR_REQUIRED
    assert "push" in pending.methods
    number = twostep(e).start_push(pending.pending_token)
    challenge_id = twostep(e).push_challenge(pending.pending_token)
    assert challenge_id is not None
    return pending.pending_token, challenge_id, number


@contextmanager
def pushing(home: Path) -> Iterator[tuple[Engine, ManualClock]]:
    """An engine on a clock the test moves, Ann with a confirmed push device."""
    clock = ManualClock()
    with engine(home, background=False, clock=clock) as e:
        with_push(e, clock)
        yield e, clock


def spend_window(e: Engine, allowed: int, start: Callable[[Engine], object]) -> str:
    """The window's ``allowed`` challenges used up; a new sign-in's pending token."""
    for _ in range(allowed):
        start(e)
    return e.host.accounts.login(LOGIN, PASSWORD, ip=IP).pending_token


def enrolment_leaves_nothing(
    e: Engine, auth: Reauth, why: str, enrol: Callable[[Reauth], object]
) -> None:
    """A refused enrolment: its one event is the re-authentication's code; no factor,
    no credential row."""
    factors = twostep(e).status(LOGIN).factors
    before, rows = log_size(e), unconfirmed_rows(e)
    codes = event_count(e, "TotpAccepted")
    with pytest.raises(NotPermitted, match=why):
        enrol(auth)
    assert event_count(e, "TotpAccepted") == codes + 1
    assert (log_size(e), unconfirmed_rows(e)) == (before + 1, rows)
    assert twostep(e).status(LOGIN).factors == factors


@pytest.fixture(params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    return dict(request.getfixturevalue("postgres_env"))


def test_approved_with_the_typed_number_signs_in(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # rule MFA-1: push approval with number matching
    clock = ManualClock()
    with engine(tmp_path, env, background=False, clock=clock) as e:
        with_push(e, clock)
        token, challenge_id, number = pending_push(e)
        assert 10 <= number <= 99
        # Not approved yet: refused, and the pending sign-in stays.
        with pytest.raises(SecondFactorRefused, match="not approved"):
            e.host.accounts.complete_login(token, push=challenge_id)
        e.drain()
        [*_, sent] = pushes(tmp_path)
        assert (sent["challenge_id"], sent["device"]) == (str(challenge_id), DEVICE)
        twostep(e).answer_push(LOGIN, challenge_id, approved=True, number=number)
        done = e.host.accounts.complete_login(token, push=challenge_id)
        assert done.outcome is Outcome.SIGNED_IN
        assert done.session_id is not None
        # The pending token was used up with the approval.
        with pytest.raises(NotPermitted):
            e.host.accounts.complete_login(token, push=challenge_id)


def test_the_push_does_not_carry_the_number(tmp_path: Path) -> None:
    # ASVS 6.6.4: the user must read the number off the sign-in page
    with pushing(tmp_path) as (e, _):
        _, challenge_id, number = pending_push(e)
        e.drain()
        [*_, sent] = pushes(tmp_path)
        assert sent["challenge_id"] == str(challenge_id)
        assert "number" not in sent
        assert "type the number shown on the sign-in page" in sent["text"].lower()
        assert str(number) not in json.dumps(sent).replace(str(challenge_id), "")


def test_denied_refuses(tmp_path: Path) -> None:
    with pushing(tmp_path) as (e, _):
        token, challenge_id, number = pending_push(e)
        twostep(e).answer_push(LOGIN, challenge_id, approved=False, number=number)
        with pytest.raises(SecondFactorRefused, match="not approved"):
            e.host.accounts.complete_login(token, push=challenge_id)
        # Answered already: a later yes changes nothing.
        with unrecorded(e), pytest.raises(NotPermitted, match="denied already"):
            twostep(e).answer_push(LOGIN, challenge_id, approved=True, number=number)
        with pytest.raises(SecondFactorRefused):
            e.host.accounts.complete_login(token, push=challenge_id)


def test_a_wrong_number_refuses_and_counts_as_a_failure(tmp_path: Path) -> None:
    # ASVS 6.6.4: a yes with a guessed number is no yes
    with pushing(tmp_path) as (e, _):
        token, challenge_id, number = pending_push(e)
        failures = event_count(e, "SecondFactorFailed")
        wrong = 10 + (number - 10 + 1) % 90
        with pytest.raises(WrongPushNumber, match="does not match"):
            twostep(e).answer_push(LOGIN, challenge_id, approved=True, number=wrong)
        assert event_count(e, "SecondFactorFailed") == failures + 1
        assert event_count(e, "PushDenied") == 1
        # The right number after the guess: the challenge is spent.
        with pytest.raises(NotPermitted, match="denied already"):
            twostep(e).answer_push(LOGIN, challenge_id, approved=True, number=number)
        with pytest.raises(SecondFactorRefused):
            e.host.accounts.complete_login(token, push=challenge_id)


def test_expired_and_answered_challenges_are_refused(tmp_path: Path) -> None:
    with pushing(tmp_path) as (e, clock):
        expiry = twostep(e).second.adapters.policy.push_expiry
        token, challenge_id, number = pending_push(e)
        clock.advance(expiry)
        with unrecorded(e), pytest.raises(NotPermitted, match="expired"):
            twostep(e).answer_push(LOGIN, challenge_id, approved=True, number=number)
        with pytest.raises(SecondFactorRefused):
            e.host.accounts.complete_login(token, push=challenge_id)
        # Unknown challenge: a clear error, nothing recorded.
        with unrecorded(e), pytest.raises(LookupError):
            twostep(e).answer_push(LOGIN, UUID(int=7), approved=True, number=number)
        # Answered once: the same yes again is refused.
        token, challenge_id, number = pending_push(e)
        twostep(e).answer_push(LOGIN, challenge_id, approved=True, number=number)
        with unrecorded(e), pytest.raises(NotPermitted, match="approved already"):
            twostep(e).answer_push(LOGIN, challenge_id, approved=True, number=number)
        assert e.host.accounts.complete_login(token, push=challenge_id).session_id


def test_push_bombing_is_rate_limited(tmp_path: Path) -> None:
    # ASVS 6.6.4: a stolen password cannot bomb the phone into a yes
    with pushing(tmp_path) as (e, clock):
        policy = twostep(e).second.adapters.policy
        pending = spend_window(e, policy.push_per_window, pending_push)
        with unrecorded(e), pytest.raises(NotPermitted, match="too many push requests"):
            twostep(e).start_push(pending)
        assert twostep(e).push_challenge(pending) is None
        e.drain()
        assert len(pushes(tmp_path)) == policy.push_per_window
        clock.advance(policy.push_window)
        assert pending_push(e)[2] in range(10, 100)


def test_push_needs_a_device(tmp_path: Path) -> None:
    # Bad input: no push device enrolled, a clear error, nothing recorded
    clock = ManualClock()
    with engine(tmp_path, background=False, clock=clock) as e:
        enrolled(e, clock)
        pending = e.host.accounts.login(LOGIN, PASSWORD, ip=IP)
        with (
            unrecorded(e),
            pytest.raises(InvalidInput, match="no confirmed push factor"),
        ):
            twostep(e).start_push(pending.pending_token)


def test_enrolment_sends_the_push_that_confirms_the_device(tmp_path: Path) -> None:
    # rule MFA-1: the enrolment shows the number; the push names only the challenge
    clock = ManualClock()
    with engine(tmp_path, background=False, clock=clock) as e:
        seed, _ = enrolled(e, clock)
        two = twostep(e)
        auth = Reauth(password=PASSWORD, code=code_at(seed, clock))
        enrolment = two.enrol(LOGIN, "push", auth, label=DEVICE)
        assert enrolment.number is not None
        assert enrolment.number in range(10, 100)
        assert enrolment.challenge_id is not None
        e.drain()
        [sent] = pushes(tmp_path)
        assert (sent["challenge_id"], sent["device"]) == (
            str(enrolment.challenge_id),
            DEVICE,
        )
        assert "number" not in sent
        # Not approved yet: the factor stays unconfirmed, the push stays usable.
        with pytest.raises(SecondFactorRefused, match="not approved"):
            two.confirm(LOGIN, enrolment.factor_id, push=enrolment.challenge_id)
        two.answer_push(
            LOGIN, enrolment.challenge_id, approved=True, number=enrolment.number
        )
        two.confirm(LOGIN, enrolment.factor_id, push=enrolment.challenge_id)
        assert any(
            f.confirmed for f in two.status(LOGIN).factors if f.kind.value == "push"
        )


def test_an_approved_push_is_used_once(tmp_path: Path) -> None:
    # rule MFA-1: single use; a push approved for one request does not serve another
    clock = ManualClock()
    with engine(tmp_path, background=False, clock=clock) as e:
        seed, _ = enrolled(e, clock)
        two = twostep(e)
        account_id = e.host.accounts.get(LOGIN).id
        phone = two.enrol(
            LOGIN, "push", Reauth(password=PASSWORD, code=code_at(seed, clock))
        )
        assert phone.challenge_id is not None
        assert phone.number is not None
        two.answer_push(LOGIN, phone.challenge_id, approved=True, number=phone.number)
        two.confirm(LOGIN, phone.factor_id, push=phone.challenge_id)
        clock.advance(timedelta(seconds=30))
        auth = Reauth(password=PASSWORD, code=code_at(seed, clock))
        tablet = two.enrol(LOGIN, "push", auth, label="Ann's tablet")
        assert tablet.challenge_id is not None
        assert tablet.number is not None
        two.answer_push(LOGIN, tablet.challenge_id, approved=True, number=tablet.number)
        # The phone's push was used when it confirmed the phone.
        with pytest.raises(SecondFactorRefused, match="used already"):
            two.confirm(LOGIN, tablet.factor_id, push=phone.challenge_id)
        # A sign-in's approved push confirms no device ...
        token, challenge_id, number = pending_push(e)
        two.answer_push(LOGIN, challenge_id, approved=True, number=number)
        with unrecorded(e), pytest.raises(SecondFactorRefused, match="another request"):
            two.confirm(LOGIN, tablet.factor_id, push=challenge_id)
        # ... and signs in once: the refusal above did not use it up.
        assert e.host.accounts.complete_login(token, push=challenge_id).session_id
        with pytest.raises(SecondFactorRefused, match="used already"):
            two.challenges.push_approved(account_id, challenge_id)
        # The tablet's own push confirms the tablet, once.
        two.confirm(LOGIN, tablet.factor_id, push=tablet.challenge_id)
        with pytest.raises(SecondFactorRefused, match="used already"):
            two.challenges.push_approved(
                account_id, tablet.challenge_id, tablet.factor_id
            )


def test_a_rate_limited_push_enrolment_leaves_nothing(tmp_path: Path) -> None:
    # ASVS 6.6.4: the limit is checked before the factor is written
    clock = ManualClock()
    with engine(tmp_path, background=False, clock=clock) as e:
        seed = with_push(e, clock)
        spend_window(e, twostep(e).second.adapters.policy.push_per_window, pending_push)
        enrolment_leaves_nothing(
            e,
            Reauth(password=PASSWORD, code=code_at(seed, clock)),
            "too many push requests",
            lambda auth: twostep(e).enrol(LOGIN, "push", auth, label="Ann's tablet"),
        )
