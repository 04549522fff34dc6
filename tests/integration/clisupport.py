"""Running ``mailhost`` as an operator does: a real process, its exit status, its text."""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
from collections.abc import Mapping
from pathlib import Path

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


def mailhost(
    *args: str, stdin: str = "", home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=_environment(home, {}),
        timeout=120,
        check=False,
    )


def mailhost_bytes(
    *args: str,
    stdin: bytes,
    home: Path,
    env: Mapping[str, str | None] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """``mailhost`` fed bytes, whatever they decode to, in the environment ``env`` changes."""
    return subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        env=_environment(home, env or {}),
        timeout=120,
        check=False,
    )
