"""Canary scan: no two-step secret in plaintext in any stored byte (MFA-5, SEC-6).

Every method is enrolled and used; then every file under the home (the event log, the
read models, the credential store, their WAL files, the mail outbox) is searched for
the TOTP seed, the codes, the backup codes, the app password and the account password.
The SMS outbox is the one place an SMS code must be (it is the message to the phone),
so it is read for the code and left out of the scan.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyotp

from application.twostep import Reauth
from tests.integration.support import LOGIN, PASSWORD, ManualClock, engine, with_user
from tests.integration.test_twostep import seed_of

MOBILE_CH = "+41791234567"
GATEWAY_FILES = {"sms.jsonl", "push.jsonl"}


def scanned(home: Path) -> bytes:
    return b"".join(
        p.read_bytes()
        for p in sorted(home.rglob("*"))
        if p.is_file() and p.name not in GATEWAY_FILES
    )


def test_no_secret_in_any_stored_byte(tmp_path: Path) -> None:
    # rule MFA-5, rule SEC-6
    clock = ManualClock()
    canaries: list[str] = [PASSWORD]
    with engine(tmp_path, background=False, clock=clock) as e:
        with_user(e)
        two = e.host.twostep
        assert two is not None
        enrolment = two.enrol(LOGIN, "totp", Reauth(password=PASSWORD))
        assert enrolment.otpauth_uri is not None
        seed = seed_of(enrolment.otpauth_uri)
        totp = pyotp.TOTP(seed)
        first = totp.at(clock.now())
        two.confirm(LOGIN, enrolment.factor_id, code=first)
        canaries += [seed, enrolment.otpauth_uri, first, *enrolment.backup_codes]
        canaries += [c.replace("-", "") for c in enrolment.backup_codes]
        clock.advance(timedelta(seconds=30))
        second = totp.at(clock.now())
        app = two.create_app_password(
            LOGIN, "Thunderbird", Reauth(password=PASSWORD, code=second)
        )
        canaries += [second, app.password, app.password.replace("-", "")]
        e.host.accounts.protocol_login(LOGIN, app.password, "imap")
        clock.advance(timedelta(seconds=30))
        third = totp.at(clock.now())
        sms = two.enrol(
            LOGIN, "sms", Reauth(password=PASSWORD, code=third), phone=MOBILE_CH
        )
        canaries.append(third)
        e.drain()
        lines = (tmp_path / "outbox" / "sms.jsonl").read_text().splitlines()
        text = json.loads(lines[-1])["text"]
        sms_code = next(w for w in text.split() if w.rstrip(".").isdigit()).rstrip(".")
        canaries.append(sms_code)
        assert sms.challenge_id is not None
        two.confirm(LOGIN, sms.factor_id, code=sms_code, challenge_id=sms.challenge_id)
        used = e.host.accounts.login(
            LOGIN, PASSWORD, ip="192.0.2.10", code=enrolment.backup_codes[0]
        )
        assert used.session_id is not None
        e.drain()
    stored = scanned(tmp_path)
    assert stored  # the scan read the stores
    found = [c for c in canaries if c.encode() in stored]
    assert found == []
