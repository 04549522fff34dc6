"""``mailhost import start|batch|status`` (``infrastructure/cli/imports.py``) as run.

Bad input: exit status 2, a message naming the argument, no ImportJob event in the
log. The copy: a real Dovecot as the source, the embedded maildir store as the
destination, ``--wait`` running the in-process worker.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from pathlib import Path
from uuid import UUID

import pytest
from imapclient import IMAPClient

from application.authorization import OPERATOR
from domain.importfacts import JobState
from infrastructure.bootstrap import open_engine
from tests.integration.clisupport import controls_in, mailhost, mailhost_passing
from tests.mailcorpus import generate
from tests.mailcorpusimap import load_into
from tests.servers import RunningDovecot

DOMAIN = "example.org"
DEST = f"ann@{DOMAIN}"
CANARY = "Canary-Argv-Pw-51c2"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Example Co with example.org and its mailbox ann@ (and a redirect, team@)."""
    engine = open_engine(tmp_path, background=False)
    try:
        host = engine.host
        host.organisations.found("Example Co", by=OPERATOR)
        host.services.create("Example Co", DOMAIN, quota=5, by=OPERATOR)
        host.addresses.create_unassigned(DEST, by=OPERATOR)
        host.addresses.create_redirect(f"team@{DOMAIN}", [DEST], by=OPERATOR)
        engine.drain()
    finally:
        engine.close()
    return tmp_path


def import_events(home: Path) -> list[str]:
    engine = open_engine(home, background=False)
    try:
        notes = engine.host.log.recorder.select_notifications(start=1, limit=100_000)
        return [n.topic for n in notes if "ImportJob" in n.topic]
    finally:
        engine.close()


def start(
    *extra: str, host: str = "imap.old.example", user: str = "ann.old"
) -> tuple[str, ...]:
    return (
        "import",
        "start",
        "--destination",
        DEST,
        "--host",
        host,
        "--user",
        user,
        "--password-stdin",
        *extra,
    )


def replaced(args: tuple[str, ...], option: str, value: str) -> tuple[str, ...]:
    at = args.index(option)
    return (*args[: at + 1], value, *args[at + 2 :])


BAD_START = [
    pytest.param(replaced(start(), "--destination", f"carol@{DOMAIN}"),
                 "--destination", id="unknown-destination"),
    pytest.param(replaced(start(), "--destination", f"team@{DOMAIN}"),
                 "--destination", id="redirect-destination"),
    pytest.param(start(host="imap..old"), "--host", id="malformed-host"),
    pytest.param(start(host="-oProxyCommand=x"), "--host", id="option-like-host"),
    pytest.param(start("--port", "0"), "--port", id="port-zero"),
    pytest.param(start("--port", "70000"), "--port", id="port-too-big"),
    pytest.param(start("--port", "imap"), "--port", id="port-not-a-number"),
    pytest.param(start("--security", "ssl"), "--security", id="unknown-security"),
    pytest.param(start("--security", "none"), "--security", id="none-off-loopback"),
    pytest.param(start(host="imap.gmail.com"), "--host", id="google-host"),
    pytest.param(replaced(start(), "--user", "ann@gmail.com"), "--user",
                 id="google-user"),
    pytest.param(start(host="outlook.office365.com"), "--host", id="microsoft-host"),
    pytest.param(start("--by", "nobody@example.net"), "--by", id="unknown-by"),
    pytest.param(start("--second-user", "u2"), "--second-user", id="second-no-fd"),
    pytest.param(start("--second-user", "u2", "--second-password-fd", "0"),
                 "--second-password-fd", id="second-fd-stdin"),
    pytest.param(start("--second-user", "u2", "--second-password-fd", "9"),
                 "--second-password-fd", id="second-fd-closed"),
    pytest.param(("import", "start", "--destination", DEST, "--hosted", "--port",
                  "993", "--user", "bob@example.org", "--password-stdin"),
                 "--port", id="hosted-with-port"),
    pytest.param(("import", "start", "--destination", DEST, "--preset", "nowhere",
                  "--user", "a", "--password-stdin"), "--preset", id="unknown-preset"),
    pytest.param(("import", "start", "--destination", DEST, "--preset", "gmail",
                  "--user", "a", "--password-stdin"), "Google", id="google-preset"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "named"), BAD_START)
def test_bad_input_exits_2_naming_the_argument_and_creates_no_job(
    home: Path, args: tuple[str, ...], named: str
) -> None:
    # rule IMP-6 (host, port, TLS checked), rule IMP-8 (OAuth2 providers refused)
    result = mailhost_passing(*args, home=home, stdin=CANARY + "\n")
    assert result.returncode == 2, result.stdout + result.stderr
    assert named in result.stderr
    assert result.stdout == ""
    assert CANARY not in result.stderr
    assert not controls_in(result.stderr)
    assert import_events(home) == []


