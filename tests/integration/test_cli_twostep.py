"""``mailhost user 2fa|app-password`` (``infrastructure/cli/twostep.py``): real processes.

Codes are computed as an authenticator app computes them: pyotp from the URI the
enrolment printed. No test waits for the clock: a code for the next time step (within
the one step of drift allowed) stands in for "the app, 30 s later".
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pyotp
import pytest

from infrastructure.bootstrap import open_engine
from tests.integration.clisupport import (
    ANN,
    PASSPHRASE,
    assert_exit,
    controls_in,
    found_ann,
    json_of,
    mailhost,
    stored_events,
    with_passphrase,
)

STEP = 30


def _enrol(method: str, phone: str) -> tuple[str, ...]:
    """``2fa enrol`` with a phone number, the arguments whose checks these cases probe."""
    return (
        "2fa",
        "enrol",
        ANN,
        "--method",
        method,
        "--phone",
        phone,
        "--password-stdin",
    )


def _enrol_totp(home: Path) -> tuple[pyotp.TOTP, list[str], float]:
    """TOTP enrolled and confirmed; the app, its backup codes, the confirmed time."""
    enrolled = with_passphrase(
        "user",
        "2fa",
        "enrol",
        ANN,
        "--method",
        "totp",
        "--password-stdin",
        "--json",
        home=home,
    )
    data = json_of(enrolled)  # exactly one JSON object: json.loads takes nothing else
    assert isinstance(data, dict)
    assert data["otpauth_uri"].startswith("otpauth://totp/")
    codes = data["backup_codes"]
    assert isinstance(codes, list)
    assert len(codes) == 10
    assert all(isinstance(c, str) for c in codes)
    app = pyotp.parse_uri(data["otpauth_uri"])
    assert isinstance(app, pyotp.TOTP)
    confirmed_at = time.time()
    verified = mailhost(
        "user", "2fa", "verify", ANN, "--code", app.at(confirmed_at), home=home
    )
    assert verified.returncode == 0, verified.stderr
    return app, codes, confirmed_at


def _login(home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return with_passphrase(
        "user",
        "login",
        ANN,
        "--password-stdin",
        "--json",
        *extra,
        home=home,
    )


def test_totp_login_replay_and_backup_codes(tmp_path: Path) -> None:
    # rule MFA-1, rule MFA-2, rule MFA-3
    found_ann(tmp_path)
    app, codes, confirmed_at = _enrol_totp(tmp_path)
    status = json_of(mailhost("user", "2fa", "status", ANN, "--json", home=tmp_path))
    assert status["enabled"] is True
    assert [f["method"] for f in status["factors"]] == ["totp"]
    assert status["backup_codes_left"] == 10
    text = mailhost("user", "2fa", "status", ANN, home=tmp_path)
    assert "two-step verification of ann@example.org: on" in text.stdout

    pending = _login(tmp_path)
    data = json_of(pending)
    assert data["outcome"] == "second-factor-required"
    assert "session_id" not in data
    assert "pending_token" not in data

    next_code = app.at(confirmed_at + STEP)  # the app's next code: one step of drift
    signed = json_of(_login(tmp_path, "--code", next_code))
    assert signed["outcome"] == "signed-in"
    replayed = _login(tmp_path, "--code", next_code)
    assert replayed.returncode == 1, replayed.stderr
    assert json.loads(replayed.stdout)["outcome"] == "refused"
    older = _login(tmp_path, "--code", app.at(confirmed_at))
    assert older.returncode == 1

    backup = json_of(_login(tmp_path, "--code", codes[0]))
    assert backup["outcome"] == "signed-in"
    again = _login(tmp_path, "--code", codes[0])
    assert again.returncode == 1
    assert json.loads(again.stdout)["outcome"] == "refused"
    left = json_of(mailhost("user", "2fa", "status", ANN, "--json", home=tmp_path))
    assert left["backup_codes_left"] == 9

    renewed = with_passphrase(
        "user",
        "2fa",
        "backup-codes",
        ANN,
        "--password-stdin",
        "--code",
        codes[1],
        "--json",
        home=tmp_path,
    )
    fresh = json_of(renewed)["backup_codes"]
    assert len(fresh) == 10
    assert not set(fresh) & set(codes)
    voided = _login(tmp_path, "--code", codes[2])
    assert voided.returncode == 1  # the old set is void
    assert json_of(_login(tmp_path, "--code", fresh[0]))["outcome"] == "signed-in"

    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert app.secret.encode() not in stored
    for code in (*codes, *fresh):
        assert code.encode() not in stored


def test_app_passwords_for_sync_tools(tmp_path: Path) -> None:
    # rule MFA-4, rule SEC-4
    found_ann(tmp_path)
    _, codes, _ = _enrol_totp(tmp_path)
    created = with_passphrase(
        "user",
        "app-password",
        "create",
        ANN,
        "--name",
        "Thunderbird at www.evil.example",
        "--password-stdin",
        "--code",
        codes[0],
        "--json",
        home=tmp_path,
    )
    app = json_of(created)
    assert len(app["password"]) >= 20
    engine = open_engine(tmp_path, background=False)
    try:
        accounts = engine.host.accounts
        assert accounts.protocol_login(ANN, app["password"], "imap") is not None
        with pytest.raises(Exception, match="refused"):
            accounts.protocol_login(ANN, PASSPHRASE, "imap")
    finally:
        engine.close()
    listed = json_of(
        mailhost("user", "app-password", "list", ANN, "--json", home=tmp_path)
    )
    assert [(a["app_id"], a["last_protocol"]) for a in listed] == [
        (app["app_id"], "imap")
    ]
    assert "password" not in listed[0]
    table = mailhost("user", "app-password", "list", ANN, home=tmp_path)
    assert controls_in(table.stdout) == []
    assert app["password"] not in table.stdout
    assert "www.evil.example" not in table.stdout
    assert "Thunderbird at [link removed]" in table.stdout
    revoke = ("user", "app-password", "revoke", ANN, app["app_id"], "--password-stdin")
    revoked = with_passphrase(*revoke, "--code", codes[1], home=tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    assert (
        json_of(mailhost("user", "app-password", "list", ANN, "--json", home=tmp_path))
        == []
    )
    unknown = with_passphrase(*revoke, "--code", codes[2], home=tmp_path)
    assert_exit(unknown, 2, "does not exist")


def test_disable_needs_the_password_and_a_code(tmp_path: Path) -> None:
    # rule MFA-2: off again, every factor and code gone
    found_ann(tmp_path)
    _, codes, _ = _enrol_totp(tmp_path)
    disable = ("user", "2fa", "disable", ANN, "--password-stdin", "--code", codes[0])
    wrong = with_passphrase(*disable, home=tmp_path, passphrase="not the password")
    assert wrong.returncode == 2, wrong.stderr
    off = with_passphrase(*disable, "--json", home=tmp_path)
    assert json_of(off)["enabled"] is False
    status = json_of(mailhost("user", "2fa", "status", ANN, "--json", home=tmp_path))
    assert status["enabled"] is False
    assert status["factors"] == []
    assert json_of(_login(tmp_path))["outcome"] == "signed-in"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("2fa", "verify", ANN, "--code", "12a456"), "argument --code"),
        (("2fa", "verify", ANN, "--code", "1234567"), "argument --code"),
        (
            ("2fa", "verify", ANN, "--code", "\u0661\u0662\u0663\u0664\u0665\u0666"),
            "argument --code",
        ),
        (("login", ANN, "--password-stdin", "--code", "12345"), "argument --code"),
        (
            ("2fa", "enrol", ANN, "--method", "carrier-pigeon", "--password-stdin"),
            "argument --method",
        ),
        (
            ("2fa", "enrol", ANN, "--method", "sms", "--password-stdin"),
            "--phone is required",
        ),
        (_enrol("totp", "+41791234567"), "--phone is for --method sms"),
        (_enrol("sms", "+262692123456"), "argument --phone"),
        (_enrol("sms", "+4237901234"), "rule MFA-1"),
        (_enrol("sms", "+41441234567"), "not a mobile number"),
        (_enrol("sms", "+14155550100"), "rule MFA-1"),
        (("2fa", "backup-codes", ANN, "--password-stdin"), "--code"),
        (("app-password", "revoke", ANN, "not-an-id"), "argument APP_ID"),
        (("2fa", "verify", ANN), "no enrolment is waiting for a code"),
        (("app-password", "create", ANN, "--password-stdin"), "--name"),
        (
            ("app-password", "create", ANN, "--name", "a\x1b[31m", "--password-stdin"),
            "control character",
        ),
    ],
)
def test_bad_input_exits_2_naming_it_and_changes_nothing(
    tmp_path: Path, args: tuple[str, ...], named: str
) -> None:
    found_ann(tmp_path)
    before = stored_events(tmp_path)
    result = with_passphrase("user", *args, home=tmp_path)
    assert result.returncode == 2, result.stderr
    assert named in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert stored_events(tmp_path) == before


def test_every_two_step_command_takes_json_and_passwords_only_on_stdin(
    tmp_path: Path,
) -> None:
    # rule SEC-6: no option takes a password on the command line
    found_ann(tmp_path)
    before = stored_events(tmp_path)
    for command in (
        ("2fa", "enrol", ANN, "--method", "totp"),
        ("2fa", "disable", ANN),
        ("2fa", "backup-codes", ANN, "--code", "123456"),
        ("app-password", "create", ANN, "--name", "x"),
    ):
        result = mailhost(
            "user", *command, "--password", "hunter2-on-argv", home=tmp_path
        )
        assert result.returncode == 2, command
        assert "hunter2-on-argv" not in result.stderr
        assert "standard input only" in result.stderr
        assert "--json" in mailhost("user", *command[:2], "--help").stdout
    assert stored_events(tmp_path) == before
