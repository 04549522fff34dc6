"""The ``mailhost`` entry point (``infrastructure/cli/__init__.py``): its parser, its
help, its exit statuses and the one line a failure prints."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infrastructure.cli import _parser, accounts, main
from tests.integration.clisupport import REPO, controls_in, mailhost


def test_help_shows_examples() -> None:
    result = mailhost("--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout
    assert "mailhost demo --home" in result.stdout
    assert "example:" in mailhost("user", "create", "--help").stdout


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


def test_every_command_has_help_with_an_example(
    capsys: pytest.CaptureFixture[str],
) -> None:
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
    def fail(_: argparse.Namespace) -> int:
        raise error

    monkeypatch.setattr(accounts, "_org_create", fail)
    assert main(["org", "create", "X"]) == status
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
    with pytest.raises(SystemExit) as exited:
        main(["org", "create", "X", "--\x1b]0;owned\x07"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" in err
    assert controls_in(err) == []
