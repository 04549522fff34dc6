"""What the hostile cases share: the hostile values, the snapshots, the CLI runners.

A refused command must leave every store as it was. A snapshot reads each store the way
an auditor would, from outside the engine: every row of every table of the event log, the
credential store and the read models, and the name and content of every file under the
test's folder (the mail store's passwd-file and maildirs, the outbox, and anything a path
traversal might have created next to them). Two snapshots are compared store by store, so
a failure says which store was written.
"""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import subprocess
import sys
import traceback
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from attrs import frozen

REPO = Path(__file__).resolve().parents[2]
DATABASES = ("events.sqlite", "credentials.sqlite", "views.sqlite")
# Engine settings a developer's shell may hold; every case runs without them.
CLEARED_PREFIXES = ("MAILHOST_", "POSTGRES_", "SQLITE_", "CIPHER_")
CLEARED_NAMES = frozenset(
    {"PERSISTENCE_MODULE", "MAPPER_TOPIC", "CREATE_TABLE", "COMPRESSOR_TOPIC"}
)
MB = 1024 * 1024

# -- hostile values ------------------------------------------------------------------------

# One line of a user's own text (a name, a subject): each must be refused.
LINE: Mapping[str, str] = {
    "nul": "Ann\x00Evil",
    "esc": "Ann\x1b[31mred\x07",
    "crlf": "Ann\r\nBcc: evil@example.net",
    "lf": "Ann\nX-Evil: 1",
    "vt": "Ann\x0bEvil",
    "ff": "Ann\x0cEvil",
    "u2028": "Ann\u2028Evil",
    "bidi": "Ann\u202eliveE",
    "c1-csi": "Ann\x9b31mEvil",
    "surrogate": "Ann\udcffEvil",
    "huge": "A" * 100_000,
}
# Several lines of a user's own text (a body, a signature): line breaks and tabs are
# allowed, the rest is refused.
BLOCK: Mapping[str, str] = {
    "nul": "Back on\x00Monday.",
    "esc": "Back on \x1b[2J\x1b[31mMonday.\x07",
    "bidi": "Back on \u202eyadnoM.",
    "c1-csi": "Back on \x9b31mMonday.",
    "surrogate": "Back on \udcffMonday.",
    "huge": "B" * 300_000,
}
# An address this provider hosts (in example.org), or looks up.
HOSTED: Mapping[str, str] = {
    "nul": "carol\x00@example.org",
    "crlf": "carol@example.org\r\nRCPT TO:<evil@example.net>",
    "esc": "\x1b[2Jcarol@example.org",
    "traversal": "../../etc/passwd@example.org",
    "traversal-domain": "carol@../../etc",
    "slash": "carol/../../x@example.org",
    "master-login": "carol*master@example.org",
    "passwd-colon": '"carol:{PLAIN}pw::::::"@example.org',
    "surrogate": "carol\udcff@example.org",
    "huge": "c" * 100_000 + "@example.org",
}
# An address outside (an invitee, a target, a recipient, a sender to verify).
EXTERNAL: Mapping[str, str] = {
    "nul": "dave\x00@example.net",
    "crlf": "dave@example.net\r\nBcc: evil@example.net",
    "lf": "dave@example.net\nBcc: evil@example.net",
    "esc": "\x1b]8;;https://evil.example/\x07dave@example.net",
    "traversal-domain": "dave@../../etc/passwd",
    "surrogate": "dave\udcff@example.net",
    "huge": "d" * 100_000 + "@example.net",
}
# A new password: NUL is SASL PLAIN's separator, a lone surrogate cannot be hashed as
# UTF-8, and a huge one is a denial of service through the password hash.
PASSWORD: Mapping[str, str] = {
    "nul": "a long\x00passphrase",
    "surrogate": "a long passphrase\udcff",
    "huge": "p" * MB,
}
DOMAIN: Mapping[str, str] = {
    "nul": "other\x00.example",
    "esc": "\x1b[31mother.example",
    "crlf": "other.example\r\nX-Evil: 1",
    "traversal": "../../etc",
    "slash": "other.example/../../x",
    "space": "oth er.example",
    "surrogate": "other\udcff.example",
    "long-label": "o" * 64 + ".example",
    "huge": "o" * 100_000 + ".example",
}
NUMBER: Mapping[str, object] = {
    "nan": float("nan"),
    "inf": float("inf"),
    "-inf": float("-inf"),
    "huge": 10**100,
    "negative": -1,
}
# A time zone is a file name under the zoneinfo folder: a path must never be read.
TIME_ZONE: Mapping[str, str] = {
    "traversal": "../../../../etc/passwd",
    "absolute": "/etc/localtime",
    "dotdot-inside": "Europe/../UTC",
    "nul": "Europe/Zurich\x00",
    "crlf": "UTC\r\nX-Evil: 1",
    "esc": "\x1b[31mUTC",
    "surrogate": "Europe/Z\udcffrich",
    "huge": "E" * 100_000,
}

