"""The copy of one import job: resumable, idempotent, one message never twice (IMP-1..3).

A worker runs it under a claim on the job. Everything it decides is recomputed from the
two sides and the log on every run, so a run killed anywhere (kill -9 mid-folder) and
run again converges: folders whose checkpoint (``FolderFinished``) is in the log are
skipped, and inside a folder the multiset rule (``copies_needed``) against what the
destination already holds chooses exactly the messages still missing.

Errors are sorted by what a retry can change. A permanent source error (a refused
password, a failed TLS handshake) fails that source at once, with its reason. A
transient one (a dropped connection) is raised, so the job is retried with backoff,
until the ``attempt`` reaches the policy's bound: then the source fails ``unreachable``
(or, for a destination error, ``destination_failed``: the destination is not the
source). Any other exception (a bug, or a server answer no adapter foresaw) is raised
for a retry too, and at the last attempt fails the source ``source_refused``: the job
always ends, and its lane and sealed password are released. A message the destination
refuses, or one above ``max_message_size``, is counted with its reason and the copy goes
on; so is a folder the destination cannot hold (``FolderRefused``). The copy of one
folder, and the shortcut for an unchanged one, is ``application.importfolder``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from uuid import UUID

from attrs import define, field

from application.importfolder import CopyPolicy, FolderCopy, KeepAlive, Stopped
from application.importports import (
    DestinationError,
    DestinationMailbox,
    FolderRefused,
    FolderState,
    HostedSource,
    ImportDestination,
    ImportQueries,
    ImportSourceError,
    MailSource,
    SourceMailbox,
)
from application.log import MailHostLog
from application.ports import Clock, CredentialStore, SealBroken, Sealer
from domain.importfacts import FailureReason, FolderTotal, SourceRef
from domain.importjob import ImportJob, ImportLane, lane_id
from domain.importplan import SourceFolder, destination_path

__all__ = ["CopyPolicy", "ImportCopy", "seal_context"]


def seal_context(job_id: UUID, source_index: int) -> str:
    """What a source password is sealed for: this job's source, and nothing else."""
    return f"mailhost/import/{job_id}/{source_index}"


