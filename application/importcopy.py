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
on; so is a folder the destination cannot hold (``FolderRefused``).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

from attrs import define, frozen

from application.importports import (
    MAX_MESSAGE_BYTES,
    DestinationError,
    DestinationMailbox,
    FolderRefused,
    HostedSource,
    ImportDestination,
    ImportSourceError,
    MailSource,
    SourceMailbox,
    SourceMessage,
)
from application.log import MailHostLog
from application.ports import Clock, CredentialStore, SealBroken, Sealer
from application.prefetch import Prefetched
from domain.importfacts import FailureReason, FolderTotal, SourceRef
from domain.importjob import ImportJob, ImportLane, lane_id
from domain.importplan import (
    MessageKey,
    SourceFolder,
    copies_needed,
    destination_path,
)

KeepAlive = Callable[[], bool]


@frozen
class CopyPolicy:
    """How a run batches its work and how long transient errors are retried.

    ``batch_messages`` bounds a FETCH/APPEND round and so how much a kill can leave to
    redo; ``batch_bytes`` bounds the memory a batch holds (large attachments included).
    A message above ``max_message_size`` (by the size the source announces) is not
    fetched: it is counted failed ``too_large``.
    """

    max_attempts: int = 6
    batch_messages: int = 100
    batch_bytes: int = 8 * 1024 * 1024
    max_message_size: int = MAX_MESSAGE_BYTES


def seal_context(job_id: UUID, source_index: int) -> str:
    """What a source password is sealed for: this job's source, and nothing else."""
    return f"mailhost/import/{job_id}/{source_index}"


class _Stopped(Exception):  # noqa: N818 - reads as what happened
    """The claim on the job was lost: another worker may run it now; stop at once."""


class _Tally:
    """A folder's running counts; the log's last progress is where a resumed run starts."""

    def __init__(self, copied: int, skipped: int, size: int) -> None:
        self.copied, self.skipped, self.size = copied, skipped, size
        self.failures: Counter[str] = Counter()

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


@define
class ImportCopy:
    log: MailHostLog
    credentials: CredentialStore
    sealer: Sealer
    sources: MailSource
    destination: ImportDestination
    clock: Clock
    hosted: HostedSource | None = None
    policy: CopyPolicy = CopyPolicy()

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
        except _Stopped:
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
                except _Stopped:
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
            for folder in folders:
                path = destination_path(folder, special)
                if not folder.selectable:
                    with contextlib.suppress(FolderRefused):  # its children fail alone
                        destination.ensure_folder(path, container=True)
                elif folder.name not in done:
                    copy = _FolderCopy(self, job, index, folder, path, keep_alive)
                    copy.run(mailbox, destination)
            self._vanished(job, index, {f.name for f in folders})
        finally:
            mailbox.close()

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