# -- snapshots ------------------------------------------------------------------------------

Snapshot = dict[str, Counter[str]]


def snapshot(root: Path) -> Snapshot:
    """Every store under ``root`` (the test's folder, the engine's home inside it)."""
    stores: Snapshot = {}
    files: Counter[str] = Counter()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.name.endswith(DATABASES) or path.name.endswith(
            tuple(f"{d}{s}" for d in DATABASES for s in ("-wal", "-shm", "-journal"))
        ):
            continue
        if path.is_dir():
            files[f"{relative}/"] += 1
        elif path.is_file():
            files[f"{relative} sha256={_sha256(path)}"] += 1
    stores["files"] = files
    for database in sorted(root.rglob("*.sqlite")):
        name = database.relative_to(root).as_posix()
        for table, rows in stored_tables(database).items():
            stores[f"{name} table {table}"] = rows
    return stores


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """What was written between two snapshots, one line per store."""
    found = []
    for store in sorted(before.keys() | after.keys()):
        old, new = before.get(store, Counter()), after.get(store, Counter())
        if old == new:
            continue
        added, removed = new - old, old - new
        sample = [_short(x) for x in list(added)[:2] + list(removed)[:2]]
        found.append(
            f"{store}: +{sum(added.values())} -{sum(removed.values())} ({'; '.join(sample)})"
        )
    return found


def assert_unchanged(before: Snapshot, after: Snapshot) -> None:
    written = changes(before, after)
    assert not written, "a refused command wrote: " + " | ".join(written)


def stored_tables(database: Path) -> dict[str, Counter[str]]:
    """Every row of every table of ``database``, as text, table by table."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        ]
        return {
            name: Counter(
                repr(row)
                for row in connection.execute(f'SELECT * FROM "{name}"')  # noqa: S608 - names from sqlite_master
            )
            for name in names
        }
    finally:
        connection.close()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- checks ---------------------------------------------------------------------------------


def names_field(message: str, words: Sequence[str]) -> bool:
    folded = message.casefold()
    return any(word.casefold() in folded for word in words)


def raw_controls(text: str) -> list[str]:
    """Control and format characters a terminal would act on (line breaks and tabs aside)."""
    return sorted(
        {
            f"U+{ord(c):04X}"
            for c in text
            if c not in "\n\t" and unicodedata.category(c) in {"Cc", "Cf", "Cs"}
        }
    )


# -- running the command line ---------------------------------------------------------------


@frozen
class Outcome:
    """How a command ended: ``code`` None means it was stopped after its time limit."""

    code: int | None
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"exit {self.code}; stderr {_short(self.stderr.strip(), 300)!r}; "
            f"stdout {_short(self.stdout.strip(), 200)!r}"
        )


def clean_environment() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(CLEARED_PREFIXES) and k not in CLEARED_NAMES
    }


def run_in_process(
    argv: Sequence[str],
    stdin: bytes,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Outcome:
    """``mailhost ARGV`` as ``main`` runs it (argv may hold NUL, which no process can get)."""
    from infrastructure import cli  # noqa: PLC0415 - imported by the cases that use it

    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    )
    capsys.readouterr()
    try:
        code: int | None = cli.main(list(argv))
    except SystemExit as stop:
        code = (
            stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
        )
    except Exception:  # noqa: BLE001 - what escapes main is what the operator would see
        out, err = capsys.readouterr()
        return Outcome(1, out, err + traceback.format_exc())
    out, err = capsys.readouterr()
    return Outcome(code, out, err)


def run_process(
    argv: Sequence[str | bytes],
    stdin: bytes = b"",
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> Outcome:
    """``mailhost ARGV`` in a process of its own, in a UTF-8 locale."""
    environment = clean_environment()
    environment["LC_ALL"] = "C.UTF-8"
    environment.pop("PYTHONUTF8", None)
    environment.pop("PYTHONIOENCODING", None)
    environment.update(env or {})
    try:
        done = subprocess.run(
            [sys.executable, "-m", "infrastructure.cli", *argv],
            input=stdin,
            capture_output=True,
            cwd=REPO,
            env=environment,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as stopped:
        return Outcome(
            None,
            (stopped.stdout or b"").decode("utf-8", "backslashreplace"),
            (stopped.stderr or b"").decode("utf-8", "backslashreplace")
            + f"\n(stopped after {timeout} s)",
        )
    return Outcome(
        done.returncode,
        done.stdout.decode("utf-8", "backslashreplace"),
        done.stderr.decode("utf-8", "backslashreplace"),
    )
