"""PasswdFile on a real file system: Dovecot's passwd-file kept in step, safely."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from infrastructure.passwdfile import PasswdFile
from tests.integration.support import ARGON, SECRET_TAIL

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_argon2_gets_dovecots_scheme_and_lines_are_sorted_and_lower_case(
    tmp_path: Path,
) -> None:
    passwd = PasswdFile(tmp_path / "users")
    passwd.set("Zoe@Example.org", ARGON)
    passwd.set("ann@example.org", "{SSHA512}abc=")

    assert _lines(passwd.path) == [
        "ann@example.org:{SSHA512}abc=::::::",
        f"zoe@example.org:{{ARGON2ID}}{ARGON}::::::",
    ]
    assert passwd.contains("ZOE@example.ORG")
    assert (passwd.path.stat().st_mode & 0o777) == 0o600


def test_set_replaces_and_remove_is_idempotent(tmp_path: Path) -> None:
    passwd = PasswdFile(tmp_path / "users")
    passwd.set("ann@example.org", "{SSHA512}one=")
    passwd.set("ANN@example.org", "{SSHA512}two=")
    assert _lines(passwd.path) == ["ann@example.org:{SSHA512}two=::::::"]

    passwd.remove("Ann@Example.org")
    passwd.remove("ann@example.org")
    assert passwd.addresses() == []


def test_comments_and_foreign_lines_survive(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_bytes(b"# managed by mailhost \xe9\nbob@example.org:{PLAIN}x::::::\n\n")
    PasswdFile(path).set("ann@example.org", "{SSHA512}a=")
    assert path.read_bytes().splitlines() == [
        b"# managed by mailhost \xe9",
        b"ann@example.org:{SSHA512}a=::::::",
        b"bob@example.org:{PLAIN}x::::::",
    ]


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("a:b@example.org", "':'"),
        ("a\n@example.org", "line break"),
        ("ann@example.org\nroot:{PLAIN}x", "line break"),
        ("josé@example.org", "non-ASCII"),
        ("ann@münchen.de", "A-label"),
        ("a b@example.org", "space"),
        ("#ann@example.org", "comment"),
        ("example.org", "local@domain"),
        ("", "empty"),
    ],
)
def test_addresses_that_would_corrupt_the_file_are_refused(
    tmp_path: Path, address: str, problem: str
) -> None:
    passwd = PasswdFile(tmp_path / "users")
    with pytest.raises(ValueError, match=problem):
        passwd.set(address, ARGON)
    assert not passwd.path.exists()


@pytest.mark.parametrize(
    "encoded",
    [
        f"{ARGON}:{SECRET_TAIL}",
        f"{ARGON}\n{SECRET_TAIL}",
        f"{{PLAIN}}{SECRET_TAIL}",
        f"{{CLEAR}}{SECRET_TAIL}",
        f"{{plain}}{SECRET_TAIL}",
        f"$2b$12${SECRET_TAIL}",
        SECRET_TAIL,
        "",
    ],
)
def test_bad_encodings_are_refused_without_echoing_them(
    tmp_path: Path, encoded: str
) -> None:
    passwd = PasswdFile(tmp_path / "users")
    with pytest.raises(ValueError, match=r"ann@example\.org") as raised:
        passwd.set("ann@example.org", encoded)
    assert SECRET_TAIL not in str(raised.value)
    assert not passwd.path.exists()


def test_a_reader_sees_the_old_or_the_new_file_never_a_mix(tmp_path: Path) -> None:
    passwd = PasswdFile(tmp_path / "users")
    passwd.set("ann@example.org", "{SSHA512}old=")
    with passwd.path.open() as reader:  # Dovecot holding the file open
        passwd.set("bob@example.org", "{SSHA512}new=")
        assert reader.read() == "ann@example.org:{SSHA512}old=::::::\n"
    assert len(_lines(passwd.path)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".users.lock", "users"]


def test_a_failed_write_leaves_the_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passwd = PasswdFile(tmp_path / "users")
    passwd.set("ann@example.org", "{SSHA512}old=")
    before = passwd.path.read_text()

    def failing_fsync(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space"):
        passwd.set("bob@example.org", "{SSHA512}new=")

    assert passwd.path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".users.lock", "users"]


def test_every_version_looks_new_to_dovecot_without_drifting_into_the_future(
    tmp_path: Path,
) -> None:
    # Dovecot sees a change only through the mtime (whole seconds) or the size.
    passwd = PasswdFile(tmp_path / "users")
    seen = []
    for encoded in ("{SSHA512}A=", "{SSHA512}B=", "{SSHA512}CC=", "{SSHA512}D="):
        passwd.set("ann@example.org", encoded)  # same size, except CC
        stat = passwd.path.stat()
        seen.append((int(stat.st_mtime), stat.st_size))
    assert len(set(seen)) == len(seen)

    # A burst of additions changes the size every time: no need to touch the mtime.
    started = time.time()
    for n in range(100):
        passwd.set(f"user{n}@example.org", "{SSHA512}E=")
    assert passwd.path.stat().st_mtime <= max(time.time(), started + len(seen))


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file away")
def test_a_replaced_file_keeps_its_owner_when_run_as_root(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_text("")
    os.chown(path, 4321, 4322)
    PasswdFile(path).set("ann@example.org", ARGON)
    assert (path.stat().st_uid, path.stat().st_gid) == (4321, 4322)


_WRITER = """
import sys
from pathlib import Path
from infrastructure.passwdfile import PasswdFile
passwd = PasswdFile(Path(sys.argv[1]))
for n in range(int(sys.argv[3])):
    passwd.set(f"{sys.argv[2]}{n}@example.org", "{SSHA512}" + "A" * (n % 7) + "=")
"""


def test_two_processes_and_threads_writing_at_once_lose_no_line(tmp_path: Path) -> None:
    path = tmp_path / "users"
    per_writer = 150
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), prefix, str(per_writer)],
            cwd=PROJECT_ROOT,
        )
        for prefix in ("p", "q")
    ]

    def in_thread(prefix: str) -> None:
        passwd = PasswdFile(path)
        for n in range(per_writer):
            passwd.set(f"{prefix}{n}@example.org", "{SSHA512}B=")

    threads = [threading.Thread(target=in_thread, args=(p,)) for p in ("t", "u")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [process.wait(timeout=120) for process in processes] == [0, 0]

    lines = _lines(path)
    assert lines == sorted(lines)
    expected = {f"{p}{n}@example.org" for p in "pqtu" for n in range(per_writer)}
    assert {line.split(":", 1)[0] for line in lines} == expected
    assert all(line.count(":") == 7 for line in lines)
