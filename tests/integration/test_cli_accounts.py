"""``mailhost org|user|activity`` (``infrastructure/cli/accounts.py``): real processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infrastructure.bootstrap import open_engine
from tests.integration.clisupport import (
    PASSPHRASE,
    assert_exit,
    controls_in,
    found_ann,
    found_org,
    json_of,
    mailhost,
    mailhost_bytes,
    stored_events,
    user_create,
    with_passphrase,
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

SECRET_ON_ARGV = "hunter2-on-argv-xyz"
NEW_PASSPHRASE = "an even longer passphrase"


def test_user_show_and_notifications(tmp_path: Path) -> None:
    # rule SEC-1: the new-location mail can be turned off, and back on
    found_ann(tmp_path)
    shown = json_of(
        mailhost("user", "show", "ann@example.org", "--json", home=tmp_path)
    )
    assert shown["login"] == "ann@example.org"
    assert shown["role"] == "admin"
    assert shown["open_sessions"] == 0
    assert shown["notifications"] == {
        "new-location": True,
        "failed-login": True,
        "security-change": True,
    }
    assert "credential" not in json.dumps(shown)
    notify = ("user", "notifications", "ann@example.org")
    off = mailhost(*notify, "--disable", "new-location", "--json", home=tmp_path)
    assert json_of(off)["new-location"] is False
    listed = mailhost(*notify, home=tmp_path)
    assert "new-location     off" in listed.stdout
    before = stored_events(tmp_path)
    both = ("--enable", "failed-login", "--disable", "failed-login")
    assert_exit(
        mailhost(*notify, *both, home=tmp_path),
        2,
        "--enable and --disable both name failed-login",
    )
    assert_exit(
        mailhost(*notify, "--enable", "spam", home=tmp_path),
        2,
        "argument --enable: invalid choice",
    )
    assert stored_events(tmp_path) == before


def test_user_login_outcomes_and_tokens(tmp_path: Path) -> None:
    # rule MFA-6: --no-persist is recorded on the session
    found_ann(tmp_path)
    args = ("user", "login", "ann@example.org", "--password-stdin")
    signed = with_passphrase(*args, "--json", home=tmp_path)
    data = json_of(signed)
    assert data["outcome"] == "signed-in"
    assert data["second_factor_required"] is False
    assert data["persistent"] is True
    assert "session_token" not in data
    assert "device_token" not in data
    text = with_passphrase(*args, home=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "signed in (session" in text.stdout
    kept = ("--no-persist", "--show-token", "--json")
    token = with_passphrase(*args, *kept, "--ip", "192.0.2.7", home=tmp_path)
    with_token = json_of(token)
    assert with_token["persistent"] is False
    assert len(with_token["session_token"]) >= 20
    engine = open_engine(tmp_path, background=False)
    try:
        record = engine.host.accounts.session(with_token["session_token"])
        assert str(record.session_id) == with_token["session_id"]
    finally:
        engine.close()
    assert_exit(
        with_passphrase(*args, "--show-token", home=tmp_path),
        2,
        "--show-token prints tokens only in JSON",
    )
    refused = mailhost(*args, "--json", stdin="wrong password\n", home=tmp_path)
    assert refused.returncode == 1, refused.stderr
    assert json.loads(refused.stdout)["outcome"] == "refused"
    unknown = with_passphrase(
        "user",
        "login",
        "nobody@example.org",
        "--password-stdin",
        home=tmp_path,
    )
    assert unknown.returncode == 1
    assert "refused" in unknown.stderr
    assert unknown.stdout == ""
    bad_ip = with_passphrase(*args, "--ip", "not-an-ip", home=tmp_path)
    assert bad_ip.returncode == 2
    assert "IP address" in bad_ip.stderr
    assert PASSPHRASE not in "".join(
        r.stdout + r.stderr for r in (signed, text, token, refused, unknown, bad_ip)
    )


def test_sessions_listed_and_ended(tmp_path: Path) -> None:
    # rule SEC-4: an operator ends a lost device's session by its id
    found_ann(tmp_path)
    args = ("user", "login", "ann@example.org", "--password-stdin", "--json")
    first = json_of(
        with_passphrase(
            *args,
            "--user-agent",
            HOSTILE_AGENT,
            home=tmp_path,
        )
    )
    second = json_of(with_passphrase(*args, "--no-persist", home=tmp_path))
    listed = json_of(
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
    assert json_of(ended)["ended"] == [first["session_id"]]
    assert_exit(
        mailhost(
            "user",
            "log-out",
            "ann@example.org",
            "--session",
            first["session_id"],
            home=tmp_path,
        ),
        2,
        "is not active",
    )
    assert_exit(
        mailhost(
            "user", "log-out", "ann@example.org", "--session", "42", home=tmp_path
        ),
        2,
        "argument --session",
    )
    assert_exit(
        mailhost("user", "log-out", "ann@example.org", home=tmp_path),
        2,
        "--session --all is required",
    )
    everything = json_of(
        mailhost("user", "log-out", "ann@example.org", "--all", "--json", home=tmp_path)
    )
    assert everything["ended"] == [second["session_id"]]
    assert (
        json_of(
            mailhost("user", "sessions", "ann@example.org", "--json", home=tmp_path)
        )
        == []
    )


def test_password_and_phone_changes(tmp_path: Path) -> None:
    # rule SEC-4, rule SEC-5
    found_ann(tmp_path)
    login = ("user", "login", "ann@example.org", "--password-stdin", "--json")
    session = json_of(with_passphrase(*login, home=tmp_path))
    before = stored_events(tmp_path)
    assert_exit(
        with_passphrase(
            "user",
            "password",
            "ann@example.org",
            "--password-stdin",
            home=tmp_path,
        ),
        2,
        "expected two lines",
    )
    assert stored_events(tmp_path) == before
    changed = mailhost(
        "user",
        "password",
        "ann@example.org",
        "--password-stdin",
        "--json",
        stdin=f"{PASSPHRASE}\n{NEW_PASSPHRASE}\n",
        home=tmp_path,
    )
    assert json_of(changed)["ended_sessions"] == [session["session_id"]]
    old = with_passphrase(*login, home=tmp_path)
    assert old.returncode == 1
    new = with_passphrase(*login, home=tmp_path, passphrase=NEW_PASSPHRASE)
    assert json_of(new)["outcome"] == "signed-in"
    phone = ("user", "phone", "ann@example.org", "--password-stdin", "--json")
    moved = with_passphrase(
        *phone,
        "--country-code",
        "41",
        "--number",
        "079 123 45 67",
        home=tmp_path,
        passphrase=NEW_PASSPHRASE,
    )
    assert json_of(moved)["recovery_phone"] == "+41791234567"
    before = stored_events(tmp_path)
    bad = with_passphrase(
        *phone,
        "--country-code",
        "41",
        "--number",
        "12",
        home=tmp_path,
        passphrase=NEW_PASSPHRASE,
    )
    assert_exit(bad, 2, "phone number")
    assert stored_events(tmp_path) == before
    shown = json_of(
        mailhost("user", "show", "ann@example.org", "--json", home=tmp_path)
    )
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
    found_ann(tmp_path)
    before = stored_events(tmp_path)
    for extra in (
        ("--password", SECRET_ON_ARGV),
        (f"--password={SECRET_ON_ARGV}",),
        (f"--password-stdin={SECRET_ON_ARGV}",),
        (f"--pass={SECRET_ON_ARGV}",),
        ("--password-stdin", SECRET_ON_ARGV),
    ):
        result = with_passphrase(*command, *extra, home=tmp_path)
        assert result.returncode == 2, (extra, result.stderr)
        assert SECRET_ON_ARGV not in result.stdout + result.stderr, extra
        assert "error:" in result.stderr
    assert stored_events(tmp_path) == before


def test_org_enforce_two_step(tmp_path: Path) -> None:
    # rule ORG-2, rule MFA-7: a member without a factor gets an enrol-only session
    found_ann(tmp_path)
    bob = with_passphrase(*user_create("bob@example.org"), home=tmp_path)
    assert bob.returncode == 0, bob.stderr
    enforce = ("org", "enforce-2fa", "Example Co")
    refused = mailhost(*enforce, "--by", "bob@example.org", home=tmp_path)
    assert refused.returncode == 2, refused.stderr
    enforced = mailhost(*enforce, "--by", "ann@example.org", "--json", home=tmp_path)
    assert json_of(enforced)["enforces_two_step"] is True
    bob_login = ("user", "login", "bob@example.org", "--password-stdin", "--json")
    data = json_of(with_passphrase(*bob_login, home=tmp_path))
    assert data["outcome"] == "signed-in"
    assert data["enrol_required"] is True
    assert data["restricted"] is True
    relaxed = mailhost(
        *enforce, "--off", "--by", "ann@example.org", "--json", home=tmp_path
    )
    assert json_of(relaxed)["enforces_two_step"] is False
    after = json_of(with_passphrase(*bob_login, home=tmp_path))
    assert after["restricted"] is False
