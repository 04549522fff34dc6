"""What an import job holds and answers: its state, its counts, what is done.

The queries of :class:`domain.importjob.ImportJob` and a check its commands run
before recording, apart from its commands and events so each module stays one
readable piece; the aggregate inherits them.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from domain.address import EmailAddress
from domain.errors import InvalidInput, NotPermitted
from domain.importfacts import (
    OVER,
    FailureReason,
    FolderCounts,
    FolderResult,
    FolderTotal,
    JobState,
    SourceRef,
)


class JobRecord:
    destination: str
    mailbox_id: UUID
    domain: str
    requested_by: UUID | None
    sources: tuple[SourceRef, ...]
    batch_id: UUID | None
    state: JobState
    started_at: datetime | None
    ended_at: datetime | None
    reason: FailureReason | None
    cancelled_by: UUID | None
    surveys: dict[int, tuple[FolderTotal, ...]]
    progress: dict[int, dict[str, FolderCounts]]
    finished: dict[int, dict[str, FolderResult]]
    failed_sources: dict[int, FailureReason]
    current_folder: tuple[int, str] | None
    confirmed_at: datetime | None
    credentials_forgotten_at: datetime | None

    @property
    def is_started(self) -> bool:
        return self.started_at is not None

    @property
    def is_running(self) -> bool:
        return self.state is JobState.RUNNING

    @property
    def is_over(self) -> bool:
        return self.state in OVER

    @property
    def confirmation_sent(self) -> bool:
        return self.confirmed_at is not None

    @property
    def credentials_forgotten(self) -> bool:
        return self.credentials_forgotten_at is not None

    def finished_folders(self, source_index: int) -> frozenset[str]:
        """The folders a resumed run skips: their checkpoint is stored."""
        return frozenset(self.finished.get(source_index, {}))

    def folder_result(self, source_index: int, folder: str) -> FolderResult | None:
        return self.finished.get(source_index, {}).get(folder)

    def folder_counts(self, source_index: int, folder: str) -> FolderCounts:
        """The checkpoint's counts when finished, else the last progress, else zeros."""
        result = self.folder_result(source_index, folder)
        if result is not None:
            return result.counts
        return self.progress.get(source_index, {}).get(folder, FolderCounts())

    def source_counts(self, source_index: int) -> FolderCounts:
        names = set(self.progress.get(source_index, {}))
        names |= self.finished_folders(source_index)
        total = FolderCounts()
        for name in sorted(names):
            total += self.folder_counts(source_index, name)
        return total

    @property
    def counts(self) -> FolderCounts:
        total = FolderCounts()
        for index in range(len(self.sources)):
            total += self.source_counts(index)
        return total

    def source_total(self, source_index: int) -> FolderTotal | None:
        """Messages and bytes the source's survey found, or None before a survey."""
        survey = self.surveys.get(source_index)
        if survey is None:
            return None
        return FolderTotal(
            self.sources[source_index].label,
            sum(f.messages for f in survey),
            sum(f.size for f in survey),
        )

    def source_done(self, source_index: int) -> bool:
        """Failed, or surveyed with every surveyed folder finished."""
        if source_index in self.failed_sources:
            return True
        survey = self.surveys.get(source_index)
        return survey is not None and {f.name for f in survey} <= set(
            self.finished.get(source_index, {})
        )

    @property
    def sources_done(self) -> frozenset[int]:
        return frozenset(i for i in range(len(self.sources)) if self.source_done(i))

    @property
    def involved_addresses(self) -> tuple[str, ...]:
        """Who the confirmation goes to (IMP-4): the destination, and each source login
        that is a mail address, once each."""
        found: dict[str, str] = {}
        for text in (self.destination, *(s.user for s in self.sources)):
            try:
                address = EmailAddress.parse(text)
            except InvalidInput:
                continue
            found.setdefault(address.identity, str(address))
        return tuple(found.values())

    def _size_of(self, source_index: int, folder: str) -> int:
        progress = self.progress.get(source_index, {}).get(folder)
        if progress is not None:
            return progress.size
        survey = self.surveys.get(source_index, ())
        return next((f.size for f in survey if f.name == folder), 0)

    # -- a check its commands run --------------------------------------------------------

    def _require_folder_open(self, source_index: int, folder: str) -> str:
        if not isinstance(folder, str) or not folder:
            raise InvalidInput("folder name is empty")
        if folder in self.finished.get(source_index, {}):
            raise NotPermitted(
                f"folder {folder!r} of source {source_index} is finished"
            )
        return folder