@define
class ImportCopy:
    log: MailHostLog
    credentials: CredentialStore
    sealer: Sealer
    sources: MailSource
    destination: ImportDestination
    clock: Clock
    hosted: HostedSource | None = None
    policy: CopyPolicy = field(factory=CopyPolicy)
    queries: ImportQueries | None = None

    def run(self, job_id: UUID, keep_alive: KeepAlive, *, attempt: int = 1) -> None:
        """Copy what is missing, then complete or fail the job and release its lane.

        Does nothing for a job that is over, or that is not its lane's head yet (the
        lane's release starts it later). Returns early, writing nothing more, as soon
        as ``keep_alive`` says the claim is lost.
        """
        job = self.log.find(job_id, ImportJob)
        if job is None or job.is_over:
            return
        lane = self.log.find(lane_id(job.destination), ImportLane)
        if lane is None or lane.head != job_id or not keep_alive():
            return
        if not job.is_running:
            job.start(at=self.clock.now())
            self.log.save(job)
        try:
            self._copy_sources(job, keep_alive, attempt)
        except Stopped:
            return
        self._finish(job_id)

    def _copy_sources(
        self, job: ImportJob, keep_alive: KeepAlive, attempt: int
    ) -> None:
        pending = [i for i in range(len(job.sources)) if not job.source_done(i)]
        if not pending:
            return
        destination = self.destination.open(job.destination)
        try:
            last = attempt >= self.policy.max_attempts
            for index in pending:
                try:
                    self._copy_source(job, index, destination, keep_alive)
                except Stopped:
                    raise
                except ImportSourceError as e:
                    if e.transient and not last:
                        raise
                    self._fail_source(job, index, _final_reason(e))
                except Exception:
                    if not last:
                        raise
                    self._fail_source(job, index, FailureReason.SOURCE_REFUSED)
        finally:
            destination.close()

    def _fail_source(self, job: ImportJob, index: int, reason: FailureReason) -> None:
        job.fail_source(index, reason, at=self.clock.now())
        self.log.save(job)

    def _copy_source(
        self,
        job: ImportJob,
        index: int,
        destination: DestinationMailbox,
        keep_alive: KeepAlive,
    ) -> None:
        mailbox = self._open(job, index)
        if mailbox is None:
            return
        try:
            folders = mailbox.folders()
            if index not in job.surveys:
                totals = tuple(_total(mailbox, f) for f in folders if f.selectable)
                job.survey(index, totals, at=self.clock.now())
                self.log.save(job)
            special = destination.special_folders()
            done = job.finished_folders(index)
            recorded = self._recorded(job, index)
            for folder in folders:
                path = destination_path(folder, special)
                if not folder.selectable:
                    with contextlib.suppress(FolderRefused):  # its children fail alone
                        destination.ensure_folder(path, container=True)
                elif folder.name not in done:
                    FolderCopy(
                        self.log,
                        self.clock,
                        self.policy,
                        job,
                        index,
                        folder,
                        path,
                        keep_alive,
                        recorded.get(folder.name),
                    ).run(mailbox, destination)
            self._vanished(job, index, {f.name for f in folders})
        finally:
            mailbox.close()

    def _recorded(self, job: ImportJob, index: int) -> Mapping[str, FolderState]:
        """The folder states the last finished import of this source left (none
        without a read model)."""
        if self.queries is None:
            return {}
        return self.queries.folder_states(job.destination, job.sources[index].identity)

    def _vanished(self, job: ImportJob, index: int, listed: set[str]) -> None:
        """Folders an earlier run surveyed that the source no longer lists: finished,
        with their messages counted as failed ``folder_vanished``."""
        for total in job.surveys.get(index, ()):
            if total.name in listed or total.name in job.finished_folders(index):
                continue
            job.finish_folder(
                index,
                total.name,
                destination_folder="",
                copied=0,
                skipped=0,
                failures=(
                    (FailureReason.FOLDER_VANISHED.value, max(total.messages, 1)),
                ),
                size=0,
                at=self.clock.now(),
            )
            self.log.save(job)

    def _open(self, job: ImportJob, index: int) -> SourceMailbox | None:
        """The source logged in to, or None once its failure is recorded."""
        ref: SourceRef = job.sources[index]
        if ref.hosted:
            if self.hosted is None:
                self._fail_source(job, index, FailureReason.SOURCE_REFUSED)
                return None
            return self.hosted.open(ref.user)
        sealed = self.credentials.secret(ref.credential_id)
        if sealed is None:
            self._fail_source(job, index, FailureReason.CREDENTIALS_MISSING)
            return None
        try:
            password = self.sealer.unseal(sealed, context=seal_context(job.id, index))
        except SealBroken:
            self._fail_source(job, index, FailureReason.CREDENTIALS_MISSING)
            return None
        return self.sources.open(ref.source, password.decode())

    def _finish(self, job_id: UUID) -> None:
        """Completed or Failed, saved together with the lane's release (one write)."""

        def attempt() -> None:
            job = self.log.load(job_id, ImportJob, f"import {job_id}")
            if job.is_over:
                return
            lane = self.log.load(lane_id(job.destination), ImportLane, "import lane")
            at = self.clock.now()
            job.conclude(at=at)
            lane.release(job_id, at=at)
            self.log.save(job, lane)

        self.log.retrying(attempt)


def _total(mailbox: SourceMailbox, folder: SourceFolder) -> FolderTotal:
    """The folder's size for progress; one that vanished since LIST counts as empty."""
    try:
        total = mailbox.total(folder)
    except ImportSourceError as e:
        if e.reason != FailureReason.FOLDER_VANISHED:
            raise
        return FolderTotal(folder.name, 0, 0)
    return FolderTotal(folder.name, total.messages, total.size)


def _final_reason(error: ImportSourceError) -> FailureReason:
    """Why a source fails on this error: a transient source error left after the last
    attempt is ``unreachable``; a destination error keeps its own reason."""
    if error.transient and not isinstance(error, DestinationError):
        return FailureReason.UNREACHABLE
    return _reason(error)


def _reason(error: ImportSourceError) -> FailureReason:
    """The named reason of a permanent source error; an unknown name is a refusal."""
    try:
        return FailureReason(error.reason)
    except ValueError:
        return FailureReason.SOURCE_REFUSED
