"""Security keys (WebAuthn) end to end with the tests' software authenticator (MFA-1).

Registration and sign-in through ``MailHost.twostep`` and ``complete_login`` on the
real py_webauthn: the challenge is >= 16 random bytes, single use and expiring; a
response made on another origin is refused and changes nothing; a counter that does
not increase is a cloned key, refused as ``clone_suspected`` and mailed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from webauthn.helpers import base64url_to_bytes

from application.accounts import LoginResult, Outcome
from application.challenges import SecurityKeyRefused
from application.secondfactor import SecondFactorRefused
from application.twostep import Reauth
from domain.errors import InvalidInput, NotPermitted
from infrastructure.bootstrap import Engine
from tests.integration.support import LOGIN, PASSWORD, ManualClock, engine, event_count
from tests.integration.test_twostep import code_at, enrolled, twostep
from tests.integration.test_twostep_push import log_size, unrecorded
from tests.webauthnsoft import SoftAuthenticator

IP = "192.0.2.10"
ORIGIN = "https://localhost"  # the default MAILHOST_WEBAUTHN_ORIGINS
EVIL = "https://mail.example.evil"
MIN_CHALLENGE = 16


def with_key(
    e: Engine, clock: ManualClock, key: SoftAuthenticator
) -> tuple[str, dict[str, Any]]:
    """Ann with TOTP and ``key`` registered; her seed and the registration options."""
    seed, _ = enrolled(e, clock)
    two = twostep(e)
    enrolment = two.enrol(
        LOGIN, "security_key", Reauth(password=PASSWORD, code=code_at(seed, clock))
    )
    options = enrolment.key_options
    assert options is not None
    assert enrolment.challenge_id is not None
    response = json.dumps(key.create(options, ORIGIN))
    two.confirm(
        LOGIN,
        enrolment.factor_id,
        key_response=response,
        challenge_id=enrolment.challenge_id,
    )
    kinds = {f.kind.value for f in two.status(LOGIN).factors if f.confirmed}
    assert "security_key" in kinds
    return seed, options


def key_login(e: Engine) -> tuple[str, dict[str, Any]]:
    pending = e.host.accounts.login(LOGIN, PASSWORD, ip=IP)
    assert pending.outcome is Outcome.SECOND_FACTOR_REQUIRED
    assert "security_key" in pending.methods
    return pending.pending_token, twostep(e).key_options(pending.pending_token)


@contextmanager
def keyed(
    home: Path, key: SoftAuthenticator
) -> Iterator[tuple[Engine, ManualClock, str, dict[str, Any]]]:
    """Ann with ``key`` on an engine whose clock the test moves, her sign-in waiting
    for the key: the engine, the clock, the pending token, the login options."""
    clock = ManualClock()
    with engine(home, background=False, clock=clock) as e:
        with_key(e, clock, key)
        yield e, clock, *key_login(e)


def key_answer(e: Engine, token: str, response: dict[str, Any]) -> LoginResult:
    """The sign-in ``token`` completed with a key's ``response``."""
    return e.host.accounts.complete_login(token, key_response=json.dumps(response))


def stored_keys(e: Engine) -> list[str | None]:
    two_step = twostep(e).second.find(e.host.accounts.get(LOGIN).id)
    assert two_step is not None
    return [
        e.host.accounts.credentials.secret(f.credential_id) for f in two_step.factors
    ]


def test_register_and_sign_in_with_a_key(tmp_path: Path) -> None:
    # rule MFA-1: a YubiKey as a FIDO2/WebAuthn security key
    clock = ManualClock()
    key = SoftAuthenticator()
    with engine(tmp_path, background=False, clock=clock) as e:
        _, registration = with_key(e, clock, key)
        assert len(base64url_to_bytes(registration["challenge"])) >= MIN_CHALLENGE
        token, options = key_login(e)
        challenge = base64url_to_bytes(options["challenge"])
        assert len(challenge) >= MIN_CHALLENGE
        assert challenge != base64url_to_bytes(registration["challenge"])
        assert [c["id"] for c in options["allowCredentials"]] == [key.credential_id_b64]
        done = key_answer(e, token, key.get(options, ORIGIN))
        assert done.outcome is Outcome.SIGNED_IN
        assert done.session_id is not None


