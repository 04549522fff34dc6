"""The ``mailhost`` command as an operator runs it: real processes, exit statuses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


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
    assert (
        len(mails) == 4
    )  # first device, new place, one aggregated failure mail, change
    passwords = re.findall(r"\(shown once\): (\S+)", out)
    assert len(passwords) == 2
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    for password in passwords:
        assert password.encode() not in stored
    again = mailhost("demo", "--home", str(tmp_path), "--window", "5")
    assert again.returncode == 0, again.stderr
    assert "ann+2@example.org" in again.stdout


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
