"""Mailbox import end to end: a real Dovecot as the source, the engine's jobs, real SMTP.

The source is a user of the session's Dovecot filled here (nested and non-ASCII
folders, twins, flags with keywords, old internal dates); the destination is the
embedded maildir store or the same Dovecot through the master login. The jobs run as
the engine runs them (``Engine.drain`` in process, or a ``mailhost run`` follower that
is killed -9 mid-folder).
"""

from __future__ import annotations

import secrets
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from imapclient import IMAPClient

from application.authorization import OPERATOR
from application.importports import SourceMailbox
from application.imports import SourceRequest
from domain.errors import InvalidInput, NotPermitted
from domain.importfacts import FailureReason, JobState
from domain.importsource import ImportSource, Security
from infrastructure.bootstrap import Engine
from infrastructure.imapsource import ImapMailSource
from infrastructure.maildir import MaildirMailStore
from infrastructure.maildirsource import MaildirMailSource
from tests.integration.importsupport import mail_store_env
from tests.integration.support import (
    LOGIN,
    ORG,
    PASSWORD,
    engine,
    stored_bytes,
    with_user,
)
from tests.integration.test_exactly_once import followers, logs
from tests.servers import RunningDovecot, SmtpSink
from tests.servers.process import free_port

DOMAIN = "example.org"
DESTINATION = f"box@{DOMAIN}"
FOLDERS = ("INBOX", "Work", "Work/Projects", "Archivé", "dots.and~tilde")
RUN = [sys.executable, "-m", "infrastructure.cli", "run"]

Content = Counter[tuple[tuple[str, ...], str, int, frozenset[str], datetime]]


def _message(n: int, folder: str) -> bytes:
    return (
        f"From: sender{n % 7}@example.net\r\nTo: someone@example.net\r\n"
        f"Subject: message {n} in {folder}\r\nMessage-ID: <m{n % 5}@example.net>\r\n"
        f"\r\nBody {n}\r\n"
    ).encode() + b"x" * (n * 37 % 2000)


def fill_source(dovecot: RunningDovecot, *, per_folder: int = 6) -> str:
    """A fresh Dovecot user with every trap of a small corpus; its login."""
    user = f"src-{secrets.token_hex(4)}@example.net"
    dovecot.add_user(user, PASSWORD)
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False) as imap:
        imap.login(user, PASSWORD)
        separator = imap.namespace().personal[0][1] or "."
        for folder in FOLDERS[1:]:
            imap.create_folder(folder.replace("/", separator))
        flags: tuple[list[bytes], ...] = (
            [],
            [b"\\Seen"],
            [b"\\Seen", b"$Forwarded"],
            [b"\\Flagged", b"Work"],
        )
        for f_index, folder in enumerate(FOLDERS):
            name = folder.replace("/", separator)
            for n in range(per_folder):
                raw = _message(n + 100 * f_index, folder)
                when = datetime(2001 + n, 1 + n % 12, 3, 4, 5, tzinfo=UTC)
                imap.append(name, raw, flags[n % len(flags)], when)
            # a byte-identical twin in every folder: it must arrive as a twin
            imap.append(name, raw, flags[0], when)
    return user


def content(mailbox: SourceMailbox, *, map_inbox: bool = True) -> Content:
    """Every message as (folder path, key digest, size, flags, internal date)."""
    found: Content = Counter()
    try:
        for folder in mailbox.folders():
            if not folder.selectable:
                continue
            uids = [uid for uid, _ in mailbox.keys(folder)]
            path = (
                ("INBOX",)
                if map_inbox and folder.path[0].upper() == "INBOX"
                else folder.path
            )
            for m in mailbox.fetch(folder, uids):
                flags = frozenset(f for f in m.flags if f != "\\Recent")
                found[(path, m.key.digest, m.key.size, flags, m.internal_date)] += 1
    finally:
        mailbox.close()
    return found


def source_of(
    dovecot: RunningDovecot, user: str, *, port: int | None = None
) -> ImportSource:
    return ImportSource(dovecot.host, port or dovecot.port, Security.NONE, user)


def source_content(dovecot: RunningDovecot, user: str) -> Content:
    return content(ImapMailSource().open(source_of(dovecot, user), PASSWORD))


def maildir_content(home: Path, address: str = DESTINATION) -> Content:
    reader = MaildirMailSource(MaildirMailStore(home / "mail"))
    return content(reader.open_address(address))


def prepare(e: Engine, destination: str = DESTINATION) -> None:
    with_user(e)
    e.host.services.create(ORG, DOMAIN, quota=10, by=OPERATOR)
    e.host.addresses.create_for_users(destination, [LOGIN], by=OPERATOR)


