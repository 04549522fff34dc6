"""Running ``mailhost`` as an operator does: a real process, its exit status, its text."""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
) -> subprocess.CompletedProcess[Any]:
    return subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", *args],
        input=stdin,
        capture_output=True,
        text=isinstance(stdin, str),
        cwd=REPO,
        env=_environment(home, env),
        timeout=120,
        check=False,
    )


def mailhost(
    *args: str, stdin: str = "", home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    result: subprocess.CompletedProcess[str] = _run(args, stdin, home, {})
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