@pytest.mark.parametrize(
    "argv", [("--password", CANARY), (f"--password={CANARY}",), ("--second-password",)]
)
def test_a_password_on_the_command_line_is_refused_without_echoing_it(
    home: Path, argv: tuple[str, ...]
) -> None:
    # rule IMP-9: a password never in argv (every user can read it with ps)
    result = mailhost_passing(*start(*argv), home=home, stdin="x\n")
    assert result.returncode == 2
    assert "never taken from the command line" in result.stderr
    assert CANARY not in result.stdout + result.stderr
    assert import_events(home) == []


def test_an_empty_password_on_stdin_is_refused(home: Path) -> None:
    result = mailhost_passing(*start(), home=home, stdin="")
    assert result.returncode == 2
    assert "password is empty" in result.stderr
    assert import_events(home) == []


def test_a_batch_of_26_rows_a_google_row_or_an_unknown_destination_is_refused(
    home: Path,
) -> None:
    # rule IMP-8: at most 25 rows; Google refused naming the row
    header = "destination,host,port,security,user,password\n"
    files = {
        "26.csv": header
        + "".join(f"ann,imap.old.example,,,u{i},{CANARY}\n" for i in range(26)),
        "google.csv": header + f"ann,imap.gmail.com,993,tls,ann,{CANARY}\n",
        "unknown.csv": header + f"carol,imap.old.example,993,tls,c,{CANARY}\n",
        "badport.csv": header + f"ann,imap.old.example,99999,tls,a,{CANARY}\n",
    }
    expected = {
        "26.csv": "at most 25",
        "google.csv": "line 2, column host",
        "unknown.csv": "line 2, column destination",
        "badport.csv": "line 2, column port",
    }
    for name, text in files.items():
        path = home / name
        path.write_text(text, encoding="utf-8")
        result = mailhost_passing("import", "batch", DOMAIN, str(path), home=home)
        assert result.returncode == 2, result.stderr
        assert expected[name] in result.stdout
        assert "nothing was imported" in result.stdout
        assert CANARY not in result.stdout + result.stderr
    assert import_events(home) == []


