"""PasswdFile, MaildirMailStore and the configuration, on a real file system (no server)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from infrastructure.mailstore import (
    DovecotMailStore,
    ImapEndpoint,
    MaildirMailStore,
    PasswdFile,
    mail_store_from_env,
)
from infrastructure.passwords import ssha512_encoding
from infrastructure.settings import ConfigurationError

ARGON = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
SECRET_TAIL = "secret-canary-91f2"
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
from infrastructure.mailstore import PasswdFile
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


def test_maildir_store_creates_a_maildir_per_address_and_destroys_it(
    tmp_path: Path,
) -> None:
    store = MaildirMailStore(tmp_path / "mail")
    store.set_password("Ann@Example.org", ARGON)
    store.set_password("bob@example.org", ssha512_encoding("generated-123456789"))
    maildir = tmp_path / "mail" / "example.org" / "ann" / "Maildir"
    assert {p.name for p in maildir.iterdir()} == {"cur", "new", "tmp"}
    (maildir / "new" / "1.host").write_text("Subject: hello\r\n\r\nhi\r\n")
    (maildir / "Archive" / "cur").mkdir(parents=True)
    assert store.passwd.addresses() == ["ann@example.org", "bob@example.org"]

    # rule ADR-11: the content goes with the address, and destroy is idempotent.
    store.destroy("ann@example.org")
    store.destroy("ann@example.org")

    assert not (tmp_path / "mail" / "example.org" / "ann").exists()
    assert store.passwd.addresses() == ["bob@example.org"]
    store.destroy("bob@example.org")
    assert not (tmp_path / "mail" / "example.org").exists()
    store.destroy("never@example.net")


def test_bulk_creation_is_one_rewrite(tmp_path: Path) -> None:
    store = MaildirMailStore(tmp_path / "mail")
    entries = {f"user{n}@example.org": "{SSHA512}c=" for n in range(1000)}
    started = time.perf_counter()
    store.set_passwords(entries)
    assert time.perf_counter() - started < 10
    assert len(store.passwd.addresses()) == 1000


@pytest.mark.parametrize("address", ["a/b@example.org", "..@example.org", "a@.."])
def test_maildir_store_refuses_addresses_that_are_not_folder_names(
    tmp_path: Path, address: str
) -> None:
    store = MaildirMailStore(tmp_path / "mail")
    with pytest.raises(ValueError, match="cannot name a folder"):
        store.set_password(address, ARGON)
    with pytest.raises(ValueError, match="cannot name a folder"):
        store.destroy(address)
    assert not (tmp_path / "mail").exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("imap://127.0.0.1:1143", ImapEndpoint("127.0.0.1", 1143, "none")),
        ("imap://localhost", ImapEndpoint("localhost", 143, "none")),
        ("imap://[::1]:1143/", ImapEndpoint("::1", 1143, "none")),
        ("imap://mail.example.org", ImapEndpoint("mail.example.org", 143, "starttls")),
        ("IMAPS://mail.example.org", ImapEndpoint("mail.example.org", 993, "implicit")),
        (
            "imaps://127.0.0.1:9993?insecure=1",
            ImapEndpoint("127.0.0.1", 9993, "implicit", verify=False),
        ),
    ],
)
def test_imap_urls(url: str, expected: ImapEndpoint) -> None:
    assert ImapEndpoint.parse(url) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1", "scheme"),
        ("imaps://mail.example.org?insecure=1", "loopback"),
        ("imap://127.0.0.1?insecure=yes", "insecure must be 1"),
        ("imap://127.0.0.1?tls=0", "unknown URL parameter"),
        ("imap://127.0.0.1/INBOX", "no path"),
        ("imap://:993", "no host"),
        ("imap://127.0.0.1:99999", "not a valid URL"),
        (f"imaps://master:{SECRET_TAIL}@mail.example.org", "credentials"),
    ],
)
def test_bad_imap_urls(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as raised:
        ImapEndpoint.parse(url)
    assert SECRET_TAIL not in str(raised.value)


def _dovecot_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        "MAILHOST_IMAP_URL": "imap://127.0.0.1:1143",
        "MAILHOST_IMAP_MASTER_USER": "master",
        "MAILHOST_IMAP_MASTER_PASSWORD": SECRET_TAIL,
        "MAILHOST_IMAP_PASSWD_FILE": str(tmp_path / "users"),
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value}


def test_env_without_url_is_the_embedded_maildir_store(tmp_path: Path) -> None:
    store = mail_store_from_env({}, tmp_path)
    assert isinstance(store, MaildirMailStore)
    assert store.root == tmp_path / "mail"


def test_env_with_url_is_the_dovecot_store(tmp_path: Path) -> None:
    store = mail_store_from_env(_dovecot_env(tmp_path), tmp_path)
    assert isinstance(store, DovecotMailStore)
    assert store.passwd.path == tmp_path / "users"
    assert SECRET_TAIL not in repr(store)


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"MAILHOST_IMAP_MASTER_PASSWORD": ""}, "MAILHOST_IMAP_MASTER_PASSWORD is not"),
        ({"MAILHOST_IMAP_MASTER_USER": ""}, "MAILHOST_IMAP_MASTER_USER is not"),
        ({"MAILHOST_IMAP_PASSWD_FILE": ""}, "MAILHOST_IMAP_PASSWD_FILE is not"),
        ({"MAILHOST_IMAP_PASSWD_FILE": "users"}, "absolute path"),
        ({"MAILHOST_IMAP_PASSWD_FILE": "/nonexistent-dir/users"}, "does not exist"),
        ({"MAILHOST_IMAP_URL": "pop3://127.0.0.1"}, "MAILHOST_IMAP_URL: the scheme"),
        ({"MAILHOST_IMAP_MASTER_USER": "ad*min"}, "MAILHOST_IMAP_MASTER_USER"),
        ({"MAILHOST_IMAP_URL": ""}, "set but MAILHOST_IMAP_URL is not"),
    ],
)
def test_env_errors_are_clear_and_never_show_the_password(
    tmp_path: Path, overrides: dict[str, str], problem: str
) -> None:
    with pytest.raises(ConfigurationError, match=problem) as raised:
        mail_store_from_env(_dovecot_env(tmp_path, **overrides), tmp_path)
    assert SECRET_TAIL not in str(raised.value)
