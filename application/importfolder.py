"""The copy of one folder of an import: the multiset rule, batches, the checkpoint.

What is missing is ``copies_needed`` over both sides' keys, read at the same time;
the missing messages are fetched a group ahead of the appends (``Prefetched``) in
batches bounded in messages and bytes, progress is saved after each batch, and the
folder ends with its checkpoint (``FolderFinished``).

A re-run of an unchanged import costs almost nothing: the checkpoint carries both
folders' states (``SourceMailbox.state``, ``DestinationMailbox.state``) when nothing
failed, the read model keeps the last ones per destination, source and folder, and a
folder whose two states are unchanged is finished at once, every message counted as
skipped, without reading a key. The source's state is read before its keys, so a
message added during the copy changes it; a lagging read model only costs the shortcut.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from attrs import define, frozen

from application.importports import (
    MAX_MESSAGE_BYTES,
    DestinationMailbox,
    FolderRefused,
    FolderState,
    ImportSourceError,
    SourceMailbox,
    SourceMessage,
)
from application.log import MailHostLog
from application.ports import Clock
from application.prefetch import Prefetched
from domain.importfacts import FailureReason
from domain.importjob import ImportJob
from domain.importplan import MessageKey, SourceFolder, copies_needed

__all__ = ["CopyPolicy", "FolderCopy", "KeepAlive", "Stopped"]

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


class Stopped(Exception):  # noqa: N818 - reads as what happened
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
class FolderCopy:
    """One folder: what is missing, fetched and appended in batches, then the checkpoint.

    ``recorded``: the states the last finished copy of this folder left (read model).
    """

    log: MailHostLog
    clock: Clock
    policy: CopyPolicy
    job: ImportJob
    index: int
    folder: SourceFolder
    path: tuple[str, ...]
    keep_alive: KeepAlive
    recorded: FolderState | None = None

    def run(self, mailbox: SourceMailbox, destination: DestinationMailbox) -> None:
        try:
            destination.ensure_folder(self.path)
            # Read before the keys: a message added later raises UIDNEXT past it, so
            # the next import sees a change and reads the keys again.
            state = mailbox.state(self.folder)
            if self._unchanged(state, destination):
                return
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
        limit = self.policy.max_message_size
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
                    raise Stopped
                if messages:
                    self._append(destination, messages, tally)
                batch_starts = batch_ends
                if batch_ends:
                    self._progress(tally)
        self._finished(tally, states=(state, destination.state(self.path)))

    def _unchanged(self, state: str, destination: DestinationMailbox) -> bool:
        """Finish the folder at once when neither side changed since the last import
        of it finished with nothing missing: every message is present (skipped)."""
        recorded = self.recorded
        if (
            recorded is None
            or not state
            or state != recorded.source_state
            or recorded.destination_folder != "/".join(self.path)
        ):
            return False
        now = destination.state(self.path)
        if not now or now != recorded.destination_state:
            return False
        surveyed = {t.name: t.messages for t in self.job.surveys.get(self.index, ())}
        self._finished(
            _Tally(0, surveyed.get(self.folder.name, 0), 0), states=(state, now)
        )
        return True

    def _groups(
        self, mailbox: SourceMailbox, uids: Sequence[int]
    ) -> Iterator[tuple[list[SourceMessage], bool]]:
        """Each batch's groups, the last one marked (an empty batch yields one, empty)."""
        for batch in _chunks(uids, self.policy.batch_messages):
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
            if size >= self.policy.batch_bytes:
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
            at=self.clock.now(),
        )
        self.log.save(self.job)

    def _finished(
        self,
        tally: _Tally,
        *,
        lost: FailureReason | None = None,
        states: tuple[str, str] | None = None,
    ) -> None:
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
            source_state=None if states is None else states[0],
            destination_state=None if states is None else states[1],
            at=self.clock.now(),
        )
        self.log.save(self.job)


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


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _message_reason(refused: str) -> str:
    try:
        return FailureReason(refused).value
    except ValueError:
        return FailureReason.MESSAGE_REFUSED.value
