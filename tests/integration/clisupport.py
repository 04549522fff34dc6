"""Running ``mailhost`` as an operator does: a real process, its exit status, its text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from infrastructure.bootstrap import open_engine

REPO = Path(__file__).resolve().parents[2]
# What a terminal obeys: controls (ESC, BEL, ...), format characters (bidi overrides),
# line and paragraph separators, lone surrogates.
TERMINAL_CONTROLS = {"Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs"}


def controls_in(text: str) -> list[str]:
    """Characters of ``text`` a terminal would obey, other than line ends."""
    return [
        c for c in text if c != "\n" and unicodedata.category(c) in TERMINAL_CONTROLS
    ]


def _environment(
    home: Path | None, changes: Mapping[str, str | None]
) -> dict[str, str]:
    """This process's environment, embedded (no broker), ``changes`` applied (None: unset)."""
    env = {**os.environ}
    env.pop("MAILHOST_BROKER_URL", None)
    if home is not None:
        env["MAILHOST_HOME"] = str(home)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _run(
    args: tuple[str, ...],
    stdin: str | bytes,
    home: Path | None,
    env: Mapping[str, str | None],
    *,
    fds: Sequence[int] = (),
    timeout: float = 120,
) -> subprocess.CompletedProcess[Any]:
    return subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", *args],
        input=stdin,
        capture_output=True,
        text=isinstance(stdin, str),
        cwd=REPO,
        env=_environment(home, env),
        pass_fds=tuple(fds),
        timeout=timeout,
        check=False,
    )


def mailhost(
    *args: str, stdin: str = "", home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    result: subprocess.CompletedProcess[str] = _run(args, stdin, home, {})
    return result


def mailhost_passing(
    *args: str,
    home: Path,
    stdin: str = "",
    fds: Sequence[int] = (),
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``mailhost`` with descriptors ``fds`` passed to it, given time for long jobs."""
    result: subprocess.CompletedProcess[str] = _run(
        args, stdin, home, env or {}, fds=fds, timeout=300
    )
    return result


def mailhost_bytes(
    *args: str,
    stdin: bytes,
    home: Path,
    env: Mapping[str, str | None] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """``mailhost`` fed bytes, whatever they decode to, in the environment ``env`` changes."""
    result: subprocess.CompletedProcess[bytes] = _run(args, stdin, home, env or {})
    return result


ORG = "Example Co"


def user_create(login: str = "ann@example.org", org: str = ORG) -> tuple[str, ...]:
    """The arguments of ``mailhost user create`` with the password on standard input."""
    return ("user", "create", login, "--org", org, "--password-stdin")


def found_org(home: Path) -> None:
    """The organisation every CLI test starts from, founded by ``mailhost org create``."""
    assert mailhost("org", "create", ORG, home=home).returncode == 0


PASSPHRASE = "a long passphrase"
ANN = "ann@example.org"


def found_ann(home: Path) -> None:
    """The organisation and its first member, ann, whose password is ``PASSPHRASE``."""
    found_org(home)
    created = with_passphrase(*user_create(), home=home)
    assert created.returncode == 0, created.stderr


def with_passphrase(
    *args: str, home: Path, passphrase: str = PASSPHRASE
) -> subprocess.CompletedProcess[str]:
    """``mailhost`` with a password on standard input, the only place it may be."""
    return mailhost(*args, stdin=f"{passphrase}\n", home=home)


def stored_events(home: Path) -> int:
    """How many events the store holds: bad input must not add one."""
    engine = open_engine(home, background=False)
    try:
        return int(engine.host.log.recorder.max_notification_id() or 0)
    finally:
        engine.close()


def json_of(result: subprocess.CompletedProcess[str]) -> Any:  # noqa: ANN401 - JSON
    """The JSON a command printed, once it has exited 0."""
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_exit(
    result: subprocess.CompletedProcess[str], status: int, says: str
) -> None:
    """The command exited with ``status`` and its standard error says ``says``."""
    assert result.returncode == status, result.stderr
    assert says in result.stderr, result.stderr


def mailhost_to_gone_reader(
    *args: str, home: Path, env: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """``mailhost`` writing to a pipe whose reader has left before its first line
    (``mailhost audit export | head`` once head is done): its status and stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "infrastructure.cli", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=_environment(home, env or {}),
    )
    if process.stdout is None or process.stderr is None:
        raise RuntimeError("the pipes were asked for")
    process.stdout.close()
    err = process.stderr.read().decode()
    return process.wait(timeout=120), err
