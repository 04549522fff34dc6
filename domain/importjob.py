"""One mailbox import (IMP-1..IMP-9), and the lane that runs one import per destination.

A job is requested with one or two sources (IMP-7), started by the system, and from
then on cannot be interrupted by a user (IMP-2): the worker records per-folder progress
and, at the end of each folder, a checkpoint (``FolderFinished``) that a resumed job
skips. Counts are per source and per folder: copied, skipped (present already, IMP-3)
and failed with a named reason. No password is held here: a source names its sealed
password by ``credential_id`` (IMP-9).

Two imports running at once into one mailbox doubled 3,009 messages (engineering notes),
so an :class:`ImportLane` per destination queues jobs: only its head runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.address import EmailAddress, identity
from domain.errors import InvalidInput, NotPermitted
from domain.importfacts import (
    MAX_SOURCES,
    FailureReason,
    FolderCounts,
    FolderResult,
    FolderTotal,
    JobState,
    SourceRef,
    count_of,
    merge_failures,
)
from domain.importlane import ImportLane, lane_id
from domain.importrecord import JobRecord
from domain.time import utc


class ImportJob(JobRecord, Aggregate):
    class Requested(Aggregate.Created):
        destination: str
        mailbox_id: UUID
        domain: str
        requested_by: UUID | None
        sources: tuple[SourceRef, ...]
        batch_id: UUID | None

    def __init__(
        self,
        *,
        destination: str,
        mailbox_id: UUID,
        domain: str,
        requested_by: UUID | None,
        sources: tuple[SourceRef, ...],
        batch_id: UUID | None,
    ) -> None:
        self.destination = destination
        self.mailbox_id = mailbox_id
        self.domain = domain
        self.requested_by = requested_by
        self.sources = sources
        self.batch_id = batch_id
        self.state = JobState.REQUESTED
        self.started_at = None
        self.ended_at = None
        self.reason = None
        self.cancelled_by = None
        self.surveys = {}
        self.progress = {}
        self.finished = {}
        self.failed_sources = {}
        self.current_folder = None
        self.confirmed_at = None
        self.credentials_forgotten_at = None

    @classmethod
    def request(
        cls,
        job_id: UUID,
        *,
        destination: str,
        mailbox_id: UUID,
        domain: str,
        requested_by: UUID | None,
        sources: Iterable[SourceRef],
        batch_id: UUID | None = None,
        at: datetime,
    ) -> ImportJob:
        """A new job (a repeat of the same import is a new job that copies nothing new)."""
        refs = tuple(sources)
        if not 1 <= len(refs) <= MAX_SOURCES:
            raise InvalidInput(
                f"an import has one or two sources, not {len(refs)} (IMP-7)"
            )
        if len({r.identity for r in refs}) != len(refs):
            raise InvalidInput("the two sources are the same mailbox; give it once")
        address = str(EmailAddress.parse(destination, what="destination"))
        for ref in refs:
            if ref.hosted and identity(ref.user) == identity(address):
                raise InvalidInput(f"source {ref.user} is the destination itself")
        return cls._create(
            cls.Requested,
            id=job_id,
            timestamp=utc(at),
            destination=address,
            mailbox_id=mailbox_id,
            domain=domain,
            requested_by=requested_by,
            sources=refs,
            batch_id=batch_id,
        )

    # -- lifecycle -------------------------------------------------------------------

    class Started(Aggregate.Event):
        def apply(self, aggregate: ImportJob) -> None:
            aggregate.state = JobState.RUNNING
            aggregate.started_at = self.timestamp

    def start(self, *, at: datetime) -> None:
        """Start the copy; a job running already (a resumed worker) is left as it is."""
        if self.is_running:
            return
        self._require_not_over()
        self.trigger_event(self.Started, timestamp=utc(at))

    class Cancelled(Aggregate.Event):
        by: UUID | None

        def apply(self, aggregate: ImportJob) -> None:
            aggregate.state = JobState.CANCELLED
            aggregate.reason = FailureReason.CANCELLED
            aggregate.cancelled_by = self.by
            aggregate.ended_at = self.timestamp
            aggregate.current_folder = None

    def cancel(self, by: UUID | None, *, at: datetime) -> None:
        if self.is_started and not self.is_over:
            raise NotPermitted("an import cannot be interrupted once started (IMP-2)")
        self._require_not_over()
        self.trigger_event(self.Cancelled, timestamp=utc(at), by=by)

    def _require_not_over(self) -> None:
        if self.is_over:
            raise NotPermitted(f"import {self.id} is {self.state.value} already")

    def _require_running(self) -> None:
        if not self.is_running:
            raise NotPermitted(f"import {self.id} is {self.state.value}, not running")

    def _active_source(self, source_index: int) -> None:
        self._require_running()
        if isinstance(source_index, bool) or not 0 <= source_index < len(self.sources):
            raise InvalidInput(
                f"source {source_index!r} is not a source of this import"
            )
        if source_index in self.failed_sources:
            raise NotPermitted(f"source {source_index} of import {self.id} has failed")

    # -- the copy ----------------------------------------------------------------------

    class Surveyed(Aggregate.Event):
        source_index: int
        folders: tuple[FolderTotal, ...]

        def apply(self, aggregate: ImportJob) -> None:
            aggregate.surveys[self.source_index] = self.folders

    def survey(
        self, source_index: int, folders: Iterable[FolderTotal], *, at: datetime
    ) -> None:
        """The source's folders and sizes, for totals; a resumed run surveys again and
        the new survey replaces the old one (a folder may have appeared or vanished)."""
        self._active_source(source_index)
        totals = tuple(folders)
        names = [f.name for f in totals]
        if len(set(names)) != len(names) or not all(names):
            raise InvalidInput("a survey names each folder once, none empty")
        for total in totals:
            count_of(total.messages, f"messages of {total.name!r}")
            count_of(total.size, f"size of {total.name!r}")
        self.trigger_event(
            self.Surveyed, timestamp=utc(at), source_index=source_index, folders=totals
        )

    class Progressed(Aggregate.Event):
        source_index: int
        folder: str
        counts: FolderCounts

        def apply(self, aggregate: ImportJob) -> None:
            aggregate.progress.setdefault(self.source_index, {})[self.folder] = (
                self.counts
            )
            aggregate.current_folder = (self.source_index, self.folder)

    def record_progress(
        self,
        source_index: int,
        folder: str,
        *,
        copied: int,
        skipped: int,
        failed: int,
        size: int,
        at: datetime,
    ) -> None:
        """The folder's cumulative counts after a batch (replacing the previous ones)."""
        self._active_source(source_index)
        self._require_folder_open(source_index, folder)
        counts = FolderCounts(
            count_of(copied, "copied"),
            count_of(skipped, "skipped"),
            count_of(failed, "failed"),
            count_of(size, "size"),
        )
        self.trigger_event(
            self.Progressed,
            timestamp=utc(at),
            source_index=source_index,
            folder=folder,
            counts=counts,
        )

    class FolderFinished(Aggregate.Event):
        source_index: int
        folder: str
        result: FolderResult
        # Both sides' folder states when the copy of this folder left nothing missing
        # (opaque to the domain, compared by the next import of the same source into
        # the same address: equal states mean nothing to copy). None in older events.
        source_state: str | None = None
        destination_state: str | None = None

        def apply(self, aggregate: ImportJob) -> None:
            aggregate.finished.setdefault(self.source_index, {})[self.folder] = (
                self.result
            )
            aggregate.progress.get(self.source_index, {}).pop(self.folder, None)
            if aggregate.current_folder == (self.source_index, self.folder):
                aggregate.current_folder = None

    def finish_folder(
        self,
        source_index: int,
        folder: str,
        destination_folder: str,
        *,
        copied: int,
        skipped: int,
        failures: Iterable[tuple[str, int]] = (),
        size: int | None = None,
        source_state: str | None = None,
        destination_state: str | None = None,
        at: datetime,
    ) -> None:
        """The checkpoint of a folder: a resumed run skips it (IMP-2).

        ``failures``: (``FailureReason`` value, number of messages). ``size`` defaults to
        the last progress's bytes, else the survey's. Finishing a finished folder again
        is a no-op: the first checkpoint stands. The states are kept only when both are
        given and nothing failed (a later import may then skip an unchanged folder).
        """
        self._active_source(source_index)
        if folder in self.finished.get(source_index, {}):
            return
        self._require_folder_open(source_index, folder)
        result = FolderResult(
            destination_folder=destination_folder,
            copied=count_of(copied, "copied"),
            skipped=count_of(skipped, "skipped"),
            failures=merge_failures(failures),
            size=self._size_of(source_index, folder)
            if size is None
            else count_of(size, "size"),
        )
        kept = bool(source_state and destination_state) and not result.failures
        self.trigger_event(
            self.FolderFinished,
            timestamp=utc(at),
            source_index=source_index,
            folder=folder,
            result=result,
            source_state=source_state if kept else None,
            destination_state=destination_state if kept else None,
        )

    class SourceFailed(Aggregate.Event):
        source_index: int
        reason: FailureReason

        def apply(self, aggregate: ImportJob) -> None:
            aggregate.failed_sources[self.source_index] = self.reason
            if aggregate.current_folder and aggregate.current_folder[0] == (
                self.source_index
            ):
                aggregate.current_folder = None

    def fail_source(
        self, source_index: int, reason: FailureReason, *, at: datetime
    ) -> None:
        """The source cannot be read at all (or any more); the other one goes on."""
        self._active_source(source_index)
        self.trigger_event(
            self.SourceFailed,
            timestamp=utc(at),
            source_index=source_index,
            reason=FailureReason(reason),
        )

    # -- the end -------------------------------------------------------------------------

    class Completed(Aggregate.Event):
        def apply(self, aggregate: ImportJob) -> None:
            aggregate.state = JobState.COMPLETED
            aggregate.ended_at = self.timestamp
            aggregate.current_folder = None

    def complete(self, *, at: datetime) -> None:
        """Every source finished or failed, and at least one finished."""
        self._require_running()
        waiting = sorted(set(range(len(self.sources))) - self.sources_done)
        if waiting:
            raise NotPermitted(f"source {waiting[0]} of import {self.id} is not done")
        if len(self.failed_sources) == len(self.sources):
            raise NotPermitted(f"every source of import {self.id} failed; it failed")
        self.trigger_event(self.Completed, timestamp=utc(at))

    class Failed(Aggregate.Event):
        reason: FailureReason

        def apply(self, aggregate: ImportJob) -> None:
            aggregate.state = JobState.FAILED
            aggregate.reason = self.reason
            aggregate.ended_at = self.timestamp
            aggregate.current_folder = None

    def fail(self, reason: FailureReason, *, at: datetime) -> None:
        """The job cannot go on (before or after its start): the system's decision."""
        self._require_not_over()
        self.trigger_event(self.Failed, timestamp=utc(at), reason=FailureReason(reason))

    def conclude(self, *, at: datetime) -> None:
        """Once every source is done: complete, or fail with the sources' reason (one
        source: its own; two failed for different reasons: ``all_sources_failed``)."""
        if len(self.failed_sources) < len(self.sources):
            self.complete(at=at)
            return
        self._require_running()
        reasons = set(self.failed_sources.values())
        reason = (
            reasons.pop() if len(reasons) == 1 else FailureReason.ALL_SOURCES_FAILED
        )
        self.fail(reason, at=at)

    class ConfirmationSent(Aggregate.Event):
        def apply(self, aggregate: ImportJob) -> None:
            aggregate.confirmed_at = self.timestamp

    def record_confirmation(self, *, at: datetime) -> None:
        """The confirmation went out (IMP-4); recorded once, a repeat is a no-op."""
        if not self.is_over:
            raise NotPermitted(f"import {self.id} is not over; nothing to confirm")
        if self.confirmation_sent:
            return
        self.trigger_event(self.ConfirmationSent, timestamp=utc(at))

    class CredentialsForgotten(Aggregate.Event):
        def apply(self, aggregate: ImportJob) -> None:
            aggregate.credentials_forgotten_at = self.timestamp

    def forget_credentials(self, *, at: datetime) -> None:
        """The sealed passwords were deleted (IMP-9); a repeat is a no-op."""
        if not self.is_over:
            raise NotPermitted(f"import {self.id} is not over; its sources are in use")
        if self.credentials_forgotten:
            return
        self.trigger_event(self.CredentialsForgotten, timestamp=utc(at))


__all__ = [
    "MAX_SOURCES",
    "FailureReason",
    "FolderCounts",
    "FolderResult",
    "FolderTotal",
    "ImportJob",
    "ImportLane",
    "JobState",
    "SourceRef",
    "lane_id",
]
