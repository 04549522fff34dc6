"""The engine's files are private, the outbox keeps Bcc out of the message, the demo
stays out of real data (issue 7 items 16 and 17)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path

import pytest

from application.authorization import OPERATOR
from application.ports import OutgoingMail
from infrastructure.files import secure_home
from infrastructure.mail import OutboxMailSender
from infrastructure.settings import Settings
from infrastructure.sql import SqliteDatabase
from tests.integration.support import (
    LOGIN,
    ORG,
    PASSWORD,
    engine,
    with_user,
)

DOMAIN = "example.org"
HIDDEN = "hidden-bcc@example.net"


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual 022: what the engine makes private must not rely on a strict umask."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def loose_home(tmp_path: Path) -> Path:
    """A home made earlier by hand: 0755, with 0644 files and a 0755 outbox."""
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    (home / "outbox").mkdir(mode=0o755)
    (home / "outbox").chmod(0o755)
    for name in ("events.sqlite", "views.sqlite", "outbox/old.eml"):
        (home / name).write_bytes(b"")
    (home / "secret.key").write_text("ab" * 32)
    for name in ("events.sqlite", "views.sqlite", "secret.key", "outbox/old.eml"):
        (home / name).chmod(0o644)
    return home


@pytest.mark.usefixtures("open_umask")
def test_secure_home_narrows_an_existing_home(tmp_path: Path) -> None:
    home = loose_home(tmp_path)
    elsewhere = tmp_path / "not-ours.txt"
    elsewhere.write_text("x")
    elsewhere.chmod(0o644)
    (home / "credentials.sqlite").symlink_to(elsewhere)
    secure_home(Settings.from_env({}, home=home))
    assert mode(home) == 0o700
    assert mode(home / "outbox") == 0o700
    for name in ("events.sqlite", "views.sqlite", "secret.key", "outbox/old.eml"):
        assert mode(home / name) == 0o600, name
    assert mode(elsewhere) == 0o644  # a planted link does not redirect the chmod


@pytest.mark.usefixtures("open_umask")
def test_secure_home_creates_the_event_store_0600(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    secure_home(Settings.from_env({}, home=home))
    assert mode(home) == 0o700
    assert mode(home / "events.sqlite") == 0o600


@pytest.mark.usefixtures("open_umask")
def test_sqlite_database_and_its_journal_are_0600(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "views.sqlite")
    try:
        with database.transaction() as cursor:
            cursor.execute("CREATE TABLE t (x TEXT)")
            cursor.execute("INSERT INTO t VALUES ('a')")
        for suffix in ("", "-wal", "-shm"):
            assert mode(tmp_path / f"views.sqlite{suffix}") == 0o600, suffix
    finally:
        database.close()


@pytest.mark.usefixtures("open_umask")
def test_every_file_of_an_engine_on_an_existing_home_is_private(
    tmp_path: Path,
) -> None:
    # Issue 7 item 16: events and views files were 0644, the outbox 0755.
    home = loose_home(tmp_path)
    with engine(home) as e:
        with_user(e)
        e.host.accounts.login(LOGIN, PASSWORD, ip="192.0.2.10")
        e.host.settle()
    assert mode(home) == 0o700
    assert list((home / "outbox").glob("*.eml"))
    engine_files = [
        p
        for p in home.rglob("*")
        if p.relative_to(home).parts[0] != "mail"  # the mail store's own rules
    ]
    loose = {
        str(p.relative_to(home)): oct(mode(p)) for p in engine_files if mode(p) & 0o077
    }
    assert loose == {}


def _mail(message_id: str = "<m1@example.org>") -> OutgoingMail:
    message = EmailMessage()
    message["From"] = f"ann@{DOMAIN}"
    message["To"] = "to@example.net"
    message["Subject"] = "Meeting"
    message["Message-ID"] = message_id
    message.set_content("See you at 10.")
    return OutgoingMail(f"ann@{DOMAIN}", ("to@example.net", HIDDEN), message)


@pytest.mark.usefixtures("open_umask")
def test_the_outbox_keeps_the_envelope_beside_the_message(tmp_path: Path) -> None:
    # rule SND-2: a relay delivering the .eml as it is must not reveal Bcc.
    outbox = OutboxMailSender(tmp_path / "outbox")
    outbox.send(_mail())
    [eml] = (tmp_path / "outbox").glob("*.eml")
    data = eml.read_bytes()
    assert HIDDEN.encode() not in data
    assert b"X-Envelope" not in data
    assert message_from_bytes(data)["Subject"] == "Meeting"
    sidecar = eml.with_name(eml.name.removesuffix(".eml") + ".envelope.json")
    envelope = json.loads(sidecar.read_bytes())
    assert envelope == {
        "mail_from": f"ann@{DOMAIN}",
        "rcpt_to": ["to@example.net", HIDDEN],
    }
    assert mode(tmp_path / "outbox") == 0o700
    assert {mode(p) for p in (tmp_path / "outbox").iterdir()} == {0o600}


def test_one_job_sent_twice_is_one_file_two_distinct_sends_are_two(
    tmp_path: Path,
) -> None:
    outbox = OutboxMailSender(tmp_path)
    outbox.send(_mail())
    outbox.send(_mail())  # the same job again (a retry): nothing new
    assert len(list(tmp_path.glob("*.eml"))) == 1
    other = _mail()
    del other.message["Subject"]
    other.message["Subject"] = "Another message, same Message-ID"
    outbox.send(other)
    emls = sorted(tmp_path.glob("*.eml"))
    assert len(emls) == 2
    assert len({p.name[:24] for p in emls}) == 1  # still found by its Message-ID
    assert len(list(tmp_path.glob("*.envelope.json"))) == 2


def test_a_send_with_bcc_writes_no_bcc_address_in_the_eml(tmp_path: Path) -> None:
    # rule SND-2, through the engine's own send
    with engine(tmp_path, background=False) as e:
        e.host.organisations.found(ORG, by=OPERATOR)
        e.host.services.create(ORG, DOMAIN, quota=3, by=OPERATOR)
        e.host.addresses.create_unassigned(f"ann@{DOMAIN}", by=OPERATOR)
        sent = e.host.sending.send(
            f"ann@{DOMAIN}",
            to=["to@example.net"],
            cc=["cc@example.net"],
            bcc=[HIDDEN],
            subject="Meeting",
            body="See you at 10.",
            by=OPERATOR,
        )
    assert HIDDEN in sent.recipients
    [eml] = [
        p
        for p in (tmp_path / "outbox").glob("*.eml")
        if b"Subject: Meeting" in p.read_bytes()
    ]
    assert HIDDEN.encode() not in eml.read_bytes()
    [sidecar] = (tmp_path / "outbox").glob(f"{eml.stem}.envelope.json")
    assert HIDDEN in json.loads(sidecar.read_bytes())["rcpt_to"]


def _demo(home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "infrastructure.cli",
            "demo",
            "--home",
            str(home),
            "--window",
            "0.5",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("MAILHOST_")},
    )


def test_the_demo_refuses_a_home_that_holds_data(tmp_path: Path) -> None:
    # Issue 7 item 16: the demo joined the real organisation and printed a password.
    with engine(tmp_path, background=False) as e:
        e.host.organisations.found("Example Co", by=OPERATOR)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = _demo(tmp_path)
    assert result.returncode == 2, result.stderr
    assert "already holds data" in result.stderr
    assert "the demo needs an empty home" in result.stderr
    assert "Traceback" not in result.stderr
    assert "password" not in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    with engine(tmp_path, background=False) as e:
        count = e.host.log.recorder.max_notification_id()
    assert count == 1  # nothing joined the organisation