def test_a_replay_with_an_always_zero_key_is_refused(tmp_path: Path) -> None:
    # The counter check is skipped for a key that always says 0: single-use
    # challenges are what stop the replay.
    key = SoftAuthenticator(always_zero=True)
    with keyed(tmp_path, key) as (e, _, token, options):
        challenge_id = twostep(e).push_challenge(token)  # the challenge bound to it
        assert challenge_id is not None
        response = json.dumps(key.get(options, ORIGIN))
        assert e.host.accounts.complete_login(token, key_response=response).session_id
        account_id = e.host.accounts.get(LOGIN).id
        with unrecorded(e), pytest.raises(SecondFactorRefused, match="used or expired"):
            twostep(e).challenges.verify_key(account_id, challenge_id, response)
        # On a new sign-in the old assertion answers another challenge.
        again, _ = key_login(e)
        with pytest.raises(SecurityKeyRefused) as refused:
            e.host.accounts.complete_login(again, key_response=response)
        assert refused.value.reason == "wrong_challenge"


def test_an_expired_challenge_is_refused(tmp_path: Path) -> None:
    key = SoftAuthenticator()
    with keyed(tmp_path, key) as (e, clock, token, options):
        challenge_id = twostep(e).push_challenge(token)
        assert challenge_id is not None
        clock.advance(twostep(e).second.adapters.policy.challenge_expiry)
        response = json.dumps(key.get(options, ORIGIN))
        account_id = e.host.accounts.get(LOGIN).id
        before, keys_before = log_size(e), stored_keys(e)
        with pytest.raises(SecondFactorRefused, match="used or expired"):
            twostep(e).challenges.verify_key(account_id, challenge_id, response)
        with pytest.raises(NotPermitted, match="expired"):  # the sign-in is over too
            e.host.accounts.complete_login(token, key_response=response)
        assert (log_size(e), stored_keys(e)) == (before, keys_before)


def test_a_response_for_another_origin_changes_nothing(tmp_path: Path) -> None:
    # Bad input: a phishing site's assertion is refused by name, nothing is used up
    key = SoftAuthenticator()
    with keyed(tmp_path, key) as (e, _, token, options):
        before, keys_before = log_size(e), stored_keys(e)
        with pytest.raises(SecurityKeyRefused, match="not this one") as refused:
            key_answer(e, token, key.get(options, EVIL))
        assert refused.value.reason == "wrong_origin"
        for garbage in ("{", "[]", '{"id": 5}'):
            with pytest.raises(InvalidInput):
                e.host.accounts.complete_login(token, key_response=garbage)
        assert (log_size(e), stored_keys(e)) == (before, keys_before)
        # The same sign-in and challenge still work with the real site's response.
        done = key_answer(e, token, key.get(options, ORIGIN))
        assert done.outcome is Outcome.SIGNED_IN


def test_a_registration_for_another_origin_changes_nothing(tmp_path: Path) -> None:
    clock = ManualClock()
    with engine(tmp_path, background=False, clock=clock) as e:
        seed, _ = enrolled(e, clock)
        two = twostep(e)
        enrolment = two.enrol(
            LOGIN, "security_key", Reauth(password=PASSWORD, code=code_at(seed, clock))
        )
        assert enrolment.key_options is not None
        assert enrolment.challenge_id is not None
        key = SoftAuthenticator()
        with unrecorded(e), pytest.raises(InvalidInput, match="not this one"):
            two.confirm(
                LOGIN,
                enrolment.factor_id,
                key_response=json.dumps(key.create(enrolment.key_options, EVIL)),
                challenge_id=enrolment.challenge_id,
            )
        two.confirm(
            LOGIN,
            enrolment.factor_id,
            key_response=json.dumps(key.create(enrolment.key_options, ORIGIN)),
            challenge_id=enrolment.challenge_id,
        )


def test_a_cloned_key_is_refused_named_and_mailed(tmp_path: Path) -> None:
    # rule MFA-1: the signature counter must increase
    key = SoftAuthenticator()
    with keyed(tmp_path, key) as (e, clock, token, options):
        key_answer(e, token, key.get(options, ORIGIN))
        keys_before = stored_keys(e)
        key.counter = 0  # a copy of the key, behind the original's count
        copy_token, copy_options = key_login(e)
        with pytest.raises(SecurityKeyRefused, match="cloned") as refused:
            key_answer(e, copy_token, key.get(copy_options, ORIGIN))
        assert refused.value.reason == "clone_suspected"
        assert event_count(e, "CloneSuspected") == 1
        assert event_count(e, "SecondFactorFailed") == 1
        assert stored_keys(e) == keys_before
        clock.advance(timedelta(minutes=16))
        e.drain()
        bodies = [m.read_text() for m in (tmp_path / "outbox").glob("*.eml")]
        clones = [b for b in bodies if "may have been copied" in b]
        assert len(clones) == 1
        assert key.credential_id_b64 not in clones[0]
