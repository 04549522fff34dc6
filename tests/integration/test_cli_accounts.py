"""``mailhost org|user|activity`` (``infrastructure/cli/accounts.py``): real processes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infrastructure.bootstrap import open_engine
from tests.integration.clisupport import (
    controls_in,
    found_org,
    mailhost,
    mailhost_bytes,
    user_create,
)

HOSTILE_AGENT = "restore now at https://evil.example/restore \x1b[31m\x07"


def test_operator_commands_and_json(tmp_path: Path) -> None:
    found_org(tmp_path)
    created = mailhost(
        *user_create(), "--json", stdin="a long passphrase\n", home=tmp_path
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["login"] == "ann@example.org"
    activity = mailhost("activity", "ann@example.org", "--json", home=tmp_path)
    assert activity.returncode == 0, activity.stderr
    assert [e["outcome"] for e in json.loads(activity.stdout)] == ["registered"]
    assert "a long passphrase" not in created.stdout + created.stderr


def test_bad_input_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    found_org(tmp_path)
    cases = [
        (
            user_create("not-an-address"),
            "a long passphrase",
            "not a valid mail address",
        ),
        (
            user_create("bob@example.org"),
            "",
            "password is empty",
        ),
        (
            user_create("bob@example.org", org="Nope"),
            "a long passphrase",
            "organisation Nope does not exist",
        ),
        (("activity", "nobody@example.org"), "", "does not exist"),
        (("org", "create", "Example Co"), "", "exists already"),
        (("activity",), "", "required"),
    ]
    for args, stdin, message in cases:
        result = mailhost(*args, stdin=stdin, home=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert result.stdout == ""


def test_activity_writes_no_control_character_to_the_terminal(tmp_path: Path) -> None:
    # rule ADV-5, rule SEC-3: a User-Agent and a place are outside text
    places = tmp_path / "places.csv"
    places.write_text(
        '192.0.2.0,192.0.2.255,"Geneva \x1b]0;owned\x07 www.evil.example \u202e"\n'
    )
    home = tmp_path / "home"
    found_org(home)
    created = mailhost(*user_create(), stdin="a long passphrase\n", home=home)
    assert created.returncode == 0, created.stderr
    engine = open_engine(home, {"MAILHOST_GEOIP_CSV": str(places)}, background=False)
    try:
        engine.host.accounts.login(
            "ann@example.org",
            "a long passphrase",
            ip="192.0.2.10",
            user_agent=HOSTILE_AGENT,
        )
    finally:
        engine.close()
    table = mailhost("activity", "ann@example.org", home=home)
    assert table.returncode == 0, table.stderr
    assert "signed in" in table.stdout
    assert controls_in(table.stdout + table.stderr) == []
    assert "https://" not in table.stdout
    assert "www." not in table.stdout
    assert "restore now at [link removed] [31m" in table.stdout
    # JSON is data for a program: escaped by json.dumps, nothing removed.
    as_json = mailhost("activity", "ann@example.org", "--json", home=home)
    assert as_json.returncode == 0, as_json.stderr
    assert controls_in(as_json.stdout) == []
    [login] = [e for e in json.loads(as_json.stdout) if e["kind"] == "login"]
    assert login["device"].startswith(HOSTILE_AGENT)


@pytest.mark.parametrize(
    "locale", [{}, {"LC_ALL": "C", "LANG": "C"}], ids=["utf-8", "c-locale"]
)
def test_a_password_on_stdin_that_is_not_utf8_exits_2(
    tmp_path: Path, locale: dict[str, str]
) -> None:
    # issue 7 item 15: was a traceback and exit 1 (or a lone surrogate under C)
    found_org(tmp_path)
    result = mailhost_bytes(
        *user_create("bob@example.org"),
        stdin=b"a long pass\xff\xfephrase\n",
        home=tmp_path,
        env=locale,
    )
    assert result.returncode == 2, result.stderr
    assert b"password on stdin is not valid UTF-8" in result.stderr
    assert b"Traceback" not in result.stderr
    assert b"\xff" not in result.stderr
    missing = mailhost("activity", "bob@example.org", home=tmp_path)
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr or "unknown" in missing.stderr


# -- the account commands a support desk uses (issue 10, "CLI parity") ---------------

PASSPHRASE = "a long passphrase"
SECRET_ON_ARGV = "hunter2-on-argv-xyz"


def _ann(home: Path) -> None:
    found_org(home)
    created = mailhost(*user_create(), stdin=f"{PASSPHRASE}\n", home=home)
    assert created.returncode == 0, created.stderr


def _events(home: Path) -> int:
    """How many events the store holds: bad input must not add one."""
    engine = open_engine(home, background=False)
    try:
        return int(engine.host.log.recorder.max_notification_id() or 0)
    finally:
        engine.close()


def _json(result: subprocess.CompletedProcess[str]) -> Any:  # noqa: ANN401 - JSON
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_user_show_and_notifications(tmp_path: Path) -> None:
    # rule SEC-1: the new-location mail can be turned off, and back on
    _ann(tmp_path)
    shown = _json(mailhost("user", "show", "ann@example.org", "--json", home=tmp_path))
    assert shown["login"] == "ann@example.org"
    assert shown["role"] == "admin"
    assert shown["open_sessions"] == 0
    assert shown["notifications"] == {
        "new-location": True,
        "failed-login": True,
        "security-change": True,
    }
    assert "credential" not in json.dumps(shown)
    off = mailhost(
        "user",
        "notifications",
        "ann@example.org",
        "--disable",
        "new-location",
        "--json",
        home=tmp_path,
    )
    assert _json(off)["new-location"] is False
    listed = mailhost("user", "notifications", "ann@example.org", home=tmp_path)
    assert "new-location     off" in listed.stdout
    before = _events(tmp_path)
    both = mailhost(
        "user",
        "notifications",
        "ann@example.org",
        "--enable",
        "failed-login",
        "--disable",
        "failed-login",
        home=tmp_path,
    )
    assert both.returncode == 2
    assert "--enable and --disable both name failed-login" in both.stderr
    unknown = mailhost(
        "user", "notifications", "ann@example.org", "--enable", "spam", home=tmp_path
    )
    assert unknown.returncode == 2
    assert "argument --enable: invalid choice" in unknown.stderr
    assert _events(tmp_path) == before


def test_user_login_outcomes_and_tokens(tmp_path: Path) -> None:
    # rule MFA-6: --no-persist is recorded on the session
    _ann(tmp_path)
    args = ("user", "login", "ann@example.org", "--password-stdin")
    signed = mailhost(*args, "--json", stdin=f"{PASSPHRASE}\n", home=tmp_path)
    data = _json(signed)
    assert data["outcome"] == "signed-in"
    assert data["second_factor_required"] is False
    assert data["persistent"] is True
    assert "session_token" not in data
    assert "device_token" not in data
    text = mailhost(*args, stdin=f"{PASSPHRASE}\n", home=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "signed in (session" in text.stdout
    token = mailhost(
        *args,
        "--no-persist",
        "--show-token",
        "--json",
        "--ip",
        "192.0.2.7",
        stdin=f"{PASSPHRASE}\n",
        home=tmp_path,
    )
    with_token = _json(token)
    assert with_token["persistent"] is False
    assert len(with_token["session_token"]) >= 20
    engine = open_engine(tmp_path, background=False)
    try:
        record = engine.host.accounts.session(with_token["session_token"])
        assert str(record.session_id) == with_token["session_id"]
    finally:
        engine.close()
    no_json = mailhost(*args, "--show-token", stdin=f"{PASSPHRASE}\n", home=tmp_path)
    assert no_json.returncode == 2
    assert "--show-token prints tokens only in JSON" in no_json.stderr
    refused = mailhost(*args, "--json", stdin="wrong password\n", home=tmp_path)
    assert refused.returncode == 1, refused.stderr
    assert json.loads(refused.stdout)["outcome"] == "refused"
    unknown = mailhost(
        "user",
        "login",
        "nobody@example.org",
        "--password-stdin",
        stdin=f"{PASSPHRASE}\n",
        home=tmp_path,
    )
    assert unknown.returncode == 1
    assert "refused" in unknown.stderr
    assert unknown.stdout == ""
    bad_ip = mailhost(
        *args, "--ip", "not-an-ip", stdin=f"{PASSPHRASE}\n", home=tmp_path
    )
    assert bad_ip.returncode == 2
    assert "IP address" in bad_ip.stderr
    assert PASSPHRASE not in "".join(
        r.stdout + r.stderr for r in (signed, text, token, refused, unknown, bad_ip)
    )


def test_sessions_listed_and_ended(tmp_path: Path) -> None:
    # rule SEC-4: an operator ends a lost device's session by its id
    _ann(tmp_path)
    args = ("user", "login", "ann@example.org", "--password-stdin", "--json")
    first = _json(
        mailhost(
            *args,
            "--user-agent",
            HOSTILE_AGENT,
            stdin=f"{PASSPHRASE}\n",
            home=tmp_path,
        )
    )
    second = _json(
        mailhost(*args, "--no-persist", stdin=f"{PASSPHRASE}\n", home=tmp_path)
    )
    listed = _json(
        mailhost("user", "sessions", "ann@example.org", "--json", home=tmp_path)
    )
    assert [s["session_id"] for s in listed] == [
        first["session_id"],
        second["session_id"],
    ]
    assert [s["persistent"] for s in listed] == [True, False]
    table = mailhost("user", "sessions", "ann@example.org", home=tmp_path)
    assert controls_in(table.stdout) == []
    assert "https://" not in table.stdout
    assert "until browser closes" in table.stdout
    ended = mailhost(
        "user",
        "log-out",
        "ann@example.org",
        "--session",
        first["session_id"],
        "--json",
        home=tmp_path,
    )
    assert _json(ended)["ended"] == [first["session_id"]]
    again = mailhost(
        "user",
        "log-out",
        "ann@example.org",
        "--session",
        first["session_id"],
        home=tmp_path,
    )
    assert again.returncode == 2
    assert "is not active" in again.stderr
    malformed = mailhost(
        "user", "log-out", "ann@example.org", "--session", "42", home=tmp_path
    )
    assert malformed.returncode == 2
    assert "argument --session" in malformed.stderr
    neither = mailhost("user", "log-out", "ann@example.org", home=tmp_path)
    assert neither.returncode == 2
    assert "--session --all is required" in neither.stderr
    everything = _json(
        mailhost("user", "log-out", "ann@example.org", "--all", "--json", home=tmp_path)
    )
    assert everything["ended"] == [second["session_id"]]
    assert (
        _json(mailhost("user", "sessions", "ann@example.org", "--json", home=tmp_path))
        == []
    )


def test_password_and_phone_changes(tmp_path: Path) -> None:
    # rule SEC-4, rule SEC-5
    _ann(tmp_path)
    login = ("user", "login", "ann@example.org", "--password-stdin", "--json")
    session = _json(mailhost(*login, stdin=f"{PASSPHRASE}\n", home=tmp_path))
    before = _events(tmp_path)
    one_line = mailhost(
        "user",
        "password",
        "ann@example.org",
        "--password-stdin",
        stdin=f"{PASSPHRASE}\n",
        home=tmp_path,
    )
    assert one_line.returncode == 2
    assert "expected two lines" in one_line.stderr
    assert _events(tmp_path) == before
    changed = mailhost(
        "user",
        "password",
        "ann@example.org",
        "--password-stdin",
        "--json",
        stdin=f"{PASSPHRASE}\nan even longer passphrase\n",
        home=tmp_path,
    )
    assert _json(changed)["ended_sessions"] == [session["session_id"]]
    old = mailhost(*login, stdin=f"{PASSPHRASE}\n", home=tmp_path)
    assert old.returncode == 1
    new = mailhost(*login, stdin="an even longer passphrase\n", home=tmp_path)
    assert _json(new)["outcome"] == "signed-in"
    phone = ("user", "phone", "ann@example.org", "--password-stdin", "--json")
    moved = mailhost(
        *phone,
        "--country-code",
        "41",
        "--number",
        "079 123 45 67",
        stdin="an even longer passphrase\n",
        home=tmp_path,
    )
    assert _json(moved)["recovery_phone"] == "+41791234567"
    before = _events(tmp_path)
    bad = mailhost(
        *phone,
        "--country-code",
        "41",
        "--number",
        "12",
        stdin="an even longer passphrase\n",
        home=tmp_path,
    )
    assert bad.returncode == 2
    assert "phone number" in bad.stderr
    assert _events(tmp_path) == before
    shown = _json(mailhost("user", "show", "ann@example.org", "--json", home=tmp_path))
    assert shown["recovery_phone"] == "+41791234567"


@pytest.mark.parametrize(
    "command",
    [
        ("user", "login", "ann@example.org"),
        ("user", "password", "ann@example.org"),
        ("user", "phone", "ann@example.org", "--country-code", "41", "--number", "1"),
        ("user", "create", "bob@example.org", "--org", "Example Co"),
    ],
    ids=["login", "password", "phone", "create"],
)
def test_a_password_on_argv_is_refused_and_never_echoed(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    # rule SEC-6: passwords on stdin only; a mistyped one is not repeated either
    _ann(tmp_path)
    before = _events(tmp_path)
    for extra in (
        ("--password", SECRET_ON_ARGV),
        (f"--password={SECRET_ON_ARGV}",),
        (f"--password-stdin={SECRET_ON_ARGV}",),
        (f"--pass={SECRET_ON_ARGV}",),
        ("--password-stdin", SECRET_ON_ARGV),
    ):
        result = mailhost(*command, *extra, stdin=f"{PASSPHRASE}\n", home=tmp_path)
        assert result.returncode == 2, (extra, result.stderr)
        assert SECRET_ON_ARGV not in result.stdout + result.stderr, extra
        assert "error:" in result.stderr
    assert _events(tmp_path) == before


def test_org_enforce_two_step(tmp_path: Path) -> None:
    # rule ORG-2, rule MFA-7: a member without a factor gets an enrol-only session
    _ann(tmp_path)
    bob = mailhost(
        *user_create("bob@example.org"), stdin=f"{PASSPHRASE}\n", home=tmp_path
    )
    assert bob.returncode == 0, bob.stderr
    refused = mailhost(
        "org", "enforce-2fa", "Example Co", "--by", "bob@example.org", home=tmp_path
    )
    assert refused.returncode == 2, refused.stderr
    enforced = mailhost(
        "org",
        "enforce-2fa",
        "Example Co",
        "--by",
        "ann@example.org",
        "--json",
        home=tmp_path,
    )
    assert _json(enforced)["enforces_two_step"] is True
    login = mailhost(
        "user",
        "login",
        "bob@example.org",
        "--password-stdin",
        "--json",
        stdin=f"{PASSPHRASE}\n",
        home=tmp_path,
    )
    data = _json(login)
    assert data["outcome"] == "signed-in"
    assert data["enrol_required"] is True
    assert data["restricted"] is True
    relaxed = mailhost(
        "org",
        "enforce-2fa",
        "Example Co",
        "--off",
        "--by",
        "ann@example.org",
        "--json",
        home=tmp_path,
    )
    assert _json(relaxed)["enforces_two_step"] is False
    after = _json(
        mailhost(
            "user",
            "login",
            "bob@example.org",
            "--password-stdin",
            "--json",
            stdin=f"{PASSPHRASE}\n",
            home=tmp_path,
        )
    )
    assert after["restricted"] is False