def test_status_of_an_unknown_or_malformed_job_exits_2(home: Path) -> None:
    assert "JOB" in mailhost_passing("import", "status", "nope", home=home).stderr
    unknown = mailhost_passing("import", "status", str(UUID(int=7)), home=home)
    assert unknown.returncode == 2
    listed = mailhost_passing("import", "status", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


# -- the copy, against a real Dovecot ------------------------------------------------


def source_user(
    dovecot: RunningDovecot, messages: int, seed: int
) -> tuple[str, str, int]:
    """A Dovecot user holding a generated corpus; its login, password and messages."""
    user = f"src-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(12)
    dovecot.add_user(user, password)
    corpus = generate(seed, messages=messages, total_mb=1)
    with IMAPClient(dovecot.host, dovecot.port, ssl=False) as client:
        client.login(user, password)
        assert load_into(client, corpus) == corpus.messages
    return user, password, corpus.messages


def dovecot_start(dovecot: RunningDovecot, user: str, *extra: str) -> tuple[str, ...]:
    plain = ("--port", str(dovecot.port), "--security", "none")
    return start(*plain, *extra, host=dovecot.host, user=user)


def waited_import(
    dovecot: RunningDovecot, user: str, password: str, home: Path
) -> subprocess.CompletedProcess[str]:
    """``import start --wait`` of ``user``'s mailbox, the password on stdin."""
    args = dovecot_start(dovecot, user, "--wait")
    return mailhost_passing(*args, home=home, stdin=password + "\n")


def copied(stdout: str) -> tuple[int, int, int]:
    found = re.search(
        r": completed: copied (\d+), skipped as present already (\d+), failed (\d+)",
        stdout,
    )
    assert found, stdout
    return int(found[1]), int(found[2]), int(found[3])


def maildir_messages(home: Path) -> int:
    root = home / "mail" / DOMAIN / "ann"
    return sum(
        1 for p in root.rglob("*") if p.is_file() and p.parent.name in {"cur", "new"}
    )


def test_start_wait_copies_the_mailbox_and_a_repeat_copies_nothing_new(
    home: Path, dovecot_server: RunningDovecot
) -> None:
    # rule IMP-1 (every folder, into the address's mailbox), rule IMP-3 (a repeat adds
    # nothing), rule IMP-9 (the password only on stdin)
    user, password, count = source_user(dovecot_server, 60, seed=21)
    first = waited_import(dovecot_server, user, password, home)
    assert first.returncode == 0, first.stderr
    job_id = UUID(first.stdout.splitlines()[0])
    assert copied(first.stdout) == (count, 0, 0)
    assert f"{count}/{count} messages" in first.stderr
    assert not controls_in(first.stdout + first.stderr)
    assert password not in first.stdout + first.stderr
    assert maildir_messages(home) == count

    again = waited_import(dovecot_server, user, password, home)
    assert again.returncode == 0, again.stderr
    assert UUID(again.stdout.splitlines()[0]) != job_id  # a repeat is a new job
    assert copied(again.stdout) == (0, count, 0)
    assert maildir_messages(home) == count

    status = mailhost_passing("import", "status", str(job_id), "--json", home=home)
    assert status.returncode == 0, status.stderr
    row = json.loads(status.stdout)
    assert row["state"] == JobState.COMPLETED.value
    done = (row["copied"], row["messages_done"], row["messages_total"])
    assert done == (count, count, count)
    listed = mailhost_passing("import", "status", home=home)
    assert listed.stdout.index(str(job_id)) > listed.stdout.index(
        again.stdout.splitlines()[0]
    )  # newest first
    stored = b"".join(p.read_bytes() for p in home.rglob("*.sqlite*") if p.is_file())
    assert password.encode() not in stored


def test_a_second_source_from_a_descriptor_is_imported_too(
    home: Path, dovecot_server: RunningDovecot
) -> None:
    # rule IMP-7 (a second source in the same import)
    first, first_pw, first_count = source_user(dovecot_server, 12, seed=31)
    second, second_pw, second_count = source_user(dovecot_server, 9, seed=32)
    read, write = os.pipe()
    os.write(write, second_pw.encode() + b"\n")
    os.close(write)
    try:
        result = mailhost_passing(
            *dovecot_start(
                dovecot_server,
                first,
                "--second-user",
                second,
                "--second-password-fd",
                str(read),
                "--wait",
            ),
            home=home,
            stdin=first_pw + "\n",
            fds=[read],
        )
    finally:
        os.close(read)
    assert result.returncode == 0, result.stderr
    assert copied(result.stdout) == (first_count + second_count, 0, 0)


def test_a_wrong_source_password_fails_the_job_with_its_reason_on_stderr(
    home: Path, dovecot_server: RunningDovecot
) -> None:
    # rule IMP-9 (the password is not echoed), failures are named reasons
    user, _, _ = source_user(dovecot_server, 1, seed=41)
    result = waited_import(dovecot_server, user, CANARY, home)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "authentication_failed" in result.stderr
    assert CANARY not in result.stdout + result.stderr


def test_a_batch_waits_for_every_job(
    home: Path, dovecot_server: RunningDovecot
) -> None:
    # rule IMP-8 (each row becomes a job, the batch followed to its end)
    user, password, count = source_user(dovecot_server, 5, seed=51)
    path = home / "batch.csv"
    path.write_text(
        "destination,host,port,security,user,password\n"
        f"ann,{dovecot_server.host},{dovecot_server.port},none,{user},{password}\n",
        encoding="utf-8",
    )
    checked = mailhost("import", "batch", DOMAIN, str(path), "--check", home=home)
    assert checked.returncode == 0, checked.stderr
    assert "1 row(s) checked, no problem" in checked.stdout
    result = mailhost_passing("import", "batch", DOMAIN, str(path), "--wait", home=home)
    assert result.returncode == 0, result.stderr
    assert "1 import(s) requested" in result.stdout
    assert copied(result.stdout) == (count, 0, 0)
    assert password not in result.stdout + result.stderr


def test_the_demo_imports_a_configured_mailbox_twice(
    tmp_path: Path, dovecot_server: RunningDovecot
) -> None:
    # rule IMP-1, rule IMP-3 (the second import copies nothing), rule IMP-4
    user, password, count = source_user(dovecot_server, 8, seed=61)
    env = {
        "MAILHOST_DEMO_IMPORT_HOST": dovecot_server.host,
        "MAILHOST_DEMO_IMPORT_PORT": str(dovecot_server.port),
        "MAILHOST_DEMO_IMPORT_SECURITY": "none",
        "MAILHOST_DEMO_IMPORT_USER": user,
        "MAILHOST_DEMO_IMPORT_PASSWORD": password,
    }
    home = tmp_path / "demo"
    result = mailhost_passing(
        "demo", "--home", str(home), "--window", "1", home=home, env=env
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"20. Import of the mailbox {user} at 127.0.0.1" in out
    assert (
        f"first import: completed, copied {count}, skipped as present already 0" in out
    )
    assert (
        f"the same import again: completed, copied 0, skipped as present already {count}"
        in out
    )
    assert password not in out + result.stderr
