"""The ``mailhost`` command as an operator runs it: real processes, exit statuses."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from infrastructure.bootstrap import open_engine

REPO = Path(__file__).resolve().parents[2]
HOSTILE_AGENT = "restore now at https://evil.example/restore \x1b[31m\x07"
# What a terminal obeys: controls (ESC, BEL, ...), format characters (bidi overrides),
# line and paragraph separators, lone surrogates.
TERMINAL_CONTROLS = {"Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs"}


def controls_in(text: str) -> list[str]:
    """Characters of ``text`` a terminal would obey, other than line ends."""
    return [
        c for c in text if c != "\n" and unicodedata.category(c) in TERMINAL_CONTROLS
    ]


def mailhost(
    *args: str, stdin: str = "", home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    env.pop("MAILHOST_BROKER_URL", None)
    if home is not None:
        env["MAILHOST_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
        check=False,
    )


def mailhost_bytes(
    *args: str, stdin: bytes, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``mailhost`` fed bytes, whatever they decode to, in the locale of ``env``."""
    run_env = {**os.environ, "MAILHOST_HOME": str(home), **(env or {})}
    run_env.pop("MAILHOST_BROKER_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        env=run_env,
        timeout=120,
        check=False,
    )


def test_help_shows_examples() -> None:
    result = mailhost("--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout
    assert "mailhost demo --home" in result.stdout
    assert "example:" in mailhost("user", "create", "--help").stdout


def test_demo_runs_the_scenario_and_prints_activity(tmp_path: Path) -> None:
    # rule SEC-1, rule SEC-2, rule SEC-3, rule SEC-4
    # A window wider than the burst takes even on a loaded machine: one aggregated mail.
    result = mailhost("demo", "--home", str(tmp_path), "--window", "5")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "alert mail = True" in out
    assert "(known device): alert mail = False" in out
    assert re.search(r"wrong password x30", out)
    assert "failed login (30 attempts)" in out
    assert f"Event store: {tmp_path / 'events.sqlite'}" in out
    mails = list((tmp_path / "outbox").glob("*.eml"))
    # first device, new place, one aggregated failure mail, the change, two auto-replies
    assert len(mails) == 6
    assert "17. Bob writes again: reply = False (RSP-4" in out
    assert "18. A mailing list writes: reply = False (RSP-7" in out
    assert "19. After a reset of 'Holidays', Bob writes: reply = True" in out
    passwords = re.findall(r"\(shown once\): (\S+)", out)
    assert len(passwords) == 4  # two account passwords, two generated ones
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    for password in passwords:
        assert password.encode() not in stored
    for part in (
        "CSV import of 4 rows refused",
        "line 4, column address",
        "4 addresses created",
        "Deleted info@example.org",
        "6 of 8 address slot(s)",
        "[ADV-4]",
    ):
        assert part in out
    again = mailhost("demo", "--home", str(tmp_path), "--window", "5")
    assert again.returncode == 0, again.stderr
    assert "ann+2@example.org" in again.stdout
    assert "Mail service example2.org" in again.stdout


def test_operator_commands_and_json(tmp_path: Path) -> None:
    assert mailhost("org", "create", "Example Co", home=tmp_path).returncode == 0
    created = mailhost(
        "user",
        "create",
        "ann@example.org",
        "--org",
        "Example Co",
        "--password-stdin",
        "--json",
        stdin="a long passphrase\n",
        home=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["login"] == "ann@example.org"
    activity = mailhost("activity", "ann@example.org", "--json", home=tmp_path)
    assert activity.returncode == 0, activity.stderr
    assert [e["outcome"] for e in json.loads(activity.stdout)] == ["registered"]
    assert "a long passphrase" not in created.stdout + created.stderr


def test_bad_input_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    assert mailhost("org", "create", "Example Co", home=tmp_path).returncode == 0
    cases = [
        (
            (
                "user",
                "create",
                "not-an-address",
                "--org",
                "Example Co",
                "--password-stdin",
            ),
            "a long passphrase",
            "not a valid mail address",
        ),
        (
            (
                "user",
                "create",
                "bob@example.org",
                "--org",
                "Example Co",
                "--password-stdin",
            ),
            "",
            "password is empty",
        ),
        (
            ("user", "create", "bob@example.org", "--org", "Nope", "--password-stdin"),
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


def test_bad_configuration_exits_2(tmp_path: Path) -> None:
    env_home = tmp_path
    result = subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", "org", "create", "X"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
        env={
            **os.environ,
            "MAILHOST_HOME": str(env_home),
            "PERSISTENCE_MODULE": "nosuch",
        },
    )
    assert result.returncode == 2
    assert "PERSISTENCE_MODULE" in result.stderr


def test_mail_service_commands(tmp_path: Path) -> None:
    # rule ADR-1, rule ADR-4, rule ADR-6, rule ADR-9, rule ADR-11, rule ADV-4
    def ok(*args: str, stdin: str = "") -> str:
        result = mailhost(*args, stdin=stdin, home=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout

    ok("org", "create", "Example Co")
    ok(
        "user",
        "create",
        "ann@example.net",
        "--org",
        "Example Co",
        "--password-stdin",
        stdin="a long passphrase",
    )
    ok("service", "create", "example.org", "--org", "Example Co", "--quota", "2")
    created = json.loads(ok("address", "create", "info@example.org", "--json"))
    assert created["password"]
    ok("address", "create", "ann@example.org", "--for", "ann@example.net")
    full = mailhost("address", "create", "x@example.org", home=tmp_path)
    assert full.returncode == 2
    assert "no free address slot" in full.stderr
    ok("service", "quota", "example.org", "--add", "3")
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("address,kind\nbob,mailbox\nbad..dots,mailbox\n")
    refused = mailhost(
        "address", "import-csv", "example.org", str(csv_file), home=tmp_path
    )
    assert refused.returncode == 2
    assert "line 3" in refused.stdout
    csv_file.write_text("address,kind\nbob,mailbox\ncarol,mailbox\n")
    ok("address", "import-csv", "example.org", str(csv_file))
    listing = json.loads(ok("address", "list", "example.org", "--json"))
    assert listing["used"] == 4
    assert [a["address"] for a in listing["addresses"]] == [
        "ann@example.org",
        "bob@example.org",
        "carol@example.org",
        "info@example.org",
    ]
    ok("address", "delete", "bob@example.org", "carol@example.org")
    assert json.loads(ok("address", "list", "example.org", "--json"))["used"] == 2
    ok(
        "address",
        "password",
        "info@example.org",
        "--password-stdin",
        stdin="info passphrase 2",
    )
    ok("address", "permission", "ann@example.org", "ann@example.net", "send", "deny")
    sent = json.loads(
        ok(
            "send",
            "--from",
            "info@example.org",
            "--to",
            "a@example.net",
            "--bcc",
            "b@example.net",
            "--subject",
            "Hi",
            "--json",
            stdin="Hello",
        )
    )
    assert sorted(sent["recipients"]) == ["a@example.net", "b@example.net"]
    [eml] = [
        p
        for p in (tmp_path / "outbox").glob("*.eml")
        if b"Subject: Hi" in p.read_bytes()
    ]
    assert b"\nBcc:" not in eml.read_bytes()
    advice = json.loads(ok("advise", "example.org", "--json"))
    assert [a["rule"] for a in advice] == ["ADV-4"]
    bad = mailhost(
        "address",
        "permission",
        "ann@example.org",
        "ann@example.net",
        "fly",
        "allow",
        home=tmp_path,
    )
    assert bad.returncode == 2
    assert "unknown permission 'fly'" in bad.stderr


def test_every_command_has_help_with_an_example(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from infrastructure.cli import _parser, main  # noqa: PLC0415

    def leaves(
        parser: argparse.ArgumentParser, path: tuple[str, ...]
    ) -> list[tuple[str, ...]]:
        found = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    found += leaves(child, (*path, name))
        return found or [path]

    commands = leaves(_parser(), ())
    assert len(commands) > 25
    for command in commands:
        with pytest.raises(SystemExit) as exited:
            main([*command, "--help"])
        assert exited.value.code == 0, command
        out = capsys.readouterr().out
        assert "example" in out, command
        assert "--home" in out, command


# -- hostile text (issue 7) -------------------------------------------------------------


def test_activity_writes_no_control_character_to_the_terminal(tmp_path: Path) -> None:
    # rule ADV-5, rule SEC-3: a User-Agent and a place are outside text
    places = tmp_path / "places.csv"
    places.write_text(
        '192.0.2.0,192.0.2.255,"Geneva \x1b]0;owned\x07 www.evil.example \u202e"\n'
    )
    home = tmp_path / "home"
    assert mailhost("org", "create", "Example Co", home=home).returncode == 0
    created = mailhost(
        "user",
        "create",
        "ann@example.org",
        "--org",
        "Example Co",
        "--password-stdin",
        stdin="a long passphrase\n",
        home=home,
    )
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
    assert mailhost("org", "create", "Example Co", home=tmp_path).returncode == 0
    result = mailhost_bytes(
        "user",
        "create",
        "bob@example.org",
        "--org",
        "Example Co",
        "--password-stdin",
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


def test_a_signature_template_that_could_never_be_applied_is_refused_when_saved(
    tmp_path: Path,
) -> None:
    # rule ADR-12, issue 7 item 11: was saved, then `--apply` exited 2 for ever after
    assert mailhost("org", "create", "Example Co", home=tmp_path).returncode == 0
    service = mailhost(
        "service",
        "create",
        "example.org",
        "--org",
        "Example Co",
        "--quota",
        "3",
        home=tmp_path,
    )
    assert service.returncode == 0, service.stderr
    address = mailhost("address", "create", "info@example.org", home=tmp_path)
    assert address.returncode == 0, address.stderr
    for text in (b"Example Co\x00", b"Example Co \x1b[31m", b"Example Co \xff"):
        refused = mailhost_bytes(
            "service",
            "template",
            "example.org",
            "Legal",
            "--apply",
            stdin=text,
            home=tmp_path,
        )
        assert refused.returncode == 2, (text, refused.stderr)
        assert b"Traceback" not in refused.stderr
        assert controls_in(refused.stderr.decode()) == []
    unknown = mailhost(
        "address", "create", "x@example.org", "--signature", "Legal", home=tmp_path
    )
    assert unknown.returncode == 2
    assert "signature template 'Legal' does not exist" in unknown.stderr
    applied = mailhost(
        "service",
        "template",
        "example.org",
        "Legal",
        "--apply",
        stdin="Example Co\r\nGeneva\n",
        home=tmp_path,
    )
    assert applied.returncode == 0, applied.stderr
    assert "applied to 1 mailbox(es)" in applied.stdout


def test_a_responder_template_subject_longer_than_a_message_subject_is_refused(
    tmp_path: Path,
) -> None:
    # rule ADR-12: the responder message it becomes allows 200 characters
    assert mailhost("org", "create", "Example Co", home=tmp_path).returncode == 0
    service = mailhost(
        "service",
        "create",
        "example.org",
        "--org",
        "Example Co",
        "--quota",
        "3",
        home=tmp_path,
    )
    assert service.returncode == 0, service.stderr
    refused = mailhost(
        "responder",
        "template",
        "example.org",
        "Closed",
        "--body",
        "Closed.",
        "--subject",
        "s" * 300,
        home=tmp_path,
    )
    assert refused.returncode == 2, refused.stderr
    assert "responder template 'Closed' subject is longer than 200" in refused.stderr
    missing = mailhost(
        "address",
        "create",
        "x@example.org",
        "--responder-template",
        "Closed",
        home=tmp_path,
    )
    assert missing.returncode == 2
    assert "responder template 'Closed' does not exist" in missing.stderr


@pytest.mark.parametrize(
    ("error", "status", "shown"),
    [
        (RuntimeError("broken \x1b[2J\x07 at https://evil.example/x"), 1, "broken"),
        (ValueError("year 0 is out of range \x1b[31m"), 2, "year 0 is out of range"),
        (
            UnicodeDecodeError("utf-8", b"secret\xff", 6, 7, "invalid start byte"),
            2,
            "the input is not valid UTF-8",
        ),
    ],
)
def test_a_failure_prints_one_line_without_control_characters(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    status: int,
    shown: str,
) -> None:
    # issue 7 item 15: bad input exits 2; the exit-1 message cannot drive the terminal
    from infrastructure import cli  # noqa: PLC0415

    def fail(_: argparse.Namespace) -> int:
        raise error

    monkeypatch.setattr(cli, "_org_create", fail)
    assert cli.main(["org", "create", "X"]) == status
    captured = capsys.readouterr()
    assert captured.out == ""
    assert shown in captured.err
    assert controls_in(captured.err) == []
    assert "https://" not in captured.err
    assert "secret" not in captured.err
    assert len(captured.err.splitlines()) == 1


def test_a_usage_error_does_not_echo_control_characters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from infrastructure.cli import main  # noqa: PLC0415

    with pytest.raises(SystemExit) as exited:
        main(["org", "create", "X", "--\x1b]0;owned\x07"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" in err
    assert controls_in(err) == []
