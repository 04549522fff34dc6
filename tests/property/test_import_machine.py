"""One ImportJob driven by a simulated worker, killed and resumed at random (IMP-2, IMP-3).

The worker copies each folder's missing messages (``copies_needed``) into an in-memory
destination in batches, recording progress after a batch, or sometimes dying right
after a batch's APPEND and before recording it. A crash loses the worker's memory and
reloads the job from its stored events; the resumed worker recomputes what is missing
from the destination. After every step: no message is ever doubled (each key at most
max(destination before, each source folder feeding it)); a finished folder has every
source message; the job agrees with a small model; the job rebuilt from its events
equals the live one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from domain.errors import NotPermitted
from domain.importjob import (
    FailureReason,
    FolderCounts,
    FolderTotal,
    ImportJob,
    JobState,
    SourceRef,
)
from domain.importplan import MessageKey, SourceFolder, copies_needed, destination_path
from domain.importsource import ImportSource
from tests.strategies import folder_contents, folder_names, replay, through_mapper

JOB = UUID("00000000-0000-4000-8000-00000000e001")
BOX = UUID("00000000-0000-4000-8000-00000000e0b0")
START = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
REFS = tuple(
    SourceRef.of(
        ImportSource.of(f"imap{n}.example", 993, "tls", f"user{n}@old.example"),
        UUID(int=0xF0 + n),
    )
    for n in range(2)
)

Folders = dict[str, list[MessageKey]]


@dataclass
class Run:
    """The worker's memory of one folder; a crash loses it."""

    chosen: list[MessageKey]
    base: FolderCounts
    done: int = 0


@dataclass
class Model:
    sources: list[Folders]
    initial: dict[tuple[str, ...], list[MessageKey]]
    state: JobState = JobState.REQUESTED
    surveyed: set[int] = field(default_factory=set)
    finished: dict[int, set[str]] = field(default_factory=dict)
    failed: dict[int, FailureReason] = field(default_factory=dict)
    copies: Counter[tuple[int, str]] = field(default_factory=Counter)
    reason: FailureReason | None = None

    def done(self, index: int) -> bool:
        return index in self.failed or (
            index in self.surveyed
            and set(self.sources[index]) <= self.finished.get(index, set())
        )


def path_of(name: str) -> tuple[str, ...]:
    return destination_path(SourceFolder(name=name, path=(name,)), {})


class ImportMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.job: ImportJob
        self.model: Model
        self.destination: dict[tuple[str, ...], list[MessageKey]] = {}
        self.runs: dict[tuple[int, str], Run] = {}
        self.events: list[Any] = []
        self.replayed: ImportJob | None = None
        self.now = START

    # -- plumbing ------------------------------------------------------------------

    def tick(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def collect(self) -> None:
        new = list(self.job.collect_events())
        self.replayed = replay(through_mapper(new), self.replayed)
        self.events.extend(new)

    def refused(self, command: Callable[[], object]) -> None:
        version = self.job.version
        with pytest.raises(NotPermitted):
            command()
        assert self.job.version == version
        assert self.job.pending_events == []

    def open_folders(self) -> list[tuple[int, str]]:
        m = self.model
        return [
            (i, name)
            for i, folders in enumerate(m.sources)
            if i not in m.failed
            for name in sorted(folders)
            if name not in m.finished.get(i, set())
        ]

    def running(self) -> bool:
        return self.model.state is JobState.RUNNING

    def run_of(self, index: int, name: str) -> Run:
        """The worker's plan for the folder, recomputed from the destination when its
        memory was lost (rule IMP-2)."""
        run = self.runs.get((index, name))
        if run is None:
            source = self.model.sources[index][name]
            present = self.destination.setdefault(path_of(name), [])
            chosen = [source[i] for i in copies_needed(source, present)]
            run = Run(chosen=chosen, base=self.job.folder_counts(index, name))
            self.runs[index, name] = run
        return run

    def copy(self, index: int, name: str, count: int) -> Run:
        run = self.run_of(index, name)
        batch = run.chosen[run.done : run.done + count]
        self.destination[path_of(name)].extend(batch)
        self.model.copies[index, name] += len(batch)
        run.done += len(batch)
        return run

    # -- rules ---------------------------------------------------------------------

    @initialize(
        sources=st.lists(
            st.dictionaries(folder_names(), folder_contents(max_size=8), max_size=3),
            min_size=1,
            max_size=2,
        ),
        data=st.data(),
    )
    def request(self, sources: list[Folders], data: st.DataObject) -> None:
        names = sorted({name for folders in sources for name in folders})
        initial = {
            path_of(name): data.draw(folder_contents(max_size=6), label=f"in {name}")
            for name in names
        }
        self.model = Model(
            sources=sources, initial={k: list(v) for k, v in initial.items()}
        )
        self.destination = initial
        self.job = ImportJob.request(
            JOB,
            destination="ann@host.example",
            mailbox_id=BOX,
            domain="host.example",
            requested_by=None,
            sources=REFS[: len(sources)],
            at=self.tick(),
        )
        self.collect()

    @rule()
    def start(self) -> None:
        m = self.model
        if m.state in {JobState.REQUESTED, JobState.RUNNING}:
            version = self.job.version
            self.job.start(at=self.tick())
            assert self.job.version == version + (m.state is JobState.REQUESTED)
            m.state = JobState.RUNNING
            self.collect()
        else:
            self.refused(lambda: self.job.start(at=self.tick()))

    @rule()
    def cancel(self) -> None:
        # rule IMP-2: only before the start
        if self.model.state is JobState.REQUESTED:
            self.job.cancel(None, at=self.tick())
            self.model.state = JobState.CANCELLED
            self.collect()
        else:
            self.refused(lambda: self.job.cancel(None, at=self.tick()))

    @precondition(running)
    @rule(data=st.data())
    def survey(self, data: st.DataObject) -> None:
        m = self.model
        live = [i for i in range(len(m.sources)) if i not in m.failed]
        if not live:
            return
        index = data.draw(st.sampled_from(live), label="source")
        totals = tuple(
            FolderTotal(name, len(keys), sum(k.size for k in keys))
            for name, keys in sorted(m.sources[index].items())
        )
        self.job.survey(index, totals, at=self.tick())
        m.surveyed.add(index)
        self.collect()

    @precondition(lambda self: self.running() and self.open_folders())
    @rule(data=st.data(), count=st.integers(1, 4), recorded=st.booleans())
    def copy_batch(self, data: st.DataObject, count: int, recorded: bool) -> None:
        index, name = data.draw(st.sampled_from(self.open_folders()), label="folder")
        run = self.copy(index, name, count)
        if not recorded:
            # killed after the APPEND, before the progress was stored
            self.crash()
            return
        copied = run.base.copied + run.done
        self.job.record_progress(
            index, name, copied=copied, skipped=0, failed=0, size=copied, at=self.tick()
        )
        self.collect()

    @precondition(lambda self: self.running() and self.open_folders())
    @rule(data=st.data())
    def finish_folder(self, data: st.DataObject) -> None:
        index, name = data.draw(st.sampled_from(self.open_folders()), label="folder")
        run = self.copy(index, name, len(self.model.sources[index][name]))
        copied = run.base.copied + run.done
        total = len(self.model.sources[index][name])
        self.job.finish_folder(
            index,
            name,
            "/".join(path_of(name)),
            copied=copied,
            skipped=total - copied,
            at=self.tick(),
        )
        self.model.finished.setdefault(index, set()).add(name)
        del self.runs[index, name]
        self.collect()

    @rule()
    def crash(self) -> None:
        """kill -9: the worker forgets, the job is what its stored events say."""
        self.runs.clear()
        reloaded = replay(through_mapper(self.events))
        assert reloaded == self.job
        assert isinstance(reloaded, ImportJob)
        self.job = reloaded

    @precondition(running)
    @rule(data=st.data(), reason=st.sampled_from(FailureReason))
    def fail_source(self, data: st.DataObject, reason: FailureReason) -> None:
        m = self.model
        live = [i for i in range(len(m.sources)) if i not in m.failed]
        if not live:
            return
        index = data.draw(st.sampled_from(live), label="source")
        self.job.fail_source(index, reason, at=self.tick())
        m.failed[index] = reason
        self.runs = {k: v for k, v in self.runs.items() if k[0] != index}
        self.collect()

    @rule()
    def conclude(self) -> None:
        m = self.model
        if m.state is not JobState.RUNNING or not all(
            m.done(i) for i in range(len(m.sources))
        ):
            self.refused(lambda: self.job.conclude(at=self.tick()))
            return
        self.job.conclude(at=self.tick())
        if len(m.failed) < len(m.sources):
            m.state = JobState.COMPLETED
        else:
            m.state = JobState.FAILED
            reasons = set(m.failed.values())
            m.reason = (
                reasons.pop() if len(reasons) == 1 else FailureReason.ALL_SOURCES_FAILED
            )
        self.collect()

    @precondition(
        lambda self: self.model.state not in {JobState.REQUESTED, JobState.RUNNING}
    )
    @rule()
    def after_the_end(self) -> None:
        # rule IMP-4, IMP-9: once over, the confirmation and the forgetting, once each
        self.job.record_confirmation(at=self.tick())
        self.job.forget_credentials(at=self.tick())
        self.collect()
        assert self.job.confirmation_sent
        assert self.job.credentials_forgotten

    # -- invariants ----------------------------------------------------------------

    @invariant()
    def replay_equals_live(self) -> None:
        assert self.job.pending_events == []
        assert self.replayed == self.job

    @invariant()
    def job_matches_the_model(self) -> None:
        j, m = self.job, self.model
        assert j.state is m.state
        assert j.failed_sources == m.failed
        for index in range(len(m.sources)):
            assert j.finished_folders(index) == frozenset(m.finished.get(index, set()))
        assert j.sources_done == frozenset(
            i for i in range(len(m.sources)) if m.done(i)
        )
        if m.state is JobState.FAILED:
            assert j.reason is m.reason

    @invariant()
    def nothing_is_ever_doubled(self) -> None:
        # rule IMP-3: each key at most max(present before, each source folder feeding it)
        m = self.model
        for path, keys in self.destination.items():
            feeding = [
                Counter(folders[name])
                for folders in m.sources
                for name in folders
                if path_of(name) == path
            ]
            now, before = Counter(keys), Counter(m.initial.get(path, []))
            for key in set(now) | set(before):
                assert before[key] <= now[key]
                assert now[key] <= max([before[key], *(c[key] for c in feeding)])

    @invariant()
    def a_finished_folder_has_every_source_message(self) -> None:
        # rule IMP-1, IMP-2, IMP-3: twins arrive as twins, resumed or not
        m = self.model
        for index, names in m.finished.items():
            for name in names:
                now = Counter(self.destination[path_of(name)])
                source = Counter(m.sources[index][name])
                assert all(now[k] >= n for k, n in source.items())
                result = self.job.folder_result(index, name)
                assert result is not None
                assert result.copied + result.skipped == sum(source.values())

    @invariant()
    def copied_counts_never_exceed_the_copies(self) -> None:
        # a batch appended but not recorded before a kill is counted as skipped, never
        # as copied twice
        m = self.model
        for index, folders in enumerate(m.sources):
            for name in folders:
                assert (
                    self.job.folder_counts(index, name).copied <= m.copies[index, name]
                )


ImportMachine.TestCase.settings = settings(
    max_examples=2 * settings().max_examples, stateful_step_count=40
)
TestImportMachine = ImportMachine.TestCase
