"""SMS codes end to end (MFA-1): CH, FR, BE and DE mobile numbers only; codes that
expire, work once and are rate limited; sent by a job to the outbox, stored sealed.

The code is in two places only: the sealed credential row (until used) and the
message to the phone (the SMS outbox). Every other stored byte is scanned for it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from application.accounts import Outcome
from application.secondfactor import SecondFactorRefused
from application.twostep import Reauth
from domain.errors import InvalidInput, NotPermitted
from infrastructure.bootstrap import Engine
from tests.integration.support import LOGIN, PASSWORD, ManualClock, engine, event_count
from tests.integration.test_twostep import code_at, enrolled, twostep
from tests.integration.test_twostep_push import (
    enrolment_leaves_nothing,
    log_size,
    spend_window,
    unrecorded,
)

IP = "192.0.2.10"
# Whole seconds: no microseconds in stored timestamps that a 6-digit code could match.
START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
MOBILES = ("+41791234567", "+33612345678", "+32470123456", "+4915123456789")
REFUSED = {
    "+262692123456": "this number is of RE",  # Réunion: French, not FR
    "+4237901234": "this number is of LI",  # Liechtenstein, beside CH
    "+41446681800": "not a mobile number",  # a Zürich fixed line
    "+33142685300": "not a mobile number",
    "+3225551212": "not a mobile number",
    "+493012345678": "not a mobile number",
    "+447400123456": "this number is of GB",
}


def sms_codes(home: Path) -> list[tuple[str, str]]:
    """(number, code) of each SMS the jobs wrote to the outbox."""
    path = home / "outbox" / "sms.jsonl"
    if not path.exists():
        return []
    sent = [json.loads(line) for line in path.read_text().splitlines()]
    found = [(m["to"], re.search(r"\b(\d{6})\b", m["text"])) for m in sent]
    return [(to, match.group(1)) for to, match in found if match]


def elsewhere(home: Path, code: str) -> list[str]:
    """The stored files other than the SMS outbox that hold ``code`` as a token."""
    pattern = re.compile(rb"(?<![0-9A-Za-z])" + code.encode() + rb"(?![0-9A-Za-z])")
    return [
        str(p.relative_to(home))
        for p in sorted(home.rglob("*"))
        if p.is_file() and p.name != "sms.jsonl" and pattern.search(p.read_bytes())
    ]


def with_sms(e: Engine, clock: ManualClock, phone: str = MOBILES[0]) -> str:
    """Ann with TOTP and a confirmed SMS number; the SMS window is empty again."""
    seed, _ = enrolled(e, clock)
    two = twostep(e)
    enrolment = two.enrol(
        LOGIN, "sms", Reauth(password=PASSWORD, code=code_at(seed, clock)), phone=phone
    )
    assert enrolment.challenge_id is not None
    e.drain()
    [(to, code)] = sms_codes(e.settings.home)
    assert to == phone
    two.confirm(
        LOGIN, enrolment.factor_id, code=code, challenge_id=enrolment.challenge_id
    )
    clock.advance(two.second.adapters.policy.sms_window)
    return seed


def sms_login(e: Engine) -> tuple[str, str]:
    """A sign-in waiting for an SMS code: its token and the code the phone got."""
    pending = e.host.accounts.login(LOGIN, PASSWORD, ip=IP)
    assert pending.outcome is Outcome.SECOND_FACTOR_REQUIRED
    assert "sms" in pending.methods
    twostep(e).start_sms(pending.pending_token)
    e.drain()
    return pending.pending_token, sms_codes(e.settings.home)[-1][1]


def test_mobiles_of_the_four_countries_are_accepted(tmp_path: Path) -> None:
    # rule MFA-1: CH, FR, BE, DE mobile numbers
    clock = ManualClock(START)
    with engine(tmp_path, background=False, clock=clock) as e:
        seed, _ = enrolled(e, clock)
        two = twostep(e)
        for phone in MOBILES:
            clock.advance(timedelta(seconds=30))
            auth = Reauth(password=PASSWORD, code=code_at(seed, clock))
            enrolment = two.enrol(LOGIN, "sms", auth, phone=phone)
            assert enrolment.challenge_id is not None
            e.drain()
            to, code = sms_codes(tmp_path)[-1]
            assert to == phone
            two.confirm(
                LOGIN,
                enrolment.factor_id,
                code=code,
                challenge_id=enrolment.challenge_id,
            )
            clock.advance(two.second.adapters.policy.sms_window)
        phones = {f.phone for f in two.status(LOGIN).factors if f.confirmed}
        assert set(MOBILES) <= phones


@pytest.mark.parametrize(("phone", "why"), sorted(REFUSED.items()))
def test_other_numbers_are_refused_naming_the_rule(
    tmp_path: Path, phone: str, why: str
) -> None:
    # rule MFA-1: +262 and +423 look-alikes, fixed lines and other countries
    clock = ManualClock(START)
    with engine(tmp_path, background=False, clock=clock) as e:
        seed, _ = enrolled(e, clock)
        before = log_size(e)
        auth = Reauth(password=PASSWORD, code=code_at(seed, clock))
        with pytest.raises(InvalidInput, match="MFA-1") as refused:
            twostep(e).enrol(LOGIN, "sms", auth, phone=phone)
        assert why in str(refused.value)
        e.drain()
        assert log_size(e) == before
        assert sms_codes(tmp_path) == []


def test_an_sms_code_signs_in_once(tmp_path: Path) -> None:
    clock = ManualClock(START)
    with engine(tmp_path, background=False, clock=clock) as e:
        with_sms(e, clock)
        token, code = sms_login(e)
        # Sealed in its row until used: in no other stored byte.
        assert elsewhere(tmp_path, code) == []
        done = e.host.accounts.complete_login(token, code=code)
        assert done.outcome is Outcome.SIGNED_IN
        assert event_count(e, "SmsCodeUsed") == 2  # the enrolment's and this one
        # Single use: the same code on a new sign-in (with its own SMS) is refused.
        clock.advance(timedelta(seconds=1))
        token, fresh = sms_login(e)
        if fresh != code:
            with pytest.raises(SecondFactorRefused):
                e.host.accounts.complete_login(token, code=code)
        assert e.host.accounts.complete_login(token, code=fresh).session_id
        e.drain()
        assert elsewhere(tmp_path, code) == []
        assert elsewhere(tmp_path, fresh) == []


def test_bad_and_wrong_codes(tmp_path: Path) -> None:
    # Bad input: a malformed code is refused clearly and changes nothing
    clock = ManualClock(START)
    with engine(tmp_path, background=False, clock=clock) as e:
        with_sms(e, clock)
        token, code = sms_login(e)
        with unrecorded(e), pytest.raises(InvalidInput):
            e.host.accounts.complete_login(token, code="12ab!")
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        with pytest.raises(SecondFactorRefused):
            e.host.accounts.complete_login(token, code=wrong)
        assert event_count(e, "SecondFactorFailed") == 1
        assert e.host.accounts.complete_login(token, code=code).session_id


def test_an_expired_code_is_refused(tmp_path: Path) -> None:
    clock = ManualClock(START)
    with engine(tmp_path, background=False, clock=clock) as e:
        seed, _ = enrolled(e, clock)
        two = twostep(e)
        auth = Reauth(password=PASSWORD, code=code_at(seed, clock))
        enrolment = two.enrol(LOGIN, "sms", auth, phone=MOBILES[1])
        assert enrolment.challenge_id is not None
        e.drain()
        [(_, code)] = sms_codes(tmp_path)
        clock.advance(two.second.adapters.policy.sms_expiry)
        with unrecorded(e), pytest.raises(NotPermitted, match="expired"):
            two.confirm(
                LOGIN,
                enrolment.factor_id,
                code=code,
                challenge_id=enrolment.challenge_id,
            )
        assert not any(f.confirmed for f in two.status(LOGIN).factors if f.phone)
        # An expired challenge's job sends nothing.
        account_id = e.host.accounts.get(LOGIN).id
        late = two.challenges.issue_sms(account_id, enrolment.factor_id)
        clock.advance(two.second.adapters.policy.sms_expiry)
        e.drain()
        assert len(sms_codes(tmp_path)) == 1
        assert not two.challenges.check_sms(account_id, late, code)


def test_sms_codes_are_rate_limited(tmp_path: Path) -> None:
    clock = ManualClock(START)
    with engine(tmp_path, background=False, clock=clock) as e:
        with_sms(e, clock)
        policy = twostep(e).second.adapters.policy
        pending = spend_window(e, policy.sms_per_window, sms_login)
        with unrecorded(e), pytest.raises(NotPermitted, match="too many SMS codes"):
            twostep(e).start_sms(pending)
        e.drain()
        assert len(sms_codes(tmp_path)) == 1 + policy.sms_per_window
        clock.advance(policy.sms_window)
        token, code = sms_login(e)
        assert e.host.accounts.complete_login(token, code=code).session_id


def test_a_rate_limited_sms_enrolment_leaves_nothing(tmp_path: Path) -> None:
    # rule MFA-1: the limit is checked before the factor is written
    clock = ManualClock(START)
    with engine(tmp_path, background=False, clock=clock) as e:
        seed = with_sms(e, clock)
        policy = twostep(e).second.adapters.policy
        spend_window(e, policy.sms_per_window, sms_login)
        enrolment_leaves_nothing(
            e,
            Reauth(password=PASSWORD, code=code_at(seed, clock)),
            "too many SMS codes",
            lambda auth: twostep(e).enrol(LOGIN, "sms", auth, phone=MOBILES[2]),
        )
        e.drain()
        assert len(sms_codes(tmp_path)) == 1 + policy.sms_per_window