@contextmanager
def prepared(home: Path, env: Mapping[str, str] | None = None) -> Iterator[Engine]:
    """An engine without background jobs, ``DESTINATION`` ready for imports."""
    with engine(home, env, background=False) as e:
        prepare(e)
        yield e


def master_of(dovecot: RunningDovecot, destination: str) -> ImportSource:
    """``destination``'s mailbox as the master login reads it."""
    return ImportSource(
        dovecot.host,
        dovecot.port,
        Security.NONE,
        f"{destination}*{dovecot.master_user}",
    )


def drain(e: Engine) -> None:
    """Run every job, and the jobs those jobs' events start, until none is left."""
    for _ in range(20):
        if e.drain() == 0:
            e.runner.catch_up()
            if e.drain() == 0:
                return
    pytest.fail("jobs kept coming")


def request(
    e: Engine,
    dovecot: RunningDovecot,
    user: str,
    *,
    password: str = PASSWORD,
    port: int | None = None,
    destination: str = DESTINATION,
) -> UUID:
    return e.host.imports.start(
        destination,
        [SourceRequest(source_of(dovecot, user, port=port), user, password)],
        by=LOGIN,
    )


def test_whole_mailbox_copied_once_confirmed_and_forgotten(
    tmp_path: Path, dovecot_server: RunningDovecot, smtp: SmtpSink
) -> None:
    # rule IMP-1, rule IMP-3, rule IMP-4, rule IMP-9
    user = fill_source(dovecot_server)
    home = tmp_path / "home"
    with prepared(home, {"MAILHOST_SMTP_URL": smtp.url}) as e:
        job_id = request(e, dovecot_server, user)
        assert PASSWORD.encode() not in stored_bytes(home)  # rule IMP-9: sealed
        drain(e)
        job = e.host.imports.get(job_id)
        assert job.state is JobState.COMPLETED
        expected = source_content(dovecot_server, user)
        total = sum(expected.values())
        assert maildir_content(home) == expected
        assert job.counts.copied == total
        assert job.counts.skipped == 0

        # the confirmation: one mail to the destination and the source address
        assert len(smtp.messages) == 1
        mail = smtp.messages[0]
        assert sorted(mail.rcpt_tos) == sorted([DESTINATION, user])
        body = mail.message.get_content()
        assert f"{total} message(s) copied" in body
        assert "http" not in body
        assert user not in body  # rule IMP-4: no link-like text, defanged

        # a second import of the same source adds nothing (rule IMP-3)
        again = request(e, dovecot_server, user)
        drain(e)
        second = e.host.imports.get(again)
        assert second.state is JobState.COMPLETED
        assert second.counts.copied == 0
        assert second.counts.skipped == total
        assert maildir_content(home) == expected

        # rule IMP-9: the secret rows are gone and the password is in no stored byte
        for finished in (job, second):
            assert e.host.imports.get(finished.id).credentials_forgotten
            for ref in finished.sources:
                assert e.host.imports.credentials.secret(ref.credential_id) is None
        assert PASSWORD.encode() not in stored_bytes(home)
        e.runner.catch_up()
        progress = e.host.imports.progress(job_id)
        assert progress is not None
        assert progress.state == "completed"
        assert progress.copied == total
        assert progress.messages_total == total
        mine = e.host.imports.for_user(LOGIN)
        assert {p.job_id for p in mine} == {job_id, again}
        outcomes = [
            a.outcome for a in e.host.activity.recent(e.host.accounts.get(LOGIN).id)
        ]
        assert "import completed" in outcomes
        assert "import started" in outcomes


def test_wrong_password_and_unreachable_fail_with_named_reasons(
    tmp_path: Path, dovecot_server: RunningDovecot, smtp: SmtpSink
) -> None:
    # rule IMP-4 (failure notice), named failure reasons
    user = fill_source(dovecot_server, per_folder=1)
    env = {"MAILHOST_SMTP_URL": smtp.url, "MAILHOST_IMPORT_ATTEMPTS": "1"}
    with prepared(tmp_path / "home", env) as e:
        wrong = request(e, dovecot_server, user, password="not the password")
        drain(e)
        unreachable = request(e, dovecot_server, user, port=free_port())
        drain(e)
        assert e.host.imports.get(wrong).reason is FailureReason.AUTHENTICATION_FAILED
        assert e.host.imports.get(unreachable).reason is FailureReason.UNREACHABLE
        notices = [m for m in smtp.messages if "failed" in str(m.message["Subject"])]
        assert len(notices) == 2
        assert all(m.rcpt_tos == [DESTINATION] for m in notices)
        assert (
            FailureReason.AUTHENTICATION_FAILED.text in notices[0].message.get_content()
        )


