"""``mailhost org|user|activity`` (``infrastructure/cli/accounts.py``): real processes."""

from __future__ import annotations

import json
from pathlib import Path

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
