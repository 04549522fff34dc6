"""The mail at the end of an import (IMP-4): who it goes to, what it says, what it never says.

The job is built by its own commands and kept in the engine's log (the in-memory
persistence module, as the other unit tests of use cases); the mail port is a recorder.
Source logins, host names and folder names here are hostile on purpose: they name
other systems, so none of them may reach the mail as something a client links.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from hashlib import sha256
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.importmail import ImportMail
from application.log import MailHostLog
from application.ports import EngineMail, OutgoingMail
from domain.importfacts import FailureReason, FolderTotal, SourceRef
from domain.importjob import ImportJob
from domain.importsource import Security
from tests.unit.fakes import Clock

T0 = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
DESTINATION = "box@example.org"
SENDER = "imports@mail.example.org"
HOSTILE = (
    "evil.example/restore",
    "http://evil.example/restore?x=1",
    "www.evil.example",
    "mailto:boss@evil.example",
    "\x1b[31mred\x1b[0m.example.com",
    "a\u202eexe.txt.example",
    "x" * 5000 + ".example.com",
)
# What a mail client may turn into a link, written here independently of the code
# under test: a scheme, "www.", "mailto:", or a dotted name ending in letters.
LINK_LIKE = re.compile(
    r"(?i)[a-z][a-z0-9+.-]*://|www\.|mailto:|[a-z0-9-]\.[a-z]{2,}|[a-z0-9]@[a-z0-9]"
)

# Any text, and text made of what links and escapes are made of (dots of other
# scripts included), so the search reaches the near misses.
LABELS = st.text(min_size=1, max_size=80) | st.text(
    alphabet="abcmotw.:/@\x1b\u3002\uff0e -", min_size=1, max_size=40
)


class RecordingSender:
    """The mail port: every accepted mail kept; ``fail_after_accept`` loses the answer."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMail] = []
        self.fail_after_accept = False

    def send(self, mail: OutgoingMail) -> None:
        self.sent.append(mail)
        if self.fail_after_accept:
            self.fail_after_accept = False
            msg = "connection lost after the server accepted the mail"
            raise ConnectionError(msg)


def new_log() -> MailHostLog:
    return MailHostLog(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.popo",
            "MAPPER_TOPIC": "infrastructure.mapper:CattrsMapper",
        }
    )


def external(user: str, host: str) -> SourceRef:
    return SourceRef(
        host=host, port=993, security=Security.TLS, user=user, credential_id=uuid4()
    )


def started_job(refs: Sequence[SourceRef]) -> ImportJob:
    """A job of the operator's into DESTINATION over ``refs``, started, nothing copied."""
    job = ImportJob.request(
        uuid4(),
        destination=DESTINATION,
        mailbox_id=uuid4(),
        domain="example.org",
        requested_by=None,
        sources=refs,
        at=T0,
    )
    job.start(at=T0)
    return job


def finished_job(
    refs: Sequence[SourceRef],
    copied: Sequence[int],
    *,
    folder: str = "INBOX",
    failed_source: int | None = None,
) -> ImportJob:
    """A job over every source: each copies ``copied[i]`` (and skips 2) from ``folder``,
    except ``failed_source``, which fails ``authentication_failed``."""
    job = started_job(refs)
    for index, count in enumerate(copied):
        if index == failed_source:
            job.fail_source(index, FailureReason.AUTHENTICATION_FAILED, at=T0)
            continue
        job.survey(index, (FolderTotal(folder, count + 3, 1000),), at=T0)
        job.finish_folder(
            index,
            folder,
            destination_folder=folder,
            copied=count,
            skipped=2,
            failures=((FailureReason.TOO_LARGE.value, 1),),
            at=T0,
        )
    job.conclude(at=T0)
    return job


def mailer(log: MailHostLog, sender: RecordingSender) -> ImportMail:
    return ImportMail(log, EngineMail(sender, SENDER), Clock(T0))


def sent_once(job: ImportJob) -> OutgoingMail:
    log, sender = new_log(), RecordingSender()
    log.save(job)
    assert mailer(log, sender).send(job.id)
    (mail,) = sender.sent
    return mail


def body_of(mail: OutgoingMail) -> str:
    content = mail.message.get_content()
    assert isinstance(content, str)
    return content


def outside_text(mail: OutgoingMail) -> str:
    """The body and subject without the destination (the provider's own address,
    which the user chose): what is left came from the sources or the template."""
    text = f"{mail.message['Subject']}\n{body_of(mail)}"
    return text.replace(DESTINATION, "<destination>")


def source_block(body: str, index: int) -> str:
    """The lines of the ``index``-th "From ..." paragraph."""
    blocks = re.split(r"\n  From ", body)
    return blocks[index + 1].split("\n\n")[0]