def test_cancel_before_start_but_not_after(
    tmp_path: Path, dovecot_server: RunningDovecot
) -> None:
    # rule IMP-2
    user = fill_source(dovecot_server, per_folder=1)
    with prepared(tmp_path / "home") as e:
        first = request(e, dovecot_server, user)
        e.host.imports.cancel(first, by=LOGIN)
        assert e.host.imports.get(first).state is JobState.CANCELLED
        second = request(e, dovecot_server, user)
        job = e.host.imports.get(second)
        job.start(at=datetime.now(UTC))
        e.host.log.save(job)
        with pytest.raises(NotPermitted, match="cannot be interrupted"):
            e.host.imports.cancel(second, by=LOGIN)
        drain(e)
        assert e.host.imports.get(second).state is JobState.COMPLETED
        assert e.host.imports.get(first).credentials_forgotten


def test_checks_refuse_before_anything_is_stored(
    tmp_path: Path, dovecot_server: RunningDovecot
) -> None:
    # rule IMP-7, rule IMP-8
    with prepared(tmp_path / "home") as e:
        e.host.accounts.register(
            ORG, "eve@example.org", "a long passphrase 42", by=OPERATOR
        )
        gmail = ImportSource("imap.gmail.com", 993, Security.TLS, "x@gmail.com")
        before = e.host.log.recorder.max_notification_id()
        with pytest.raises(InvalidInput, match="XOAUTH2"):
            e.host.imports.start(
                DESTINATION, [SourceRequest(gmail, "x", "pw")], by=LOGIN
            )
        with pytest.raises(NotPermitted, match="IMP-7"):
            e.host.imports.start(
                DESTINATION,
                [SourceRequest(source_of(dovecot_server, "a@b.example"), "a", "pw")],
                by="eve@example.org",
            )
        assert e.host.log.recorder.max_notification_id() == before
        assert "pw" not in repr(SourceRequest(None, "a", "pw")).split("user")[1]


def test_two_imports_at_once_never_double(
    tmp_path: Path, dovecot_server: RunningDovecot
) -> None:
    # rule IMP-3, rule IMP-2: one running import per destination (the lane)
    user = fill_source(dovecot_server, per_folder=3)
    home = tmp_path / "home"
    with prepared(home) as e:
        first = request(e, dovecot_server, user)
        second = request(e, dovecot_server, user)
        drain(e)
        assert e.host.imports.get(first).state is JobState.COMPLETED
        assert e.host.imports.get(second).state is JobState.COMPLETED
        assert maildir_content(home) == source_content(dovecot_server, user)


def test_into_dovecot_with_the_master_login(
    tmp_path: Path, dovecot_server: RunningDovecot
) -> None:
    # rule IMP-1: the destination is the provider's own Dovecot
    user = fill_source(dovecot_server, per_folder=2)
    env = mail_store_env(dovecot_server)
    destination = f"dst-{secrets.token_hex(3)}@{DOMAIN}"
    with engine(tmp_path / "home", env, background=False) as e:
        prepare(e, destination)
        e.drain()
        dovecot_server.wait_for_passwd_reload()
        job_id = request(e, dovecot_server, user, destination=destination)
        drain(e)
        assert e.host.imports.get(job_id).state is JobState.COMPLETED
        master = master_of(dovecot_server, destination)
        copied = content(ImapMailSource().open(master, dovecot_server.master_password))
        assert copied == source_content(dovecot_server, user)


def test_kill_9_of_a_worker_mid_folder_then_every_message_once(
    tmp_path: Path, dovecot_server: RunningDovecot
) -> None:
    # rule IMP-2: a real `mailhost run` follower killed -9 in the middle of a folder
    user = fill_source(dovecot_server, per_folder=400)
    home = tmp_path / "home"
    env = {
        "MAILHOST_HOME": str(home),
        "MAILHOST_JOB_CLAIM_LEASE": "3",
        "MAILHOST_JOB_HANDOFF_LEASE": "2",
    }
    with engine(home, env, background=False) as e, ExitStack() as stack:
        prepare(e)
        job_id = request(e, dovecot_server, user)
        (follower,) = stack.enter_context(followers([RUN], env, tmp_path))
        deadline = time.monotonic() + 60
        while not _mid_folder(e, job_id):
            assert time.monotonic() < deadline, logs(tmp_path)
            time.sleep(0.02)
        follower.kill()
        assert not e.host.imports.get(job_id).is_over
        follower.start()
        deadline = time.monotonic() + 120
        while not e.host.imports.get(job_id).is_over:
            assert time.monotonic() < deadline, logs(tmp_path)
            time.sleep(0.2)
        assert e.host.imports.get(job_id).state is JobState.COMPLETED
        assert maildir_content(home) == source_content(dovecot_server, user)


def _mid_folder(e: Engine, job_id: UUID) -> bool:
    """A batch of a folder is recorded and the folder is not finished yet."""
    return any(e.host.imports.get(job_id).progress.values())