@define
class _FolderCopy:
    """One folder: what is missing, fetched and appended in batches, then the checkpoint."""

    copy: ImportCopy
    job: ImportJob
    index: int
    folder: SourceFolder
    path: tuple[str, ...]
    keep_alive: KeepAlive

    def run(self, mailbox: SourceMailbox, destination: DestinationMailbox) -> None:
        try:
            destination.ensure_folder(self.path)
            keys, present = _both_keys(mailbox, self.folder, destination, self.path)
        except FolderRefused:
            self._finished(_Tally(0, 0, 0), lost=FailureReason.DESTINATION_FAILED)
            return
        except ImportSourceError as e:
            if e.reason != FailureReason.FOLDER_VANISHED:
                raise
            self._finished(_Tally(0, 0, 0), lost=FailureReason.FOLDER_VANISHED)
            return
        needed = copies_needed([k for _, k in keys], present)
        tally = self._resumed(len(keys) - len(needed))
        limit = self.copy.policy.max_message_size
        uids = [keys[i][0] for i in needed if keys[i][1].size <= limit]
        if len(uids) < len(needed):
            tally.failures[FailureReason.TOO_LARGE.value] += len(needed) - len(uids)
        del keys, present, needed  # a big folder's keys are not kept through its copy
        # The source is read in a thread, a group ahead of the appends: the two
        # connections wait on their servers at the same time. Only the thread uses
        # the source until the block has joined it.
        with Prefetched(lambda: self._groups(mailbox, uids), depth=1) as groups:
            batch_starts = True
            for messages, batch_ends in groups:
                if batch_starts and not self.keep_alive():
                    raise _Stopped
                if messages:
                    self._append(destination, messages, tally)
                batch_starts = batch_ends
                if batch_ends:
                    self._progress(tally)
        self._finished(tally)

    def _groups(
        self, mailbox: SourceMailbox, uids: Sequence[int]
    ) -> Iterator[tuple[list[SourceMessage], bool]]:
        """Each batch's groups, the last one marked (an empty batch yields one, empty)."""
        for batch in _chunks(uids, self.copy.policy.batch_messages):
            pending: list[SourceMessage] | None = None
            for messages in self._fetched(mailbox, batch):
                if pending is not None:
                    yield pending, False
                pending = messages
            yield (pending or []), True

    def _resumed(self, present: int) -> _Tally:
        """Counts that go on from the last run's progress (a kill mid-folder).

        What that run copied is present now and would count as skipped; it stays
        counted as copied instead.
        """
        before = self.job.folder_counts(self.index, self.folder.name)
        copied = min(before.copied, present)
        return _Tally(copied, present - copied, before.size if copied else 0)

    def _fetched(
        self, mailbox: SourceMailbox, uids: Sequence[int]
    ) -> Iterator[list[SourceMessage]]:
        """The batch's messages in groups bounded in bytes (memory stays flat)."""
        group: list[SourceMessage] = []
        size = 0
        for message in mailbox.fetch(self.folder, uids):
            group.append(message)
            size += len(message.raw)
            if size >= self.copy.policy.batch_bytes:
                yield group
                group, size = [], 0
        if group:
            yield group

    def _append(
        self,
        destination: DestinationMailbox,
        messages: list[SourceMessage],
        tally: _Tally,
    ) -> None:
        results = destination.append(self.path, messages)
        for message, refused in zip(messages, results, strict=True):
            if refused is None:
                tally.copied += 1
                tally.size += len(message.raw)
            else:
                tally.failures[_message_reason(refused)] += 1

    def _progress(self, tally: _Tally) -> None:
        self.job.record_progress(
            self.index,
            self.folder.name,
            copied=tally.copied,
            skipped=tally.skipped,
            failed=tally.failed,
            size=tally.size,
            at=self.copy.clock.now(),
        )
        self.copy.log.save(self.job)

    def _finished(self, tally: _Tally, *, lost: FailureReason | None = None) -> None:
        """The checkpoint; ``lost``: the folder could not be read or written at all,
        and its surveyed messages are counted failed for that reason."""
        failures = dict(tally.failures)
        if lost is not None:
            surveyed = {
                t.name: t.messages for t in self.job.surveys.get(self.index, ())
            }
            failures[lost.value] = max(
                surveyed.get(self.folder.name, 0) - tally.copied, 1
            )
        self.job.finish_folder(
            self.index,
            self.folder.name,
            destination_folder="/".join(self.path),
            copied=tally.copied,
            skipped=tally.skipped,
            failures=tuple(sorted(failures.items())),
            size=tally.size,
            at=self.copy.clock.now(),
        )
        self.copy.log.save(self.job)


def _both_keys(
    mailbox: SourceMailbox,
    folder: SourceFolder,
    destination: DestinationMailbox,
    path: tuple[str, ...],
) -> tuple[list[tuple[int, MessageKey]], list[MessageKey]]:
    """The source's and the destination's keys, read at the same time (two servers,
    two connections: the destination's is used by a thread until it has answered)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-keys") as pool:
        present = pool.submit(destination.keys, path)
        keys = mailbox.keys(folder)
        return keys, present.result()


def _total(mailbox: SourceMailbox, folder: SourceFolder) -> FolderTotal:
    """The folder's size for progress; one that vanished since LIST counts as empty."""
    try:
        total = mailbox.total(folder)
    except ImportSourceError as e:
        if e.reason != FailureReason.FOLDER_VANISHED:
            raise
        return FolderTotal(folder.name, 0, 0)
    return FolderTotal(folder.name, total.messages, total.size)


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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


def _message_reason(refused: str) -> str:
    try:
        return FailureReason(refused).value
    except ValueError:
        return FailureReason.MESSAGE_REFUSED.value