def test_names_each_sources_copied_count_and_goes_to_every_involved_address() -> None:
    # rule IMP-4
    refs = (
        external("carol@old.example", "imap.old.example"),
        SourceRef.hosted_address("dave@example.org", uuid4()),
    )
    mail = sent_once(finished_job(refs, [17, 5]))
    body = body_of(mail)
    assert mail.recipients == (DESTINATION, "carol@old.example", "dave@example.org")
    assert mail.message["To"] == ", ".join(mail.recipients)
    assert "completed" in str(mail.message["Subject"])
    assert "22 message(s) copied" in body  # the total of both sources
    first, second = source_block(body, 0), source_block(body, 1)
    assert "17 message(s) copied" in first
    assert "5 message(s) copied" in second
    assert "2 already present" in first
    assert "1 message(s) could not be copied" in first
    assert FailureReason.TOO_LARGE.text in first


def test_a_login_that_is_no_address_and_a_repeat_of_the_destination_get_no_mail() -> (
    None
):
    # rule IMP-4: "every address involved", each once
    refs = (
        external("carol", "imap.old.example"),
        external("BOX@Example.org", "imap.other.example"),
    )
    mail = sent_once(finished_job(refs, [1, 1]))
    assert mail.recipients == (DESTINATION,)
    assert mail.envelope_from == SENDER


@pytest.mark.parametrize("hostile", HOSTILE)
def test_no_link_even_from_hostile_hosts_users_and_folders(hostile: str) -> None:
    # rule IMP-4: no link in it; outside text neutralised
    refs = (external(hostile, hostile), external(f"u@{hostile}", "imap.example.net"))
    mail = sent_once(finished_job(refs, [3, 4], folder=hostile))
    text = outside_text(mail)
    assert LINK_LIKE.search(text) is None, text
    assert hostile not in text
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert all(len(line) <= 998 for line in mail.message.as_string().splitlines())
    assert "3 message(s) copied" in source_block(body_of(mail), 0)
    assert "4 message(s) copied" in source_block(body_of(mail), 1)


@settings(max_examples=60, deadline=None)
@given(user=LABELS, host=LABELS)
def test_no_link_and_no_control_character_from_any_source_label(
    user: str, host: str
) -> None:
    # rule IMP-4
    job = finished_job((external(user, host),), [9])
    mail = ImportMail(
        new_log(), EngineMail(RecordingSender(), SENDER), Clock(T0)
    ).compose(job)
    text = outside_text(mail)
    assert LINK_LIKE.search(text) is None, text
    assert not any(c < " " and c != "\n" for c in text), text
    assert "9 message(s) copied" in text


def test_message_id_is_the_jobs_and_a_repeat_after_a_lost_answer_is_the_same_mail() -> (
    None
):
    # rule IMP-4: sent, then recorded; a repeat carries the same Message-ID
    job = finished_job((external("carol@old.example", "imap.old.example"),), [2])
    log, sender = new_log(), RecordingSender()
    log.save(job)
    sender.fail_after_accept = True
    with pytest.raises(ConnectionError):
        mailer(log, sender).send(job.id)
    assert not log.load(job.id, ImportJob, "job").confirmation_sent
    assert mailer(log, sender).send(job.id)  # the retry sends again ...
    assert not mailer(log, sender).send(job.id)  # ... and records: no third one
    first, second = sender.sent
    assert first.message["Message-ID"] == second.message["Message-ID"]
    digest = sha256(f"import:{job.id}".encode()).hexdigest()[:32]  # as releases before
    assert first.message["Message-ID"] == f"<import.{digest}@mail.example.org>"
    assert str(first.message["Message-ID"]).endswith("@mail.example.org>")
    assert log.load(job.id, ImportJob, "job").confirmation_sent
    other = finished_job((external("carol@old.example", "imap.old.example"),), [2])
    assert _message_id(other.id) != _message_id(job.id)
    assert _message_id(UUID(int=1)) == _message_id(UUID(int=1))


def _message_id(job_id: UUID) -> str:
    return EngineMail(RecordingSender(), SENDER).message_id(
        "import", f"import:{job_id}"
    )


def test_the_failure_notice_names_the_reason_and_goes_to_the_destination() -> None:
    # rule IMP-4 (failure notice)
    job = finished_job(
        (external("carol@old.example", "imap.old.example"),), [0], failed_source=0
    )
    mail = sent_once(job)
    body = body_of(mail)
    assert mail.recipients == (DESTINATION,)
    assert "failed" in str(mail.message["Subject"])
    assert FailureReason.AUTHENTICATION_FAILED.text in body
    assert "0 message(s) copied" in body
    assert LINK_LIKE.search(outside_text(mail)) is None


def test_a_job_not_over_gets_no_mail() -> None:
    # rule IMP-4: "when done"
    job = started_job((external("carol@old.example", "imap.old.example"),))
    log, sender = new_log(), RecordingSender()
    log.save(job)
    assert not mailer(log, sender).send(job.id)
    assert sender.sent == []
