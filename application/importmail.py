"""The mail at the end of an import (IMP-4): the confirmation, or the failure notice.

A completed job sends one mail to every address involved (the destination and each
source login that is an address) with the number of messages copied from each source;
a failed job sends the destination a notice naming the reason. Sent first, recorded
second (as the security alerts): a crash in between repeats the mail with the same
derived Message-ID, never loses it, and a second delivery of the job finds it recorded.

Source logins and host names were typed by someone and name other systems: they are
written with their dots and "@" defanged and then neutralised, so no mail client turns
them into links, and the mail carries no link of its own.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime
from uuid import UUID

from attrs import frozen

from application.log import MailHostLog
from application.ports import Clock, EngineMail, OutgoingMail
from domain.importfacts import FailureReason, JobState, SourceRef
from domain.importjob import ImportJob
from domain.text import neutralise

CLOSING = (
    "This message contains no links on purpose: open your mail app yourself to see\n"
    "the imported folders."
)


@frozen
class ImportMail:
    log: MailHostLog
    mail: EngineMail
    clock: Clock

    def send(self, job_id: UUID) -> bool:
        """Send the finished job's mail unless it went out already; True if sent."""
        job = self.log.find(job_id, ImportJob)
        if job is None or job.confirmation_sent:
            return False
        if job.state not in {JobState.COMPLETED, JobState.FAILED}:
            return False
        self.mail.send(self.compose(job))
        self.log.retrying(lambda: self._record(job_id))
        return True

    def _record(self, job_id: UUID) -> None:
        job = self.log.load(job_id, ImportJob, f"import {job_id}")
        if not job.confirmation_sent:
            job.record_confirmation(at=self.clock.now())
            self.log.save(job)

    def compose(self, job: ImportJob) -> OutgoingMail:
        completed = job.state is JobState.COMPLETED
        recipients = job.involved_addresses if completed else (job.destination,)
        message = EmailMessage()
        message["From"] = self.mail.sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = (
            f"Import into {job.destination} completed"
            if completed
            else f"Import into {job.destination} failed"
        )
        message["Date"] = format_datetime(job.ended_at or self.clock.now())
        message["Message-ID"] = self.mail.message_id("import", f"import:{job.id}")
        message["Auto-Submitted"] = "auto-generated"
        text = confirmation_text(job) if completed else failure_text(job)
        message.set_content(text, cte="7bit" if text.isascii() else "quoted-printable")
        return OutgoingMail(
            envelope_from=self.mail.sender, recipients=recipients, message=message
        )


def shown_source(ref: SourceRef) -> str:
    """A source named without anything a mail client would make a link of."""
    label = ref.user if ref.hosted else f"{ref.user} on {ref.host}"
    return neutralise(label.replace("@", " at ").replace(".", "[.]"), max_length=200)


def _source_lines(job: ImportJob) -> list[str]:
    lines = []
    for index, ref in enumerate(job.sources):
        counts = job.source_counts(index)
        failed = job.failed_sources.get(index)
        lines.append(f"  From {shown_source(ref)}:")
        if failed is not None:
            lines.append(f"    not imported: {failed.text}")
        lines.append(f"    {counts.copied} message(s) copied")
        lines.append(f"    {counts.skipped} already present, not copied again")
        if counts.failed:
            lines.append(f"    {counts.failed} message(s) could not be copied")
            lines.extend(
                f"      {n} - {_reason_text(r)}" for r, n in _failures(job, index)
            )
    return lines


def _failures(job: ImportJob, index: int) -> list[tuple[str, int]]:
    merged: dict[str, int] = {}
    for result in job.finished.get(index, {}).values():
        for reason, count in result.failures:
            merged[reason] = merged.get(reason, 0) + count
    return sorted(merged.items())


def _reason_text(reason: str) -> str:
    try:
        return FailureReason(reason).text
    except ValueError:
        return neutralise(reason, max_length=60)


def confirmation_text(job: ImportJob) -> str:
    total = job.counts
    lines = [
        "Hello,",
        "",
        (
            f"The import into {job.destination} is complete:"
            f" {total.copied} message(s) copied."
        ),
        "",
        *_source_lines(job),
        "",
        "Messages already in the mailbox were not copied a second time.",
        "",
        CLOSING,
        "",
    ]
    return "\n".join(lines)


def failure_text(job: ImportJob) -> str:
    reason = job.reason.text if job.reason is not None else "an unknown error"
    lines = [
        "Hello,",
        "",
        f"The import into {job.destination} failed: {reason}.",
        "",
        *_source_lines(job),
        "",
        "Check the server name, the security setting and the password of each source,",
        "then start the import again: messages copied already are not copied twice.",
        "",
        CLOSING,
        "",
    ]
    return "\n".join(lines)
