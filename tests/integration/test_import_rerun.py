"""A second import of an unchanged source costs almost nothing, and is still exact.

Each finished folder records both sides' states (source STATUS UIDVALIDITY UIDNEXT
MESSAGES; destination the same on Dovecot, a fingerprint of the message files on
maildir); the next import of the same source into the same address finishes a folder
whose two states are unchanged without reading a key. A spy counts the key passes, so
nothing here is timed. One message added at the source, or one deleted at the
destination, sends that folder (and only it) through the full multiset pass again.
"""

from __future__ import annotations

import secrets
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from domain.importfacts import JobState
from infrastructure.bootstrap import Engine
from infrastructure.imapdestination import ImapDestinationMailbox
from infrastructure.imapsource import ImapMailSource, ImapSourceMailbox
from infrastructure.importdestination import MaildirDestinationMailbox
from infrastructure.maildir import MaildirMailStore
from projections.imports import SqlImportQueries
from tests.integration.importsupport import mail_store_env
from tests.integration.support import PASSWORD, engine
from tests.integration.test_imports import (
    DESTINATION,
    DOMAIN,
    FOLDERS,
    content,
    drain,
    fill_source,
    maildir_content,
    master_of,
    prepare,
    prepared,
    request,
    source_content,
)
from tests.servers import RunningDovecot

Passes = Counter[str]


@pytest.fixture
def key_passes(monkeypatch: pytest.MonkeyPatch) -> Passes:
    """How many folders each side read the keys of (source, maildir, dovecot)."""
    counted: Passes = Counter()
    for side, cls in (
        ("source", ImapSourceMailbox),
        ("maildir", MaildirDestinationMailbox),
        ("dovecot", ImapDestinationMailbox),
    ):
        real = cls.keys

        def spy(self: Any, folder: Any, *, _real: Any = real, _side: str = side) -> Any:  # noqa: ANN401 - either side's folder and keys
            counted[_side] += 1
            return _real(self, folder)

        monkeypatch.setattr(cls, "keys", spy)
    return counted


def _append(dovecot: RunningDovecot, user: str, folder: str, subject: str) -> None:
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False) as imap:
        imap.login(user, PASSWORD)
        separator = imap.namespace().personal[0][1] or "."
        raw = (f"From: late@example.net\r\nSubject: {subject}\r\n\r\nlate\r\n").encode()
        imap.append(folder.replace("/", separator), raw, [b"\\Seen"], datetime.now(UTC))


def _rerun(e: Engine, dovecot: RunningDovecot, user: str, passes: Passes) -> Any:  # noqa: ANN401 - an ImportJob
    """Another import of the same source, once the read model has caught up."""
    e.runner.catch_up()
    passes.clear()
    job_id = request(e, dovecot, user)
    drain(e)
    job = e.host.imports.get(job_id)
    assert job.state is JobState.COMPLETED
    return job


def test_an_unchanged_rerun_reads_no_key_and_a_change_is_copied(
    tmp_path: Path, dovecot_server: RunningDovecot, key_passes: Passes
) -> None:
    # rule IMP-3: a second import adds nothing, and now reads nothing either.
    user = fill_source(dovecot_server, per_folder=3)
    home = tmp_path / "home"
    with prepared(home) as e:
        first = request(e, dovecot_server, user)
        drain(e)
        assert key_passes["source"] == len(FOLDERS)
        expected = source_content(dovecot_server, user)
        total = sum(expected.values())
        assert e.host.imports.get(first).counts.copied == total

        again = _rerun(e, dovecot_server, user, key_passes)
        assert key_passes == Counter(), "an unchanged folder's keys were read"
        assert again.counts.copied == 0
        assert again.counts.skipped == total
        assert maildir_content(home) == expected

        # one new message in one folder: that folder alone goes the full pass
        _append(dovecot_server, user, "Work/Projects", "arrived after the import")
        third = _rerun(e, dovecot_server, user, key_passes)
        assert key_passes == Counter({"source": 1, "maildir": 1})
        assert third.counts.copied == 1
        assert third.counts.skipped == total
        expected = source_content(dovecot_server, user)
        assert maildir_content(home) == expected

        # one message deleted at the destination: copied again, only there
        inbox = MaildirMailStore(home / "mail").maildir(DESTINATION) / "cur"
        min(inbox.iterdir()).unlink()
        fourth = _rerun(e, dovecot_server, user, key_passes)
        assert key_passes == Counter({"source": 1, "maildir": 1})
        assert fourth.counts.copied == 1
        assert fourth.counts.skipped == total
        assert maildir_content(home) == expected

        # and unchanged again: nothing read
        fifth = _rerun(e, dovecot_server, user, key_passes)
        assert key_passes == Counter()
        assert fifth.counts.skipped == total + 1


def test_a_lagging_read_model_only_costs_the_shortcut(
    tmp_path: Path,
    dovecot_server: RunningDovecot,
    key_passes: Passes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # rule IMP-3: without the recorded states (a read model behind the log) the
    # second import takes the full multiset pass and still copies nothing.
    user = fill_source(dovecot_server, per_folder=2)
    home = tmp_path / "home"
    with prepared(home) as e:
        request(e, dovecot_server, user)
        drain(e)
        monkeypatch.setattr(SqlImportQueries, "folder_states", lambda *_: {})
        again = _rerun(e, dovecot_server, user, key_passes)
        assert key_passes == Counter({"source": len(FOLDERS), "maildir": len(FOLDERS)})
        assert again.counts.copied == 0
        assert maildir_content(home) == source_content(dovecot_server, user)


def test_into_dovecot_an_unchanged_rerun_reads_no_key_and_a_deletion_is_restored(
    tmp_path: Path, dovecot_server: RunningDovecot, key_passes: Passes
) -> None:
    user = fill_source(dovecot_server, per_folder=2)
    env = mail_store_env(dovecot_server)
    destination = f"dst-{secrets.token_hex(3)}@{DOMAIN}"
    master = master_of(dovecot_server, destination)

    def start(e: Engine) -> Any:  # noqa: ANN401 - an ImportJob
        e.runner.catch_up()
        key_passes.clear()
        job_id = request(e, dovecot_server, user, destination=destination)
        drain(e)
        job = e.host.imports.get(job_id)
        assert job.state is JobState.COMPLETED
        return job

    with engine(tmp_path / "home", env, background=False) as e:
        prepare(e, destination)
        e.drain()
        dovecot_server.wait_for_passwd_reload()
        first = start(e)
        expected = source_content(dovecot_server, user)
        total = sum(expected.values())
        assert first.counts.copied == total

        again = start(e)
        assert key_passes == Counter()
        assert again.counts.skipped == total

        with IMAPClient(
            dovecot_server.host, port=dovecot_server.port, ssl=False
        ) as imap:
            imap.login(master.user, dovecot_server.master_password)
            imap.select_folder("INBOX")
            imap.delete_messages(imap.search(["ALL"])[:1])
            imap.expunge()
        restored = start(e)
        assert key_passes == Counter({"source": 1, "dovecot": 1})
        assert restored.counts.copied == 1
        copied = content(ImapMailSource().open(master, dovecot_server.master_password))
        assert copied == expected
