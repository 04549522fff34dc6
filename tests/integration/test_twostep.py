"""Two-step verification end to end on the embedded engine (SQLite) and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from application.accounts import LoginRefused, Outcome
from application.secondfactor import SecondFactorLocked, SecondFactorRefused
from application.twostep import Reauth, TwoStepVerification
from domain.errors import InvalidInput, NotPermitted
from infrastructure.bootstrap import Engine
from tests.integration import support
from tests.integration.support import (
    LOGIN,
    ORG,
    PASSWORD,
    ManualClock,
    engine,
    with_user,
)

IP = "192.0.2.10"


def seed_of(uri: str) -> str:
    return parse_qs(urlsplit(uri).query)["secret"][0]


def code_at(seed: str, clock: ManualClock) -> str:
    return pyotp.TOTP(seed).at(clock.now())


def twostep(e: Engine) -> TwoStepVerification:
    assert e.host.twostep is not None
    return e.host.twostep


def enrolled(e: Engine, clock: ManualClock) -> tuple[str, tuple[str, ...]]:
    """Ann with a confirmed TOTP factor; her seed and backup codes."""
    with_user(e)
    enrolment = twostep(e).enrol(LOGIN, "totp", Reauth(password=PASSWORD))
    assert enrolment.otpauth_uri is not None
    seed = seed_of(enrolment.otpauth_uri)
    twostep(e).confirm(LOGIN, enrolment.factor_id, code=code_at(seed, clock))
    clock.advance(timedelta(seconds=30))
    return seed, enrolment.backup_codes


@pytest.fixture(params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    return dict(request.getfixturevalue("postgres_env"))


def test_totp_login_flow_and_replay(tmp_path: Path, env: dict[str, str]) -> None:
    # rule MFA-1, rule MFA-2, rule MFA-3
    clock = ManualClock()
    with engine(tmp_path, env, background=False, clock=clock) as e:
        seed, backup = enrolled(e, clock)
        assert len(backup) == 10
        assert twostep(e).status(LOGIN).enabled
        pending = e.host.accounts.login(LOGIN, PASSWORD, ip=IP)
        assert pending.outcome is Outcome.SECOND_FACTOR_REQUIRED
        assert pending.session_id is None
        assert "totp" in pending.methods
        code = code_at(seed, clock)
        done = e.host.accounts.complete_login(pending.pending_token, code=code)
        assert done.outcome is Outcome.SIGNED_IN
        assert done.session_id is not None
        # The token is single use; the same code is refused on a new login (replay).
        with pytest.raises(NotPermitted):
            e.host.accounts.complete_login(pending.pending_token, code=code)
        with pytest.raises(SecondFactorRefused):
            e.host.accounts.login(LOGIN, PASSWORD, ip=IP, code=code)
        # A backup code works once.
        first = e.host.accounts.login(LOGIN, PASSWORD, ip=IP, code=backup[0])
        assert first.outcome is Outcome.SIGNED_IN
        with pytest.raises(SecondFactorRefused):
            e.host.accounts.login(LOGIN, PASSWORD, ip=IP, code=backup[0])
        assert twostep(e).status(LOGIN).backup_codes_left == 9


def test_bad_input_changes_nothing(tmp_path: Path) -> None:
    # rule MFA-1: the SMS refusal names the rule; nothing is stored for bad input
    clock = ManualClock()
    with engine(tmp_path, background=False, clock=clock) as e:
        seed, _ = enrolled(e, clock)
        pending = e.host.accounts.login(LOGIN, PASSWORD, ip=IP)
        before = len(e.host.log.recorder.select_notifications(start=1, limit=10**6))
        with pytest.raises(InvalidInput):
            e.host.accounts.complete_login(pending.pending_token, code="12ab!")
        with pytest.raises(InvalidInput, match="unknown two-step method"):
            twostep(e).enrol(LOGIN, "carrier-pigeon", Reauth(password=PASSWORD))
        auth = Reauth(password=PASSWORD, code=code_at(seed, clock))
        with pytest.raises(InvalidInput, match="MFA-1"):
            twostep(e).enrol(LOGIN, "sms", auth, phone="+4237751234")
        after = len(e.host.log.recorder.select_notifications(start=1, limit=10**6))
        assert after == before
        # The pending token survived the malformed code.
        clock.advance(timedelta(seconds=30))
        done = e.host.accounts.complete_login(
            pending.pending_token, code=code_at(seed, clock)
        )
        assert done.outcome is Outcome.SIGNED_IN


def test_wrong_codes_lock_and_mail_once(tmp_path: Path) -> None:
    # rule SEC-2 (aggregated notices), the lock bound
    clock = ManualClock()
    with engine(tmp_path, background=False, clock=clock) as e:
        seed, _ = enrolled(e, clock)
        for _ in range(5):
            with pytest.raises(SecondFactorRefused):
                e.host.accounts.login(LOGIN, PASSWORD, ip=IP, code="000000")
        with pytest.raises(SecondFactorLocked):
            e.host.accounts.login(LOGIN, PASSWORD, ip=IP, code=code_at(seed, clock))
        assert support.event_count(e, "SecondFactorFailed") == 5
        clock.advance(timedelta(minutes=16))
        e.drain()
        mails = sorted((tmp_path / "outbox").glob("*.eml"))
        bodies = [m.read_text() for m in mails]
        assert sum("locked" in b for b in bodies) == 1
        assert sum("wrong two-step code 5 times" in b for b in bodies) == 1
        ok = e.host.accounts.login(LOGIN, PASSWORD, ip=IP, code=code_at(seed, clock))
        assert ok.outcome is Outcome.SIGNED_IN


def test_app_passwords_and_password_change(tmp_path: Path) -> None:
    # rule MFA-4, rule SEC-4
    clock = ManualClock()
    with engine(tmp_path, background=False, clock=clock) as e:
        seed, _ = enrolled(e, clock)
        with pytest.raises(LoginRefused):
            e.host.accounts.protocol_login(LOGIN, PASSWORD, "imap")
        created = twostep(e).create_app_password(
            LOGIN, "Thunderbird", Reauth(password=PASSWORD, code=code_at(seed, clock))
        )
        account_id = e.host.accounts.protocol_login(LOGIN, created.password, "imap")
        assert account_id == e.host.accounts.get(LOGIN).id
        [view] = twostep(e).app_passwords(LOGIN)
        assert (view.name, view.last_protocol) == ("Thunderbird", "imap")
        e.host.accounts.change_password(LOGIN, PASSWORD, PASSWORD + "-new")
        assert twostep(e).app_passwords(LOGIN) == []
        with pytest.raises(LoginRefused):
            e.host.accounts.protocol_login(LOGIN, created.password, "imap")
        # rule SEC-3: the changes are in recent activity, and each mailed a notice.
        e.runner.catch_up()
        outcomes = {a.outcome for a in e.host.activity.recent(account_id)}
        assert {
            "two-step method added",
            "new backup codes",
            "app password created",
            "every app password revoked",
        } <= outcomes
        e.drain()
        bodies = [m.read_text() for m in (tmp_path / "outbox").glob("*.eml")]
        notices = [b for b in bodies if "application password was created" in b]
        assert len(notices) == 1
        assert not any(
            marker in notices[0] for marker in ("http", "www.", created.password)
        )


def test_reauthentication_needs_the_second_factor(tmp_path: Path) -> None:
    clock = ManualClock()
    with engine(tmp_path, background=False, clock=clock) as e:
        seed, _ = enrolled(e, clock)
        with pytest.raises(NotPermitted):
            twostep(e).regenerate_backup_codes(LOGIN, Reauth(password=PASSWORD))
        with pytest.raises(NotPermitted):
            twostep(e).regenerate_backup_codes(LOGIN, Reauth())
        codes = twostep(e).regenerate_backup_codes(
            LOGIN, Reauth(password=PASSWORD, code=code_at(seed, clock))
        )
        assert len(codes) == 10


def test_organisation_enforcement_restricts_sessions(tmp_path: Path) -> None:
    # rule ORG-2, rule MFA-7, rule MFA-6
    clock = ManualClock()
    with engine(tmp_path, background=False, clock=clock) as e:
        with_user(e)
        with_user(e, "bob@example.org")
        with pytest.raises(NotPermitted):
            e.host.organisations.enforce_two_step(ORG, by="bob@example.org")
        e.host.organisations.enforce_two_step(ORG, by=LOGIN)
        bob = e.host.accounts.login(
            "bob@example.org", PASSWORD, ip=IP, persistent=False
        )
        assert bob.outcome is Outcome.ENROL_REQUIRED
        record = e.host.accounts.session(bob.session_token)
        assert (record.restricted, record.persistent) == (True, False)


def test_an_enforcing_organisation_keeps_the_last_factor(tmp_path: Path) -> None:
    # rule ORG-2: a user cannot switch off what the organisation imposes
    clock = ManualClock()
    with engine(tmp_path, background=False, clock=clock) as e:
        seed, _ = enrolled(e, clock)
        e.host.organisations.enforce_two_step(ORG, by=LOGIN)
        factor = twostep(e).status(LOGIN).factors[0]
        auth = Reauth(password=PASSWORD, code=code_at(seed, clock))
        before = e.host.log.recorder.max_notification_id()
        with pytest.raises(NotPermitted, match="ORG-2"):
            twostep(e).disable(LOGIN, auth)
        with pytest.raises(NotPermitted, match="ORG-2"):
            twostep(e).remove(LOGIN, factor.factor_id, auth)
        assert e.host.log.recorder.max_notification_id() == before  # nothing recorded
        assert twostep(e).status(LOGIN).enabled
